import type { ActivityOptions } from '@temporalio/workflow';

/**
 * Named activity option sets. Every retry policy is bounded: an unbounded one would keep a saga
 * from ever compensating.
 */
export const quickActivity = {
  startToCloseTimeout: '15s',
  retry: { initialInterval: '100ms', backoffCoefficient: 2, maximumInterval: '2s', maximumAttempts: 4 },
} as const satisfies ActivityOptions;

/** Copying, checking and restoring files: may take a while, heartbeats so cancellation reaches it. */
export const longActivity = {
  startToCloseTimeout: '5m',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 3 },
} as const satisfies ActivityOptions;

/** Ledger and alert writes: cheap, worth a few more tries. */
export const bookkeepingActivity = {
  startToCloseTimeout: '10s',
  retry: { initialInterval: '100ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 8 },
} as const satisfies ActivityOptions;
