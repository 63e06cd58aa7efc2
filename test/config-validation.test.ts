import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { parseConfig } from '../lib/config/load.js';
import { ConfigError } from '../lib/errors.js';
import { tempDir } from './helpers/fixture.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const file = join(tmp.dir, 'guardian.yaml');
const home = join(tmp.dir, 'app');

/** A sound config: a state directory, a database, a watched config and a disk section, all apart. */
function base(): Record<string, unknown> {
  return {
    stateDir: join(tmp.dir, 'state'),
    databases: [{ name: 'world_model', path: join(home, 'databases', 'world_model.db') }],
    configs: [{ name: 'policies', path: join(home, 'config', 'policies.yaml') }],
    disk: {
      temp: { dirs: [join(home, 'tmp')] },
      snapshots: { dirs: [join(home, 'snapshots')] },
      logs: { dirs: [join(home, 'logs')] },
    },
  };
}

/** The problems guardian.yaml `text` is refused for (none: it is accepted). */
function problems(text: string): { key: string; message: string }[] {
  try {
    parseConfig(text, file);
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, not ${String(err)}`);
    return err.problems.map((p) => ({ key: p.key, message: p.message }));
  }
}

function withChange(change: (config: Record<string, unknown>) => void): string {
  const config = base();
  change(config);
  return stringify(config);
}

const disk = (c: Record<string, unknown>) => c.disk as Record<string, { dirs: string[] }>;

describe('guardian.yaml validation refuses what would aim Guardian at the wrong place', () => {
  it('accepts the sound base config', () => {
    assert.deepEqual(problems(stringify(base())), []);
  });

  const refusals: [string, (c: Record<string, unknown>) => void, string, RegExp][] = [
    ['the filesystem root as temp', (c) => (disk(c).temp = { dirs: ['/'] }), 'disk.temp.dirs[0]', /filesystem root/],
    [
      'the home directory as snapshots',
      (c) => (disk(c).snapshots = { dirs: [homedir()] }),
      'disk.snapshots.dirs[0]',
      /home directory/,
    ],
    ['a system directory as logs', (c) => (disk(c).logs = { dirs: ['/etc'] }), 'disk.logs.dirs[0]', /system directory/],
    [
      'the state directory as temp',
      (c) => (disk(c).temp = { dirs: [join(tmp.dir, 'state')] }),
      'disk.temp.dirs[0]',
      /is Guardian's state directory/,
    ],
    [
      'a directory holding the state directory',
      (c) => (disk(c).temp = { dirs: [tmp.dir] }),
      'disk.temp.dirs[0]',
      /holds Guardian's state directory/,
    ],
    [
      "Guardian's own backups as snapshots",
      (c) => (disk(c).snapshots = { dirs: [join(tmp.dir, 'state', 'backups')] }),
      'disk.snapshots.dirs[0]',
      /own backups/,
    ],
    [
      'a database directory as temp',
      (c) => (disk(c).temp = { dirs: [join(home, 'databases')] }),
      'disk.temp.dirs[0]',
      /directory of database world_model/,
    ],
    [
      'a directory holding a config as snapshots',
      (c) => (disk(c).snapshots = { dirs: [home] }),
      'disk.snapshots.dirs[0]',
      /holds the directory of config policies/,
    ],
    ['the filesystem root as the state directory', (c) => (c.stateDir = '/'), 'stateDir', /filesystem root/],
    ['a zero poll interval', (c) => (c.detectors = { interval: 0 }), 'detectors.interval', /longer than 0/],
    ['a zero flap window', (c) => (c.incidents = { flap: { window: '0s' } }), 'incidents.flap.window', /longer than 0/],
    [
      'a negative timeout',
      (c) => (c.network = { probes: { timeout: '-5s' } }),
      'network.probes.timeout',
      /not a duration/,
    ],
    [
      'a database named ".."',
      (c) => ((c.databases as { name: string }[])[0] = { name: '..', path: '/x.db' } as never),
      'databases[0].name',
      /not starting with "\."/,
    ],
    [
      'a service name that is a path',
      (c) => (c.service = { name: '../../etc', command: 'node', port: { preferred: 8000, range: [8000, 8001] } }),
      'service.name',
      /names files and directories/,
    ],
  ];
  for (const [what, change, key, message] of refusals) {
    it(`refuses ${what}, naming ${key} and what to do`, () => {
      const found = problems(withChange(change));
      assert.ok(
        found.some((p) => p.key === key && message.test(p.message)),
        `expected a problem at ${key} matching ${String(message)}, got ${JSON.stringify(found)}`,
      );
    });
  }

  it('refuses a YAML alias bomb with a ConfigError, not a stack trace', () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
      'f: [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
    ].join('\n');
    const found = problems(bomb);
    assert.equal(found.length, 1);
    assert.match(found[0]?.message ?? '', /alias/);
  });

  it('still accepts 0 where it means "none": no rollback window, no expiry skew', () => {
    assert.deepEqual(problems(withChange((c) => (c.incidents = { rollbackWindow: 0 }))), []);
  });
});
