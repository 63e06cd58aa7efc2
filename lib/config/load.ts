import { existsSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { resolveCredentialPaths } from './outside.js';
import { safetyProblems } from './safety.js';
import type { DiskSettings } from './resources.js';
import { guardianConfigSchema, type GuardianConfigParsed } from './schema.js';

/** guardian.yaml validated, with defaults applied and every path absolute. */
export type GuardianConfig = GuardianConfigParsed & {
  /** Absolute path of the file this came from. */
  readonly file: string;
  /** Directory of that file; relative paths in it are relative to this. */
  readonly baseDir: string;
  readonly host: string;
  readonly taskQueue: string;
};

/** Default location of the config: `./guardian.yaml`, or GUARDIAN_CONFIG. */
export function defaultConfigPath(): string {
  return resolve(process.env.GUARDIAN_CONFIG ?? 'guardian.yaml');
}

/** Reads, parses and validates a guardian.yaml; throws {@link ConfigError} naming every problem. */
export function loadConfig(file: string = defaultConfigPath()): GuardianConfig {
  const abs = resolve(file);
  if (!existsSync(abs)) {
    throw new ConfigError(abs, [{ key: '', message: 'file not found; pass the path of your guardian.yaml' }]);
  }
  if (!statSync(abs).isFile()) throw new ConfigError(abs, [{ key: '', message: 'is not a regular file' }]);
  return parseConfig(readFileSync(abs, 'utf8'), abs);
}

/** Most aliases a guardian.yaml may expand: more is an alias bomb ("billion laughs"), not a config. */
const MAX_ALIASES = 100;

/**
 * Validates YAML text as guardian.yaml; `file` names it in errors and anchors relative paths.
 * Throws only {@link ConfigError}, whatever the text holds.
 */
export function parseConfig(text: string, file: string): GuardianConfig {
  try {
    return parseConfigText(text, file);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(file, [
      { key: '', message: `cannot be read as guardian.yaml (${oneLine(err)}); check its syntax` },
    ]);
  }
}

function parseConfigText(text: string, file: string): GuardianConfig {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({
        key: `line ${e.linePos?.[0]?.line ?? '?'}`,
        message: e.message.split('\n')[0] ?? e.message,
      })),
    );
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (err) {
    throw new ConfigError(file, [
      {
        key: '',
        message: `${oneLine(err)}: at most ${MAX_ALIASES} alias expansions are allowed; write the values out instead of nesting aliases`,
      },
    ]);
  }
  const problems: ConfigProblem[] = [];
  const expanded = expandEnv(raw ?? {}, '', problems);
  if (problems.length > 0) throw new ConfigError(file, problems);
  const result = guardianConfigSchema.safeParse(expanded);
  if (!result.success) throw new ConfigError(file, result.error.issues.map(toProblem));
  const config = resolvePaths(result.data, file);
  const unsafe = safetyProblems(config);
  if (unsafe.length > 0) throw new ConfigError(file, unsafe);
  return config;
}

function oneLine(err: unknown): string {
  return ((err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '').slice(0, 200);
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${NAME}` and `${NAME:-default}` in string values with the environment's values, so
 * one file serves several setups (the drill points GRACE_HOME elsewhere, for one).
 */
function expandEnv(value: unknown, key: string, problems: ConfigProblem[]): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_, name: string, fallback: string | undefined) => {
      const found = process.env[name] ?? fallback;
      if (found === undefined) {
        problems.push({
          key,
          message: `refers to \${${name}}, which is not set and has no default`,
          example: `\${${name}:-default}`,
        });
        return '';
      }
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, `${key}[${i}]`, problems));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, expandEnv(v, key ? `${key}.${k}` : k, problems)]),
    );
  }
  return value;
}

function toProblem(issue: z.core.$ZodIssue): ConfigProblem {
  const key = issue.path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
    .replace(/^\./, '');
  const example = exampleFor(issue.path);
  return { key, message: issue.message, ...(example === undefined ? {} : { example }) };
}

/** Walks the schema along a key path to find the `examples` metadata of the field that failed. */
function exampleFor(path: readonly PropertyKey[]): string | undefined {
  let node: z.ZodType | undefined = guardianConfigSchema;
  for (const part of path) {
    node = unwrap(node);
    if (node instanceof z.ZodObject) node = (node.shape as Record<string, z.ZodType>)[String(part)];
    else if (node instanceof z.ZodArray) node = node.element as z.ZodType;
    else if (node instanceof z.ZodRecord) node = node._zod.def.valueType as z.ZodType;
    else return undefined;
    if (!node) return undefined;
  }
  const examples = (node?.meta() ?? unwrap(node)?.meta())?.examples;
  return Array.isArray(examples) && examples.length > 0 ? JSON.stringify(examples[0]) : undefined;
}

function unwrap(node: z.ZodType | undefined): z.ZodType | undefined {
  let current = node;
  for (let depth = 0; current && depth < 8; depth++) {
    const def = current._zod.def as { innerType?: z.ZodType; in?: z.ZodType };
    if (def.innerType) current = def.innerType;
    else if (current instanceof z.ZodPipe && def.in) current = def.in;
    else break;
  }
  return current;
}

function resolvePaths(parsed: GuardianConfigParsed, file: string): GuardianConfig {
  const baseDir = dirname(file);
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const host = parsed.host ?? hostname();
  return {
    ...parsed,
    file,
    baseDir,
    host,
    taskQueue: parsed.taskQueue ?? `guardian@${host}`,
    stateDir: abs(parsed.stateDir),
    alerts: { ...parsed.alerts, file: abs(parsed.alerts.file ?? `${parsed.stateDir}/alerts.log`) },
    service: parsed.service && {
      ...parsed.service,
      cwd: abs(parsed.service.cwd ?? '.'),
      log: parsed.service.log === undefined ? undefined : abs(parsed.service.log),
      clientConfigs: parsed.service.clientConfigs.map((c) => ({ ...c, path: abs(c.path) })),
    },
    databases: parsed.databases.map((d) => ({ ...d, path: abs(d.path) })),
    disk: parsed.disk && resolveDiskPaths(parsed.disk, abs),
    modelServer: parsed.modelServer && { ...parsed.modelServer, cwd: abs(parsed.modelServer.cwd ?? '.') },
    credentials: resolveCredentialPaths(parsed.credentials, abs),
    configs: parsed.configs.map((c) => ({
      ...c,
      path: abs(c.path),
      ...(c.schema === undefined ? {} : { schema: abs(c.schema) }),
      ...(c.defaults === undefined ? {} : { defaults: abs(c.defaults) }),
    })),
  };
}

function resolveDiskPaths(disk: DiskSettings, abs: (p: string) => string): DiskSettings {
  const dirs = (list: string[]) => list.map(abs);
  return {
    ...disk,
    logs: { ...disk.logs, dirs: dirs(disk.logs.dirs) },
    snapshots: { ...disk.snapshots, dirs: dirs(disk.snapshots.dirs) },
    temp: { ...disk.temp, dirs: dirs(disk.temp.dirs) },
    artifacts: { dirs: dirs(disk.artifacts.dirs) },
    watch: dirs(disk.watch),
    ...(disk.secondary === undefined ? {} : { secondary: abs(disk.secondary) }),
  };
}
