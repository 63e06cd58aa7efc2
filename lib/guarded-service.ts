import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { GuardianConfig } from './config/load.js';
import { type BootReport, fetchBootReport } from './boot-report.js';
import { PortBusyError } from './errors.js';
import { OomWatch } from './exit-evidence.js';
import type { Logger } from './logger.js';
import { LowMemoryStarts } from './low-memory-starts.js';
import { confineMemory } from './memory-cgroup.js';
import { isPortFree } from './ports.js';
import type { ProcessRegistry, RegisteredProcess } from './process-registry.js';
import { type RestartLimits, type RestartUnit, RestartBudget, restartLimitsOf } from './restart-budget.js';
import { answersAs, controlToken, runsConfiguredService, type ServiceSettings } from './service-adoption.js';
import { ServiceControl } from './service-control.js';
import { type PortReclaim, intendedPort, reclaimPreferredPort } from './service-port.js';
import { serviceStartEnv } from './service-start-env.js';
import { type ProcessIdentity, stopVerifiedProcess, Supervisor } from './supervisor.js';

export type { BootReport } from './boot-report.js';

/** How {@link GuardedService.up} found or started the service. */
export type UpOutcome = 'adopted' | 'started' | 'port-busy' | 'held';

/**
 * The guarded service as Guardian runs it: which port it gets (the port registry), a bind probe
 * before every start, re-adoption of a service an earlier Guardian started, restarts on another
 * port, and the boot chunks it is told to skip. Emits `port-busy` when a start found its port
 * taken (the port-in-use detector listens).
 */
export class GuardedService extends EventEmitter<{ 'port-busy': [port: number, at: number] }> implements RestartUnit {
  readonly supervisor: Supervisor;
  readonly control: ServiceControl;
  readonly settings: ServiceSettings;
  /** Restarts after crashes and the hold after a crash loop (supervision.db, so they survive a restart). */
  readonly restarts: RestartBudget;
  /** Whether its starts go in low-memory mode after an OOM kill (supervision.db, so they survive a restart). */
  readonly lowMemoryStarts: LowMemoryStarts;
  /** Tells an OOM kill from any other end of the process. */
  readonly oom = new OomWatch();
  private wantedUp = false;
  private answeredPid: number | undefined;
  private livePort: number | undefined;
  private attemptedPort: number | undefined;
  private busy: { port: number; at: number } | undefined;
  private readonly envOverrides: Record<string, string> = {};
  private readonly candidate: RegisteredProcess | undefined;

  constructor(
    private readonly config: GuardianConfig & { service: ServiceSettings },
    private readonly registry: ProcessRegistry,
    private readonly logger: Logger,
  ) {
    super();
    this.settings = config.service;
    this.restarts = new RestartBudget(registry.db);
    this.lowMemoryStarts = new LowMemoryStarts(registry.db);
    this.supervisor = new Supervisor(
      {
        name: this.settings.name,
        command: this.settings.command,
        args: this.settings.args,
        cwd: this.settings.cwd ?? config.baseDir,
        env: { ...this.settings.env },
        outputFile: join(config.stateDir, 'logs', `${this.settings.name}.out`),
        stopTimeoutMs: this.settings.stopTimeout,
      },
      logger,
      { registry },
    );
    // The newest registered process of this service that still runs (proven from /proc).
    this.candidate = registry.sweep(this.name)[0];
    this.control = new ServiceControl({
      port: () => this.livePort,
      token: controlToken(this.candidate),
      controlPath: this.settings.controlPath,
      healthPath: this.settings.health.path,
      timeoutMs: this.settings.health.timeout,
      onHealth: (health) => {
        if (typeof health.pid === 'number') this.answeredPid = health.pid;
      },
    });
  }

  /** True once the process `pid` has answered a health request since it started. */
  answered(pid: number): boolean {
    return this.answeredPid === pid;
  }

  /** The service's name in guardian.yaml. */
  get name(): string {
    return this.settings.name;
  }

  /** The port the service listens on now (or last did). Control hooks follow it. */
  get port(): number | undefined {
    return this.livePort;
  }

  /** True while Guardian means the service to run: after a start, until {@link stop}. */
  get wanted(): boolean {
    return this.wantedUp;
  }

  /** guardian.yaml's `service.restart`, as the restart budget reads it. */
  get restartLimits(): RestartLimits {
    return restartLimitsOf(this.settings.restart);
  }

  /** The port the last start tried to bind. */
  get lastAttemptedPort(): number {
    return this.attemptedPort ?? this.intendedPort();
  }

  /** Set while the last start found its port taken and started nothing. */
  get blockedPort(): { port: number; at: number } | undefined {
    return this.busy;
  }

  /**
   * Why the service is down because of its port, while it is: Guardian means it to run, it does
   * not, and its last start found the port taken or it exited 98 (EADDRINUSE). Else `undefined`.
   */
  get downForItsPort(): string | undefined {
    if (!this.wantedUp || this.supervisor.running) return undefined;
    if (this.busy) return `${this.name} is still down: port ${this.busy.port} was taken at its last start`;
    const exit = this.supervisor.lastExit;
    return exit?.code === 98 && !exit.signal
      ? `${this.name} is still down: it exited 98 (EADDRINUSE) and was not started again`
      : undefined;
  }

