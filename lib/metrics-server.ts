import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { MetricsSettings } from './config/operators.js';
import type { Logger } from './logger.js';
import type { GuardianMetrics } from './metrics.js';
import { createPrivateFile } from './state-db.js';

/** The running endpoint. */
export interface MetricsEndpoint {
  /** `http://127.0.0.1:<port>/metrics` */
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Serves `GET /metrics` (Prometheus text format) on loopback. A configured port that is taken
 * (another Guardian, a drill) gives way to a free one, with a warning; the URL in use is written
 * to `stateDir/metrics.json` either way.
 */
export async function startMetricsEndpoint(
  metrics: GuardianMetrics,
  settings: MetricsSettings,
  stateDir: string,
  logger: Logger,
): Promise<MetricsEndpoint> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    metrics.text().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (err: unknown) => {
        logger.warn({ err }, 'metrics collection failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${String(err)}\n`);
      },
    );
  });
  let port: number;
  try {
    port = await listen(server, settings.port, settings.host);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    port = await listen(server, 0, settings.host);
    logger.warn(
      { configured: settings.port, port },
      `metrics port ${settings.port} is taken; serving /metrics on ${port} instead (metrics.port in guardian.yaml)`,
    );
  }
  const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
  const url = `http://${host}:${port}/metrics`;
  createPrivateFile(join(stateDir, 'metrics.json'));
  writeFileSync(join(stateDir, 'metrics.json'), `${JSON.stringify({ url, pid: process.pid })}\n`);
  return {
    url,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.removeListener('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
