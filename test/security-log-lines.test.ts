import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { corruptions } from '../drills/database-corruption.js';
import { createDatabaseCorruptionDetector } from '../detectors/database-corruption.js';
import { createInvalidCredentialsDetector } from '../detectors/invalid-credentials.js';
import { LogFindingLimit } from '../detectors/log-limit.js';
import { LogTail } from '../detectors/log-tail.js';
import { createOutOfMemoryDetector } from '../detectors/out-of-memory.js';
import { createPortInUseDetector } from '../detectors/port-in-use.js';
import type { Finding } from '../detectors/types.js';
import { parseConfig } from '../lib/config/load.js';
import type { MemorySample } from '../lib/memory.js';
import { freePortRange } from '../lib/ports.js';
import { processInfo } from '../lib/proc.js';
import { credentialSources, portHeldElsewhere, type PortOwner } from '../workers/detector-context.js';
import { tempDir, testConfig } from './helpers/fixture.js';
import { remoteApi, startProxy, until, writeSecret } from './helpers/outside.js';
import { seedDatabase, sha256 } from './helpers/sqlite.js';

const tmp = tempDir();
after(() => tmp.cleanup());

/** A memory sample with `usedPercent` of system memory in use, and no process of the service. */
const memoryAt = (usedPercent: number): (() => Promise<MemorySample>) => {
  return () =>
    Promise.resolve({
      at: Date.now(),
      total: 1,
      used: 0,
      usedPercent,
      swapTotal: 0,
      swapUsed: 0,
      swapPercent: 0,
      processes: [],
    });
};

async function tailOf(name: string): Promise<{ path: string; log: LogTail }> {
  const path = join(tmp.dir, `${name}.log`);
  writeFileSync(path, '');
  const log = new LogTail(path, 50);
  await log.start();
  return { path, log };
}

describe('log lines are claims, not damage', () => {
  it('an unattributed hostile line about sound databases reports nothing and changes no file', async () => {
    mkdirSync(join(tmp.dir, 'sound'));
    const databases = ['a', 'b', 'c'].map((name) => ({ name, path: join(tmp.dir, 'sound', `${name}.db`) }));
    for (const db of databases) seedDatabase(db.path, 200);
    const before = databases.map((db) => sha256(db.path));
    const { path, log } = await tailOf('hostile');
    const findings: Finding[] = [];
    const detector = createDatabaseCorruptionDetector({ databases, log, intervalMs: 60_000 });
    await detector.start((f) => findings.push(f));
    try {
      for (let i = 0; i < 20; i++) appendFileSync(path, 'SQLITE_CORRUPT: database disk image is malformed\n');
      await sleep(1500);
      assert.deepEqual(findings, []);
      assert.deepEqual(
        databases.map((db) => sha256(db.path)),
        before,
      );
    } finally {
      await detector.stop();
      log.stop();
    }
  });

  it('an unattributed line about real damage reports only the damaged database', async () => {
    mkdirSync(join(tmp.dir, 'mixed'));
    const databases = ['sound', 'damaged'].map((name) => ({ name, path: join(tmp.dir, 'mixed', `${name}.db`) }));
    for (const db of databases) seedDatabase(db.path, 400);
    await corruptions['overwrite-page'](databases[1]?.path ?? '');
    const { path, log } = await tailOf('mixed');
    const findings: Finding[] = [];
    const detector = createDatabaseCorruptionDetector({ databases, log, intervalMs: 60_000 });
    await detector.start((f) => findings.push(f));
    try {
      appendFileSync(path, 'sqlite3.DatabaseError: database disk image is malformed\n');
      for (let i = 0; i < 100 && findings.length === 0; i++) await sleep(30);
      await sleep(300);
      assert.deepEqual(
        findings.map((f) => f.resource),
        ['damaged'],
      );
    } finally {
      await detector.stop();
      log.stop();
    }
  });

  it('rate-limits log-driven findings per resource: a flood is a handful of findings', async () => {
    const { path, log } = await tailOf('flood');
    const findings: Finding[] = [];
    const memory = parseConfig('{}', join(tmp.dir, 'guardian.yaml')).memory;
    const detector = createOutOfMemoryDetector({
      memory,
      resource: 'grace',
      pids: () => [],
      log,
      intervalMs: 60_000,
      sample: memoryAt(99), // short of memory indeed: each claim is confirmed
    });
    await detector.start((f) => findings.push(f));
    try {
      for (let i = 0; i < 200; i++) {
        appendFileSync(path, 'MemoryError: hostile\n');
        if (i % 10 === 0) await sleep(20);
      }
      await sleep(800);
      assert.ok(findings.length >= 1 && findings.length <= 10, `at most ten per minute, not ${findings.length}`);
    } finally {
      await detector.stop();
      log.stop();
    }
  });

  it('lets findings through again once the window has passed', () => {
    const limit = new LogFindingLimit(1000, 2);
    assert.deepEqual(
      [
        limit.allow('db', 0),
        limit.allow('db', 10),
        limit.allow('db', 20),
        limit.allow('other', 20),
        limit.allow('db', 1015),
      ],
      [true, true, false, true, true],
    );
  });
});

