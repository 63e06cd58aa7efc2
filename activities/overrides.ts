import { ApplicationFailure } from '@temporalio/activity';
import { type ActivityDeps, requireSupervision } from './deps.js';
import { FailureType } from '../lib/failures.js';

/** Activities that end lasting overrides on operator request (`guardian clear`). */
export function createOverrideActivities({
  config,
  service,
  registry,
}: Pick<ActivityDeps, 'config' | 'service' | 'registry'>) {
  return {
    /**
     * Moves a service that was moved off its preferred port back to it: the registry forgets the
     * assignment and the client files get the preferred port. Refused, naming why, while the
     * preferred port is still taken.
     */
    async reclaimPreferredPort(): Promise<{ port: number; from: number | null }> {
      const { service: guarded } = requireSupervision({ config, service, registry });
      const outcome = await guarded.reclaimPreferredPort();
      const preferred = guarded.settings.port.preferred;
      if ('from' in outcome) return { port: preferred, from: outcome.from };
      if (outcome.kept === null) return { port: guarded.port ?? preferred, from: null };
      throw ApplicationFailure.nonRetryable(
        `${guarded.name} stays on port ${outcome.kept}: ${outcome.reason}. Free port ${preferred}, then run the command again.`,
        FailureType.PreferredPortTaken,
      );
    },
  };
}
