import { ApplicationFailure } from '@temporalio/activity';
import type { CredentialSlot, RefreshOutcome } from '../lib/egress/credentials.js';
import { type ActivityDeps, knownEndpoint, requireEgress } from './deps.js';
import { probeThroughProxy } from './proxy-probe.js';
import { oncePerStep } from '../lib/step-state.js';
import { FailureType } from '../lib/failures.js';

/** Whether an endpoint accepts the credential in use. No value, no fingerprint. */
export interface CredentialCheck {
  valid: boolean;
  /** True when no call was made: the value is the one already refused and the window has not passed. */
  skipped: boolean;
  status?: number;
  /** When the answer was seen (epoch ms). */
  checkedAt: number;
  detail: string;
}

/**
 * Credential activities for invalid-credentials. They take credential and endpoint *names*; the
 * values are read inside the egress proxy, so none reaches a workflow input, result or history.
 */
export function createCredentialActivities({
  config,
  egress,
  logger,
}: Pick<ActivityDeps, 'config' | 'egress' | 'logger'>) {
  const proxy = () => requireEgress(egress);
  const known = (endpoint: string) => knownEndpoint(egress, endpoint);

  const check = async (endpoint: string, force: boolean): Promise<CredentialCheck> => {
    const settings = known(endpoint);
    const egressProxy = proxy();
    const credential = settings.credential;
    if (credential && !force) {
      const rejected = egressProxy.store.credentialChecks(credential).rejectedFingerprint;
      if (rejected !== null && rejected === egressProxy.credentials.fingerprint(credential)) {
        return {
          valid: false,
          skipped: true,
          checkedAt: Date.now(),
          detail: `${credential} is unchanged since it was refused`,
        };
      }
    }
    if (credential && egressProxy.credentials.expired(credential)) {
      return { valid: false, skipped: true, checkedAt: Date.now(), detail: `${credential} is an expired token` };
    }
    const result = await egressProxy.trial(endpoint, Math.min(settings.timeouts[0] ?? 10_000, 10_000));
    const refused = result.status === 401 || result.status === 403;
    const valid = result.status !== undefined && !refused;
    if (valid && credential) egressProxy.store.recordRejected(credential, null);
    return {
      valid,
      skipped: false,
      checkedAt: Date.now(),
      ...(result.status === undefined ? {} : { status: result.status }),
      detail: `${endpoint} answered ${result.detail}`,
    };
  };

  return {
    /** The OAuth2 refresh-token grant, at most once per credential per backoff window. */
    async refreshCredential({
      credential,
      userRequested = false,
    }: {
      credential: string;
      userRequested?: boolean;
    }): Promise<RefreshOutcome & { previousSlot: CredentialSlot }> {
      // previousSlot is what a rollback returns to: a re-run must not report the refreshed slot.
      // It is observed (and journaled) before the refresh acts, so a crash in between keeps it.
      return oncePerStep(
        config.stateDir,
        async (previousSlot: CredentialSlot) => {
          const outcome = await proxy().credentials.refresh(credential, { userRequested });
          logger.info({ credential, refreshed: outcome.refreshed, reason: outcome.reason }, 'credential refresh');
          return { ...outcome, previousSlot };
        },
        async () => proxy().credentials.slot(credential),
      );
    },

    /** Switches the value the proxy sends (primary, backup, refreshed); returns the previous slot. */
    async useCredentialSlot({
      credential,
      slot,
    }: {
      credential: string;
      slot: CredentialSlot;
    }): Promise<{ previous: CredentialSlot }> {
      try {
        return await oncePerStep(
          config.stateDir,
          async (previous: CredentialSlot) => {
            proxy().credentials.use(credential, slot);
            return { previous };
          },
          async () => proxy().credentials.slot(credential),
        );
      } catch (err) {
        throw ApplicationFailure.nonRetryable((err as Error).message, FailureType.CredentialUnavailable);
      }
    },

    /**
     * One credentialed call to the endpoint's probe path. Without `force`, a value identical to
     * the one last refused is not sent again (no guessing, no hammering).
     */
    async checkEndpointCredential({
      endpoint,
      force = false,
    }: {
      endpoint: string;
      force?: boolean;
    }): Promise<CredentialCheck> {
      return check(endpoint, force);
    },

    /**
     * While an endpoint is disabled: is the credential good again? With OAuth, one refresh (now if
     * a person said they updated it, else at most once per window); then one check, skipped when
     * the value is the one already refused and nobody said it changed.
     */
    async recheckCredential({
      endpoint,
      userUpdated,
    }: {
      endpoint: string;
      userUpdated: boolean;
    }): Promise<CredentialCheck> {
      const settings = known(endpoint);
      const credential = settings.credential;
      if (credential && proxy().credentials.capabilities(credential).oauth) {
        const outcome = await proxy().credentials.refresh(credential, { userRequested: userUpdated });
        if (!outcome.refreshed && proxy().credentials.slot(credential) !== 'refreshed') {
          return {
            valid: false,
            skipped: true,
            checkedAt: Date.now(),
            detail: `refresh not possible: ${outcome.reason ?? 'unknown'}`,
          };
        }
      }
      return check(endpoint, userUpdated);
    },

    /** Disables or re-enables an endpoint in the proxy (disabled: cached replies only). */
    async setEndpointDisabled({
      endpoint,
      disabled,
      reason,
    }: {
      endpoint: string;
      disabled: boolean;
      reason?: string;
    }): Promise<{ previous: boolean }> {
      known(endpoint);
      return { previous: proxy().setDisabled(endpoint, disabled, reason).disabled };
    },

    /** Writes the "authentication required" event to Guardian's log. */
    async logAuthenticationRequired({
      endpoint,
      credential,
    }: {
      endpoint: string;
      credential: string | null;
    }): Promise<void> {
      logger.warn(
        { event: 'auth.required', endpoint, credential },
        `authentication required: ${endpoint} refuses ${credential ?? 'its credential'}`,
      );
    },

    /** Confirms the endpoint is degraded as intended: a call through the proxy never reaches it. */
    async verifyEndpointDisabled({ endpoint }: { endpoint: string }): Promise<{ healthyAt: number; detail: string }> {
      const settings = known(endpoint);
      const { route, ms } = await probeThroughProxy(proxy(), endpoint, settings.probePath);
      if (route !== 'cache' && route !== 'local')
        throw new Error(`${endpoint} still reaches the remote endpoint (${route ?? 'no route'})`);
      return {
        healthyAt: Date.now(),
        detail: `${endpoint} disabled: ${route === 'cache' ? 'cached reply served' : 'refused fast'} in ${ms} ms`,
      };
    },

    /** Confirms the endpoint accepts the credential in use now. */
    async verifyCredentialAccepted({ endpoint }: { endpoint: string }): Promise<{ healthyAt: number; detail: string }> {
      const settings = known(endpoint);
      const result = await proxy().trial(endpoint, Math.min(settings.timeouts[0] ?? 10_000, 10_000));
      if (result.status === undefined || result.status === 401 || result.status === 403) {
        throw ApplicationFailure.nonRetryable(
          `${endpoint} still refuses the credential (${result.detail})`,
          FailureType.CredentialRefused,
        );
      }
      return {
        healthyAt: Date.now(),
        detail: `${endpoint} accepts ${settings.credential ?? 'the request'} (${result.detail})`,
      };
    },
  };
}
