import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { type NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { LogTail } from '../detectors/log-tail.js';
import { AlertDeliverer } from '../lib/alert-deliverer.js';
import type { Detector } from '../detectors/types.js';
import { BackupKeeper } from '../lib/backup-keeper.js';
import type { GuardianConfig } from '../lib/config/load.js';
import { isListening, startDevServer } from '../lib/dev-server.js';
import type { EgressProxy } from '../lib/egress/proxy.js';
import { withFaultHook } from '../lib/fault-hook.js';
import { Ledger } from '../lib/ledger.js';
import { GuardianMetrics } from '../lib/metrics.js';
import { type MetricsEndpoint, startMetricsEndpoint } from '../lib/metrics-server.js';
import { listOverrides } from '../lib/overrides.js';
import type { RetentionKeeper } from '../lib/retention-keeper.js';
import type { DatabaseScrub } from '../lib/scrub.js';
import { workflowBundle } from '../lib/workflow-bundle.js';
import { guardianWarmUp } from '../workflows/index.js';
import { createLogger, type Logger } from '../lib/logger.js';
import type { NetworkProber } from '../lib/network-probe.js';
import type { GuardedService } from '../lib/guarded-service.js';
import type { ModelServer } from '../lib/model-server.js';
import type { ProcessRegistry } from '../lib/process-registry.js';
import type { ServiceControl } from '../lib/service-control.js';
import type { Supervisor } from '../lib/supervisor.js';
import { secureStateDir } from '../lib/state-db.js';
import {
  connectClient,
  connectWorker,
  DEV_SERVER_ADDRESS,
  type TemporalSettings,
  temporalSettings,
} from '../lib/temporal.js';
import { createDetectors } from './modes.js';
import { createLifecycle } from './lifecycle.js';
import { startOutside } from './outside.js';
import { IncidentStarter } from './incident-starter.js';
import { startStateKeeping } from './state-keeping.js';
import { QuietGate } from './quiet-gate.js';

/** Options of {@link startGuardian}. */
export interface GuardianOptions {
  config: GuardianConfig;
  settings?: TemporalSettings;
  logger?: Logger;
  /** Start the dev server when no TEMPORAL_ADDRESS is set and nothing answers on 127.0.0.1:7233. @default true */
  ensureDevServer?: boolean;
  /** Start and supervise the service declared in guardian.yaml. @default true */
  superviseService?: boolean;
  /** Run detectors. @default true */
  detect?: boolean;
  /** A prebuilt workflow bundle (tests share one). */
  workflowBundle?: { code: string };
}

/** A running Guardian: worker, detectors, supervisor, backups. */
export interface GuardianRuntime {
  readonly config: GuardianConfig;
  readonly client: Client;
  readonly ledger: Ledger;
  readonly starter: IncidentStarter;
  readonly supervisor?: Supervisor;
  readonly control?: ServiceControl;
  /** The guarded service: its port, restarts, boot chunks (the supervisor and control above are its parts). */
  readonly service?: GuardedService;
  /** The supervised model server, when guardian.yaml declares one. */
  readonly modelServer?: ModelServer;
  /** The process and port registry. */
  readonly registry: ProcessRegistry;
  readonly backups: BackupKeeper;
  /** Delivers the ledger's alert outbox to the webhook. */
  readonly alertDeliverer: AlertDeliverer;
  /** Retention of Guardian's own state. */
  readonly retention: RetentionKeeper;
  /** The background scrub of the guarded databases, when it runs. */
  readonly scrub?: DatabaseScrub;
  /** The egress proxy, when guardian.yaml declares egress endpoints. */
  readonly egress?: EgressProxy;
  /** The network probes, when guardian.yaml declares some. */
  readonly prober?: NetworkProber;
  readonly logger: Logger;
  /** The Prometheus endpoint, unless `metrics.enabled` is false. */
  readonly metrics?: MetricsEndpoint;
  /** Resolves when the worker stops. */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

/** Starts Guardian in this process: one Worker on the host's task queue plus everything around it. */
export async function startGuardian(options: GuardianOptions): Promise<GuardianRuntime> {
  const { config } = options;
  const logger = options.logger ?? createLogger();
  const settings = options.settings ?? temporalSettings();
  if (options.ensureDevServer !== false && !settings.explicit && settings.address === DEV_SERVER_ADDRESS) {
    if (!(await isListening('127.0.0.1', 7233))) {
      logger.info('no Temporal server on 127.0.0.1:7233; starting the dev server with temporal-dev.sh');
      await startDevServer((line) => logger.info(line));
    }
  }
  quietSdkLogs(logger);
  const client = await connectClient(settings);
  const connection: NativeConnection = await connectWorker(settings);
  // Cached authenticated replies, queued bodies, config versions: owner-only from the first file on.
  secureStateDir(config.stateDir);
  const ledger = new Ledger(join(config.stateDir, 'ledger.db'));
  const alertDeliverer = new AlertDeliverer(ledger.alerts, config.alerts.webhook, logger);
  alertDeliverer.start();
  const outside = await startOutside(config, logger);

  // The service and the model server: started, or re-adopted from an earlier Guardian (workers/lifecycle.ts).
  const lifecycle = createLifecycle(config, logger);
  lifecycle.deps.service?.setEnv(outside.env);
  const supervisor = lifecycle.deps.service?.supervisor;
  const control = lifecycle.deps.service?.control;
  if (options.superviseService !== false) await lifecycle.up();

  const starter = new IncidentStarter(client, config, logger, { quiet: new QuietGate(ledger, config, logger) });
  const worker = await Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue: config.taskQueue,
    workflowBundle: options.workflowBundle ?? (await workflowBundle()),
    // The fault hook is inert unless the fault-matrix runner arms it through the environment.
    activities: withFaultHook(
      createActivities({
        config,
        ledger,
        logger,
        ...(control ? { control } : {}),
        ...lifecycle.deps,
        ...outside.deps,
      }),
    ),
  });
  const done = worker.run();
  await warmUp(client, config.taskQueue, config.host, logger);

  const metrics = new GuardianMetrics({
    ledger,
    overrides: () => listOverrides(config, async () => control?.health(1000)),
  });
  const endpoint = config.metrics.enabled
    ? await startMetricsEndpoint(metrics, config.metrics, config.stateDir, logger)
    : undefined;

  const backups = new BackupKeeper(config.databases, config.stateDir, logger);
  backups.start();
  const keeping = startStateKeeping(config, ledger, logger, { detect: options.detect !== false });
  const { retention, scrub } = keeping;
  const report = keeping.reportThrough((finding) => void starter.report(finding));
  const detectors: Detector[] = [];
  const tails: LogTail[] = [];
  if (options.detect !== false) {
    const log = config.service?.log ? new LogTail(config.service.log) : undefined;
    if (log) {
      await log.start();
      tails.push(log);
    }
    detectors.push(
      ...createDetectors({
        config,
        logger,
        ledger,
        ...(log ? { log } : {}),
        ...(supervisor ? { supervisor } : {}),
        ...(control ? { control } : {}),
        ...lifecycle.deps,
        ...outside.deps,
      }),
    );
    if (scrub) detectors.push(scrub);
    for (const detector of detectors) {
      await detector.start((finding) => {
        metrics.observeFinding(finding);
        report(finding);
      });
    }
  }
  logger.info(
    {
      taskQueue: config.taskQueue,
      detectors: detectors.map((d) => d.name),
      address: settings.address,
      ...(endpoint ? { metrics: endpoint.url } : {}),
    },
    'guardian up',
  );

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      for (const detector of detectors) await detector.stop();
      for (const tail of tails) tail.stop();
      backups.stop();
      await endpoint?.stop();
      keeping.stop();
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done.catch(() => undefined);
      await lifecycle.stop();
      await outside.stop();
      await connection.close();
      await client.connection.close();
      await alertDeliverer.stop();
      ledger.close();
    })());
  return {
    config,
    client,
    ledger,
    starter,
    backups,
    alertDeliverer,
    retention,
    logger,
    done,
    stop,
    ...(supervisor ? { supervisor } : {}),
    ...(control ? { control } : {}),
    ...(endpoint ? { metrics: endpoint } : {}),
    ...(scrub ? { scrub } : {}),
    ...lifecycle.deps,
    ...outside.deps,
  };
}

/** Runs the warm-up workflow (bounded: a slow server only delays the first incident, never start-up). */
async function warmUp(client: Client, taskQueue: string, host: string, logger: Logger): Promise<void> {
  try {
    await client.workflow.execute(guardianWarmUp, {
      taskQueue,
      workflowId: `guardian-warm-up:${host}:${process.pid}`,
      workflowExecutionTimeout: '10s',
    });
  } catch (err) {
    logger.warn({ err }, 'warm-up workflow did not complete; the first incident may start slower');
  }
}

let sdkLoggerInstalled = false;

/** Routes the Temporal SDK's own logs into Guardian's logger, warnings and up only. */
function quietSdkLogs(logger: Logger): void {
  if (sdkLoggerInstalled) return;
  sdkLoggerInstalled = true;
  const forward = (level: 'warn' | 'error') => (message: string, meta?: Record<string, unknown>) =>
    logger[level]({ sdk: meta }, message);
  const ignore = () => undefined;
  try {
    Runtime.install({
      logger: {
        log: ignore,
        trace: ignore,
        debug: ignore,
        info: ignore,
        warn: forward('warn'),
        error: forward('error'),
      },
    });
  } catch {
    // A runtime was installed already (tests install their own): keep it.
  }
}
