import { ControlHookError } from '../lib/service-control.js';
import { currentStep, oncePerStep } from '../lib/step-state.js';
import type { ActivityDeps } from './deps.js';

/** What a switch of a service feature did. */
export interface FeatureSwitch {
  /** Whether the `feature` hook ran (a service that is not running cannot be switched, and needs not be). */
  applied: boolean;
  /** Whether the feature was on before the step first acted; null when that is not known. */
  previous: boolean | null;
  /** Whether Guardian had switched it off before (an earlier incident left it off). */
  byGuardian: boolean;
}

/** What switching a feature off journals before it acts. */
interface FeatureBefore {
  byGuardian: boolean;
  /** On, per the service's health route (`disabledFeatures`); null when the route does not say. */
  on: boolean | null;
}

/**
 * Switching a feature of the guarded service (`feature` control hook), with the record in the
 * registry (`supervision.db`) of the features Guardian switched off: a later incident, a rollback
 * and `guardian clear` switch on only what Guardian switched off, never the operator's choice.
 */
export function createServiceFeatureActivities({
  config,
  control,
  registry,
}: Pick<ActivityDeps, 'config' | 'control' | 'registry'>) {
  const service = config.service?.name ?? 'service';

  /** The feature's state per the health route, or null when the route does not answer or say. */
  const featureOn = async (name: string): Promise<boolean | null> => {
    const health = await control?.health().catch(() => undefined);
    return health?.disabledFeatures === undefined ? null : !health.disabledFeatures.includes(name);
  };

  /** Calls the hook; null when the service does not answer (not running). */
  const callHook = async (name: string, enabled: boolean): Promise<boolean | null> => {
    if (!control) return null;
    try {
      return (await control.call<{ previous: boolean }>('feature', { name, enabled })).previous;
    } catch (err) {
      if (err instanceof ControlHookError && err.status === undefined) return null;
      throw err;
    }
  };

  /**
   * Switches a feature off. What it was before is journaled (fsynced) first, and the registry is
   * marked before the hook runs whenever the feature may be on: Guardian dying between the hook and
   * its reply still leaves the record, and the re-run of the step reports the journaled state
   * rather than the hook's second answer (off, from the first call).
   */
  const switchOff = (name: string): Promise<FeatureSwitch> =>
    oncePerStep<FeatureSwitch, FeatureBefore>(
      config.stateDir,
      async (before, resumed) => {
        const { byGuardian } = before;
        const incident = currentStep()?.workflowId ?? null;
        if (before.on !== false || byGuardian) registry?.markFeatureDegraded(service, name, incident);
        const reply = await callHook(name, false);
        if (reply === null) {
          // Nothing was switched off now; after a first run that may have, the mark stays.
          if (!byGuardian && !resumed) registry?.clearFeatureDegraded(service, name);
          return { applied: false, previous: null, byGuardian };
        }
        // A re-run's hook answers "was off" (the first run switched it): the journal knows better.
        // Without a journaled state, a re-run trusts the mark made before the first hook call.
        const previous = before.on ?? (resumed ? true : reply);
        if (previous || byGuardian) registry?.markFeatureDegraded(service, name, incident);
        else registry?.clearFeatureDegraded(service, name); // the operator's own choice: not Guardian's to undo
        return { applied: true, previous, byGuardian };
      },
      async () => ({ byGuardian: registry?.featureDegraded(service, name) ?? false, on: await featureOn(name) }),
    );

  return {
    /**
     * Switches a feature of the service on or off and keeps the registry's record of whether
     * Guardian switched it off, so a later incident knows to switch it on again even when an earlier
     * one left it off. Switching off is journaled before it acts (see above); switching on is
     * idempotent and clears the record.
     */
    async setServiceFeature({ name, enabled }: { name: string; enabled: boolean }): Promise<FeatureSwitch> {
      if (!enabled) return switchOff(name);
      const byGuardian = registry?.featureDegraded(service, name) ?? false;
      const previous = await callHook(name, true);
      if (previous === null) return { applied: false, previous: null, byGuardian };
      registry?.clearFeatureDegraded(service, name);
      return { applied: true, previous, byGuardian };
    },
  };
}
