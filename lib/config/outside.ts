import { z } from 'zod';
import { duration, durationOrZero, port, safeName } from './units.js';

const endpointName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'use 1 to 64 letters, digits, "_" or "-" (it is a URL path segment)')
  .meta({ examples: ['quotes'] });

/**
 * Where a secret's value lives: an environment variable or a file. guardian.yaml holds only this
 * reference; the value is read inside the egress proxy and activities, never passed to a workflow.
 * @example { env: QUOTES_API_KEY }
 */
export const secretRefSchema = z
  .union([
    z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name') }).strict(),
    z.object({ file: z.string().min(1) }).strict(),
  ])
  .meta({
    description: 'A secret by reference: { env: NAME } or { file: path }',
    examples: [{ env: 'QUOTES_API_KEY' }],
  });

/** `egress.endpoints[]` — one remote API the service reaches through Guardian's egress proxy. */
export const egressEndpointSchema = z.object({
  name: endpointName,
  url: z.url().meta({ description: 'Base URL of the primary endpoint', examples: ['https://api.example.com/v1'] }),
  backup: z.url().optional().meta({ description: 'Base URL traffic goes to while the circuit is open' }),
  credential: z
    .string()
    .optional()
    .meta({ description: 'Name of an entry in credentials', examples: ['quotes-key'] }),
  timeouts: z
    .array(duration)
    .min(1)
    .prefault(['30s', '10s', '5s'])
    .meta({
      description: 'Call timeout, then the shorter ones used while the endpoint misbehaves',
      examples: [['30s', '10s', '5s']],
    }),
  failureThreshold: z
    .number()
    .int()
    .min(1)
    .max(100)
    .default(3)
    .meta({ description: 'Consecutive failures that open the circuit' }),
  retryInterval: duration
    .prefault('60s')
    .meta({ description: 'How often an open circuit tries the primary once (half-open)' }),
  probePath: z
    .string()
    .startsWith('/')
    .default('/')
    .meta({ description: 'Path of the half-open trial and credential checks', examples: ['/health'] }),
  queueWrites: z
    .boolean()
    .default(true)
    .meta({ description: 'Queue non-GET calls made while offline and send them once back' }),
});

/** `egress:` — the proxy the guarded service calls instead of remote URLs. */
export const egressSchema = z
  .object({
    port: port
      .or(z.literal(0))
      .default(0)
      .meta({ description: 'Port on 127.0.0.1 (0: any free port); passed as GUARDIAN_EGRESS_URL' }),
    cacheEntries: z
      .number()
      .int()
      .min(0)
      .max(10_000)
      .default(100)
      .meta({ description: 'Last good GET replies kept per endpoint, served stale when degraded' }),
    endpoints: z.array(egressEndpointSchema).default([]),
  })
  .meta({ description: "Guardian's egress proxy: circuit breaker, offline mode, credentials" });

/** `credentials[]` — how the proxy authenticates to an endpoint. Values are references only. */
export const credentialSchema = z.object({
  name: safeName,
  header: z.string().default('authorization').meta({ description: 'Request header that carries the credential' }),
  scheme: z
    .string()
    .default('Bearer')
    .meta({ description: 'Prefix before the value ("" for none)', examples: ['Bearer', ''] }),
  token: secretRefSchema.optional().meta({ description: 'The API key or access token' }),
  backup: secretRefSchema.optional().meta({ description: 'A second key used when the first is refused' }),
  oauth: z
    .object({
      tokenUrl: z.url(),
      clientId: z.string().min(1),
      clientSecret: secretRefSchema.optional(),
      refreshToken: secretRefSchema,
    })
    .optional()
    .meta({ description: 'OAuth2 refresh-token grant used when the access token is refused or expired' }),
  refreshBackoff: duration
    .prefault('5m')
    .meta({ description: 'At most one refresh or re-check of this credential per window' }),
  expirySkew: durationOrZero.prefault('30s').meta({ description: 'A JWT counts as expired this long before its exp' }),
});

/** `network:` — the probes that tell "the network is down" from "one API is down". */
export const networkSchema = z
  .object({
    probes: z
      .object({
        interval: duration.prefault('500ms'),
        timeout: duration.prefault('400ms').meta({ description: 'Per probe' }),
        failedRounds: z
          .number()
          .int()
          .min(1)
          .max(20)
          .default(2)
          .meta({ description: 'Consecutive failed rounds that mean offline' }),
        dns: z
          .object({
            resolver: z
              .string()
              .optional()
              .meta({
                description: 'host:port of the DNS server (default: the system resolver)',
                examples: ['1.1.1.1', '127.0.0.1:5353'],
              }),
            names: z
              .array(z.string().min(1))
              .default([])
              .meta({ examples: [['example.com']] }),
          })
          .prefault({}),
        tcp: z
          .array(z.string().regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'host:port'))
          .default([])
          .meta({ examples: [['1.1.1.1:443']] }),
        icmp: z
          .array(z.string().min(1))
          .default([])
          .meta({ description: 'Hosts pinged with the system ping, only where it runs unprivileged' }),
      })
      .prefault({}),
    backoff: z
      .array(duration)
      .min(1)
      .prefault(['10s', '30s', '60s'])
      .meta({ description: 'Waits between probes while offline; the last repeats' }),
    maxOffline: duration
      .prefault('7d')
      .meta({ description: 'After this long offline, Guardian stops probing and alerts' }),
  })
  .meta({ description: 'Network reachability probes and offline mode' });

export type EgressEndpointSettings = z.output<typeof egressEndpointSchema>;
export type EgressSettings = z.output<typeof egressSchema>;
export type CredentialSettings = z.output<typeof credentialSchema>;
export type NetworkSettings = z.output<typeof networkSchema>;
export type SecretRef = z.output<typeof secretRefSchema>;

/** Makes the file references of credentials absolute. */
export function resolveCredentialPaths(
  credentials: CredentialSettings[],
  abs: (p: string) => string,
): CredentialSettings[] {
  const ref = (r: SecretRef | undefined): SecretRef | undefined => (r && 'file' in r ? { file: abs(r.file) } : r);
  return credentials.map((c) => ({
    ...c,
    ...(c.token ? { token: ref(c.token) } : {}),
    ...(c.backup ? { backup: ref(c.backup) } : {}),
    ...(c.oauth
      ? {
          oauth: {
            ...c.oauth,
            refreshToken: ref(c.oauth.refreshToken) ?? c.oauth.refreshToken,
            ...(c.oauth.clientSecret ? { clientSecret: ref(c.oauth.clientSecret) } : {}),
          },
        }
      : {}),
  }));
}
