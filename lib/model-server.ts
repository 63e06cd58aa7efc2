import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ModelServerSettings } from './config/lifecycle.js';
import type { Logger } from './logger.js';
import { describeProcess, portHolders } from './proc.js';
import type { ProcessRegistry } from './process-registry.js';
import { RestartBudget, type RestartLimits, type RestartUnit, restartLimitsOf } from './restart-budget.js';
import { type ProcessIdentity, stopVerifiedProcess, Supervisor } from './supervisor.js';

/** What one `GET /api/version` found. */
export type ApiProbe = { ok: true; version: string } | { ok: false; code: string; message: string };

/** Thrown when the model server's command does not exist on this machine. */
export class ModelServerMissingError extends Error {
  constructor(readonly command: string) {
    super(
      `the model server command "${command}" was not found. Install Ollama: ` +
        '`curl -fsSL https://ollama.com/install.sh | sh` on Linux, or the installer from https://ollama.com/download ' +
        '(macOS, Windows); then run `guardian up` again, or point modelServer.command in guardian.yaml at it.',
    );
    this.name = 'ModelServerMissingError';
  }
}

/** Thrown when something Guardian did not start holds the model server's port without answering its API. */
export class ModelServerPortTakenError extends Error {
  constructor(
    readonly port: number,
    readonly holder: string,
  ) {
    super(`port ${port} of the model server is held by ${holder}, which Guardian did not start; it was not touched`);
    this.name = 'ModelServerPortTakenError';
  }
}

/** Thrown when the model server process Guardian started exited before its API answered. */
export class ModelServerExitedError extends Error {
  constructor(
    readonly pid: number,
    readonly exit: string,
    last: string,
    outputFile: string,
  ) {
    super(`${exit} before its API answered (${last}); see ${outputFile}`);
    this.name = 'ModelServerExitedError';
  }
}

/** How {@link ModelServer.ensureStarted} got the model server going. */
export type StartAction = 'already-answering' | 'starting' | 'started' | 'restarted';

/**
 * The local model server (Ollama, or anything speaking its HTTP API): Guardian starts it in the
 * background, probes `GET /api/version`, and restarts it. Only Ollama's public API is used, so a
 * real `ollama serve` works the same as the stand-in in examples/.
 */
export class ModelServer implements RestartUnit {
  readonly supervisor: Supervisor;
  /** Restarts after crashes and the hold after a crash loop, in supervision.db beside the service's. */
  readonly restarts: RestartBudget;

  constructor(
    readonly settings: ModelServerSettings,
    stateDir: string,
    private readonly registry: ProcessRegistry,
    private readonly logger: Logger,
  ) {
    const url = new URL(settings.url);
    this.restarts = new RestartBudget(registry.db);
    this.supervisor = new Supervisor(
      {
        name: settings.name,
        command: settings.command,
        args: settings.args,
        cwd: settings.cwd ?? '.',
        // `ollama serve` listens where OLLAMA_HOST says: make that the configured URL.
        env: { OLLAMA_HOST: url.host, ...settings.env },
        outputFile: join(stateDir, 'logs', `${settings.name}.out`),
        stopTimeoutMs: settings.stopTimeout,
      },
      logger,
      { registry },
    );
  }

  get name(): string {
    return this.settings.name;
  }

  /** guardian.yaml's `modelServer.restart`, as the restart budget reads it. */
  get restartLimits(): RestartLimits {
    return restartLimitsOf(this.settings.restart);
  }

  get url(): string {
    return this.settings.url.replace(/\/+$/, '');
  }

  get port(): number {
    const url = new URL(this.settings.url);
    return Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  }

  /** One `GET /api/version` with the probe timeout. */
  async probe(timeoutMs = this.settings.probeTimeout): Promise<ApiProbe> {
    try {
      const res = await fetch(`${this.url}/api/version`, { signal: AbortSignal.timeout(timeoutMs) });
      const body = (await res.json().catch(() => ({}))) as { version?: unknown };
      if (!res.ok) return { ok: false, code: `HTTP_${res.status}`, message: `answered ${res.status}` };
      return { ok: true, version: typeof body.version === 'string' ? body.version : 'unknown' };
    } catch (err) {
      const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
      if (e.name === 'TimeoutError')
        return { ok: false, code: 'ETIMEDOUT', message: `no answer within ${timeoutMs} ms` };
      return {
        ok: false,
        code: e.cause?.code ?? e.name ?? 'UNKNOWN',
        message: e.cause?.message ?? e.message ?? String(err),
      };
    }
  }

