import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { pino } from 'pino';
import { createServiceDownActivities } from '../activities/service-down.js';
import { corruptions } from '../drills/database-corruption.js';
import { childEnvironment } from '../lib/child-env.js';
import { freePortRange } from '../lib/ports.js';
import { describeCommand, excerpt, redact } from '../lib/redact.js';
import { temporalSettings } from '../lib/temporal.js';
import { type GuardianRuntime, startGuardian } from '../workers/guardian.js';
import { tempDir, testConfig } from './helpers/fixture.js';
import { until } from './helpers/outside.js';
import { seedDatabase, sha256 } from './helpers/sqlite.js';
import { workflowBundle } from './helpers/temporal.js';

const root = new URL('../', import.meta.url).pathname;
const tmp = tempDir();
// Secrets of every shape Guardian might meet: in its environment, and in a hostile log line.
const ENV_SECRET = 'sk-envsecret-7Qm2Xv9Lw4Rt8Yp1';
const TEMPORAL_KEY = 'tmprl-apikey-Zx81Kd0Pq-do-not-share';
const PASSWORD = 'hunter2-Bq7Wz';
const BEARER = 'ya29.A0ARrdaMlivebearer';
const URL_PASSWORD = 's3cr3tpw-9f';
// On the service's command line, where /proc shows it to anyone who reads the process.
const ARGV_SECRET = 'argvsecret-Hn4Kc8Ws2';
const SECRETS = [ENV_SECRET, TEMPORAL_KEY, PASSWORD, BEARER, URL_PASSWORD, ARGV_SECRET];
const HOSTILE =
  `database disk image is malformed leak-probe password=${PASSWORD} Authorization: Bearer ${BEARER} ` +
  `key ${ENV_SECRET} url https://admin:${URL_PASSWORD}@db.internal/x`;

let runtime: GuardianRuntime;
const logFile = join(tmp.dir, 'guardian.log');
const saved = { leak: process.env.GUARDIAN_TEST_LEAK_KEY, temporal: process.env.TEMPORAL_API_KEY };

before(async () => {
  // The connection settings come first: the API key below is for the service's eyes never, not the server's.
  const settings = temporalSettings();
  process.umask(0o022); // the usual umask: modes asserted below must not come from a stricter one
  process.env.GUARDIAN_TEST_LEAK_KEY = ENV_SECRET;
  process.env.TEMPORAL_API_KEY = TEMPORAL_KEY;
  const port = await freePortRange(3, 19600 + Math.floor(Math.random() * 300));
  const home = join(tmp.dir, 'grace');
  const vault = join(tmp.dir, 'vault', 'vault.db');
  mkdirSync(join(tmp.dir, 'vault'), { recursive: true });
  seedDatabase(vault, 400);
  const config = testConfig(tmp.dir, {
    service: {
      name: 'grace',
      command: process.execPath,
      args: [join(root, 'examples/grace/server.mjs'), '--api-key', ARGV_SECRET],
      env: { GRACE_HOME: home, GRACE_LOG_STDOUT: 'false' },
      port: { preferred: port, range: [port, port + 2] },
      log: join(home, 'logs/grace.log'),
    },
    databases: [{ name: 'vault', path: vault }],
    egress: { endpoints: [{ name: 'api', url: 'http://127.0.0.1:9/v1', credential: 'api-key' }] },
    credentials: [{ name: 'api-key', token: { env: 'GUARDIAN_TEST_LEAK_KEY' } }],
    incidents: { rollbackWindow: '500ms', flap: { limit: 100, window: '10m' } },
    // The damage must be found through the hostile line, not first by the background scrub.
    scrub: { cpuPercent: 0 },
  });
  runtime = await startGuardian({
    config,
    settings,
    logger: pino({ name: 'guardian', level: 'debug' }, pino.destination({ dest: logFile, sync: true })),
    ensureDevServer: false,
    workflowBundle: await workflowBundle(join(root, 'workflows/index.ts')),
  });
  await until(async () => (await runtime.control?.health().catch(() => undefined))?.status === 'ok', 20_000, 100);
  await runtime.backups.backupAll();
});
after(async () => {
  await runtime?.stop();
  process.env.GUARDIAN_TEST_LEAK_KEY = saved.leak;
  if (saved.temporal === undefined) delete process.env.TEMPORAL_API_KEY;
  else process.env.TEMPORAL_API_KEY = saved.temporal;
  tmp.cleanup();
});

function serviceLog(): string {
  return runtime.config.service?.log ?? '';
}

function readIfThere(path: string): string {
  return existsSync(path) ? readFileSync(path).toString('latin1') : '';
}

