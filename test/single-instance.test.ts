import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { tempDir } from './helpers/fixture.js';
import { uniqueName } from './helpers/temporal.js';

const root = new URL('../', import.meta.url).pathname;
const tmp = tempDir();
const started: ChildProcess[] = [];
after(async () => {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  }
  tmp.cleanup();
});

/** Runs `guardian up --no-service` on `config`; collects its stderr. */
function guardianUp(config: string): { child: ChildProcess; stderr: () => string } {
  let stderr = '';
  const child = spawn(process.execPath, [join(root, 'bin/guardian.js'), 'up', '--no-service', '--config', config], {
    cwd: tmp.dir,
    env: { ...process.env, GUARDIAN_LOG_LEVEL: 'error' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  started.push(child);
  return { child, stderr: () => stderr };
}

describe('one Guardian per state directory', () => {
  it('refuses a second `guardian up` on the same state directory, naming the running one’s PID', async () => {
    const config = join(tmp.dir, 'guardian.yaml');
    const host = uniqueName('single');
    writeFileSync(
      config,
      stringify({ host, taskQueue: `guardian@${host}`, stateDir: join(tmp.dir, 'state'), metrics: { port: 0 } }),
    );
    const first = guardianUp(config);
    for (let i = 0; i < 600 && !first.stderr().includes('Guardian is up'); i++) {
      assert.equal(first.child.exitCode, null, `the first Guardian exited: ${first.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.match(first.stderr(), /Guardian is up/);

    const second = guardianUp(config);
    const [code] = (await once(second.child, 'exit')) as [number | null];
    assert.equal(code, 1);
    assert.match(second.stderr(), new RegExp(`already running on the state directory .* \\(pid ${first.child.pid}\\)`));
    assert.equal(first.child.exitCode, null, 'the first Guardian keeps running');

    first.child.kill('SIGTERM');
    await once(first.child, 'exit');
    assert.equal(existsSync(join(tmp.dir, 'state', 'guardian.pid')), false, 'a stopped Guardian releases the lock');
  });
});
