import {
  condition,
  continueAsNew,
  defineSignal,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';

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

const recheck = proxyActivities<GuardianActivities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 2 },
});

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
  for (let i = 0; i < input.checksPerRun && !workflowInfo().continueAsNewSuggested; i++) {
    if (Date.now() + input.recheckIntervalMs - input.startedAt > input.maxWaitMs && !signalled) {
      return { valid: false, checks, checkedAt: Date.now(), detail };
    }
    await condition(() => signalled, input.recheckIntervalMs);
    const userUpdated = signalled;
    signalled = false;
    const result = await recheck.recheckCredential({ endpoint: input.endpoint, userUpdated });
    checks++;
    detail = result.detail;
    if (result.valid) return { valid: true, checks, checkedAt: result.checkedAt, detail };
  }
  return continueAsNew<typeof credentialWatch>({ ...input, checks, signalled });
}
