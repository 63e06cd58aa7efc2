// Types of remote-api.mjs for the TypeScript drills and tests.

export interface RemoteBehaviour {
  delayMs: number;
  status: number | null;
  keys: string[] | null;
  dnsSilent: boolean;
  /** Answer to a key it does not accept (a missing key always gets 401). @default 401 */
  refuseStatus: 401 | 403;
}

export interface ReceivedCall {
  id: number;
  method: string;
  path: string;
  body: string;
  at: number;
}

export interface RemoteApi {
  readonly role: string;
  port: number;
  dnsPort: number | undefined;
  readonly behaviour: RemoteBehaviour;
  readonly received: ReceivedCall[];
  readonly stats: { calls: number; authFailures: number; tokenGrants: number; dnsQueries: number };
  readonly url: string;
  readonly listening: boolean;
  set(changes: Partial<RemoteBehaviour>): void;
  addRefreshToken(value: string): void;
  stop(options?: { keepDns?: boolean }): Promise<void>;
  start(): Promise<void>;
}

export function startRemoteApi(options?: {
  port?: number;
  host?: string;
  role?: string;
  dnsPort?: number;
  keys?: string[] | null;
  refreshTokens?: string[];
  accessTokenTtlS?: number;
  jwt?: boolean;
}): Promise<RemoteApi>;

export function makeJwt(payload: Record<string, unknown>): string;