describe('a MemoryError line is confirmed against measured memory', () => {
  const memory = parseConfig('{}', join(tmp.dir, 'guardian.yaml')).memory;

  async function findingsFor(usedPercent: number): Promise<Finding[]> {
    const { path, log } = await tailOf(`memory-${usedPercent}`);
    const findings: Finding[] = [];
    const detector = createOutOfMemoryDetector({
      memory,
      resource: 'grace',
      pids: () => [],
      log,
      intervalMs: 60_000,
      sample: memoryAt(usedPercent),
    });
    await detector.start((f) => findings.push(f));
    try {
      appendFileSync(path, `${JSON.stringify({ ts: 1, event: 'memory.error', msg: 'MemoryError: hostile' })}\n`);
      appendFileSync(path, 'spawn ENOMEM\n');
      await sleep(600);
      return findings;
    } finally {
      await detector.stop();
      log.stop();
    }
  }

  it('opens nothing while measured memory is under every threshold', async () => {
    assert.deepEqual(await findingsFor(40), []);
  });

  it('reports the line with what the measurement confirmed when memory is short', async () => {
    const findings = await findingsFor(99);
    assert.ok(findings.length >= 1);
    assert.match(findings[0]?.evidence ?? '', /^service log: MemoryError .*; confirmed: system memory 99\.0% used/);
  });
});

describe('an http.auth_error line is confirmed by the endpoint itself', () => {
  const KEY = 'key-the-api-accepts-51c2';

  /** The invalid-credentials detector on a real egress proxy whose credential file holds `held`. */
  async function detectorHolding(name: string, held: string) {
    const api = await remoteApi({ keys: [KEY] });
    const dir = join(tmp.dir, name);
    const config = testConfig(dir, {
      egress: { endpoints: [{ name: 'api', url: api.url, credential: 'api-key', timeouts: ['2s'] }] },
      credentials: [{ name: 'api-key', token: { file: writeSecret(dir, 'api.key', held) } }],
    });
    const proxy = await startProxy(config);
    const { path, log } = await tailOf(name);
    const findings: Finding[] = [];
    const detector = createInvalidCredentialsDetector({
      endpoints: [{ endpoint: 'api', credential: 'api-key' }],
      log,
      ...credentialSources(proxy.proxy),
    });
    await detector.start((f) => findings.push(f));
    const line = `${JSON.stringify({ ts: Date.now(), event: 'http.auth_error', endpoint: 'api', status: 401 })}\n`;
    return {
      api,
      findings,
      say: () => appendFileSync(path, line),
      async stop() {
        await detector.stop();
        log.stop();
        await proxy.stop();
        await api.stop();
      },
    };
  }

  it('opens nothing while the endpoint accepts the credential, and asks it at most ten times a minute', async () => {
    const d = await detectorHolding('auth-hostile', KEY);
    try {
      const calls = d.api.stats.calls;
      for (let i = 0; i < 60; i++) {
        d.say();
        await sleep(15);
      }
      await sleep(500);
      assert.deepEqual(d.findings, []);
      const asked = d.api.stats.calls - calls;
      assert.ok(asked >= 1 && asked <= 10, `the endpoint was asked ${asked} times`);
    } finally {
      await d.stop();
    }
  });

  it('reports the line once the endpoint refuses the credential Guardian holds', async () => {
    const d = await detectorHolding('auth-refused', 'key-revoked-0000');
    try {
      d.say();
      const [finding] = await until(() => (d.findings.length > 0 ? d.findings : undefined), 5000);
      assert.equal(finding?.resource, 'api');
      assert.match(finding?.evidence ?? '', /^service log: api answered 401; confirmed: .*401/);
      assert.ok(!(finding?.evidence ?? '').includes('key-revoked'), 'the credential never appears');
    } finally {
      await d.stop();
    }
  });
});

