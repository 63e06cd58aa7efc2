// governance_policies.yaml: loading, validation and the "keep the last good config"
// rule. A missing or broken file never stops Grace; it logs config.error and carries on.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import YAML from 'yaml';

/** Embedded defaults; also what a fresh GRACE_HOME gets written to disk. */
export const DEFAULT_CONFIG = Object.freeze({
  version: 1,
  policies: [
    { name: 'local-models', allow: true },
    { name: 'external-apis', allow: true },
    { name: 'share-telemetry', allow: false },
  ],
  limits: { maxConcurrency: 8, cacheEntries: 256, memoryBudgetMb: 4096 },
  ai: { model: 'llama3.2:1b', timeoutMs: 5000 },
  endpoints: { example: { url: 'https://example.com', timeoutMs: 10000 } },
  plugins: ['summariser', 'tagger'],
});

/** @typedef {typeof DEFAULT_CONFIG} GraceConfig */

/** Throws an Error naming the key that is wrong, so config.error lines are actionable. */
export function validateConfig(doc) {
  const fail = (key, want) => {
    throw new Error(`${key}: expected ${want}`);
  };
  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const isInt = (v, min, max) => Number.isInteger(v) && v >= min && v <= max;
  if (!isObject(doc)) fail('(top level)', 'a mapping');
  if (doc.version !== 1) fail('version', '1');
  if (!Array.isArray(doc.policies)) fail('policies', 'a list of {name, allow}');
  doc.policies.forEach((p, i) => {
    if (!isObject(p) || typeof p.name !== 'string' || !p.name) fail(`policies[${i}].name`, 'a non-empty string');
    if (typeof p.allow !== 'boolean') fail(`policies[${i}].allow`, 'true or false');
  });
  if (!isObject(doc.limits)) fail('limits', 'a mapping with maxConcurrency and cacheEntries');
  if (!isInt(doc.limits.maxConcurrency, 1, 1024)) fail('limits.maxConcurrency', 'an integer 1..1024');
  if (!isInt(doc.limits.cacheEntries, 0, 100000)) fail('limits.cacheEntries', 'an integer 0..100000');
  const memoryBudgetMb = doc.limits.memoryBudgetMb ?? DEFAULT_CONFIG.limits.memoryBudgetMb;
  if (!isInt(memoryBudgetMb, 1, 1 << 20)) fail('limits.memoryBudgetMb', 'a positive integer');
  const ai = { ...DEFAULT_CONFIG.ai, ...(doc.ai ?? {}) };
  if (typeof ai.model !== 'string' || !ai.model) fail('ai.model', 'a model name such as llama3.2:1b');
  if (!isInt(ai.timeoutMs, 1, 600000)) fail('ai.timeoutMs', 'milliseconds, 1..600000');
  const endpoints = doc.endpoints ?? DEFAULT_CONFIG.endpoints;
  if (!isObject(endpoints)) fail('endpoints', 'a mapping of name to {url}');
  for (const [name, ep] of Object.entries(endpoints)) {
    if (!isObject(ep) || typeof ep.url !== 'string' || !/^https?:\/\//.test(ep.url))
      fail(`endpoints.${name}.url`, 'an http(s) URL');
    if (ep.timeoutMs !== undefined && !isInt(ep.timeoutMs, 1, 600000))
      fail(`endpoints.${name}.timeoutMs`, 'milliseconds');
    if (ep.credential !== undefined && typeof ep.credential !== 'string')
      fail(`endpoints.${name}.credential`, 'a name in credentials.yaml');
  }
  const plugins = doc.plugins ?? [];
  if (!Array.isArray(plugins) || plugins.some((p) => typeof p !== 'string')) fail('plugins', 'a list of names');
  return { ...doc, limits: { ...doc.limits, memoryBudgetMb }, ai, endpoints, plugins };
}

/** Writes the defaults; only called for a fresh GRACE_HOME (a later loss is Guardian's to repair). */
export function writeDefaultConfig(file) {
  const header = '# Grace governance policies. Guardian restores this file if it goes missing.\n';
  writeFileSync(file, header + YAML.stringify(DEFAULT_CONFIG), { flag: 'wx' });
}

/** A cheap identity of the file, compared each second to notice edits, deletes and restores. */
function fileSignature(file) {
  try {
    const st = statSync(file);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

/**
 * Holds the current config and whether the file on disk is good.
 * @param {{ file: string, logger: import('./logger.mjs').Logger, onApply: (c: GraceConfig) => void }} options
 */
export function createConfigStore({ file, logger, onApply }) {
  const store = {
    file,
    /** @type {GraceConfig} */
    current: validateConfig(structuredClone(DEFAULT_CONFIG)),
    /** @type {{ ok: boolean, error?: string }} */
    status: { ok: true },
    signature: '',
    /** Rereads the file; on failure keeps `current` and reports the problem. */
    load() {
      store.signature = fileSignature(file);
      try {
        const doc = YAML.parse(readFileSync(file, 'utf8'));
        store.current = validateConfig(doc);
        store.status = { ok: true };
        onApply(store.current);
        logger.info('config.loaded', 'configuration loaded', { path: file });
      } catch (err) {
        const e = /** @type {NodeJS.ErrnoException} */ (err);
        const msg = (e instanceof Error ? e.message.split('\n')[0] : String(e)).replace(/:\s*$/, '');
        // reason lets Guardian tell a lost file (restore it) from a broken one (repair or roll back).
        const reason =
          e.code === 'ENOENT' ? 'missing' : e instanceof YAML.YAMLError ? 'parse' : e.code ? 'unreadable' : 'invalid';
        store.status = { ok: false, error: msg };
        logger.error('config.error', msg, { path: file, reason });
      }
      return store.status;
    },
    /** Reloads when the file changed (or vanished) since the last look. */
    checkForChange() {
      if (fileSignature(file) !== store.signature) store.load();
    },
  };
  onApply(store.current);
  return store;
}

/** @typedef {ReturnType<typeof createConfigStore>} ConfigStore */

/**
 * Looks a policy up by name; a policy that is not listed is allowed.
 * @param {GraceConfig} config @param {string} name
 */
export function policyAllows(config, name) {
  const policy = config.policies.find((p) => p.name === name);
  return policy ? policy.allow : true;
}
