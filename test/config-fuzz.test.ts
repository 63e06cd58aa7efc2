import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { parseConfig } from '../lib/config/load.js';
import { ConfigError } from '../lib/errors.js';
import { tempDir } from './helpers/fixture.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const file = join(tmp.dir, 'guardian.yaml');
const home = join(tmp.dir, 'app');
const stateDir = join(tmp.dir, 'state');

/** A sound guardian.yaml touching most sections. */
function sound(): Record<string, unknown> {
  return {
    stateDir,
    incidents: { rollbackWindow: '1m', flap: { limit: 5, window: '10m' } },
    detectors: { interval: '1s', sweep: '15s' },
    service: {
      name: 'grace',
      command: 'node',
      args: ['server.mjs'],
      port: { preferred: 8000, range: [8000, 8010] },
      health: { timeout: '2s' },
      boot: { budget: '30s', onSlow: 'defer' },
    },
    databases: [{ name: 'world_model', path: join(home, 'databases', 'world_model.db'), backups: { keep: 5 } }],
    configs: [{ name: 'policies', path: join(home, 'config', 'policies.yaml'), reload: true }],
    memory: { systemPercent: 95, rss: '4GB' },
    disk: { minFree: '100MB', temp: { dirs: [join(home, 'tmp')], olderThan: '10m' }, snapshots: { keep: 3 } },
    egress: { endpoints: [{ name: 'quotes', url: 'https://api.example.com/v1', timeouts: ['30s'] }] },
    network: { probes: { interval: '500ms', failedRounds: 2 } },
  };
}

type Kind =
  | 'duration'
  | 'durationOrZero'
  | 'name'
  | 'count'
  | 'port'
  | 'url'
  | 'enum'
  | 'bool'
  | 'list'
  | 'size'
  | 'percent'
  | 'text';

/** Where a value can go wrong, by key path (as ConfigError names it) and kind. */
const FIELDS: [path: (string | number)[], kind: Kind][] = [
  [['stateDir'], 'text'],
  [['incidents', 'rollbackWindow'], 'durationOrZero'],
  [['incidents', 'flap', 'limit'], 'count'],
  [['incidents', 'flap', 'window'], 'duration'],
  [['detectors', 'interval'], 'duration'],
  [['detectors', 'sweep'], 'duration'],
  [['service', 'name'], 'name'],
  [['service', 'command'], 'text'],
  [['service', 'args'], 'list'],
  [['service', 'port', 'preferred'], 'port'],
  [['service', 'health', 'timeout'], 'duration'],
  [['service', 'boot', 'budget'], 'duration'],
  [['service', 'boot', 'onSlow'], 'enum'],
  [['databases', 0, 'name'], 'name'],
  [['databases', 0, 'path'], 'text'],
  [['databases', 0, 'backups', 'keep'], 'count'],
  [['configs', 0, 'name'], 'name'],
  [['configs', 0, 'reload'], 'bool'],
  [['memory', 'systemPercent'], 'percent'],
  [['memory', 'rss'], 'size'],
  [['disk', 'minFree'], 'size'],
  [['disk', 'temp', 'dirs'], 'list'],
  [['disk', 'temp', 'olderThan'], 'duration'],
  [['disk', 'snapshots', 'keep'], 'count'],
  [['egress', 'endpoints', 0, 'name'], 'name'],
  [['egress', 'endpoints', 0, 'url'], 'url'],
  [['egress', 'endpoints', 0, 'timeouts'], 'list'],
  [['network', 'probes', 'interval'], 'duration'],
  [['network', 'probes', 'failedRounds'], 'count'],
];

