import { condition, continueAsNew, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';
import { recheckActivity } from './activity-options.js';
import { pollUntil } from './poll-until.js';

/** Sent by a person after updating a credential: check it now. No value travels with it. */
export const credentialsUpdatedSignal = defineSignal('credentials-updated');

/** Input of {@link credentialWatch}; carried over continue-as-new. */
export interface CredentialWatchInput {
  endpoint: string;
  /** One check per window at most, unless signalled. @default 300000 */
  recheckIntervalMs: number;
  /** Give up (and alert) after this long. */
  maxWaitMs: number;
  /** Checks per run before continue-as-new. @default 50 */
  checksPerRun: number;
  startedAt: number;
  checks: number;
  /** A signal arrived before this run started (e.g. just before continue-as-new). */
  signalled?: boolean;
}

/** How the watch ended. */
export interface CredentialWatchResult {
  valid: boolean;
  checks: number;
  checkedAt: number;
  detail: string;
}

const recheck = proxyActivities<GuardianActivities>(recheckActivity);

/**
 * Child of invalid-credentials: while the endpoint is disabled, checks the credential once per
 * window (a changed value is checked, an unchanged refused one is not resent), or at once when
 * signalled `credentials-updated`; returns when the endpoint accepts it.
 */
export async function credentialWatch(input: CredentialWatchInput): Promise<CredentialWatchResult> {
  let signalled = input.signalled ?? false;
  setHandler(credentialsUpdatedSignal, () => {
    signalled = true;
  });
  let checks = input.checks;
  let detail = 'not checked yet';
  let acceptedAt: number | undefined;
  const end = await pollUntil({
    rounds: input.checksPerRun,
    // A signal that arrived meanwhile is checked even past the deadline.
    expired: () => Date.now() + input.recheckIntervalMs - input.startedAt > input.maxWaitMs && !signalled,
    wait: () => condition(() => signalled, input.recheckIntervalMs),
    attempt: async () => {
      const userUpdated = signalled;
      signalled = false;
      const result = await recheck.recheckCredential({ endpoint: input.endpoint, userUpdated });
      checks++;
      detail = result.detail;
      if (result.valid) acceptedAt = result.checkedAt;
      return result.valid;
    },
  });
  if (end === 'continue') return continueAsNew<typeof credentialWatch>({ ...input, checks, signalled });
  return { valid: acceptedAt !== undefined, checks, checkedAt: acceptedAt ?? Date.now(), detail };
}