describe('secrets', () => {
  it('an unattributed hostile line quarantines nothing and opens no incident', async () => {
    const vault = runtime.config.databases[0]?.path ?? '';
    const before = sha256(vault);
    for (let i = 0; i < 10; i++) appendFileSync(serviceLog(), `SQLITE_CORRUPT: ${HOSTILE}\n`);
    await sleep(2000);
    assert.deepEqual(runtime.ledger.incidents({ mode: 'database-corruption' }), []);
    assert.ok(!existsSync(join(runtime.config.stateDir, 'quarantine')), 'nothing copied into quarantine');
    assert.equal(sha256(vault), before, 'the database is untouched');
  });

  it('a secret in a service log line and in Guardian’s environment reaches no history, ledger row, log or service environment', async () => {
    const vault = runtime.config.databases[0]?.path ?? '';
    await corruptions['overwrite-page'](vault);
    const line = { ts: Date.now(), event: 'sqlite.error', db: 'vault', code: 'SQLITE_CORRUPT', msg: HOSTILE };
    appendFileSync(serviceLog(), `${JSON.stringify(line)}\n`);
    const record = await until(
      () => runtime.ledger.incidents({ mode: 'database-corruption' }).find((r) => r.outcome !== 'healing'),
      60_000,
      100,
    );
    assert.match(record.evidence, /leak-probe/, 'the incident came from the hostile line');
    assert.match(record.evidence, /\*\*\*/, 'with its secrets replaced');

    const history = historyToJSON(await runtime.client.workflow.getHandle(record.workflowId ?? '').fetchHistory());
    const ledger = ['ledger.db', 'ledger.db-wal'].map((f) => readIfThere(join(runtime.config.stateDir, f))).join('');
    const alerts = readIfThere(runtime.config.alerts.file ?? join(runtime.config.stateDir, 'alerts.log'));
    const pid = runtime.supervisor?.running?.pid;
    assert.ok(pid, 'the service runs');
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
    const log = readFileSync(logFile, 'utf8');
    for (const [where, text] of Object.entries({ history, ledger, alerts, log, environ })) {
      for (const secret of SECRETS) assert.ok(!text.includes(secret), `${where} holds no ${secret.slice(0, 6)}…`);
    }
    const names = environ.split('\0').map((e) => e.slice(0, e.indexOf('=')));
    assert.ok(!names.some((n) => n.startsWith('TEMPORAL_')), `no TEMPORAL_* in the service: ${names.join(' ')}`);
    assert.ok(!names.includes('GUARDIAN_TEST_LEAK_KEY'));
    for (const wanted of ['PATH', 'PORT', 'GUARDIAN_CONTROL_TOKEN', 'GUARDIAN_EGRESS_URL', 'GUARDIAN_EGRESS_TOKEN'])
      assert.ok(names.includes(wanted), `the service gets ${wanted}`);
  });
});

describe('diagnostics of a process', () => {
  it('record its command line only through the describer, never the raw argv', async () => {
    const { config, service, registry, logger } = runtime;
    const found = await createServiceDownActivities({ config, service, registry, logger }).captureServiceDiagnostics();
    assert.ok(found.process, `a process is described: ${found.summary}`);
    assert.deepEqual(Object.keys(found.process).sort(), ['description', 'pid', 'startTicks']);
    assert.match(found.process.description, /^pid \d+ \(node .*server\.mjs --api-key \*\*\*\)$/);
    assert.ok(!JSON.stringify(found).includes(ARGV_SECRET), JSON.stringify(found.process));
  });
});

describe("the service's captured output", () => {
  it('is 0600, whatever the umask (the test runs with 022)', () => {
    const output = runtime.service?.supervisor.spec.outputFile ?? '';
    assert.equal(statSync(output).mode & 0o777, 0o600, output);
  });
});

describe('the redactor and the describer', () => {
  it('removes tokens, keys, bearer strings, URLs with credentials and key=value secrets', () => {
    const text = redact(HOSTILE);
    for (const secret of SECRETS.filter((s) => s !== TEMPORAL_KEY)) assert.ok(!text.includes(secret), text);
    assert.match(text, /database disk image is malformed leak-probe/, 'the rest is kept');
    assert.equal(redact('SQLITE_CORRUPT on /srv/data/world_model.db'), 'SQLITE_CORRUPT on /srv/data/world_model.db');
  });

  it('cuts excerpts after redacting, so a cut never exposes part of a secret', () => {
    const cut = excerpt(`${'x'.repeat(70)} token=${PASSWORD}`, 80);
    assert.ok(cut.length <= 80);
    assert.ok(!cut.includes(PASSWORD.slice(0, 4)), cut);
  });

  it('describes a command line short and without the values of secret arguments', () => {
    const described = describeCommand([
      '/usr/bin/python3',
      'app.py',
      '--api-key',
      ENV_SECRET,
      `--db=postgres://u:${URL_PASSWORD}@h/db`,
      `--password=${PASSWORD}`,
    ]);
    for (const secret of [ENV_SECRET, URL_PASSWORD, PASSWORD]) assert.ok(!described.includes(secret), described);
    assert.match(described, /^python3 app\.py --api-key \*\*\*/);
  });

  it('builds a child environment from the allow-list only', () => {
    const env = childEnvironment(
      { GRACE_HOME: '/srv/grace' },
      { PORT: '8000' },
      { PATH: '/usr/bin', HOME: '/root', TEMPORAL_API_KEY: TEMPORAL_KEY, AWS_SECRET_ACCESS_KEY: 'x' },
    );
    assert.deepEqual(env, { PATH: '/usr/bin', HOME: '/root', GRACE_HOME: '/srv/grace', PORT: '8000' });
  });
});
