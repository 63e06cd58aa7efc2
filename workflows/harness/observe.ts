import { proxyLocalActivities } from '@temporalio/workflow';
import type { GuardianActivities } from '../../activities/index.js';
import { localQuickActivity } from '../activity-options.js';
import type { IncidentInput, IncidentResult, StepStatus } from '../definitions.js';
import type { IncidentContext } from '../incident-harness.js';
import type { IncidentRecorder } from './recording.js';
import { messageOf, StepRunner } from './steps.js';

const planning = proxyLocalActivities<GuardianActivities>(localQuickActivity);

/**
 * A stand-in for the result of a step that was planned, not run: any property, call or
 * coercion of it is another stand-in, printed as `⟨step.property⟩`, so the remediation goes on
 * planning its next steps as if each one succeeded.
 */
export function standIn<T>(label: string): T {
  const text = `⟨${label}⟩`;
  const handler: ProxyHandler<() => void> = {
    get(_target, key) {
      if (key === Symbol.toPrimitive || key === 'toString' || key === 'toJSON') return () => text;
      if (key === 'then' || typeof key === 'symbol') return undefined; // never a promise
      return standIn(`${label}.${key}`);
    },
    apply: () => standIn(`${label}()`),
  };
  return new Proxy(() => undefined, handler) as unknown as T;
}

/**
 * Observe mode: runs the remediation with steps that inspect (detection) running for real and
 * every other step recorded, with its concrete target, instead of run; alerts are recorded as
 * planned too. Nothing is changed. The plan (steps in state `planned`) goes into the status,
 * the result in the history, the ledger, and one alert; the outcome is `observed`.
 */
export async function observeIncident<P>(
  input: IncidentInput<P>,
  remediate: (ctx: IncidentContext<P>) => Promise<void>,
  recorder: IncidentRecorder,
): Promise<IncidentResult> {
  const { status } = recorder;
  status.phase = 'remediating';
  const targets = await planning.planTargets({ mode: input.mode, resource: input.resource });
  // A repeated step is named `restart (2)`: it acts on what `restart` does.
  const targetOf = (name: string) => targets[name] ?? targets[name.replace(/ \(\d+\)$/, '')];
  const alerts: string[] = [];
  const steps = new StepRunner(recorder, () => false, {
    plan<T>(name: string, undoable: boolean): T {
      const target = targetOf(name);
      const step: StepStatus = {
        name,
        state: 'planned',
        startedAt: Date.now(),
        attempts: 0,
        ...(target === undefined ? {} : { target }),
        ...(undoable ? { detail: 'undone by rollback' } : {}),
      };
      status.steps.push(step);
      return standIn<T>(name);
    },
  });
  const ctx: IncidentContext<P> = {
    input,
    abortRequested: false,
    rollbackForced: false,
    note: (text) => recorder.note(text),
    alert: async (message) => {
      alerts.push(String(message));
    },
    async escalate(message) {
      alerts.push(String(message));
      throw new Error('the remediation would escalate to a person here');
    },
    step: (name, run, undo, options) => steps.run(name, run, undo, options),
    async verify(name, run) {
      await steps.run(name, run);
    },
  };
  try {
    await remediate(ctx);
  } catch (err) {
    recorder.note(`planning stopped: ${messageOf(err)}`);
  }
  status.outcome = 'observed';
  status.phase = 'closed';
  const planned = status.steps.filter((s) => s.state === 'planned');
  recorder.note(`observe mode: ${planned.length} step(s) planned, nothing changed`);
  await recorder.record();
  await recorder.alert(
    [
      `observe mode: Guardian would remediate ${input.mode} on ${input.resource} (${input.evidence}) with:`,
      ...planned.map((s, i) => `${i + 1}. ${s.name}: ${s.target ?? 'no target recorded'}`),
      ...alerts.map((a) => `then alert: ${a}`),
      `Nothing was changed. Print the plan with: guardian plan ${input.mode}:${input.host}:${input.resource}`,
    ].join('\n'),
    'info',
  );
  return recorder.result();
}
