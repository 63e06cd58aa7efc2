import type { EgressProxy } from '../lib/egress/proxy.js';

/** How a probe call through Guardian's egress proxy was answered. */
export interface ProxyProbe {
  status: number;
  /** The proxy's `x-guardian-route` header: primary, backup, cache, local; null when absent. */
  route: string | null;
  /** How long the answer took, body included. */
  ms: number;
}

/** Calls `endpoint`'s probe path through the proxy (5 s at the most) and reads the whole answer. */
export async function probeThroughProxy(proxy: EgressProxy, endpoint: string, probePath: string): Promise<ProxyProbe> {
  const started = Date.now();
  const res = await fetch(`${proxy.url}/${endpoint}${probePath}`, {
    headers: proxy.authHeaders,
    signal: AbortSignal.timeout(5000),
  });
  await res.arrayBuffer();
  return { status: res.status, route: res.headers.get('x-guardian-route'), ms: Date.now() - started };
}
