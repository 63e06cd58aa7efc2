import type { CallEvent } from '../lib/egress/proxy.js';
import type { Detector } from './types.js';

/** Options of {@link createApiTimeoutDetector}. */
export interface ApiTimeoutDetectorOptions {
  /** Subscribes to the egress proxy's calls; returns the unsubscribe. */
  calls: (listener: (event: CallEvent) => void) => () => void;
}

/**
 * api-timeout detector: an endpoint whose calls through the egress proxy failed `threshold` times
 * in a row (timeouts, socket errors, 5xx; never 401/403) is a finding. Event-driven: no polling.
 */
export function createApiTimeoutDetector(options: ApiTimeoutDetectorOptions): Detector {
  let unsubscribe: (() => void) | undefined;
  return {
    name: 'api-timeout',
    start(report) {
      unsubscribe = options.calls((event) => {
        if (event.outcome !== 'failure' || event.consecutiveFailures < event.threshold) return;
        report({
          mode: 'api-timeout',
          resource: event.endpoint,
          evidence: `${event.consecutiveFailures} consecutive failures, the last: ${event.detail}`,
          detectedAt: Date.now(),
          observedAt: event.at,
        });
      });
    },
    stop() {
      unsubscribe?.();
    },
  };
}
