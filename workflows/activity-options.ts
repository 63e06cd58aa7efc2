import { ActivityCancellationType, type ActivityOptions, type LocalActivityOptions } from '@temporalio/workflow';

/**
 * Steps with side effects: a cancelled step (rollback or Cancel while it runs) is waited for until
 * it has stopped, so compensation never runs beside it and a late step cannot land after the undo.
 */
const waitForCancelledStep = { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED } as const;

/**
 * Named activity option sets. Every retry policy is bounded: an unbounded one would keep a saga
 * from ever compensating.
 */
export const quickActivity = {
  ...waitForCancelledStep,
  startToCloseTimeout: '15s',
  retry: { initialInterval: '100ms', backoffCoefficient: 2, maximumInterval: '2s', maximumAttempts: 4 },
} as const satisfies ActivityOptions;

/** Copying, checking and restoring files: may take a while, heartbeats so cancellation reaches it. */
export const longActivity = {
  ...waitForCancelledStep,
  startToCloseTimeout: '5m',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 3 },
} as const satisfies ActivityOptions;

/** A wait that carries its own deadline and fails for good past it: tried once, so that deadline is the bound. */
export const boundedWaitActivity = {
  ...longActivity,
  retry: { maximumAttempts: 1 },
} as const satisfies ActivityOptions;

/**
 * Ledger and alert writes, run as local activities: they touch only Guardian's own files on
 * this worker, so they skip the task queue round trip and leave one marker in the history
 * instead of a scheduled/started/completed triple. Cheap, worth a few more tries.
 */
export const bookkeepingActivity = {
  startToCloseTimeout: '10s',
  localRetryThreshold: '10s',
  retry: { initialInterval: '100ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 8 },
} as const satisfies LocalActivityOptions;

/**
 * Short host-local steps (a file, a control hook) run as local activities: no task-queue round
 * trip per step, which is most of a fast incident's MTTR. Right for Guardian because the worker
 * that runs a host's workflow tasks is that host's Guardian. They appear as markers in the history.
 */
export const localQuickActivity = {
  ...waitForCancelledStep,
  startToCloseTimeout: '15s',
  localRetryThreshold: '10s',
  retry: { initialInterval: '100ms', backoffCoefficient: 2, maximumInterval: '2s', maximumAttempts: 4 },
} as const satisfies LocalActivityOptions;

/** Longer host-local steps (scanning thousands of files, waiting for memory to settle). */
export const localLongActivity = {
  ...waitForCancelledStep,
  startToCloseTimeout: '2m',
  localRetryThreshold: '10s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 3 },
} as const satisfies LocalActivityOptions;

/**
 * Starting a process and waiting for it to answer (up to its start timeout): a failed start is
 * retried twice more with growing pauses, so a crashing server is not restarted in a tight loop.
 * A regular activity, not a local one: its result is recorded as soon as it completes, so a
 * finding signalled meanwhile cannot make a retried workflow task start the process again.
 */
export const restartActivity = {
  ...waitForCancelledStep,
  startToCloseTimeout: '45s',
  heartbeatTimeout: '5s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '8s', maximumAttempts: 3 },
} as const satisfies ActivityOptions;

/**
 * A local step that must not be retried: the OAuth refresh grant, where a retry would be the
 * excessive retrying the spec forbids.
 */
export const localOnceActivity = {
  startToCloseTimeout: '15s',
  localRetryThreshold: '10s',
  retry: { maximumAttempts: 1 },
} as const satisfies LocalActivityOptions;

/** One round of network probes while offline (each probe has its own short timeout). */
export const probeActivity = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 3 },
} as const satisfies ActivityOptions;

/** One half-open trial call of an endpoint whose circuit is open (the trial carries its own timeout). */
export const trialActivity = {
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 3 },
} as const satisfies ActivityOptions;

/** One check of a disabled endpoint's credential: tried twice at most, so a refused value is not resent. */
export const recheckActivity = {
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 2 },
} as const satisfies ActivityOptions;

/** Stopping a hung process: may take the whole stop timeout, heartbeats, tried twice at most. */
export const stopActivity = {
  startToCloseTimeout: '5m',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 2 },
} as const satisfies ActivityOptions;
