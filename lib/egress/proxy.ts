import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EgressEndpointSettings, EgressSettings } from '../config/outside.js';
import type { Logger } from '../logger.js';
import type { CredentialStore } from './credentials.js';
import { drainOutbox, type DrainSummary } from './outbox.js';
import type { CircuitState, EgressStore, RouteState } from './store.js';
import { callUpstream, classify, describe, joinUrl, type UpstreamResult } from './upstream.js';

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

const MAX_BODY_BYTES = 1 << 20;

/**
 * Guardian's egress proxy: the guarded service calls `<url>/<endpoint>/<path>` instead of the
 * remote URL, and the proxy enforces what the workflows decided — offline mode (cached GETs, other
 * calls queued in the outbox), an open circuit (backup endpoint or cached replies marked stale),
 * a shortened timeout, a disabled endpoint — and injects the credential in use. It emits a
 * `call` event per call; detectors turn those into findings.
 */
export class EgressProxy extends EventEmitter<{ call: [CallEvent] }> {
  private server: Server | undefined;
  private port = 0;
  private readonly failures = new Map<string, number>();

  constructor(
    private readonly settings: EgressSettings,
    readonly credentials: CredentialStore,
    readonly store: EgressStore,
    private readonly logger: Logger,
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

  /** Base URL the service is given as GUARDIAN_EGRESS_URL. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get endpoints(): readonly EgressEndpointSettings[] {
    return this.settings.endpoints;
  }

  /**
   * Listens on 127.0.0.1. With port 0, the port used last time comes first: a service that
   * outlived a restart of Guardian (and is re-adopted) still has that URL.
   */
  async start(port = this.settings.port): Promise<string> {
    const previous = Number(this.store.flag('port') ?? 0);
    const candidates = port === 0 && previous > 0 ? [previous, 0] : [port];
    let server: Server | undefined;
    for (const candidate of candidates) {
      try {
        server = await listen(candidate, (req, res) => void this.handle(req, res));
        break;
      } catch (err) {
        if (candidate === candidates[candidates.length - 1]) throw err;
      }
    }
    if (!server) throw new Error('the egress proxy could not listen');
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    this.store.setFlag('port', String(this.port));
    // Self-check: the proxy answers on its URL. It also loads the HTTP client now rather than
    // inside the first incident, where it would add to the time to heal.
    const check = await fetch(`${this.url}/`, { signal: AbortSignal.timeout(5000) });
    await check.arrayBuffer();
    if (check.status !== 404)
      throw new Error(`the egress proxy at ${this.url} answered ${check.status} to its self-check`);
    this.logger.info(
      { url: this.url, offline: this.offline, endpoints: this.settings.endpoints.map((e) => e.name) },
      'egress proxy listening',
    );
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
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

  /** Sends the calls queued while offline, oldest first, each at most once. */
  drainOutbox(limit = 1000): Promise<DrainSummary> {
    return drainOutbox(this.store, limit, (entry) => {
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

  private credentialHeader(endpoint: EgressEndpointSettings): Record<string, string> {
    if (!endpoint.credential) return {};
    const header = this.credentials.header(endpoint.credential);
    return header ? { [header.name]: header.value } : {};
  }

  private rememberRejected(endpoint: EgressEndpointSettings): void {
    if (endpoint.credential)
      this.store.recordRejected(endpoint.credential, this.credentials.fingerprint(endpoint.credential));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://egress.local');
      const [, rawName = '', ...rest] = url.pathname.split('/');
      const name = decodeURIComponent(rawName);
      const endpoint = this.settings.endpoints.find((e) => e.name === name);
      if (!endpoint)
        return send(res, 404, { error: `no egress endpoint "${name}"; guardian.yaml egress.endpoints lists them` });
      const method = (req.method ?? 'GET').toUpperCase();
      const body = method === 'GET' || method === 'HEAD' ? undefined : await readBody(req);
      if (body === null) return send(res, 413, { error: 'request body over 1 MiB' });
      const path = `/${rest.join('/')}${url.search}`;
      const offline = this.offline || /^(1|true)$/i.test(String(req.headers['x-guardian-offline'] ?? ''));
      const authorization = req.headers.authorization;
      await this.serve(
        endpoint,
        {
          method,
          path,
          body,
          contentType: req.headers['content-type'],
          accept: req.headers.accept,
          authorization,
          offline,
        },
        res,
      );
    } catch (err) {
      this.logger.error({ err }, 'egress proxy request failed');
      if (!res.headersSent) send(res, 500, { error: 'egress proxy error' });
      else res.destroy();
    }
  }

  private async serve(
    endpoint: EgressEndpointSettings,
    call: {
      method: string;
      path: string;
      body: Buffer | undefined;
      contentType: string | undefined;
      accept: string | undefined;
      authorization: string | undefined;
      offline: boolean;
    },
    res: ServerResponse,
  ): Promise<void> {
    const name = endpoint.name;
    const readOnly = call.method === 'GET' || call.method === 'HEAD';
    if (call.offline) {
      if (readOnly) return this.sendCached(res, name, call.path, 'offline', 503, { offline: true, endpoint: name });
      // Only Guardian's own offline mode queues: it is what sends the queue once the network is back.
      if (!endpoint.queueWrites || !this.offline) return send(res, 503, { offline: true, endpoint: name });
      const id = this.store.enqueue({
        endpoint: name,
        method: call.method,
        path: call.path,
        contentType: call.contentType ?? null,
        body: call.body ?? null,
      });
      return send(res, 202, { queued: true, offline: true, endpoint: name, id }, { 'x-guardian-queued': String(id) });
    }
    const route = this.route(name);
    if (route.disabled) {
      if (readOnly)
        return this.sendCached(res, name, call.path, 'auth-required', 503, {
          disabled: true,
          endpoint: name,
          reason: route.disabledReason,
        });
      return send(res, 503, { disabled: true, endpoint: name, reason: route.disabledReason });
    }
    if (endpoint.credential && this.credentials.expired(endpoint.credential)) {
      this.record(endpoint, 'auth', 'credential expired (JWT exp)');
      return send(res, 401, { error: 'credential expired', endpoint: name, credential: endpoint.credential });
    }
    const headers: Record<string, string> = {
      accept: call.accept ?? 'application/json',
      ...(call.contentType ? { 'content-type': call.contentType } : {}),
      // Without a credential of its own in guardian.yaml, the service's header passes through.
      ...(call.authorization && !endpoint.credential ? { authorization: call.authorization } : {}),
      ...this.credentialHeader(endpoint),
    };
    if (route.circuit !== 'closed') {
      const fallback = { circuitOpen: true, endpoint: name };
      if (!endpoint.backup) return this.sendCached(res, name, call.path, 'circuit-open', 503, fallback);
      const backupTimeout = endpoint.timeouts[0] ?? route.timeoutMs;
      const result = await callUpstream({
        url: joinUrl(endpoint.backup, call.path),
        method: call.method,
        headers,
        body: call.body,
        timeoutMs: backupTimeout,
      });
      if (classify(result) === 'failure' || result.kind !== 'reply')
        return this.sendCached(res, name, call.path, 'circuit-open', 502, {
          ...fallback,
          backup: describe(result, backupTimeout),
        });
      return send(res, result.status, result.body, {
        'content-type': result.contentType,
        'x-guardian-route': 'backup',
      });
    }
    const result = await callUpstream({
      url: joinUrl(endpoint.url, call.path),
      method: call.method,
      headers,
      body: call.body,
      timeoutMs: route.timeoutMs,
    });
    this.settle(endpoint, result, route.timeoutMs, readOnly ? call.path : undefined);
    if (result.kind === 'timeout')
      return send(res, 504, { error: 'timeout', endpoint: name, timeoutMs: route.timeoutMs });
    if (result.kind === 'error') return send(res, 502, { error: result.code, endpoint: name });
    return send(res, result.status, result.body, { 'content-type': result.contentType, 'x-guardian-route': 'primary' });
  }

  /** Counts the result toward the breaker, caches good GET replies, and emits the call event. */
  private settle(
    endpoint: EgressEndpointSettings,
    result: UpstreamResult,
    timeoutMs: number,
    cacheKey: string | undefined,
  ): void {
    const outcome = classify(result);
    if (outcome === 'success' && result.kind === 'reply' && cacheKey !== undefined && result.status < 300) {
      this.store.cache(
        endpoint.name,
        cacheKey,
        { status: result.status, contentType: result.contentType, body: result.body },
        this.settings.cacheEntries,
      );
    }
    if (outcome === 'auth') this.rememberRejected(endpoint);
    this.record(endpoint, outcome, describe(result, timeoutMs), result.kind === 'error' ? result.code : undefined);
  }

  private record(endpoint: EgressEndpointSettings, outcome: CallEvent['outcome'], detail: string, code?: string): void {
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

  private sendCached(
    res: ServerResponse,
    endpoint: string,
    key: string,
    reason: string,
    status: number,
    fallback: Record<string, unknown>,
  ): void {
    const hit = this.store.cached(endpoint, key);
    if (!hit) return send(res, status, fallback, { 'x-guardian-route': 'local' });
    send(res, hit.status, hit.body, {
      'content-type': hit.contentType,
      'x-guardian-stale': `${reason}; age=${Math.max(0, Date.now() - hit.storedAt)}ms`,
      'x-guardian-route': 'cache',
    });
  }
}

function listen(port: number, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  const server = createServer(handler);
  server.keepAliveTimeout = 2000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1' }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function send(
  res: ServerResponse,
  status: number,
  body: Buffer | Record<string, unknown>,
  headers: Record<string, string> = {},
): void {
  const isBuffer = Buffer.isBuffer(body);
  res.writeHead(status, { 'content-type': isBuffer ? 'application/octet-stream' : 'application/json', ...headers });
  res.end(isBuffer ? body : JSON.stringify(body));
}

/** The request body, or null when it is over the limit. */
async function readBody(req: IncomingMessage): Promise<Buffer | null> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return null;
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}
