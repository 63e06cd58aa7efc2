import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { drillConfig } from '../../drills/config.js';
import { freePortRange } from '../../lib/ports.js';
import type { GuardianConfig } from '../../lib/config/load.js';
import type { FaultPlan } from '../../lib/fault-hook.js';
import { MODES, type Mode } from '../../workflows/definitions.js';
import { Agent } from './agent-client.js';

/** How long a healed incident stays open in the matrix (a case waits for it to close). */
const ROLLBACK_WINDOW_MS = 1000;

/**
 * One mode's isolated world: its own state directory, host (so task queue and workflow IDs),
 * demo service home and fault file, and the agent process currently running its Guardian.
 */
export class ModeEnvironment {
  agent: Agent | undefined;
  /** Agents killed by a fault: their process groups still hold what their drill started. */
  private readonly dead: Agent[] = [];
  private configured: GuardianConfig | undefined;

  private constructor(
    readonly mode: Mode,
    readonly root: string,
    readonly base: GuardianConfig,
  ) {}

  /** The fault plan file the agents' hook reads. */
  get faultFile(): string {
    return join(this.root, 'faults.json');
  }

  /** The config the running agent's Guardian uses (after the drill configured it). */
  get config(): GuardianConfig {
    return this.configured ?? this.base;
  }

  /** Builds the mode's config: the drill config on a state directory of its own, with a secondary storage for trash. */
  static async create(mode: Mode, root: string, configFile: string): Promise<ModeEnvironment> {
    const modeRoot = join(root, mode);
    rmSync(modeRoot, { recursive: true, force: true });
    mkdirSync(modeRoot, { recursive: true });
    const config = await drillConfig(configFile, { stateDir: join(modeRoot, 'drill'), hostSuffix: `chaos-${mode}` });
    const base: GuardianConfig = {
      ...(await ownPorts(mode, config)),
      incidents: { ...config.incidents, rollbackWindow: ROLLBACK_WINDOW_MS },
      ...(config.disk ? { disk: { ...config.disk, secondary: join(modeRoot, 'secondary') } } : {}),
    };
    return new ModeEnvironment(mode, modeRoot, base);
  }

  /** Arms the hook (an empty plan traces calls and injects nothing); clears the trace and firings. */
  arm(plan: FaultPlan): void {
    writeFileSync(this.faultFile, JSON.stringify(plan));
    rmSync(`${this.faultFile}.fired`, { force: true });
    rmSync(`${this.faultFile}.trace`, { force: true });
  }

  /** Lines of a hook file (`trace` or `fired`), parsed. */
  hookLines<T>(kind: 'trace' | 'fired'): T[] {
    try {
      return readFileSync(`${this.faultFile}.${kind}`, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as T);
    } catch {
      return [];
    }
  }

  /** A running agent: the current one, or a fresh environment. */
  async ensure(options: { alertsDown?: boolean } = {}): Promise<Agent> {
    if (this.agent && !this.agent.ended) return this.agent;
    mkdirSync(this.base.stateDir, { recursive: true });
    const base = options.alertsDown ? await withRefusedWebhook(this.base) : this.base;
    const started = await Agent.start(this.mode, base, { faultFile: this.faultFile, fresh: true });
    this.agent = started.agent;
    this.configured = started.config;
    return started.agent;
  }

  /** After a crash: a new agent on the same state, which picks the incident up where it stopped. */
  async recover(): Promise<Agent> {
    if (this.agent) this.dead.push(this.agent);
    const started = await Agent.start(this.mode, this.base, {
      faultFile: this.faultFile,
      fresh: false,
      ...(this.configured ? { configured: this.configured } : {}),
    });
    this.agent = started.agent;
    return started.agent;
  }

  /** Stops everything this mode started and removes its state, so the next case starts clean. */
  async reset(): Promise<void> {
    await this.agent?.stop().catch(() => undefined);
    for (const agent of [...this.dead, ...(this.agent ? [this.agent] : [])]) killGroup(agent.pid);
    this.dead.length = 0;
    this.agent = undefined;
    const home = this.config.service?.env.GRACE_HOME;
    if (home && isMountPoint(home)) execFileSync('umount', ['-l', home], { stdio: 'pipe' });
    rmSync(join(this.root, 'drill'), { recursive: true, force: true });
    rmSync(join(this.root, 'secondary'), { recursive: true, force: true });
    this.configured = undefined;
  }
}

/**
 * Ports of a mode's own: the service's range, the model server, and the remote-API stand-in (which
 * guardian.yaml puts on 9400 and 9401, its OAuth token endpoint included), so modes run side by side
 * and beside other drills.
 */
/** Ports handed to a mode in this run: free when checked is not enough, as the mode starts its service later. */
const claimed = new Set<number>();

async function ownPorts(mode: Mode, config: GuardianConfig): Promise<GuardianConfig> {
  const ports = new Map<string, number>();
  // Each mode searches its own block, so modes created one after another never pick the same port.
  let next = 18000 + MODES.indexOf(mode) * 60;
  const claim = async (count: number): Promise<number> => {
    for (;;) {
      const found = await freePortRange(count, next);
      next = found + count;
      const range = Array.from({ length: count }, (_, i) => found + i);
      if (range.some((p) => claimed.has(p))) continue;
      for (const p of range) claimed.add(p);
      return found;
    }
  };
  const start = await claim(20);
  const modelPort = await claim(1);
  const move = async (url: string | undefined): Promise<string | undefined> => {
    if (!url) return url;
    const parsed = new URL(url);
    let port = ports.get(parsed.port);
    if (port === undefined) {
      port = await claim(1);
      ports.set(parsed.port, port);
    }
    parsed.port = String(port);
    return parsed.toString();
  };
  const endpoints = [];
  for (const e of config.egress.endpoints) {
    const backup = await move(e.backup);
    endpoints.push({ ...e, url: (await move(e.url)) ?? e.url, ...(backup ? { backup } : {}) });
  }
  // The OAuth token endpoint is served by the same stand-in, so it moves with the endpoint URLs.
  const credentials = [];
  for (const c of config.credentials) {
    const tokenUrl = c.oauth ? await move(c.oauth.tokenUrl) : undefined;
    credentials.push(c.oauth && tokenUrl ? { ...c, oauth: { ...c.oauth, tokenUrl } } : c);
  }
  return {
    ...config,
    credentials,
    egress: { ...config.egress, endpoints },
    ...(config.service
      ? { service: { ...config.service, port: { preferred: start, range: [start, start + 19] } } }
      : {}),
    ...(config.modelServer ? { modelServer: { ...config.modelServer, url: `http://127.0.0.1:${modelPort}` } } : {}),
  };
}

function killGroup(pgid: number): void {
  if (pgid <= 0) return;
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // Nothing left in it.
  }
}

function isMountPoint(path: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1] === path);
}

/** The config with alerts posted to a loopback port nothing listens on (every delivery is refused). */
async function withRefusedWebhook(config: GuardianConfig): Promise<GuardianConfig> {
  const server = createServer();
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 9);
    }),
  );
  await new Promise((resolve) => server.close(resolve));
  return { ...config, alerts: { ...config.alerts, webhook: `http://127.0.0.1:${port}/alerts` } };
}
