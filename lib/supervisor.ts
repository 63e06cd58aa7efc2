import { EventEmitter } from 'node:events';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import type { Logger } from './logger.js';

/** How to run one supervised process (no shell: command and args are passed as they are). */
export interface ProcessSpec {
  name: string;
  command: string;
  args: readonly string[];
  cwd: string;
  env: Record<string, string>;
  /** File that receives the process's stdout and stderr. */
  outputFile: string;
  stopTimeoutMs: number;
}

/** A process Guardian started: enough to prove later that a PID is still ours. */
export interface ProcessIdentity {
  pid: number;
  startedAt: number;
  command: string;
  args: readonly string[];
}

/**
 * Starts, stops and watches one child process, like a tiny systemd unit. Emits `exit`
 * (code, signal, expected) when the process ends.
 */
export class Supervisor extends EventEmitter<{
  exit: [code: number | undefined, signal: string | undefined, expected: boolean];
}> {
  private child: ResultPromise | undefined;
  private identity: ProcessIdentity | undefined;
  private stopping = false;

  constructor(
    readonly spec: ProcessSpec,
    private readonly logger: Logger,
  ) {
    super();
  }

  /** The running process, if any. */
  get running(): ProcessIdentity | undefined {
    return this.identity;
  }

  /** Starts the process with extra environment (e.g. PORT); a no-op when it already runs. */
  start(extraEnv: Record<string, string> = {}): ProcessIdentity {
    if (this.identity) return this.identity;
    mkdirSync(dirname(this.spec.outputFile), { recursive: true });
    const out = createWriteStream(this.spec.outputFile, { flags: 'a' });
    const child = execa(this.spec.command, [...this.spec.args], {
      cwd: this.spec.cwd,
      env: { ...this.spec.env, ...extraEnv },
      stdin: 'ignore',
      reject: false,
      cleanup: true,
      buffer: false,
    });
    child.stdout?.pipe(out);
    child.stderr?.pipe(out);
    if (child.pid === undefined)
      throw new Error(`could not start ${this.spec.name}: ${this.spec.command} did not spawn`);
    const identity: ProcessIdentity = {
      pid: child.pid,
      startedAt: Date.now(),
      command: this.spec.command,
      args: this.spec.args,
    };
    this.child = child;
    this.identity = identity;
    this.stopping = false;
    this.logger.info({ name: this.spec.name, pid: child.pid }, 'started supervised process');
    void child.then((result) => {
      if (this.child !== child) return;
      const expected = this.stopping;
      this.child = undefined;
      this.identity = undefined;
      out.end();
      this.logger[expected ? 'info' : 'warn'](
        { name: this.spec.name, pid: identity.pid, code: result.exitCode, signal: result.signal },
        'supervised process exited',
      );
      this.emit('exit', result.exitCode, result.signal ?? undefined, expected);
    });
    return identity;
  }

  /** SIGTERM, then SIGKILL after the stop timeout. Resolves when the process is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.stopping = true;
    child.kill('SIGTERM');
    const killed = await Promise.race([child.then(() => true), sleep(this.spec.stopTimeoutMs).then(() => false)]);
    if (!killed) {
      child.kill('SIGKILL');
      await child;
    }
  }
}