const wrongType = fc.constantFrom<unknown>(null, true, [], { nested: 1 }, [1, 2]);
/** Values each kind must refuse. */
const BAD: Record<Kind, fc.Arbitrary<unknown>> = {
  duration: fc.oneof(
    fc.constantFrom<unknown>(0, -1, '0s', '0ms', '-5m', 'soon', '', 1.5, 'ten seconds'),
    fc.integer({ max: 0 }),
    wrongType,
  ),
  durationOrZero: fc.oneof(
    fc.constantFrom<unknown>(-1, '-5m', 'soon', '', 1.5, 'ten seconds'),
    fc.integer({ max: -1 }),
    wrongType,
  ),
  name: fc.oneof(
    fc.constantFrom<unknown>('', '.', '..', '.hidden', 'a/b', '../etc', 'x'.repeat(65), 'with space', 'semi;colon'),
    fc.integer(),
    wrongType,
  ),
  count: fc.oneof(fc.constantFrom<unknown>(0, -3, 2.5, 'five'), fc.integer({ max: 0 }), wrongType),
  port: fc.oneof(fc.constantFrom<unknown>(0, 70_000, -1, 'eighty', 80.5), fc.integer({ min: 65_536 }), wrongType),
  url: fc.oneof(fc.constantFrom<unknown>('not a url', '', 'http//x'), fc.integer(), wrongType),
  enum: fc.oneof(fc.constantFrom<unknown>('maybe', '', 'DEFER'), fc.integer(), wrongType),
  bool: fc.constantFrom<unknown>('yes', 'true', 1, 0, null, [], { nested: 1 }),
  list: fc.oneof(fc.constantFrom<unknown>('one', 5, { a: 1 }, null, true), fc.constant([{ deep: [] }])),
  size: fc.oneof(fc.constantFrom<unknown>('-1MB', 'lots', -5, 1.5, ''), wrongType),
  percent: fc.oneof(fc.constantFrom<unknown>(0, 101, -1, 'high', 1e6), wrongType),
  text: fc.oneof(fc.integer(), wrongType),
};

/** Paths only the safety checks (after the schema) refuse: directories Guardian must not clean. */
const DANGEROUS_DIRS = fc.constantFrom(
  '/',
  homedir(),
  stateDir,
  join(home, 'databases'),
  join(home, 'config'),
  '/usr',
  tmp.dir,
);

function keyOf(path: (string | number)[]): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
    .join('')
    .replace(/^\./, '');
}

function setIn(target: Record<string, unknown>, path: (string | number)[], value: unknown): void {
  let node = target as Record<string | number, unknown>;
  path.slice(0, -1).forEach((part) => (node = node[part] as Record<string | number, unknown>));
  node[path.at(-1) as string | number] = value;
}

/** Parses; returns the ConfigError (failing the property on any other outcome). */
function refusal(text: string): ConfigError {
  try {
    parseConfig(text, file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    assert.ok(!/\n\s+at /.test(err.message), 'no stack trace in the message');
    assert.ok(err.problems.length > 0);
    return err;
  }
  assert.fail(`accepted a malformed config:\n${text}`);
}

describe('guardian.yaml fuzzing', () => {
  it('refuses 600 configs with one to three wrong values, naming the key path of each', () => {
    const mutation = fc.constantFrom(...FIELDS).chain(([path, kind]) => BAD[kind].map((value) => ({ path, value })));
    const mutations = fc.uniqueArray(mutation, { minLength: 1, maxLength: 3, selector: (m) => keyOf(m.path) });
    fc.assert(
      fc.property(mutations, (changes) => {
        const config = sound();
        for (const { path, value } of changes) setIn(config, path, value);
        const keys = refusal(stringify(config)).problems.map((p) => p.key);
        for (const { path } of changes) {
          const key = keyOf(path);
          assert.ok(
            keys.some((k) => k === key || k.startsWith(`${key}.`) || k.startsWith(`${key}[`)),
            `${key} is named among ${JSON.stringify(keys)}`,
          );
        }
      }),
      { numRuns: 600 },
    );
  });

  it('refuses 100 configs that aim a cleanup at a dangerous directory, naming its key', () => {
    const kinds = fc.constantFrom('temp', 'snapshots', 'logs', 'artifacts');
    fc.assert(
      fc.property(kinds, DANGEROUS_DIRS, (kind, dir) => {
        const config = sound();
        (config.disk as Record<string, unknown>)[kind] = { dirs: [dir] };
        const problems = refusal(stringify(config)).problems;
        const hit = problems.find((p) => p.key === `disk.${kind}.dirs[0]`);
        assert.ok(hit, JSON.stringify(problems));
        assert.match(hit.message, /Guardian (removes|moves|compresses)/, 'says what is at stake');
      }),
      { numRuns: 100 },
    );
  });

  it('never crashes on arbitrary text: a valid config or a ConfigError', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.jsonValue({ maxDepth: 3 }).map((v) => stringify(v)),
      fc
        .dictionary(fc.constantFrom('stateDir', 'service', 'databases', 'disk', 'junk', 'detectors'), fc.jsonValue())
        .map((v) => stringify(v)),
    );
    fc.assert(
      fc.property(text, (yaml) => {
        try {
          parseConfig(yaml, file);
        } catch (err) {
          assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
          assert.ok(!/\n\s+at /.test(err.message));
        }
      }),
      { numRuns: 300 },
    );
  });
});
