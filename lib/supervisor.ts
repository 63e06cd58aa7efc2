import { EventEmitter } from 'node:events';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type Options, type ResultPromise } from 'execa';
import { childEnvironment } from './child-env.js';
import type { Logger } from './logger.js';
import { isAlive, processInfo, sameProcess } from './proc.js';
import type { ProcessRegistry, RegisteredProcess } from './process-registry.js';
import { createPrivateFile } from './state-db.js';

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
  /** Epoch ms, from /proc. */
  startedAt: number;
  command: string;
  args: readonly string[];
  /** Start time in clock ticks after boot (/proc/<pid>/stat): differs for a reused PID. */
  startTicks: number;
  /** The command line as /proc reports it. */
  argv: readonly string[];
}

/** How the last process of a supervisor ended. */
export interface ProcessExit extends ProcessIdentity {
  readonly code: number | undefined;
  readonly signal: string | undefined;
  /** Epoch ms when Guardian saw the end. */
  readonly at: number;
  /** True when Guardian had asked it to stop. */
  readonly expected: boolean;
}

/** Options of {@link Supervisor}. */
export interface SupervisorOptions {
  /** Records every start and end; without one, nothing survives a restart of Guardian. */
  registry?: ProcessRegistry;
  /** How often an adopted process (not Guardian's child) is checked for having ended. @default 250 */
  adoptedPollMs?: number;
}

/**
 * Starts, stops and watches one process, like a tiny systemd unit. Emits `exit` (code, signal,
 * expected) when the process ends. The process runs in its own session with its output going
 * straight to a file, so it outlives a crash of Guardian; the registry lets the next Guardian
 * re-adopt it ({@link Supervisor.adopt}) instead of starting a second one.
 */
export class Supervisor extends EventEmitter<{
  exit: [code: number | undefined, signal: string | undefined, expected: boolean];
}> {
  private child: ResultPromise | undefined;
  private identity: ProcessIdentity | undefined;
  private entry: RegisteredProcess | undefined;
  private adoptedPoll: NodeJS.Timeout | undefined;
  private stopping = false;
  private exit: ProcessExit | undefined;

  constructor(
    readonly spec: ProcessSpec,
    private readonly logger: Logger,
    private readonly options: SupervisorOptions = {},
  ) {
    super();
  }

  /** The running process, if any. */
  get running(): ProcessIdentity | undefined {
    return this.identity;
  }

  /** How the previous process ended, if one did while this supervisor watched it. */
  get lastExit(): ProcessExit | undefined {
    return this.exit;
  }

  /** True when the running process was adopted from an earlier Guardian rather than started by this one. */
  get adopted(): boolean {
    return this.identity !== undefined && this.child === undefined;
  }

  /** Starts the process with extra environment (e.g. PORT); a no-op when it already runs. */
  start(extraEnv: Record<string, string> = {}, meta: { port?: number } = {}): ProcessIdentity {
    if (this.identity) return this.identity;
    mkdirSync(dirname(this.spec.outputFile), { recursive: true });
    createPrivateFile(this.spec.outputFile);
    const out = openSync(this.spec.outputFile, 'a');
    let child;
    try {
      child = execa(this.spec.command, [...this.spec.args], {
        cwd: this.spec.cwd,
        // Allow-listed: the configured env, a minimal base and the contract variables, never Guardian's secrets.
        env: childEnvironment(this.spec.env, extraEnv),
        extendEnv: false,
        stdin: 'ignore',
        ...toFile(out),
        detached: true,
        reject: false,
        buffer: false,
      });
    } finally {
      closeSync(out); // the child has its own copy of the descriptor
    }
    if (child.pid === undefined) {
      void child.catch(() => undefined);
      throw new Error(`could not start ${this.spec.name}: ${this.spec.command} did not spawn`);
    }
    // libuv returns from spawn only after exec, so /proc already shows the new program.
    const startedAt = Date.now(); // /proc's start time is exact in ticks but only approximate in epoch ms
    const found = processInfo(child.pid);
    const info = found && { ...found, startedAt };
    const identity: ProcessIdentity = {
      pid: child.pid,
      startedAt,
      command: this.spec.command,
      args: this.spec.args,
      startTicks: info?.startTicks ?? 0,
      argv: info?.argv ?? [this.spec.command, ...this.spec.args],
    };
    this.child = child;
    this.identity = identity;
    this.stopping = false;
    this.entry = info ? this.options.registry?.recordStart(this.spec.name, info, meta.port ?? null) : undefined;
    this.logger.info({ name: this.spec.name, pid: child.pid }, 'started supervised process');
    void child.then((result) => {
      if (this.child !== child) return;
      this.ended(result.exitCode, result.signal ?? undefined);
    });
    return identity;
  }

  /**
   * Takes over a process an earlier Guardian started, after proving from /proc that it still is
   * that process (PID, start time, command line). Returns its identity, or undefined when it is
   * gone or the PID now belongs to someone else.
   */
  adopt(entry: RegisteredProcess): ProcessIdentity | undefined {
    if (this.identity) return undefined;
    const info = processInfo(entry.pid);
    if (!sameProcess(info, entry)) return undefined;
    this.identity = {
      pid: entry.pid,
      startedAt: entry.startedAt,
      command: this.spec.command,
      args: this.spec.args,
      startTicks: entry.startTicks,
      argv: entry.argv,
    };
    this.entry = entry;
    this.stopping = false;
    // Not our child: no exit event from the kernel, so watch /proc (one small read per tick).
    this.adoptedPoll = setInterval(() => {
      if (!sameProcess(processInfo(entry.pid), entry)) this.ended(undefined, undefined);
    }, this.options.adoptedPollMs ?? 250);
    this.adoptedPoll.unref();
    this.logger.info({ name: this.spec.name, pid: entry.pid }, 'adopted supervised process');
    return this.identity;
  }

  /** SIGTERM, then SIGKILL after the stop timeout. Resolves when the process is gone. */
  async stop(): Promise<void> {
    const identity = this.identity;
    if (!identity) return;
    this.stopping = true;
    const child = this.child;
    if (!child) {
      await stopVerifiedProcess(identity, this.spec.stopTimeoutMs);
      this.ended(undefined, undefined);
      return;
    }
    // The child leads its own process group (detached): signalling the group reaches the
    // processes it started too (a model server's runners, say), and nothing outside it.
    const group = -identity.pid;
    signalGroup(group, 'SIGTERM', () => child.kill('SIGTERM'));
    // A stopped (SIGSTOP) process acts on SIGTERM only once continued, as systemd does it.
    signalGroup(group, 'SIGCONT', () => child.kill('SIGCONT'));
    const exited = await Promise.race([child.then(() => true), sleep(this.spec.stopTimeoutMs).then(() => false)]);
    if (!exited) {
      signalGroup(group, 'SIGKILL', () => child.kill('SIGKILL'));
      await child;
    }
    // Descendants that outlived the leader's exit are still in its group.
    signalGroup(group, 'SIGKILL', () => undefined);
  }

  private ended(code: number | undefined, signal: string | undefined): void {
    const identity = this.identity;
    if (!identity) return;
    const expected = this.stopping;
    this.exit = { ...identity, code, signal, at: Date.now(), expected };
    this.child = undefined;
    this.identity = undefined;
    if (this.adoptedPoll) clearInterval(this.adoptedPoll);
    this.adoptedPoll = undefined;
    try {
      if (this.entry)
        this.options.registry?.recordEnd(this.entry.id, {
          ...(code === undefined ? {} : { code }),
          ...(signal ? { signal } : {}),
        });
    } catch (err) {
      // The registry closes with Guardian; the next start finds the process gone from /proc anyway.
      this.logger.warn(
        { name: this.spec.name, err: (err as Error).message },
        'could not record the end of a supervised process',
      );
    }
    this.entry = undefined;
    this.logger[expected ? 'info' : 'warn'](
      { name: this.spec.name, pid: identity.pid, code, signal },
      'supervised process exited',
    );
    this.emit('exit', code, signal, expected);
  }
}