describe('a bind.error line is confirmed by who really holds the port', () => {
  /** A listener of this test process on 127.0.0.1: a process other than the supervised service. */
  async function squat(): Promise<{ port: number; server: Server }> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
    const address = server.address();
    assert.ok(address && typeof address === 'object');
    return { port: address.port, server };
  }

  /** The supervised service as the confirmation reads it: `running` is its process, if any. */
  const serviceOn = (port: number, running?: { pid: number; startTicks: number }): PortOwner => ({
    port: undefined,
    lastAttemptedPort: port,
    supervisor: { running },
    settings: { env: {} },
  });

  /** The port-in-use detector fed by a real log file, confirming with {@link portHeldElsewhere}. */
  async function findingsAfter(name: string, owner: PortOwner, lines: string[]): Promise<Finding[]> {
    const { path, log } = await tailOf(name);
    const findings: Finding[] = [];
    const detector = createPortInUseDetector('grace', { log, confirm: portHeldElsewhere(owner) });
    await detector.start((f) => findings.push(f));
    try {
      for (const [i, line] of lines.entries()) {
        appendFileSync(path, `${line}\n`);
        if (i % 5 === 0) await sleep(15);
      }
      await sleep(600);
      return findings;
    } finally {
      await detector.stop();
      log.stop();
    }
  }

  const bindError = (port: number) =>
    JSON.stringify({ ts: 3, event: 'bind.error', code: 'EADDRINUSE', port, msg: 'listen EADDRINUSE' });

  it('opens nothing for a flood of lines about a port nobody holds', async () => {
    const port = await freePortRange(1, 21000 + Math.floor(Math.random() * 2000));
    const lines = Array.from({ length: 30 }, (_, i) =>
      i % 2 ? bindError(port) : `OSError: [Errno 98] Address already in use: (127.0.0.1:${port})`,
    );
    assert.deepEqual(await findingsAfter('bind-free', serviceOn(port), lines), []);
  });

  it("opens nothing while the port is held by the supervised service itself, or is not the service's port", async () => {
    const { port, server } = await squat();
    try {
      const self = processInfo(process.pid);
      assert.ok(self);
      assert.deepEqual(await findingsAfter('bind-own', serviceOn(port, self), [bindError(port)]), []);
      const other = await freePortRange(1, 23000 + Math.floor(Math.random() * 2000));
      assert.deepEqual(await findingsAfter('bind-elsewhere', serviceOn(other), [bindError(port)]), []);
    } finally {
      server.close();
    }
  });

  it("reports the line once another process's listener holds the service's port, naming it by command only", async () => {
    const { port, server } = await squat();
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await sleep(50);
      const service = processInfo(child.pid ?? 0);
      assert.ok(service, 'the stand-in for the supervised service runs');
      const findings = await findingsAfter('bind-taken', serviceOn(port, service), [bindError(port)]);
      assert.deepEqual(
        findings.map((f) => [f.resource, f.evidence, f.observedAt]),
        [
          [
            'grace',
            `service log: EADDRINUSE "listen EADDRINUSE" at bind-taken.log:1; confirmed: port ${port} is held by pid ${process.pid} (node)`,
            3,
          ],
        ],
      );
    } finally {
      child.kill();
      server.close();
    }
  });
});
