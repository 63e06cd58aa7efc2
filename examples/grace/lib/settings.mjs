// Reads the environment Guardian passes to Grace (see docs/contract.md) into one
// plain object, so no other module touches process.env.
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Where GRACE_HOME points when the variable is unset: examples/grace/var. */
export const DEFAULT_HOME = path.resolve(HERE, '..', 'var');

/** The subdirectories of GRACE_HOME, created on start when missing. */
export const HOME_DIRS = /** @type {const} */ (['databases', 'config', 'logs', 'snapshots', 'tmp']);

/**
 * @typedef {object} Settings
 * @property {string} host
 * @property {number} port
 * @property {string} home
 * @property {Record<(typeof HOME_DIRS)[number], string>} dirs
 * @property {boolean} freshHome   true when GRACE_HOME had no config/ directory at start
 * @property {string} logFile
 * @property {string} configFile
 * @property {string} credentialsFile
 * @property {string | undefined} controlToken
 * @property {boolean} offline
 * @property {boolean} lowMemory
 * @property {string[]} skipChunks
 * @property {string[]} deferChunks
 * @property {string[]} disabledFeatures
 * @property {string} ollamaHost   base URL without a trailing slash
 * @property {string | undefined} egressUrl
 * @property {string | undefined} egressToken   sent to the egress proxy in x-guardian-egress-token
 * @property {{ chunk: string, ms: number } | undefined} slowChunk
 * @property {boolean} logToStdout
 */

/** Parses `true|false` (also 1/0, yes/no, on/off); anything else keeps the fallback. */
export function parseBool(value, fallback) {
  if (value === undefined || value === '') return fallback;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  return fallback;
}

/** Splits a comma-separated list, dropping blanks. */
export function parseList(value) {
  if (!value) return [];
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Parses GRACE_SLOW_CHUNK=`<chunk>:<ms>`. */
export function parseSlowChunk(value) {
  if (!value) return undefined;
  const match = /^([A-Za-z0-9_-]+):(\d+)$/.exec(value.trim());
  if (!match) throw new Error(`GRACE_SLOW_CHUNK must look like <chunk>:<ms>, got "${value}"`);
  return { chunk: match[1], ms: Number(match[2]) };
}

/** Accepts `host:port`, `host` or `http://host:port` (Ollama's own OLLAMA_HOST forms). */
export function normaliseBaseUrl(value, fallback) {
  const raw = (value ?? '').trim() || fallback;
  const withScheme = /^https?:\/\//i.test(raw) ? raw : `http://${raw}`;
  const url = new URL(withScheme);
  if (!url.port && url.protocol === 'http:' && !/:\d+$/.test(raw)) url.port = '11434';
  return url.toString().replace(/\/+$/, '');
}

/** True for addresses that never leave the machine. */
export function isLoopbackHost(host) {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Builds the settings from an environment; throws with a message naming the variable
 * when a value is unusable, because a service that guesses would hide the mistake.
 * @param {NodeJS.ProcessEnv} env
 * @returns {Settings}
 */
export function readSettings(env = process.env) {
  const host = env.HOST?.trim() || '127.0.0.1';
  if (!isLoopbackHost(host))
    throw new Error(`HOST must be a loopback address (127.0.0.1, ::1, localhost), got "${host}"`);
  const port = Number(env.PORT ?? 8000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be 0..65535, got "${env.PORT}"`);

  const home = path.resolve(env.GRACE_HOME?.trim() || DEFAULT_HOME);
  const dirs = /** @type {Settings['dirs']} */ (Object.fromEntries(HOME_DIRS.map((d) => [d, path.join(home, d)])));
  const egress = env.GUARDIAN_EGRESS_URL?.trim();
  return {
    host,
    port,
    home,
    dirs,
    freshHome: !existsSync(dirs.config),
    logFile: path.join(dirs.logs, 'grace.log'),
    configFile: path.join(dirs.config, 'governance_policies.yaml'),
    credentialsFile: path.join(dirs.config, 'credentials.yaml'),
    controlToken: env.GUARDIAN_CONTROL_TOKEN || undefined,
    offline: parseBool(env.OFFLINE_MODE, false),
    lowMemory: parseBool(env.GUARDIAN_LOW_MEMORY, false),
    skipChunks: parseList(env.GUARDIAN_SKIP_CHUNKS),
    deferChunks: parseList(env.GUARDIAN_DEFER_CHUNKS),
    disabledFeatures: parseList(env.GUARDIAN_DISABLED_FEATURES),
    ollamaHost: normaliseBaseUrl(env.OLLAMA_HOST, '127.0.0.1:11434'),
    egressUrl: egress ? egress.replace(/\/+$/, '') : undefined,
    egressToken: env.GUARDIAN_EGRESS_TOKEN || undefined,
    slowChunk: parseSlowChunk(env.GRACE_SLOW_CHUNK),
    logToStdout: parseBool(env.GRACE_LOG_STDOUT, true),
  };
}

/**
 * Creates the missing GRACE_HOME subdirectories except config/: that one is created
 * together with the default config by the config boot chunk, so a start that fails
 * before boot (port taken) leaves the home still "fresh".
 */
export function ensureHomeDirs(settings) {
  for (const [name, dir] of Object.entries(settings.dirs)) if (name !== 'config') mkdirSync(dir, { recursive: true });
}

/**
 * Mutable switches Guardian flips at run time through the control hooks.
 * @param {Settings} settings
 */
export function createRuntime(settings) {
  return {
    startedAt: Date.now(),
    offline: settings.offline,
    lowMemory: settings.lowMemory,
    disabledFeatures: new Set(settings.disabledFeatures),
    booting: true,
    /** @type {number | null} */
    bootMs: null,
    /** @type {number | null} */
    boundPort: null,
    /** True for a feature that Guardian has not switched off (`external:<name>` is checked too). */
    isEnabled(feature) {
      return !this.disabledFeatures.has(feature);
    },
  };
}

/** @typedef {ReturnType<typeof createRuntime>} Runtime */
