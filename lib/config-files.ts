import { lstatSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parse as parseYaml, YAMLError } from 'yaml';
import { z } from 'zod';
import type { WatchedConfig } from './config/resources.js';
import { newestFirst } from './dir-listing.js';
import { sha256 } from './hash.js';

/** What is wrong with a watched config file, if anything. */
export type ConfigFileState = 'ok' | 'missing' | 'not-a-file' | 'unreadable' | 'parse' | 'invalid';

/** The verdict on one config file (or on a candidate backup of it). */
export interface ConfigInspection {
  state: ConfigFileState;
  /** Names the line or key that is wrong. */
  problem?: string;
  /** The parsed document, when it parsed. */
  doc?: unknown;
  /** The raw bytes, when it was a readable file. */
  bytes?: Buffer;
}

const schemaCache = new Map<string, { mtimeMs: number; schema: z.ZodType }>();

/** The JSON Schema (JSON or YAML file) of a watched config, as a zod schema; cached per file version. */
export function loadJsonSchema(file: string): z.ZodType {
  const { mtimeMs } = statSync(file);
  const cached = schemaCache.get(file);
  if (cached && cached.mtimeMs === mtimeMs) return cached.schema;
  const schema = z.fromJSONSchema(
    parseDocument(readFileSync(file, 'utf8'), file) as Parameters<typeof z.fromJSONSchema>[0],
  );
  schemaCache.set(file, { mtimeMs, schema });
  return schema;
}

/** Parses YAML, or JSON for `.json` files; throws the parser's error. */
export function parseDocument(text: string, file: string): unknown {
  return extname(file).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
}

/** Validates a parsed document against the config's schema; returns the first problems, or none. */
export function schemaProblems(config: Pick<WatchedConfig, 'schema'>, doc: unknown): string[] {
  if (!config.schema) return doc === null || doc === undefined ? ['(top level): the file is empty'] : [];
  const result = loadJsonSchema(config.schema).safeParse(doc);
  if (result.success) return [];
  return result.error.issues.slice(0, 5).map((i) => `${i.path.map(String).join('.') || '(top level)'}: ${i.message}`);
}

/**
 * Reads, parses and validates a file as the watched config `config` (its schema; YAML or JSON
 * by extension). A symbolic link is judged by its target (dotfiles managers link configs). Never
 * throws: the verdict says what is wrong.
 */
export function inspectConfigFile(config: Pick<WatchedConfig, 'schema'>, file: string): ConfigInspection {
  let bytes: Buffer;
  try {
    const st = statSync(file);
    if (!st.isFile())
      return { state: 'not-a-file', problem: `${file} is ${st.isDirectory() ? 'a directory' : 'not a regular file'}` };
    bytes = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { state: 'missing', problem: `${file} does not exist` };
    return { state: 'unreadable', problem: `${file}: ${(err as Error).message}` };
  }
  let doc: unknown;
  try {
    doc = parseDocument(bytes.toString('utf8'), file);
  } catch (err) {
    // V8 quotes the text around a JSON fault ('…"api_key": sk-…" is not valid JSON'): the quote may
    // hold a secret and this problem becomes a finding's evidence, so it is dropped.
    const first = ((err as Error).message.split('\n')[0] ?? '').replace(
      /, (\.\.\.)?".*"(\.\.\.)? is not valid JSON$/,
      ' in JSON',
    );
    const where = err instanceof YAMLError && err.linePos ? ` (line ${err.linePos[0].line})` : '';
    return { state: 'parse', problem: `${first}${where}`, bytes };
  }
  const problems = schemaProblems(config, doc);
  if (problems.length > 0) return { state: 'invalid', problem: problems.join('; '), doc, bytes };
  return { state: 'ok', doc, bytes };
}

/** A saved copy of a config that was valid when saved: a `.bak` beside it or one of Guardian's versions. */
export interface ConfigVersion {
  path: string;
  /** When it was saved (a `.bak`'s mtime). */
  savedAt: number;
  kind: 'bak' | 'version';
}

/** Where Guardian keeps the valid versions of a config it has seen. */
export function versionsDir(stateDir: string, name: string): string {
  return join(stateDir, 'configs', name);
}

/** Guardian's versions of a config, newest first. */
export function listVersions(stateDir: string, name: string): ConfigVersion[] {
  return newestFirst(versionsDir(stateDir, name), /^(\d+)-[0-9a-f]{12}(\.[A-Za-z0-9]+)?$/).map(({ path, stamp }) => ({
    path,
    savedAt: stamp,
    kind: 'version' as const,
  }));
}

/** Every saved copy that could replace the file, newest first: `<file>.bak` and Guardian's versions. */
export function restoreCandidates(stateDir: string, config: Pick<WatchedConfig, 'name' | 'path'>): ConfigVersion[] {
  const candidates = listVersions(stateDir, config.name);
  try {
    const bak = `${config.path}.bak`;
    const st = lstatSync(bak);
    if (st.isFile()) candidates.push({ path: bak, savedAt: st.mtimeMs, kind: 'bak' });
  } catch {
    // No .bak beside the file.
  }
  return candidates.sort((a, b) => b.savedAt - a.savedAt);
}

/**
 * Saves a valid version of a config unless the newest saved one has the same content; keeps the
 * newest `keep`. Returns the saved path, or undefined when it was already saved.
 */
export function saveVersion(
  stateDir: string,
  config: Pick<WatchedConfig, 'name' | 'path' | 'keep'>,
  bytes: Buffer,
  now = Date.now(),
): string | undefined {
  const digest = sha256(bytes).slice(0, 12);
  const existing = listVersions(stateDir, config.name);
  if (existing[0] && basename(existing[0].path).includes(`-${digest}`)) return undefined;
  const dir = versionsDir(stateDir, config.name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const savedAt = Math.max(now, (existing[0]?.savedAt ?? 0) + 1);
  const path = join(dir, `${savedAt}-${digest}${extname(config.path)}`);
  writeFileSync(path, bytes, { flag: 'wx', mode: 0o600 });
  for (const old of existing.slice(config.keep - 1)) rmSync(old.path, { force: true });
  return path;
}

/** Deep-merges `over` onto `base`: mappings merge key by key; anything else in `over` wins. */
export function mergeOver(base: unknown, over: unknown): unknown {
  const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isMap(base) || !isMap(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = mergeOver(base[key], value);
  return out;
}
