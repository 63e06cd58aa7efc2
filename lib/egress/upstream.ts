import { errorCode } from './credentials.js';

/** One call to a remote endpoint, as the proxy makes it. */
export interface UpstreamRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: Buffer | undefined;
  timeoutMs: number;
}

/** How a remote call ended, classified for the circuit breaker and the credential check. */
export type UpstreamResult =
  | { kind: 'reply'; status: number; contentType: string; body: Buffer; ms: number }
  | { kind: 'timeout'; ms: number }
  | { kind: 'error'; code: string; ms: number };

/** Socket errors that happen before a request leaves: such a call certainly was not delivered. */
export const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EADDRNOTAVAIL',
]);

/** Calls the remote endpoint; never throws. The timeout covers the whole reply, body included. */
export async function callUpstream(request: UpstreamRequest): Promise<UpstreamResult> {
  const started = Date.now();
  try {
    const res = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      ...(request.body && request.method !== 'GET' && request.method !== 'HEAD' ? { body: request.body } : {}),
      redirect: 'manual',
      signal: AbortSignal.timeout(request.timeoutMs),
    });
    const body = Buffer.from(await res.arrayBuffer());
    return {
      kind: 'reply',
      status: res.status,
      contentType: res.headers.get('content-type') ?? 'application/octet-stream',
      body,
      ms: Date.now() - started,
    };
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ETIMEDOUT' && Date.now() - started >= request.timeoutMs - 5)
      return { kind: 'timeout', ms: Date.now() - started };
    return { kind: 'error', code, ms: Date.now() - started };
  }
}

/** What a result means for the breaker: timeouts, socket errors and 5xx trip it; 401/403 are credentials. */
export function classify(result: UpstreamResult): 'success' | 'failure' | 'auth' {
  if (result.kind !== 'reply') return 'failure';
  if (result.status === 401 || result.status === 403) return 'auth';
  if (result.status >= 500) return 'failure';
  return 'success';
}

/** A short account of a failed result, for evidence and logs (never a header or body). */
export function describe(result: UpstreamResult, timeoutMs: number): string {
  if (result.kind === 'timeout') return `timeout after ${timeoutMs} ms`;
  if (result.kind === 'error') return result.code;
  return `HTTP ${result.status}`;
}

/** Joins a base URL and a path with its query (`/a?b=1`). */
export function joinUrl(base: string, pathAndQuery: string): string {
  return `${base.replace(/\/+$/, '')}${pathAndQuery.startsWith('/') ? '' : '/'}${pathAndQuery}`;
}
