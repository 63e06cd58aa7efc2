import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Browser, chromium, type Page } from 'playwright-core';
import { corruptions } from '../drills/database-corruption.js';
import { takeBackup } from '../lib/backups.js';
import { type IncidentInput, type IncidentResult, rollbackSignal, statusQuery } from '../workflows/definitions.js';
import { tempDir, testConfig } from './helpers/fixture.js';
import { seedDatabase } from './helpers/sqlite.js';
import { startTestWorker, type TestWorker } from './helpers/worker.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const UI = process.env.TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233';
const shots = process.env.GUARDIAN_REPORT_DIR ?? join(new URL('../', import.meta.url).pathname, 'reports', 'ui');
const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (install Debian's chromium package)`;
if (skip) console.log(`# skipping the Temporal UI test: ${skip}`);

const tmp = tempDir();
const config = testConfig(tmp.dir, {
  databases: ['healed_db', 'rolled_db'].map((name) => ({ name, path: join(tmp.dir, `${name}.db`) })),
});
let worker: TestWorker;
let browser: Browser;
const ids: Record<string, string> = {};

async function incident(database: string, rollback: boolean): Promise<string> {
  await corruptions['overwrite-page'](join(tmp.dir, `${database}.db`));
  const input: IncidentInput = {
    mode: 'database-corruption',
    resource: database,
    evidence: 'UI test',
    detectedAt: Date.now(),
    host: config.host,
    settings: { rollbackWindowMs: rollback ? 60_000 : 200, flapLimit: 5, flapWindowMs: 600_000 },
    params: { database, serviceConnected: false },
  };
  const handle = await worker.client.workflow.start('databaseCorruption', {
    taskQueue: config.taskQueue,
    workflowId: `database-corruption:${config.host}:${database}`,
    args: [input],
  });
  if (rollback) {
    for (let i = 0; i < 200 && (await handle.query(statusQuery)).phase !== 'rollback-window'; i++) await sleep(50);
    await handle.signal(rollbackSignal, 'UI test');
  }
  const result = (await handle.result()) as IncidentResult;
  assert.equal(result.outcome, rollback ? 'rolled-back' : 'healed');
  return handle.workflowId;
}

before(async () => {
  if (skip) return;
  mkdirSync(shots, { recursive: true });
  for (const db of config.databases) {
    seedDatabase(db.path, 1000);
    await takeBackup(db, config.stateDir, 2);
  }
  worker = await startTestWorker(config);
  ids.healed = await incident('healed_db', false);
  ids.rolled = await incident('rolled_db', true);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});
after(async () => {
  await browser?.close();
  await worker?.stop();
  tmp.cleanup();
});

/** Opens a page and waits until the text appears (the UI loads its data after the page). */
async function open(url: string, text: string | RegExp): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(url);
  await page.getByText(text).first().waitFor({ timeout: 20_000 });
  return page;
}

describe('incidents in the Temporal UI', { skip }, () => {
  it('finds Guardian incidents by search attribute in the workflow list', async () => {
    const query = encodeURIComponent(`GuardianHost="${config.host}"`);
    let page: Page | undefined;
    for (let i = 0; i < 10 && !page; i++) {
      page = await open(`${UI}/namespaces/default/workflows?query=${query}`, ids.healed ?? '').catch(async () => {
        await sleep(1000); // visibility is eventually consistent
        return undefined;
      });
    }
    assert.ok(page, 'the healed incident is listed');
    await page
      .getByText(ids.rolled ?? '')
      .first()
      .waitFor();
    await page.screenshot({ path: join(shots, 'incident-list.png'), fullPage: true });
    await page.close();
  });

  it("shows a healed incident's remediation activities by name", async () => {
    const page = await open(
      `${UI}/namespaces/default/workflows/${encodeURIComponent(ids.healed ?? '')}`,
      'restoreLastGoodBackup',
    );
    for (const name of [
      'openIncident',
      'quarantineDatabaseFiles',
      'inspectDatabase',
      'restoreLastGoodBackup',
      'verifyDatabase',
    ]) {
      assert.ok((await page.getByText(name).count()) > 0, `${name} is shown`);
    }
    await page.screenshot({ path: join(shots, 'incident-healed.png'), fullPage: true });
    await page.close();
  });

  it("shows a rolled-back incident's compensations", async () => {
    const page = await open(
      `${UI}/namespaces/default/workflows/${encodeURIComponent(ids.rolled ?? '')}`,
      'restoreQuarantinedFiles',
    );
    assert.ok((await page.getByText('rollback').count()) > 0, 'the rollback signal is shown');
    await page.screenshot({ path: join(shots, 'incident-rolled-back.png'), fullPage: true });
    await page.close();
  });
});
