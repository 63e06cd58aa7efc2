import { loadConfig } from '../../lib/config/load.js';
import { acquireStateDirLock } from '../../lib/pid-lock.js';
import { createLogger, logFormat } from '../../lib/logger.js';
import { startGuardian } from '../../workers/guardian.js';

/** `guardian up`: runs Guardian in the foreground until SIGINT/SIGTERM; refuses when one already runs on its state directory. */
export async function up(options: { config: string; service: boolean; logFormat?: string }): Promise<number> {
  const config = loadConfig(options.config);
  // One Guardian per state directory: two would adopt the same service and share one ledger.
  const release = acquireStateDirLock(config.stateDir);
  try {
    return await runUntilStopped(config, options);
  } finally {
    release();
  }
}

async function runUntilStopped(
  config: ReturnType<typeof loadConfig>,
  options: { service: boolean; logFormat?: string },
): Promise<number> {
  const logger = createLogger('guardian', logFormat(options.logFormat));
  const runtime = await startGuardian({ config, superviseService: options.service, logger });
  const port = runtime.service?.port ?? config.service?.port.preferred;
  const model = runtime.modelServer;
  process.stderr.write(
    [
      `Guardian is up on task queue ${config.taskQueue} (config ${config.file}).`,
      `  Temporal UI:  http://127.0.0.1:8233/namespaces/default/workflows?query=GuardianHost%3D%22${encodeURIComponent(config.host)}%22`,
      ...(runtime.supervisor?.running
        ? [`  Service:      ${config.service?.name} pid ${runtime.supervisor.running.pid} on http://127.0.0.1:${port}`]
        : []),
      ...(model
        ? [
            `  Model server: ${model.name} ${model.supervisor.running ? `pid ${model.supervisor.running.pid}` : '(not started by Guardian)'} at ${model.url}`,
          ]
        : []),
      `  Databases:    ${config.databases.map((d) => d.name).join(', ') || '(none)'}`,
      ...(runtime.metrics ? [`  Metrics:      ${runtime.metrics.url}`] : []),
      '  Stop with Ctrl-C.',
      '',
    ].join('\n'),
  );
  const stop = () => void runtime.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await runtime.done;
  await runtime.stop();
  return 0;
}
