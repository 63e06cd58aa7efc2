import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { createLogger } from '../lib/logger.js';
import { isAlive, portHolders, processInfo, sameProcess } from '../lib/proc.js';
import { ProcessRegistry } from '../lib/process-registry.js';
import { stopVerifiedProcess, Supervisor } from '../lib/supervisor.js';
import { createLifecycle } from '../workers/lifecycle.js';
import { tempDir } from './helpers/fixture.js';
import { freePorts, holdPortWithSocket, lifecycleConfig, root, waitFor } from './helpers/lifecycle.js';

const tmp = tempDir();
const logger = createLogger('supervision-test');
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  tmp.cleanup();
});

function sleeper(registry: ProcessRegistry, name = 'sleeper'): Supervisor {
  const supervisor = new Supervisor(
    {
      name,
      command: process.execPath,
      args: ['-e', 'setInterval(() => {}, 1000)'],
      cwd: tmp.dir,
      env: {},
      outputFile: join(tmp.dir, `${name}.out`),
      stopTimeoutMs: 1000,
    },
    logger,
    { registry },
  );
  cleanups.push(() => supervisor.stop());
  return supervisor;
}

describe('supervision', () => {
  it('records what it starts with the PID, start time and command line /proc reports, and marks it ended on exit', async () => {
    const registry = new ProcessRegistry(join(tmp.dir, 'records.db'));
    const supervisor = sleeper(registry);
    const identity = supervisor.start();
    const [entry] = registry.running('sleeper');
    assert.ok(entry);
    assert.equal(entry.pid, identity.pid);
    assert.deepEqual(entry.argv, [process.execPath, '-e', 'setInterval(() => {}, 1000)']);
    assert.ok(sameProcess(processInfo(identity.pid), entry), '/proc agrees with the registry');
    assert.ok(Math.abs(entry.startedAt - Date.now()) < 5000, 'the start time is now, to the clock tick');
    const exited = new Promise((resolve) => supervisor.once('exit', (...args) => resolve(args)));
    await supervisor.stop();
    assert.deepEqual(await exited, [undefined, 'SIGTERM', true]);
    assert.equal(registry.running('sleeper').length, 0);
    assert.equal(registry.byId(entry.id)?.state, 'ended');
    registry.close();
  });

  it('stops the processes its child started too, not only the child', async () => {
    const registry = new ProcessRegistry(join(tmp.dir, 'group.db'));
    const pidFile = join(tmp.dir, 'grandchild.pid');
    const supervisor = new Supervisor(
      {
        name: 'parent',
        command: 'sh',
        args: ['-c', `sleep 300 & echo $! > ${pidFile}; wait`],
        cwd: tmp.dir,
        env: {},
        outputFile: join(tmp.dir, 'parent.out'),
        stopTimeoutMs: 1000,
      },
      logger,
      { registry },
    );
    cleanups.push(() => supervisor.stop());
    supervisor.start();
    let grandchild = 0;
    for (let i = 0; i < 100 && !grandchild; i++) {
      await sleep(20);
      grandchild = Number(existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim() : 0);
    }
    assert.ok(grandchild > 0, 'the child started a process of its own');
    await supervisor.stop();
    await sleep(50);
    assert.ok(!isAlive(processInfo(grandchild)), 'the grandchild is gone too');
    registry.close();
  });

  it('never signals a PID whose start time or command line differ from the record (a reused PID)', async () => {
    const registry = new ProcessRegistry(join(tmp.dir, 'reuse.db'));
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    cleanups.push(async () => other.kill());
    const info = await waitFor('sleep in /proc', () => {
      const found = processInfo(other.pid ?? 0);
      return found?.argv[0] === 'sleep' ? found : undefined;
    });
    const earlier = { pid: info.pid, startTicks: info.startTicks - 1, argv: info.argv };
    const otherCommand = {
      pid: info.pid,
      startTicks: info.startTicks,
      argv: [process.execPath, 'examples/grace/server.mjs'],
    };
    assert.equal(await stopVerifiedProcess(earlier, 100), 'not-running');
    assert.equal(await stopVerifiedProcess(otherCommand, 100), 'not-running');
    registry.recordStart('grace', { ...info, startTicks: info.startTicks - 1 });
    registry.recordStart('grace', { ...info, argv: otherCommand.argv });
    assert.equal(registry.provenOwn(info), undefined);
    assert.equal(other.exitCode, null, 'sleep is still running');
    assert.equal(processInfo(info.pid)?.state !== 'Z', true);
    registry.close();
  });

  it('re-adopts the service and the model server after its Guardian was killed, instead of starting second ones', async () => {
    const port = await freePorts(4);
    const modelPort = await freePorts(1);
    const dir = join(tmp.dir, 'adopt');
    mkdirSync(dir, { recursive: true });
    const input = lifecycleConfig(dir, { port, modelServer: { port: modelPort } });
    const file = join(dir, 'guardian.yaml');
    writeFileSync(
      file,
      stringify({
        stateDir: input.stateDir,
        service: { ...input.service, port: input.service!.port },
        modelServer: input.modelServer,
      }),
    );
    const first = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/fixtures/supervise-once.ts'), file], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, GUARDIAN_LOG_LEVEL: 'error' },
    });
    cleanups.push(async () => first.kill('SIGKILL'));
    const started = await new Promise<{ service: number; port: number; modelServer: number }>((resolve, reject) => {
      first.stdout.once('data', (data: Buffer) => resolve(JSON.parse(data.toString()) as never));
      first.once('exit', (code) => reject(new Error(`supervisor exited with ${code}`)));
    });
    first.kill('SIGKILL'); // Guardian crashes; what it started lives on
    await new Promise((resolve) => first.once('exit', resolve));
    assert.ok(processInfo(started.service), 'the service outlived its supervisor');
    await waitFor(
      'the service to answer',
      async () => (await fetch(`http://127.0.0.1:${port}/guardian/health`).catch(() => undefined))?.ok,
    );

    const lifecycle = createLifecycle(input, logger);
    cleanups.push(() => lifecycle.stop());
    await lifecycle.up();
    const { service, modelServer } = lifecycle.deps;
    assert.equal(service?.supervisor.running?.pid, started.service, 'the same service process');
    assert.ok(service?.supervisor.adopted);
    assert.equal(modelServer?.supervisor.running?.pid, started.modelServer, 'the same model server process');
    assert.deepEqual(
      portHolders(port).map((h) => h.pid),
      [started.service],
      'one service only',
    );
    // The adopted service still takes Guardian's control calls: the token came along.
    const reply = await service!.control.call<{ ok: boolean }>('feature', { name: 'snapshots', enabled: true });
    assert.equal(reply.ok, true);
    const exited = new Promise((resolve) => service!.supervisor.once('exit', (...args) => resolve(args)));
    await lifecycle.stop();
    assert.deepEqual(await exited, [undefined, undefined, true]);
    assert.ok(!isAlive(processInfo(started.service)), 'stopped (a zombie waiting for init counts as ended)');
  });

  it("stops an earlier Guardian's service that no longer answers, and starts a fresh one", async () => {
    const port = await freePorts(4);
    const dir = join(tmp.dir, 'hung');
    mkdirSync(dir, { recursive: true });
    const config = lifecycleConfig(dir, { port });
    const registry = new ProcessRegistry(join(config.stateDir, 'supervision.db'));
    // A process registered as the service on its port, but that never answers health.
    const hung = new Supervisor(
      {
        name: 'grace',
        command: config.service!.command,
        args: config.service!.args,
        cwd: root,
        env: {},
        outputFile: join(dir, 'hung.out'),
        stopTimeoutMs: 500,
      },
      logger,
      { registry },
    );
    const holder = await holdPortWithSocket(port + 3); // keeps nothing of ours busy; only proves other ports stay untouched
    cleanups.push(() => holder.stop());
    const old = hung.start({ PORT: '0', GRACE_HOME: join(dir, 'old-home') }, { port: port + 2 });
    cleanups.push(async () => registry.close());
    const lifecycle = createLifecycle(config, logger);
    cleanups.push(() => lifecycle.stop());
    await lifecycle.up();
    const now = lifecycle.deps.service?.supervisor.running;
    assert.ok(now && now.pid !== old.pid, 'a fresh service was started');
    await waitFor('the old one to be gone', () => !isAlive(processInfo(old.pid)), 5000);
    assert.ok(holder.alive());
  });
});