  /** The port a start uses: the registry's assignment when it lies in the configured range, else the preferred one. */
  intendedPort(): number {
    return intendedPort(this.registry, this.settings);
  }

  /**
   * A service moved off its preferred port goes back to it once it is free: the registry's
   * assignment is forgotten and the client files get the preferred port again. Called before a
   * fresh start (and by `guardian clear port-in-use`); returns the move, or why there was none.
   */
  reclaimPreferredPort(): Promise<PortReclaim> {
    return reclaimPreferredPort(this.registry, this.settings, this.logger);
  }

  /** Extra environment for the next starts (e.g. OFFLINE_MODE); `undefined` removes a variable. */
  setEnv(values: Record<string, string | undefined>): void {
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) delete this.envOverrides[key];
      else this.envOverrides[key] = value;
    }
  }

  /**
   * Brings the service up: re-adopts the one an earlier Guardian started when it still runs the
   * configured command and answers, else stops that one (it is provably ours) and starts anew.
   */
  async up(): Promise<UpOutcome> {
    const entry = this.candidate;
    if (entry && !this.supervisor.running) {
      if (runsConfiguredService(entry, this.settings) && this.supervisor.adopt(entry)) {
        this.livePort = entry.port ?? undefined;
        if (await answersAs(this.control, entry.pid, 3000)) {
          this.logger.info({ service: this.name, pid: entry.pid, port: entry.port }, 're-adopted the running service');
          return 'adopted';
        }
        await this.supervisor.stop();
      } else {
        // Ours, but started with another command or port range: one instance only.
        await stopVerifiedProcess(entry, this.settings.stopTimeout);
        this.registry.recordEnd(entry.id);
      }
    }
    const held = this.restarts.held(this.name);
    if (held) {
      this.wantedUp = true; // once resumed, the service-down detector brings it up
      this.logger.warn(
        { service: this.name, since: held.since, reason: held.reason },
        `not starting ${this.name}: its restarts are held after a crash loop; run: guardian resume service-down ${this.name}`,
      );
      return 'held';
    }
    try {
      await this.reclaimPreferredPort();
      await this.startOn(this.intendedPort());
      return 'started';
    } catch (err) {
      if (err instanceof PortBusyError) return 'port-busy';
      throw err;
    }
  }

  /**
   * Starts the service on `port` after a bind probe; throws {@link PortBusyError} (and emits
   * `port-busy`) when the port is taken. A no-op when it already runs there.
   */
  async startOn(port: number, options: { probe?: boolean } = {}): Promise<ProcessIdentity> {
    const running = this.supervisor.running;
    if (running && this.livePort === port) return running;
    if (running) await this.supervisor.stop();
    this.wantedUp = true;
    this.attemptedPort = port;
    if (options.probe !== false && !(await isPortFree(port, this.settings.env.HOST ?? '127.0.0.1'))) {
      const at = Date.now();
      this.busy = { port, at };
      this.logger.warn({ service: this.name, port }, 'the service port is taken; not starting');
      this.emit('port-busy', port, at);
      throw new PortBusyError(port);
    }
    this.busy = undefined;
    this.livePort = port;
    const identity = this.supervisor.start(this.startEnv(port), { port });
    this.confine(identity.pid);
    return identity;
  }

  /** Stops the service (if running) and starts it on `port`. */
  async restartOn(port: number): Promise<ProcessIdentity> {
    await this.supervisor.stop();
    return this.startOn(port);
  }

  /** Stops the service; it stays down until the next start. */
  async stop(): Promise<void> {
    this.wantedUp = false;
    await this.supervisor.stop();
  }

  /** Applies `service.memoryLimit` (a cgroup of the service's own) and notes the OOM-kill count to compare at exit. */
  private confine(pid: number): void {
    const limit = this.settings.memoryLimit;
    if (limit === undefined) return this.oom.track(pid);
    const confined = confineMemory(pid, this.name, limit);
    if ('reason' in confined) {
      this.logger.warn({ service: this.name, limit }, `service.memoryLimit not applied: ${confined.reason}`);
      return this.oom.track(pid);
    }
    this.oom.track(pid, confined.cgroup);
  }

  /** GET /guardian/boot: the boot chunks and their states. */
  bootReport(timeoutMs = 2000): Promise<BootReport> {
    return fetchBootReport(this.name, this.livePort, timeoutMs);
  }

  private startEnv(port: number): Record<string, string> {
    return serviceStartEnv({
      settings: this.settings,
      bootOverrides: this.registry.bootOverrides(this.name),
      modelUrl: this.config.modelServer?.url,
      extra: { ...this.envOverrides, ...this.lowMemoryStarts.env(this.name) },
      port,
      token: this.control.token,
    });
  }
}
