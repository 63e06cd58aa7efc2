import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import type { GuardianConfig } from '../../lib/config/load.js';
import { FAULT_FILE_ENV } from '../../lib/fault-hook.js';
import type { Mode } from '../../workflows/definitions.js';
import type { AgentReply, AgentRequest, InjectedFault } from './protocol.js';
import type { ServiceHealth } from '../../lib/service-control.js';

const AGENT = new URL('./agent.ts', import.meta.url).pathname;

/** How an agent process ended. */
export interface AgentExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** The runner's handle on one chaos agent process (Guardian + drill), which the fault hook may SIGKILL. */
export class Agent {
  /** Resolves when the process ends, however it ends. */
  readonly exited: Promise<AgentExit>;
  private exit: AgentExit | undefined;
  private waiting: ((reply: AgentReply) => void) | undefined;

  private constructor(
    private readonly child: ChildProcess,
    readonly mode: Mode,
  ) {
    this.exited = once(child, 'exit').then(([code, signal]) => {
      this.exit = { code: code as number | null, signal: signal as NodeJS.Signals | null };
      this.waiting?.({ type: 'error', message: `agent exited (${this.describeExit()})` });
      return this.exit;
    });
    child.on('message', (message: AgentReply) => {
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.(message);
    });
  }

  /** The agent's pid, which is also its process group (it leads its own). */
  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Whether the process is gone, and how. */
  get ended(): AgentExit | undefined {
    return this.exit;
  }

  /** Starts an agent process; resolves once its Guardian runs and its service answers. */
  static async start(
    mode: Mode,
    config: GuardianConfig,
    options: { faultFile: string; fresh: boolean; configured?: GuardianConfig; log?: string },
  ): Promise<{ agent: Agent; config: GuardianConfig }> {
    const child = fork(AGENT, [], {
      execArgv: ['--import', 'tsx'],
      serialization: 'advanced',
      detached: true,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: {
        ...process.env,
        [FAULT_FILE_ENV]: options.faultFile,
        ...(config.service?.env.GRACE_HOME ? { GRACE_HOME: config.service.env.GRACE_HOME } : {}),
        GUARDIAN_LOG_LEVEL: process.env.GUARDIAN_LOG_LEVEL ?? 'error',
      },
    });
    const agent = new Agent(child, mode);
    const ready = await agent.request(
      {
        type: 'start',
        mode,
        config,
        fresh: options.fresh,
        ...(options.configured ? { configured: options.configured } : {}),
      },
      120_000,
    );
    if (ready.type !== 'ready') throw new Error(`chaos agent for ${mode} did not start: ${describe(ready)}`);
    return { agent, config: ready.config };
  }

  /** Sends one request and waits for its reply (an exit answers with an error). */
  request(request: AgentRequest, timeoutMs = 60_000): Promise<AgentReply> {
    if (this.exit) return Promise.resolve({ type: 'error', message: `agent exited (${this.describeExit()})` });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        resolve({ type: 'error', message: `${request.type} got no answer within ${timeoutMs} ms` });
      }, timeoutMs);
      this.waiting = (reply) => {
        clearTimeout(timer);
        resolve(reply);
      };
      this.child.send(request);
    });
  }

  /** Injects the mode's fault (run index picks the drill's variant). */
  async inject(run: number): Promise<InjectedFault | { error: string }> {
    const reply = await this.request({ type: 'inject', run });
    if (reply.type === 'injected') return reply;
    return { error: describe(reply) };
  }

  /** The guarded service's health as the agent's Guardian sees it. */
  async health(): Promise<{ health?: ServiceHealth; error?: string }> {
    const reply = await this.request({ type: 'health' }, 10_000);
    if (reply.type === 'health') return reply;
    return { error: describe(reply) };
  }

  /** Undoes what the injection left (a holder on a port, a full disk). */
  async cleanup(): Promise<void> {
    await this.request({ type: 'cleanup' }, 60_000);
  }

  /** Lifts a hold or pause an operator's rollback put on the resource, so the next case can run. */
  async release(resource: string): Promise<void> {
    await this.request({ type: 'release', resource }, 10_000);
  }

  /** Stops Guardian (and the service) cleanly; kills the process if it does not end. */
  async stop(): Promise<void> {
    if (this.exit) return;
    await this.request({ type: 'stop' }, 60_000);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }

  private describeExit(): string {
    return this.exit?.signal ? `signal ${this.exit.signal}` : `code ${this.exit?.code}`;
  }
}

function describe(reply: AgentReply): string {
  return reply.type === 'error' ? reply.message : `unexpected ${reply.type}`;
}