  /** True when the configured command exists and is executable (a path, or a name on PATH). */
  commandAvailable(): boolean {
    const { command } = this.settings;
    const candidates = command.includes('/')
      ? [isAbsolute(command) ? command : resolve(this.supervisor.spec.cwd, command)]
      : (process.env.PATH ?? '')
          .split(delimiter)
          .filter(Boolean)
          .map((dir) => join(dir, command));
    return candidates.some((file) => {
      try {
        accessSync(file, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
  }

  /**
   * At Guardian's start: leaves a model server that already answers alone (the user's own
   * Ollama), re-adopts one an earlier Guardian started, else starts it, unless its restarts are
   * held after a crash loop. Never throws for a missing binary or a port someone else holds: the
   * detector then finds the API down and the incident alerts.
   */
  async up(): Promise<'external' | 'adopted' | 'started' | 'missing' | 'port-taken' | 'held'> {
    const alive = this.registry.sweep(this.name)[0];
    if ((await this.probe()).ok) {
      if (alive && this.supervisor.adopt(alive)) return 'adopted';
      return 'external';
    }
    if (alive) {
      await stopVerifiedProcess(alive, this.settings.stopTimeout);
      this.registry.recordEnd(alive.id);
    }
    const held = this.restarts.held(this.name);
    if (held) {
      this.logger.warn(
        { modelServer: this.name, since: held.since, reason: held.reason },
        `not starting ${this.name}: its restarts are held after a crash loop; run: guardian resume model-server-down ${this.name}`,
      );
      return 'held';
    }
    try {
      await this.ensureStarted();
    } catch (err) {
      if (err instanceof ModelServerMissingError) {
        this.logger.error({ modelServer: this.name }, err.message);
        return 'missing';
      }
      // Someone else's process on the port must not keep Guardian from starting: the detector
      // finds the API down and the incident alerts with the holder's name.
      if (err instanceof ModelServerPortTakenError) {
        this.logger.error({ modelServer: this.name }, err.message);
        return 'port-taken';
      }
      throw err;
    }
    await this.waitForApi(this.settings.startTimeout).catch((err: unknown) => {
      this.logger.warn({ modelServer: this.name, err: (err as Error).message }, 'model server did not answer in time');
    });
    return 'started';
  }

  /**
   * Gets the model server going without waiting for it: nothing to do when the API answers; a
   * process of ours still inside its start timeout is left to finish; one of ours that stopped
   * answering is restarted; a missing command throws {@link ModelServerMissingError}; a port held
   * by someone else's process throws {@link ModelServerPortTakenError}. `beforeStart` runs just
   * before a process is stopped or started (where the restart budget is spent) and may throw.
   */
  async ensureStarted(beforeStart: () => void = () => undefined): Promise<{ action: StartAction; pid?: number }> {
    if ((await this.probe(500)).ok) {
      return { action: 'already-answering', ...(this.supervisor.running ? { pid: this.supervisor.running.pid } : {}) };
    }
    const running = this.supervisor.running;
    if (running && Date.now() - running.startedAt < this.settings.startTimeout)
      return { action: 'starting', pid: running.pid };
    if (!this.commandAvailable()) throw new ModelServerMissingError(this.settings.command);
    // Our own process is no holder to fear: it is stopped below.
    const holder = portHolders(this.port).find((h) => !this.registry.provenOwn(h));
    if (holder) throw new ModelServerPortTakenError(this.port, describeProcess(holder));
    beforeStart();
    let action: StartAction = 'started';
    if (running) {
      await this.supervisor.stop();
      action = 'restarted';
    }
    const identity: ProcessIdentity = this.supervisor.start({}, { port: this.port });
    return { action, pid: identity.pid };
  }

  /**
   * Polls `/api/version` until it answers; throws after `timeoutMs`, or
   * {@link ModelServerExitedError} when the process `pid` (by default the one running now) exits first.
   */
  async waitForApi(
    timeoutMs: number,
    onTick: (last: string) => void = () => undefined,
    signal?: AbortSignal,
    pid = this.supervisor.running?.pid,
  ): Promise<{ version: string; readyAt: number }> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      const probe = await this.probe(Math.min(1000, Math.max(100, deadline - Date.now())));
      if (probe.ok) return { version: probe.version, readyAt: Date.now() };
      last = `${probe.code}: ${probe.message}`;
      if (pid !== undefined && this.supervisor.running?.pid !== pid) {
        const exit = this.supervisor.lastExit;
        const how =
          exit?.pid === pid
            ? `${this.name} exited (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code ?? 'unknown'}`})`
            : `${this.name} (pid ${pid}) was replaced`;
        throw new ModelServerExitedError(pid, how, last, this.supervisor.spec.outputFile);
      }
      onTick(last);
      await sleep(50, undefined, signal ? { signal } : undefined);
    }
    throw new Error(`the model server's API did not answer within ${timeoutMs} ms (${last})`);
  }

  async stop(): Promise<void> {
    await this.supervisor.stop();
  }
}
