import type { CallEvent } from '../lib/egress/proxy.js';
import { LogClaims } from './log-limit.js';
import type { LogTail } from './log-tail.js';
import type { Detector, Finding, ReportFinding } from './types.js';

/** An endpoint and the credential it uses, as the detector needs them. */
export interface GuardedCredential {
  readonly endpoint: string;
  readonly credential?: string;
}

/** Options of {@link createInvalidCredentialsDetector}. */
export interface InvalidCredentialsDetectorOptions {
  endpoints: readonly GuardedCredential[];
  /** Subscribes to the egress proxy's calls; returns the unsubscribe. */
  calls?: (listener: (event: CallEvent) => void) => () => void;
  /** The service's log: `http.auth_error` lines, each only a claim for {@link confirm} to check. */
  log?: LogTail;
  /**
   * Confirms a log line's claim with Guardian's own look at the endpoint (one credentialed call
   * through the egress proxy): what the endpoint answered when it refused the credential, else
   * undefined. Without it, log lines are not acted on.
   */
  confirm?: (endpoint: string) => Promise<string | undefined>;
  /** When a credential's value in use expires (a JWT's exp less the skew), if known. */
  expiresAt?: (credential: string) => number | undefined;
  /** Tick of the expiry check. @default 1000 */
  intervalMs?: number;
}

/**
 * invalid-credentials detector. Events: a 401/403 (or an expired token refused locally) on a call
 * through the egress proxy, and the service's `http.auth_error` log lines — a claim that opens an
 * incident only once Guardian's own call confirms the refusal (rate-limited per endpoint). A cheap tick as well:
 * a credential whose JWT is past its exp is a finding before any call is refused.
 */
export function createInvalidCredentialsDetector(options: InvalidCredentialsDetectorOptions): Detector {
  const known = new Map(options.endpoints.map((e) => [e.endpoint, e]));
  const expiredReported = new Map<string, number>();
  const unsubscribes: (() => void)[] = [];
  const claims = new LogClaims();
  let timer: NodeJS.Timeout | undefined;

  const finding = (endpoint: string, evidence: string, observedAt?: number): Finding => ({
    mode: 'invalid-credentials',
    resource: endpoint,
    evidence,
    detectedAt: Date.now(),
    ...(observedAt === undefined ? {} : { observedAt }),
  });

  function checkExpiry(report: ReportFinding): void {
    const now = Date.now();
    for (const { endpoint, credential } of options.endpoints) {
      if (!credential) continue;
      const exp = options.expiresAt?.(credential);
      if (exp === undefined || exp > now || expiredReported.get(credential) === exp) continue;
      expiredReported.set(credential, exp);
      report(finding(endpoint, `${credential} expired at ${new Date(exp).toISOString()} (JWT exp)`));
    }
  }

  return {
    name: 'invalid-credentials',
    start(report) {
      const calls = options.calls?.((event) => {
        if (event.outcome !== 'auth' || !known.has(event.endpoint)) return;
        const via = event.credential ? ` (credential ${event.credential})` : '';
        report(finding(event.endpoint, `${event.detail} from ${event.endpoint}${via}`, event.at));
      });
      if (calls) unsubscribes.push(calls);
      const confirm = options.confirm;
      const lines = options.log?.onLine((line) => {
        const json = line.json;
        if (json?.event !== 'http.auth_error' || typeof json.endpoint !== 'string' || !known.has(json.endpoint)) return;
        if (!confirm) return;
        const endpoint = json.endpoint;
        const ts = typeof json.ts === 'number' ? json.ts : undefined;
        const status = typeof json.status === 'number' ? json.status : '401/403';
        claims.check(
          endpoint,
          () => confirm(endpoint),
          (answer) =>
            report(finding(endpoint, `service log: ${endpoint} answered ${status}; confirmed: ${answer}`, ts)),
        );
      });
      if (lines) unsubscribes.push(lines);
      if (options.expiresAt) {
        timer = setInterval(() => checkExpiry(report), options.intervalMs ?? 1000);
        timer.unref();
        checkExpiry(report);
      }
    },
    stop() {
      for (const off of unsubscribes.splice(0)) off();
      if (timer) clearInterval(timer);
    },
  };
}
