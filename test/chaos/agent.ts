// A chaos agent: one Guardian (the same startGuardian `guardian up` runs) plus the mode's drill, in a
// process of its own that the fault hook may SIGKILL. The runner (run.ts) drives it over IPC.
import { setTimeout as sleep } from 'node:timers/promises';
import type { DrillEnvironment, Injection } from '../../drills/types.js';
import { drills } from '../../drills/index.js';
import type { GuardianConfig } from '../../lib/config/load.js';
import { workflowBundle } from '../../lib/workflow-bundle.js';
import { type GuardianRuntime, startGuardian } from '../../workers/guardian.js';
import { groupMembers, syncInjections } from './injections.js';
import type { AgentReply, AgentRequest, AgentStart } from './protocol.js';

let runtime: GuardianRuntime | undefined;
let env: DrillEnvironment | undefined;
let injection: Pick<Injection, 'cleanup'> | undefined;
let start: AgentStart | undefined;

function reply(message: AgentReply): void {
  process.send?.(message);
}

async function up(request: AgentStart): Promise<GuardianConfig> {
  start = request;
  const drill = drills[request.mode];
  let config = request.configured ?? request.config;
  // The outside world (remote-API stand-in) lives in this process: a recovery starts it again.
  const needsWorld =
    drill?.configure !== undefined &&
    ['network-unreachable', 'api-timeout', 'invalid-credentials'].includes(request.mode);
  if (drill?.configure && (request.fresh || needsWorld))
    config = await drill.configure(request.config, { recovering: !request.fresh });
  runtime = await startGuardian({ config, workflowBundle: await workflowBundle() });
  const rt = runtime;
  env = { runtime: rt, servicePort: () => rt.service?.port ?? config.service?.port.preferred };
  if (request.fresh) {
    const query = `TaskQueue = "${config.taskQueue}" AND ExecutionStatus = "Running"`;
    for await (const wf of rt.client.workflow.list({ query })) {
      if (wf.type === 'guardianWarmUp') continue;
      await rt.client.workflow
        .getHandle(wf.workflowId, wf.runId)
        .terminate('left open by an earlier chaos run')
        .catch(() => undefined);
    }
  }
  await waitForService(rt, 20_000);
  if (request.fresh) await drill?.prepare?.(env);
  return config;
}

async function waitForService(rt: GuardianRuntime, timeoutMs: number): Promise<void> {
  if (!rt.control) return;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const health = await rt.control.health(1000).catch(() => undefined);
    if (health?.status === 'ok') return;
    await sleep(100);
  }
}

async function inject(run: number): Promise<AgentReply> {
  if (!start || !env || !runtime) throw new Error('the agent was asked to inject before it started');
  const sync = syncInjections[start.mode];
  if (sync) {
    const done = sync(runtime.config);
    const injectedAt = Date.now();
    injection = { cleanup: async () => done.cleanup() };
    return {
      type: 'injected',
      resource: done.resource,
      injectedAt,
      variant: done.variant,
      kept: done.kept,
      foreignPids: groupMembers(),
    };
  }
  const drill = drills[start.mode];
  if (!drill) throw new Error(`mode ${start.mode} has no drill to inject its fault`);
  const injected = await drill.inject(env, run);
  injection = injected;
  return {
    type: 'injected',
    resource: injected.resource,
    injectedAt: injected.injectedAt,
    variant: injected.variant,
    kept: {},
    foreignPids: groupMembers(),
  };
}

async function handle(request: AgentRequest): Promise<AgentReply> {
  switch (request.type) {
    case 'start': {
      const config = await up(request);
      return { type: 'ready', config, pid: process.pid };
    }
    case 'inject':
      return inject(request.run);
    case 'cleanup':
      await injection?.cleanup();
      injection = undefined;
      return { type: 'cleaned' };
    case 'health':
      try {
        const health = await runtime?.control?.health(2000);
        return { type: 'health', ...(health ? { health } : {}) };
      } catch (err) {
        return { type: 'health', error: (err as Error).message };
      }
    case 'release':
      return {
        type: 'released',
        released: (runtime?.ledger.resume(start?.mode ?? '', request.resource).length ?? 0) > 0,
      };
    case 'stop':
      await runtime?.stop();
      await drills[start?.mode ?? 'port-in-use']?.teardown?.();
      return { type: 'stopped' };
  }
}

process.on('message', (message: AgentRequest) => {
  handle(message).then(
    (answer) => {
      reply(answer);
      if (answer.type === 'stopped') process.disconnect();
    },
    (err: unknown) =>
      reply({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  );
});
process.on('disconnect', () => {
  // The runner went away: stop Guardian (and the service) rather than linger.
  void (runtime?.stop() ?? Promise.resolve()).finally(() => process.exit(0));
});
