import type { EgressEndpointSettings } from '../config/outside.js';
import type { RouteState } from './store.js';
import { joinUrl } from './upstream.js';

/** One call of the service to the proxy, as the transport parsed it. */
export interface EgressCall {
  readonly method: string;
  /** Path and query under the endpoint (`/v1/quotes?day=1`). */
  readonly path: string;
  readonly body: Buffer | undefined;
  readonly contentType: string | undefined;
  readonly accept: string | undefined;
  /** The service's own Authorization header, passed on only to endpoints without a credential. */
  readonly authorization: string | undefined;
  /** The service asked for offline handling of this call (`x-guardian-offline`). */
  readonly offline: boolean;
}

/** What the proxy knows about an endpoint when a call arrives. */
export interface RoutingState {
  /** Guardian's own offline mode (network-unreachable). */
  readonly guardianOffline: boolean;
  readonly route: RouteState;
  /** The endpoint's credential is known to have expired (JWT exp). */
  readonly credentialExpired: boolean;
}

/** Why a call is answered from the cache of last good replies. */
export type StaleReason = 'offline' | 'auth-required' | 'circuit-open';

/** What to do with one call: the routing decision, apart from any HTTP. */
export type RouteDecision =
  | { kind: 'cache'; reason: StaleReason; status: number; fallback: Record<string, unknown> }
  | { kind: 'queue' }
  | { kind: 'reply'; status: number; body: Record<string, unknown>; authEvent?: string }
  | { kind: 'forward'; target: 'primary' | 'backup'; url: string; timeoutMs: number };

/** True for methods that only read (their good replies are cached; offline they are served from it). */
export function isReadOnly(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

/**
 * Decides where one call goes: offline mode (cached GETs, other calls queued), a disabled
 * endpoint (credentials refused), an expired credential, an open circuit (backup endpoint, else
 * cached replies marked stale), or the primary with the enforced timeout.
 */
export function decideRoute(endpoint: EgressEndpointSettings, call: EgressCall, state: RoutingState): RouteDecision {
  const name = endpoint.name;
  const readOnly = isReadOnly(call.method);
  if (call.offline || state.guardianOffline) {
    if (readOnly) return { kind: 'cache', reason: 'offline', status: 503, fallback: { offline: true, endpoint: name } };
    // Only Guardian's own offline mode queues: it is what sends the queue once the network is back.
    if (!endpoint.queueWrites || !state.guardianOffline)
      return { kind: 'reply', status: 503, body: { offline: true, endpoint: name } };
    return { kind: 'queue' };
  }
  const { route } = state;
  if (route.disabled) {
    const body = { disabled: true, endpoint: name, reason: route.disabledReason };
    return readOnly
      ? { kind: 'cache', reason: 'auth-required', status: 503, fallback: body }
      : { kind: 'reply', status: 503, body };
  }
  if (endpoint.credential && state.credentialExpired) {
    return {
      kind: 'reply',
      status: 401,
      body: { error: 'credential expired', endpoint: name, credential: endpoint.credential },
      authEvent: 'credential expired (JWT exp)',
    };
  }
  if (route.circuit !== 'closed') {
    if (!endpoint.backup)
      return { kind: 'cache', reason: 'circuit-open', status: 503, fallback: { circuitOpen: true, endpoint: name } };
    return {
      kind: 'forward',
      target: 'backup',
      url: joinUrl(endpoint.backup, call.path),
      timeoutMs: endpoint.timeouts[0] ?? route.timeoutMs,
    };
  }
  return { kind: 'forward', target: 'primary', url: joinUrl(endpoint.url, call.path), timeoutMs: route.timeoutMs };
}

/** Headers sent upstream: the call's content headers and the credential in use (or the service's own). */
export function upstreamHeaders(
  endpoint: EgressEndpointSettings,
  call: EgressCall,
  credential: Record<string, string>,
): Record<string, string> {
  return {
    accept: call.accept ?? 'application/json',
    ...(call.contentType ? { 'content-type': call.contentType } : {}),
    // Without a credential of its own in guardian.yaml, the service's header passes through.
    ...(call.authorization && !endpoint.credential ? { authorization: call.authorization } : {}),
    ...credential,
  };
}
