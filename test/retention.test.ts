import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfig } from '../lib/config/load.js';
import { Ledger } from '../lib/ledger.js';
import { createLogger } from '../lib/logger.js';
import { RetentionKeeper } from '../lib/retention-keeper.js';
import { directorySize } from '../lib/state-size.js';
import { tempDir } from './helpers/fixture.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const HOUR = 3_600_000;

/** Makes a run directory with one file of `bytes`, last changed `ageMs` ago. */
function runDir(path: string, ageMs: number, bytes = 1000): void {
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'data'), Buffer.alloc(bytes, 1));
  const at = new Date(Date.now() - ageMs);
  utimesSync(join(path, 'data'), at, at);
  utimesSync(path, at, at);
}

function keeperFor(stateDir: string, ledger: Ledger, yaml = '') {
  const config = parseConfig(`stateDir: ${stateDir}\n${yaml}`, join(tmp.dir, 'guardian.yaml'));
  return new RetentionKeeper({
    stateDir,
    alertsFile: join(stateDir, 'alerts.log'),
    settings: config.retention,
    rollbackWindowMs: 15 * 60_000,
    flapWindowMs: 10 * 60_000,
    ledger: ledger.db,
    logger: createLogger('test'),
  });
}

describe('retention', () => {
  it('has defaults for everything it prunes', () => {
    const config = parseConfig('{}', join(tmp.dir, 'guardian.yaml'));
    assert.equal(config.retention.quarantine.keep, 3);
    assert.equal(config.retention.runs.keep, 50);
    assert.equal(config.retention.alertsLog.maxBytes, 10 * 1024 * 1024);
    assert.equal(config.scrub.cpuPercent, 2);
  });

  it('prunes run directories past their count, keeping the newest and those a rollback window needs', async () => {
    const stateDir = join(tmp.dir, 'runs');
    const ledger = new Ledger(join(stateDir, 'ledger.db'));
    for (let i = 0; i < 8; i++) runDir(join(stateDir, 'step-results', `run-${i}`), (i + 2) * HOUR);
    runDir(join(stateDir, 'disk', 'fresh'), 1000);
    runDir(join(stateDir, 'client-configs', 'old-but-open'), 30 * 24 * HOUR);
    runDir(join(stateDir, 'config-originals', 'policies', 'ancient'), 30 * 24 * HOUR);
    ledger.openIncident(
      {
        workflowId: 'w',
        runId: 'old-but-open',
        mode: 'port-in-use',
        host: 'h',
        resource: 'r',
        evidence: '',
        detectedAt: Date.now(),
        injectedAt: null,
      },
      { limit: 5, windowMs: 600_000 },
    );
    const report = await keeperFor(stateDir, ledger, 'retention: { runs: { keep: 3 } }').run();
    assert.deepEqual(readdirSync(join(stateDir, 'step-results')).sort(), ['run-0', 'run-1', 'run-2']);
    assert.ok(existsSync(join(stateDir, 'disk', 'fresh')), 'younger than a rollback window: kept');
    assert.ok(existsSync(join(stateDir, 'client-configs', 'old-but-open')), 'its incident is still healing: kept');
    assert.ok(!existsSync(join(stateDir, 'config-originals', 'policies', 'ancient')), 'past maxAge: pruned');
    assert.equal(report.pruned.length, 6);
    assert.ok(report.freedBytes >= 6000);
    ledger.close();
  });

  it('always keeps the newest quarantined copy of each database, and caps their total size', async () => {
    const stateDir = join(tmp.dir, 'quarantine');
    const ledger = new Ledger(join(stateDir, 'ledger.db'));
    for (let i = 0; i < 4; i++) runDir(join(stateDir, 'quarantine', 'big', `run-${i}`), (i + 2) * HOUR, 400_000);
    runDir(join(stateDir, 'quarantine', 'small', 'only'), 90 * 24 * HOUR, 1000);
    await keeperFor(stateDir, ledger, 'retention: { quarantine: { maxBytes: 1MB } }').run();
    assert.deepEqual(readdirSync(join(stateDir, 'quarantine', 'big')).sort(), ['run-0', 'run-1']);
    assert.deepEqual(
      readdirSync(join(stateDir, 'quarantine', 'small')),
      ['only'],
      'the newest copy stays, however old',
    );
    await keeperFor(stateDir, ledger).run(true);
    assert.deepEqual(readdirSync(join(stateDir, 'quarantine', 'big')), ['run-0'], 'disk full: only the newest');
    ledger.close();
  });

  it('rotates alerts.log past its size and bounds the ledger', async () => {
    const stateDir = join(tmp.dir, 'logs');
    const ledger = new Ledger(join(stateDir, 'ledger.db'));
    writeFileSync(join(stateDir, 'alerts.log'), Buffer.alloc(2048, 0x61));
    writeFileSync(join(stateDir, 'alerts.log.1'), 'older');
    for (let i = 0; i < 30; i++) {
      const runId = `run-${i}`;
      ledger.openIncident(
        {
          workflowId: `w-${i}`,
          runId,
          mode: 'disk-full',
          host: 'h',
          resource: '/',
          evidence: '',
          detectedAt: i,
          injectedAt: null,
        },
        { limit: 1000, windowMs: 1 },
      );
      ledger.recordIncident({
        workflowId: `w-${i}`,
        runId,
        outcome: 'healed',
        healedAt: i,
        mttrMs: 1,
        steps: [],
        summary: '',
      });
      ledger.alerts.enqueue({ key: `alert-${i}`, severity: 'warning', message: `alert ${i}`, at: i }, false);
    }
    ledger.openIncident(
      {
        workflowId: 'open',
        runId: 'open',
        mode: 'disk-full',
        host: 'h',
        resource: '/',
        evidence: '',
        detectedAt: 0,
        injectedAt: null,
      },
      { limit: 1000, windowMs: 1 },
    );
    const report = await keeperFor(
      stateDir,
      ledger,
      'retention: { alertsLog: { maxBytes: 1kB }, ledger: { keep: 10 } }',
    ).run();
    assert.ok(!existsSync(join(stateDir, 'alerts.log')), 'the next alert starts a new file');
    assert.equal(statSync(join(stateDir, 'alerts.log.1')).size, 2048);
    const incidents = ledger.incidents({ limit: 100 });
    assert.equal(incidents.length, 11, 'ten kept, plus the one still healing');
    assert.ok(incidents.some((i) => i.workflowId === 'open'));
    assert.ok(report.ledgerRows >= 40);
    ledger.close();
    assert.ok((await directorySize(stateDir)) > 0);
  });
});
