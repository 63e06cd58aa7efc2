import { proxyLocalActivities } from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';
import { localQuickActivity } from './activity-options.js';
import type { IncidentInput, IncidentResult } from './definitions.js';
import { runIncident } from './incident-harness.js';

/** Mode parameters of missing-config. */
export interface MissingConfigParams {
  /** Name of the config under `configs:` in guardian.yaml. */
  config: string;
  /** Ask the service to reload the restored file. */
  reload: boolean;
}

const localQuick = proxyLocalActivities<GuardianActivities>(localQuickActivity);

/**
 * Failure mode 8. Keeps whatever is at the path (a corrupt file, a directory), writes the newest
 * valid backup (`.bak` or a version Guardian kept) or else the embedded defaults, validates the
 * result against the schema, has the service reload it, and alerts the user to review. Rollback
 * puts the original back exactly, or merges it over the restored file when configured to.
 */
export async function missingConfig(input: IncidentInput<MissingConfigParams>): Promise<IncidentResult> {
  return runIncident(input, async (ctx) => {
    const name = input.params.config;
    const original = await ctx.step('keep-original', () => localQuick.preserveConfigOriginal({ name }));
    const restored = await ctx.step(
      'restore-config',
      () => localQuick.restoreConfig({ name, original }),
      () => localQuick.restoreConfigOriginal({ name, original }),
    );
    if (input.params.reload) {
      const reload = await ctx.step('reload-service', () => localQuick.reloadServiceConfig());
      if (!reload.reloaded) ctx.note(reload.detail);
    }
    await ctx.verify('verify', () => localQuick.verifyConfig({ name }));
    const from =
      restored.source === 'defaults'
        ? 'the embedded defaults'
        : restored.source === 'bak'
          ? `the .bak copy`
          : 'the last valid version Guardian kept';
    const kept = original.kind === 'missing' ? '' : ` The ${original.kind} that was there is kept in ${original.dir}.`;
    ctx.note(`${original.kind === 'missing' ? 'missing' : `bad (${original.kind})`}: wrote ${from}`);
    await ctx.alert(
      `${name} was ${original.kind === 'missing' ? 'missing' : 'unusable'}: ${input.evidence}. Guardian wrote ${from} (${restored.from}); review it.` +
        kept +
        (restored.skipped.length > 0 ? ` Invalid backups passed over: ${restored.skipped.join(', ')}.` : ''),
      'warning',
    );
  });
}
