import {
  ApplicationFailure,
  type ChildWorkflowHandle,
  proxyLocalActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';
import { localOnceActivity, localQuickActivity } from './activity-options.js';
import { credentialsUpdatedSignal, credentialWatch } from './credential-watch.js';
import type { IncidentContext } from './incident-harness.js';
import { type IncidentInput, type IncidentResult, incidentWorkflowId } from './definitions.js';
import { runIncident } from './incident-harness.js';
import { FailureType } from '../lib/failures.js';

export { credentialsUpdatedSignal } from './credential-watch.js';

/** Mode parameters of invalid-credentials: names only, never a value. */
export interface InvalidCredentialsParams {
  /** Egress endpoint name. */
  endpoint: string;
  /** Credential name in guardian.yaml, or null when the endpoint has none. */
  credential: string | null;
  /** An OAuth2 refresh-token grant is configured. */
  oauth: boolean;
  /** A backup key is configured. */
  backup: boolean;
  /** While disabled: one check per window at most. @default 300000 */
  recheckIntervalMs: number;
  /** How long to wait for valid credentials before the incident fails (the endpoint stays disabled). @default 604800000 */
  maxWaitMs: number;
  /** Checks per watch run before continue-as-new. @default 50 */
  checksPerRun?: number;
}

const localQuick = proxyLocalActivities<GuardianActivities>(localQuickActivity);
/** The refresh grant runs once: retrying it would be the excessive retrying the spec forbids. */
const localOnce = proxyLocalActivities<GuardianActivities>(localOnceActivity);

/**
 * Failure mode 9. Tries, in order, the OAuth2 refresh-token grant and the backup key, checking
 * the endpoint accepts the result; else disables the endpoint in the egress proxy (cached replies
 * only), logs "authentication required" and alerts, then waits — checking once per window, or at
 * once on the `credentials-updated` signal — and re-enables it when the credential works again.
 * Only names travel through the workflow; values stay inside the proxy.
 */
export async function invalidCredentials(input: IncidentInput<InvalidCredentialsParams>): Promise<IncidentResult> {
  // Derived from the input, not workflowInfo(), so a recorded history replays under any workflow ID.
  const incidentId = incidentWorkflowId(input.mode, input.host, input.resource);
  const { runId } = workflowInfo();
  let watch: ChildWorkflowHandle<typeof credentialWatch> | undefined;
  let updatedEarly = false;
  setHandler(credentialsUpdatedSignal, () => {
    if (watch) void tellWatch(watch);
    else updatedEarly = true;
  });
  return runIncident(input, async (ctx) => {
    const { endpoint, credential } = input.params;
    if (credential && (await renewed(ctx, credential))) return;

    await ctx.step(
      'disable-endpoint',
      () => localQuick.setEndpointDisabled({ endpoint, disabled: true, reason: 'authentication required' }),
      () => localQuick.setEndpointDisabled({ endpoint, disabled: false }),
      { keepOnFailure: true },
    );
    if (credential && (input.params.oauth || input.params.backup)) {
      // Later checks use the credential as configured: that is the one the user updates. Kept when
      // the incident fails, and with it the slot switches it replaced: their undos, run after it,
      // would put a refused backup key or token back in use.
      await ctx.step(
        'use-configured-credential',
        () => localQuick.useCredentialSlot({ credential, slot: 'primary' }),
        ({ previous }) => localQuick.useCredentialSlot({ credential, slot: previous }),
        { keepOnFailure: true, supersedes: ['refresh-oauth-token', 'switch-to-backup-key'] },
      );
    }
    await ctx.step('log-authentication-required', () => localQuick.logAuthenticationRequired({ endpoint, credential }));
    await ctx.alert(
      `authentication required: ${endpoint} refuses ${credential ?? 'its credential'} (${input.evidence}) and it could not be renewed. ` +
        `The endpoint is disabled (cached replies only). Update ${credential ?? 'the credential'}, then run: ` +
        `guardian credentials-updated ${endpoint}`,
      'critical',
    );
    await ctx.verify('verify-endpoint-disabled', () => localQuick.verifyEndpointDisabled({ endpoint }));

    const result = await ctx.step('await-valid-credentials', async () => {
      const toldAtStart = updatedEarly;
      watch = await startChild(credentialWatch, {
        workflowId: `${incidentId}:credentials:${runId.slice(0, 8)}`,
        args: [
          {
            endpoint,
            recheckIntervalMs: input.params.recheckIntervalMs,
            maxWaitMs: input.params.maxWaitMs,
            checksPerRun: input.params.checksPerRun ?? 50,
            startedAt: Date.now(),
            checks: 0,
            signalled: updatedEarly,
          },
        ],
      });
      // A signal that came while the child was starting reached neither it nor its input.
      if (updatedEarly && !toldAtStart) await tellWatch(watch);
      try {
        return await watch.result();
      } finally {
        // Signals from now on have no watch to go to (a signal to a closed child fails).
        watch = undefined;
      }
    });
    if (!result.valid) {
      throw ApplicationFailure.nonRetryable(
        `${endpoint} still refuses ${credential ?? 'its credential'} (${result.detail}); it stays disabled. Update the credential, then run: guardian clear invalid-credentials ${endpoint}`,
        FailureType.StillRefused,
      );
    }
    await ctx.step('re-enable-endpoint', () => localQuick.setEndpointDisabled({ endpoint, disabled: false }));
    ctx.note(`credentials valid again after ${result.checks} check(s); ${endpoint} re-enabled`);
  });

  /** Refresh grant, then backup key; true when the endpoint accepts one (and the incident is verified). */
  async function renewed(ctx: IncidentContext<InvalidCredentialsParams>, credential: string): Promise<boolean> {
    const { endpoint, oauth, backup } = input.params;
    if (oauth) {
      const refresh = await ctx.step(
        'refresh-oauth-token',
        () => localOnce.refreshCredential({ credential }),
        ({ previousSlot }) => localQuick.useCredentialSlot({ credential, slot: previousSlot }),
      );
      if (refresh.refreshed || refresh.reason === 'recently-refreshed') {
        const check = await ctx.step('check-refreshed-token', () =>
          localQuick.checkEndpointCredential({ endpoint, force: true }),
        );
        if (check.valid) {
          await ctx.verify('verify-credential-accepted', async () => ({
            healthyAt: check.checkedAt,
            detail: check.detail,
          }));
          ctx.note(
            refresh.refreshed
              ? `${credential} refreshed (OAuth2 refresh-token grant)`
              : `${credential} was refreshed moments ago`,
          );
          return true;
        }
      } else ctx.note(`refresh of ${credential} not possible: ${refresh.reason ?? 'unknown'}`);
    }
    if (backup) {
      await ctx.step(
        'switch-to-backup-key',
        () => localQuick.useCredentialSlot({ credential, slot: 'backup' }),
        ({ previous }) => localQuick.useCredentialSlot({ credential, slot: previous }),
      );
      const check = await ctx.step('check-backup-key', () =>
        localQuick.checkEndpointCredential({ endpoint, force: true }),
      );
      if (check.valid) {
        await ctx.verify('verify-credential-accepted', async () => ({
          healthyAt: check.checkedAt,
          detail: check.detail,
        }));
        await ctx.alert(
          `${endpoint} refused ${credential}; switched to its backup key. Replace the primary key, then, within ${Math.round(input.settings.rollbackWindowMs / 60_000)} min, run: guardian rollback ${incidentId}`,
          'warning',
        );
        return true;
      }
    }
    return false;
  }
}

/**
 * Forwards `credentials-updated` to the watch. The watch may have finished between the check and
 * the signal; a signal to a closed child then fails, and that failure must not reach the
 * workflow as an unhandled rejection (it would fail every workflow task and wedge the incident).
 * Never throws.
 */
async function tellWatch(watch: ChildWorkflowHandle<typeof credentialWatch>): Promise<void> {
  try {
    await watch.signal(credentialsUpdatedSignal);
  } catch {
    // The watch is closed (or the incident is being cancelled): its result already says whether
    // the credential works, and nothing else waits on this signal.
  }
}
