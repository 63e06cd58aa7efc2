import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { EgressEndpointSettings, EgressSettings } from '../config/outside.js';
import type { Logger } from '../logger.js';
import type { CredentialStore } from './credentials.js';
import { drainOutbox, type DrainSummary } from './outbox.js';
import type { CircuitState, EgressStore, RouteState } from './store.js';
import { callUpstream, classify, describe, joinUrl } from './upstream.js';

/** One call the proxy made (or refused) for the service; what detectors listen to. */
export interface CallEvent {
  readonly endpoint: string;
  readonly at: number;
  readonly outcome: 'success' | 'failure' | 'auth';
  /** `timeout after 30000 ms`, `ECONNREFUSED`, `HTTP 503`, `HTTP 401`, `expired` … */
  readonly detail: string;
  /** Socket error code, for transport failures. */
  readonly code?: string;
  readonly consecutiveFailures: number;
  readonly threshold: number;
  readonly credential?: string;
}

/** Result of a half-open trial or a credential check. */
export interface TrialResult {
  ok: boolean;
  status?: number;
  detail: string;
  ms: number;
}
/**
 * The egress proxy's control side: the state the workflows set (offline mode, circuits, timeouts,
 * disabled endpoints), the breaker's failure counts, the credential in use, and the calls Guardian
 * makes itself (half-open trials, the outbox). {@link EgressProxy} adds the HTTP side.
 */
export class EgressControls extends EventEmitter<{ call: [CallEvent] }> {
  private readonly failures = new Map<string, number>();

  constructor(
    protected readonly settings: EgressSettings,
    readonly credentials: CredentialStore,
    readonly store: EgressStore,
    protected readonly logger: Logger,
  ) {
    super();
    for (const endpoint of settings.endpoints) {
      if (endpoint.credential && !credentials.settings(endpoint.credential)) {
        throw new Error(
          `egress endpoint ${endpoint.name} names credential "${endpoint.credential}", which credentials does not define`,
        );
      }
    }
  }

  get endpoints(): readonly EgressEndpointSettings[] {
    return this.settings.endpoints;
  }

  endpoint(name: string): EgressEndpointSettings {
    const found = this.settings.endpoints.find((e) => e.name === name);
    if (!found) throw new Error(`no egress endpoint named "${name}" in guardian.yaml`);
    return found;
  }

  /** The enforced state of an endpoint (defaults: closed, first timeout, enabled). */
  route(name: string): RouteState & { consecutiveFailures: number } {
    const endpoint = this.endpoint(name);
    const saved = this.store.route(name) ?? {
      circuit: 'closed',
      timeoutMs: endpoint.timeouts[0] ?? 30_000,
      disabled: false,
      disabledReason: null,
    };
    return { ...saved, consecutiveFailures: this.failures.get(name) ?? 0 };
  }

  get offline(): boolean {
    return this.store.flag('offline') === 'true';
  }

  /** Switches offline mode for every endpoint; returns the previous value. */
  setOffline(enabled: boolean): boolean {
    const previous = this.offline;
    if (previous !== enabled) {
      this.store.setFlag('offline', String(enabled));
      this.logger.info({ offline: enabled }, enabled ? 'egress proxy offline' : 'egress proxy back online');
    }
    return previous;
  }

  /** Sets an endpoint's circuit (and timeout); returns the state before. */
  setCircuit(name: string, circuit: CircuitState, timeoutMs?: number): RouteState {
    const { consecutiveFailures: _, ...before } = this.route(name);
    const next = { ...before, circuit, ...(timeoutMs === undefined ? {} : { timeoutMs }) };
    this.store.saveRoute(name, next);
    if (circuit === 'closed') this.failures.set(name, 0);
    if (before.circuit !== circuit || before.timeoutMs !== next.timeoutMs) {
      this.logger.info({ endpoint: name, circuit, timeoutMs: next.timeoutMs }, `circuit of ${name} ${circuit}`);
    }
    return before;
  }

  /** Disables or re-enables an endpoint (credentials refused); returns the state before. */
  setDisabled(name: string, disabled: boolean, reason?: string): RouteState {
    const { consecutiveFailures: _, ...before } = this.route(name);
    this.store.saveRoute(name, { ...before, disabled, disabledReason: disabled ? (reason ?? 'disabled') : null });
    if (before.disabled !== disabled)
      this.logger.info({ endpoint: name, disabled, reason }, `endpoint ${name} ${disabled ? 'disabled' : 'enabled'}`);
    return before;
  }

  /** One call to the primary's probe path with the credential in use (half-open trial, credential check). */
  async trial(name: string, timeoutMs: number): Promise<TrialResult> {
    const endpoint = this.endpoint(name);
    const result = await callUpstream({
      url: joinUrl(endpoint.url, endpoint.probePath),
      method: 'GET',
      headers: { accept: 'application/json', ...this.credentialHeader(endpoint) },
      timeoutMs,
    });
    const outcome = classify(result);
    if (outcome === 'auth') this.rememberRejected(endpoint);
    return {
      ok: outcome === 'success',
      ...(result.kind === 'reply' ? { status: result.status } : {}),
      detail: describe(result, timeoutMs),
      ms: result.ms,
    };
  }

  /**
   * Sends the calls queued while offline, oldest first, each at most once. `drain` names this
   * drain (a retry of the same step passes the same name, so its summary counts what an attempt
   * that Guardian died in did); a fresh one when omitted.
   */
  drainOutbox(drain = `drain-${randomUUID()}`, limit = 1000): Promise<DrainSummary> {
    return drainOutbox(this.store.outbox, drain, limit, (entry) => {
      const endpoint = this.settings.endpoints.find((e) => e.name === entry.endpoint);
      if (!endpoint) return undefined;
      return {
        url: joinUrl(endpoint.url, entry.path),
        method: entry.method,
        headers: {
          ...(entry.contentType ? { 'content-type': entry.contentType } : {}),
          ...this.credentialHeader(endpoint),
        },
        body: entry.body ?? undefined,
        timeoutMs: this.route(endpoint.name).timeoutMs,
      };
    });
  }

  protected credentialHeader(endpoint: EgressEndpointSettings): Record<string, string> {
    if (!endpoint.credential) return {};
    const header = this.credentials.header(endpoint.credential);
    return header ? { [header.name]: header.value } : {};
  }

  protected rememberRejected(endpoint: EgressEndpointSettings): void {
    if (endpoint.credential)
      this.store.recordRejected(endpoint.credential, this.credentials.fingerprint(endpoint.credential));
  }

  protected record(
    endpoint: EgressEndpointSettings,
    outcome: CallEvent['outcome'],
    detail: string,
    code?: string,
  ): void {
    // 401/403 say nothing about the endpoint's health: they neither trip nor reset the breaker.
    const count =
      outcome === 'failure'
        ? (this.failures.get(endpoint.name) ?? 0) + 1
        : outcome === 'success'
          ? 0
          : (this.failures.get(endpoint.name) ?? 0);
    this.failures.set(endpoint.name, count);
    this.emit('call', {
      endpoint: endpoint.name,
      at: Date.now(),
      outcome,
      detail,
      ...(code ? { code } : {}),
      consecutiveFailures: count,
      threshold: endpoint.failureThreshold,
      ...(endpoint.credential ? { credential: endpoint.credential } : {}),
    });
  }
}