/** How {@link stopVerifiedProcess} ended a process. */
export type StopOutcome = 'not-running' | 'terminated' | 'killed' | 'survived';

/**
 * Stops a process that is not Guardian's child (an adopted or stale one): SIGTERM, then SIGKILL
 * after `graceMs`. Before each signal it re-reads /proc and proves the PID still is the process
 * described (start time and command line); a PID that now belongs to someone else is never
 * signalled.
 */
export async function stopVerifiedProcess(
  expected: { pid: number; startTicks: number; argv: readonly string[] },
  graceMs: number,
  pollMs = 20,
): Promise<StopOutcome> {
  const alive = () => sameProcess(processInfo(expected.pid), expected);
  if (!alive() || !send(expected.pid, 'SIGTERM')) return 'not-running';
  // A stopped (SIGSTOP) process acts on SIGTERM only once continued, as systemd does it.
  if (alive()) send(expected.pid, 'SIGCONT');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await sleep(pollMs);
    if (!alive()) return 'terminated';
  }
  if (!alive() || !send(expected.pid, 'SIGKILL')) return 'terminated';
  // SIGKILL cannot be caught; only an uninterruptible sleep delays it.
  for (let i = 0; i < 100; i++) {
    await sleep(pollMs);
    if (!isAlive(processInfo(expected.pid)) || !alive()) return 'killed';
  }
  return 'survived';
}

/** Signals a process group (negative id); runs `fallback` when no such group exists any more. */
function signalGroup(group: number, signal: NodeJS.Signals, fallback: () => void): void {
  try {
    process.kill(group, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    fallback();
  }
}

/** Sends a signal; false when the process is already gone (ESRCH). */
function send(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/**
 * stdout and stderr straight to an open file: the child writes to the file itself, so its output
 * does not depend on a pipe to Guardian (a pipe would break when Guardian stops, and the child
 * would then die of EPIPE). execa passes any descriptor number to spawn; its types list only 1–9.
 */
function toFile(fd: number): Pick<Options, 'stdout' | 'stderr'> {
  return { stdout: fd, stderr: fd } as unknown as Pick<Options, 'stdout' | 'stderr'>;
}
