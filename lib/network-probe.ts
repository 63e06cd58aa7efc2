import { execFile } from 'node:child_process';
import { promises as dns } from 'node:dns';
import { connect } from 'node:net';
import type { NetworkSettings } from './config/outside.js';

/** One probe's answer. */
export interface ProbeResult {
  /** `dns:example.com`, `tcp:1.1.1.1:443`, `icmp:8.8.8.8`. */
  readonly target: string;
  readonly ok: boolean;
  readonly ms: number;
  readonly error?: string;
}

/** One round of probes: up when any probe answered. */
export interface ProbeRound {
  readonly up: boolean;
  readonly at: number;
  readonly results: readonly ProbeResult[];
}

/** The probes of guardian.yaml's `network.probes`, runnable as rounds. */
export interface NetworkProber {
  /** How many probes a round runs (0: nothing configured). */
  readonly size: number;
  round(): Promise<ProbeRound>;
}

/**
 * Builds the prober: DNS lookups of the configured names through the configured resolver, TCP
 * connects to the configured targets, and pings only where the system `ping` runs without extra
 * privileges (checked once). Each probe has its own short timeout; a round runs them in parallel.
 */
export function createNetworkProber(settings: NetworkSettings['probes']): NetworkProber {
  const timeoutMs = settings.timeout;
  const resolver = new dns.Resolver({ timeout: timeoutMs, tries: 1 });
  if (settings.dns.resolver) resolver.setServers([settings.dns.resolver]);
  let pingUsable: Promise<boolean> | undefined;
  const probes: (() => Promise<ProbeResult>)[] = [
    ...settings.dns.names.map(
      (name) => () => timed(`dns:${name}`, timeoutMs, () => resolver.resolve4(name).then(() => undefined)),
    ),
    ...settings.tcp.map((target) => () => timed(`tcp:${target}`, timeoutMs, () => tcpConnect(target, timeoutMs))),
    ...settings.icmp.map((host) => async () => {
      pingUsable ??= canPing();
      if (!(await pingUsable))
        return { target: `icmp:${host}`, ok: false, ms: 0, error: 'ping needs privileges here; skipped' };
      return timed(`icmp:${host}`, timeoutMs + 500, () => ping(host, timeoutMs));
    }),
  ];
  return {
    size: probes.length,
    async round() {
      const at = Date.now();
      const results = await Promise.all(probes.map((probe) => probe()));
      // Skipped pings do not count either way.
      const counted = results.filter((r) => !r.error?.endsWith('skipped'));
      return { up: counted.some((r) => r.ok), at, results };
    },
  };
}

async function timed(target: string, timeoutMs: number, run: () => Promise<void>): Promise<ProbeResult> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      run(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' })), timeoutMs);
      }),
    ]);
    return { target, ok: true, ms: Date.now() - started };
  } catch (err) {
    const code = (err as { code?: string }).code ?? (err as Error).message;
    return { target, ok: false, ms: Date.now() - started, error: code };
  } finally {
    if (timer) clearTimeout(timer);
  }
}

function tcpConnect(target: string, timeoutMs: number): Promise<void> {
  const match = /^\[?([^\]]+)\]?:(\d+)$/.exec(target);
  if (!match) return Promise.reject(new Error(`not host:port: ${target}`));
  return new Promise((resolve, reject) => {
    const socket = connect({ host: match[1], port: Number(match[2]), timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' }));
    });
    socket.once('error', (err) => {
      socket.destroy();
      reject(err);
    });
  });
}

function ping(host: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      'ping',
      ['-n', '-c', '1', '-W', String(Math.max(1, Math.ceil(timeoutMs / 1000))), host],
      { timeout: timeoutMs + 500 },
      (err) => (err ? reject(Object.assign(new Error('no reply'), { code: 'EPING' })) : resolve()),
    );
  });
}

/** True when `ping` works for this user (unprivileged ICMP sockets or a setuid binary). */
function canPing(): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('ping', ['-n', '-c', '1', '-W', '1', '127.0.0.1'], { timeout: 2000 }, (err) => resolve(!err));
  });
}
