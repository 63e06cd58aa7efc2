import { randomBytes } from 'node:crypto';

/** The guarded service's health as its `/guardian/health` route reports it (see docs/contract.md). */
export interface ServiceHealth {
  status: 'ok' | 'degraded' | 'booting';
  pid?: number;
  port?: number;
  databases?: Record<string, { open: boolean; lastError?: string }>;
  degradedChunks?: string[];
  offline?: boolean;
  lowMemory?: boolean;
  disabledFeatures?: string[];
  rssBytes?: number;
  cacheBytes?: number;
  config?: { ok: boolean; error?: string };
  [key: string]: unknown;
}

/** Thrown when a control hook or the health route does not answer as the contract says. */
export class ControlHookError extends Error {
  constructor(
    readonly action: string,
    readonly status: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'ControlHookError';
  }
}

/**
 * Calls the guarded service's control hooks over HTTP on loopback with the shared token.
 * The token lives only here and in the service's environment, never in a workflow.
 */
export class ServiceControl {
  constructor(
    private readonly options: {
      /** Returns the port the service listens on now (it can move). */
      port: () => number | undefined;
      token: string;
      controlPath?: string;
      healthPath?: string;
      timeoutMs?: number;
      /** Called with every health reply (the service-down detector learns that a process has answered). */
      onHealth?: (health: ServiceHealth) => void;
    },
  ) {}

  /** A fresh random token for a service Guardian starts. */
  static newToken(): string {
    return randomBytes(24).toString('base64url');
  }

  get token(): string {
    return this.options.token;
  }

  private baseUrl(): string {
    const port = this.options.port();
    if (port === undefined)
      throw new ControlHookError('connect', undefined, 'the service has no known port (is it running?)');
    return `http://127.0.0.1:${port}`;
  }

  /**
   * POSTs a control action; returns the service's JSON reply or throws {@link ControlHookError}.
   * `timeoutMs` overrides the configured timeout for a slow action (reopening a large database);
   * `signal` abandons the call (a cancelled step).
   */
  async call<T = Record<string, unknown>>(
    action: string,
    body: Record<string, unknown> = {},
    { timeoutMs, signal }: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<T> {
    const url = `${this.baseUrl()}${this.options.controlPath ?? '/guardian/control'}/${action}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.token}` },
        body: JSON.stringify(body),
        signal: AbortSignal.any([
          AbortSignal.timeout(timeoutMs ?? this.options.timeoutMs ?? 5000),
          ...(signal ? [signal] : []),
        ]),
      });
    } catch (err) {
      throw new ControlHookError(action, undefined, `control hook ${action} unreachable: ${(err as Error).message}`);
    }
    const text = await res.text();
    if (!res.ok)
      throw new ControlHookError(
        action,
        res.status,
        `control hook ${action} answered ${res.status}: ${text.slice(0, 200)}`,
      );
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** GETs the health route; throws {@link ControlHookError} when it does not answer. */
  async health(timeoutMs = this.options.timeoutMs ?? 2000): Promise<ServiceHealth> {
    const url = `${this.baseUrl()}${this.options.healthPath ?? '/guardian/health'}`;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      const health = (await res.json()) as ServiceHealth;
      this.options.onHealth?.(health);
      return health;
    } catch (err) {
      throw new ControlHookError('health', undefined, `health check failed: ${(err as Error).message}`);
    }
  }
}
