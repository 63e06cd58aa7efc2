import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EgressEndpointSettings, EgressSettings } from '../config/outside.js';
import type { Logger } from '../logger.js';
import { registerSecret } from '../redact.js';
import { EgressControls } from './controls.js';
import { OUTBOX_CAP } from './outbox.js';
import type { CredentialStore } from './credentials.js';
import { decideRoute, type EgressCall, isReadOnly, type RouteDecision, upstreamHeaders } from './routing.js';
import type { EgressStore } from './store.js';
import { carriesToken, EGRESS_TOKEN_HEADER, listen, newEgressToken, parseRequest, send } from './transport.js';
import { callUpstream, classify, describe, type UpstreamResult } from './upstream.js';

export type { CallEvent, TrialResult } from './controls.js';

/**
 * Guardian's egress proxy: the guarded service calls `<url>/<endpoint>/<path>` instead of the
 * remote URL, and the proxy enforces what the workflows decided — offline mode (cached GETs, other
 * calls queued in the outbox), an open circuit (backup endpoint or cached replies marked stale),
 * a shortened timeout, a disabled endpoint — and injects the credential in use. It emits a
 * `call` event per call; detectors turn those into findings. Only the service may use it: a
 * request without the service's token ({@link EgressProxy.serviceToken}) gets 403.
 */
export class EgressProxy extends EgressControls {
  private server: Server | undefined;
  private port = 0;
  private readonly token: string;
  private refusedAt = 0;
  private refusedSince = 0;

  constructor(settings: EgressSettings, credentials: CredentialStore, store: EgressStore, logger: Logger) {
    super(settings, credentials, store, logger);
    // Kept in egress.db (0600): a service that outlives a restart of Guardian still holds it.
    this.token = store.flag('service-token') ?? newEgressToken();
    store.setFlag('service-token', this.token);
    registerSecret(this.token);
  }

  /** Base URL the service is given as GUARDIAN_EGRESS_URL. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The token the service sends in `x-guardian-egress-token`; handed to it as GUARDIAN_EGRESS_TOKEN. */
  get serviceToken(): string {
    return this.token;
  }

  /** Headers that let a call through the proxy (for Guardian's own checks through it). */
  get authHeaders(): Record<string, string> {
    return { [EGRESS_TOKEN_HEADER]: this.token };
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
    const check = await fetch(`${this.url}/`, { headers: this.authHeaders, signal: AbortSignal.timeout(5000) });
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

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (!carriesToken(req, this.token)) return this.refuse(req, res);
      const parsed = await parseRequest(req);
      if ('tooLarge' in parsed) return send(res, 413, { error: 'request body over 1 MiB' });
      const endpoint = this.settings.endpoints.find((e) => e.name === parsed.endpoint);
      if (!endpoint)
        return send(res, 404, {
          error: `no egress endpoint "${parsed.endpoint}"; guardian.yaml egress.endpoints lists them`,
        });
      await this.serve(endpoint, parsed.call, res);
    } catch (err) {
      this.logger.error({ err }, 'egress proxy request failed');
      if (!res.headersSent) send(res, 500, { error: 'egress proxy error' });
      else res.destroy();
    }
  }

  /** 403 for a request without the service's token, and a log line (at most one a second, with the count). */
  private refuse(req: IncomingMessage, res: ServerResponse): void {
    this.refusedSince++;
    const now = Date.now();
    if (now - this.refusedAt >= 1000) {
      this.logger.warn(
        { method: req.method, from: req.socket.remoteAddress, refused: this.refusedSince },
        'egress proxy refused a request without the service token',
      );
      this.refusedAt = now;
      this.refusedSince = 0;
    }
    req.resume();
    send(res, 403, {
      error: `forbidden: send the value of GUARDIAN_EGRESS_TOKEN in the ${EGRESS_TOKEN_HEADER} header`,
    });
  }

  private async serve(endpoint: EgressEndpointSettings, call: EgressCall, res: ServerResponse): Promise<void> {
    const name = endpoint.name;
    const decision = decideRoute(endpoint, call, {
      guardianOffline: this.offline,
      route: this.route(name),
      credentialExpired: endpoint.credential !== undefined && this.credentials.expired(endpoint.credential),
    });
    switch (decision.kind) {
      case 'cache':
        return this.sendCached(res, name, call.path, decision.reason, decision.status, decision.fallback);
      case 'queue': {
        if (this.store.outbox.pendingCount() >= OUTBOX_CAP) {
          return send(res, 503, {
            error: `Guardian's offline outbox is full (${OUTBOX_CAP} calls queued for when the network is back); this call was not queued`,
            queued: false,
            offline: true,
            endpoint: name,
          });
        }
        const id = this.store.outbox.enqueue({
          endpoint: name,
          method: call.method,
          path: call.path,
          contentType: call.contentType ?? null,
          body: call.body ?? null,
        });
        return send(res, 202, { queued: true, offline: true, endpoint: name, id }, { 'x-guardian-queued': String(id) });
      }
      case 'reply':
        if (decision.authEvent) this.record(endpoint, 'auth', decision.authEvent);
        return send(res, decision.status, decision.body);
      case 'forward':
        return this.forward(endpoint, call, decision, res);
    }
  }

  private async forward(
    endpoint: EgressEndpointSettings,
    call: EgressCall,
    decision: Extract<RouteDecision, { kind: 'forward' }>,
    res: ServerResponse,
  ): Promise<void> {
    const name = endpoint.name;
    const { timeoutMs } = decision;
    const result = await callUpstream({
      url: decision.url,
      method: call.method,
      headers: upstreamHeaders(endpoint, call, this.credentialHeader(endpoint)),
      body: call.body,
      timeoutMs,
    });
    if (decision.target === 'backup') {
      if (classify(result) === 'failure' || result.kind !== 'reply')
        return this.sendCached(res, name, call.path, 'circuit-open', 502, {
          circuitOpen: true,
          endpoint: name,
          backup: describe(result, timeoutMs),
        });
      return send(res, result.status, result.body, {
        'content-type': result.contentType,
        'x-guardian-route': 'backup',
      });
    }
    this.settle(endpoint, result, timeoutMs, isReadOnly(call.method) ? call.path : undefined);
    if (result.kind === 'timeout') return send(res, 504, { error: 'timeout', endpoint: name, timeoutMs });
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
