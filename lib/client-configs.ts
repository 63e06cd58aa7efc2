import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { parseDocument } from 'yaml';
import { writeFileAtomic } from './atomic-file.js';

/** One client configuration file Guardian changed, and how to put it back. */
export interface ChangedClientConfig {
  readonly path: string;
  /** The copy of the original, byte for byte. */
  readonly backup: string;
  /** The key's value before the change. */
  readonly before: unknown;
}

/** The value of a dotted key in a YAML or JSON file (undefined when absent). */
export async function readConfigKey(path: string, key: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  const keys = key.split('.').map((k) => (/^\d+$/.test(k) ? Number(k) : k));
  if (extname(path).toLowerCase() === '.json') return getIn(JSON.parse(text) as unknown, keys);
  return parseDocument(text).getIn(keys);
}

/**
 * Sets a dotted key (`grace.port`, `servers.0.port`) in a YAML or JSON file, keeping the rest:
 * YAML comments and layout survive (the `yaml` document API), JSON is rewritten with the
 * indentation it had. The file is replaced atomically. Returns the value the key had.
 */
export async function setConfigKey(path: string, key: string, value: unknown): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  const keys = key.split('.').map((k) => (/^\d+$/.test(k) ? Number(k) : k));
  let before: unknown;
  let next: string;
  if (extname(path).toLowerCase() === '.json') {
    const data = JSON.parse(text) as Record<string, unknown>;
    before = getIn(data, keys);
    setIn(data, keys, value);
    const indent = /^[ \t]+/m.exec(text)?.[0] ?? '  ';
    next = `${JSON.stringify(data, null, indent)}\n`;
  } else {
    const doc = parseDocument(text);
    if (doc.errors.length > 0) throw new Error(`${path} is not valid YAML: ${doc.errors[0]?.message ?? ''}`);
    before = doc.getIn(keys);
    doc.setIn(keys, value);
    next = doc.toString();
  }
  await writeFileAtomic(path, next);
  return before;
}

/** Copies `path` into `dir` (once: a second call keeps the first copy) and returns the copy's path. */
export async function backupClientConfig(path: string, dir: string, index: number): Promise<string> {
  await mkdir(dir, { recursive: true });
  const backup = join(dir, `${index}-${basename(path)}`);
  try {
    await copyFile(path, backup, 1 /* COPYFILE_EXCL: keep the first, original copy */);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return backup;
}

/** Puts a backed-up file back exactly as it was. */
export async function restoreClientConfig(changed: Pick<ChangedClientConfig, 'path' | 'backup'>): Promise<void> {
  await writeFileAtomic(changed.path, await readFile(changed.backup));
}

function getIn(data: unknown, keys: (string | number)[]): unknown {
  let node = data;
  for (const k of keys) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[k];
  }
  return node;
}

function setIn(data: Record<string | number, unknown>, keys: (string | number)[], value: unknown): void {
  let node: Record<string | number, unknown> = data;
  keys.forEach((k, i) => {
    if (i === keys.length - 1) {
      node[k] = value;
      return;
    }
    const child = node[k];
    if (child === null || typeof child !== 'object') node[k] = typeof keys[i + 1] === 'number' ? [] : {};
    node = node[k] as Record<string | number, unknown>;
  });
}
