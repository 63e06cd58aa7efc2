import { ApplicationFailure, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';
import { boundedWaitActivity, localQuickActivity, longActivity } from './activity-options.js';
import type { Mode } from './definitions.js';
import { endMemoryRelief } from './memory-relief.js';
import { describeDrain } from './network-unreachable.js';
import { FailureType } from '../lib/failures.js';

/** What `guardian clear <mode> <resource>` asks the host's Guardian to end. */
export interface ClearInput {
  readonly mode: Mode;
  readonly resource: string;
  /** api-timeout: the endpoint's normal timeout, restored with the closed circuit. */
  readonly normalTimeoutMs?: number;
  /** out-of-memory: the features low-memory mode switches off (turned on again even when no incident noted them). */
  readonly features?: readonly string[];
  /** Whether a guarded service runs (its control hooks are told too). */
  readonly service: boolean;
  /** port-in-use: how long the service, back on its preferred port, has to report healthy. @default 30000 */
  readonly healthTimeoutMs?: number;
}

/** What was ended. */
export interface ClearResult {
  readonly mode: Mode;
  readonly resource: string;
  readonly done: string[];
}

const localQuick = proxyLocalActivities<GuardianActivities>(localQuickActivity);
const long = proxyActivities<GuardianActivities>(longActivity);
const bounded = proxyActivities<GuardianActivities>(boundedWaitActivity);

/**
 * Ends the lasting override a mode's remediation left in force (offline mode, an open circuit, a
 * disabled endpoint, a skipped or deferred boot chunk, low-memory mode (after memory ran short or
 * after an OOM kill), a moved port, the AI feature switched off) with the same activities its compensation uses, so a person can end it
 * after the rollback window closed. Each action is idempotent: clearing what is not in force is a no-op.
 */
export async function clearOverride(input: ClearInput): Promise<ClearResult> {
  const done: string[] = [];
  const { mode, resource } = input;
  switch (mode) {
    case 'network-unreachable': {
      if (input.service) await localQuick.setServiceOfflineMode({ enabled: false });
      await localQuick.exitOfflineMode();
      const drained = await long.drainOutbox();
      done.push(`offline mode off; ${describeDrain(drained)}`);
      break;
    }
    case 'api-timeout':
      await localQuick.closeCircuit({ endpoint: resource, timeoutMs: input.normalTimeoutMs ?? 30_000 });
      done.push(`circuit of ${resource} closed, timeout ${input.normalTimeoutMs ?? 30_000} ms`);
      break;
    case 'invalid-credentials':
      await localQuick.setEndpointDisabled({ endpoint: resource, disabled: false });
      done.push(`${resource} enabled`);
      break;
    case 'slow-boot': {
      const r = await localQuick.enableBootChunk({ chunk: resource });
      done.push(`boot chunk ${resource} enabled for the next boot${r.wasOverridden ? '' : ' (it was not overridden)'}`);
      break;
    }
    case 'out-of-memory':
      done.push(...(await endMemoryRelief(input.features ?? [])));
      break;
    case 'service-down': {
      const r = await localQuick.endLowMemoryMode();
      done.push(
        `${resource} starts in normal memory mode again${r.marked ? '' : ' (it was not in low-memory mode)'}` +
          (r.ended ? '; the running service left low-memory mode' : ''),
      );
      break;
    }
    case 'model-server-down':
      await localQuick.setServiceFeature({ name: 'ai', enabled: true });
      done.push('AI feature on again');
      break;
    case 'port-in-use': {
      const { port, from } = await localQuick.reclaimPreferredPort();
      if (from === null) {
        done.push(`${resource} was not moved`);
        break;
      }
      await localQuick.updateClientConfigs({ port });
      await localQuick.restartServiceOn({ port });
      // Cleared once it is healthy there, not merely answering while it boots.
      await bounded.waitForServiceHealthy({ port, timeoutMs: input.healthTimeoutMs ?? 30_000 });
      done.push(`${resource} back on port ${port} (from ${from}) and healthy; client files updated`);
      break;
    }
    default:
      throw ApplicationFailure.nonRetryable(
        `${mode} leaves no lasting override to clear; roll back its incident instead`,
        FailureType.NothingToClear,
      );
  }
  return { mode, resource, done };
}
