#!/usr/bin/env node
// Grace: the demo local-first AI service Guardian guards. It implements the whole
// guarded-service contract in docs/contract.md. Run: node examples/grace/server.mjs
import { createHttpServer, createRouter } from './lib/http.mjs';
import { createLogger } from './lib/logger.mjs';
import { createRuntime, ensureHomeDirs, readSettings } from './lib/settings.mjs';

/** Linux's errno for EADDRINUSE; Guardian's port-in-use detector also reads this exit code. */
const EXIT_ADDRESS_IN_USE = 98;
/** A setting Grace cannot use (non-loopback HOST, bad PORT …). */
const EXIT_BAD_SETTINGS = 2;

/** Before the logger exists, a startup problem can only go to stderr, still as JSON. */
function failStartup(err) {
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(JSON.stringify({ ts: Date.now(), level: 'error', event: 'startup.error', msg }) + '\n');
  process.exit(EXIT_BAD_SETTINGS);
}

async function main() {
  let settings;
  try {
    settings = readSettings();
    ensureHomeDirs(settings);
  } catch (err) {
    return failStartup(err);
  }
  const logger = createLogger({ file: settings.logFile, echo: settings.logToStdout });
  const runtime = createRuntime(settings);

  // Until the rest of Grace has loaded, only health answers (status "booting").
  const early = createRouter();
  early.add('GET', '/guardian/health', () => ({
    status: 200,
    body: { status: 'booting', pid: process.pid, port: runtime.boundPort, bootMs: null, config: { ok: true } },
  }));
  const server = createHttpServer({ router: early, logger });

  // Bind first: health answers during boot, and a taken port is known before any work is done.
  const bound = await new Promise((resolve) => {
    server.once('error', (err) => {
      const e = /** @type {NodeJS.ErrnoException} */ (err);
      logger.error('bind.error', e.message, { code: e.code, port: settings.port, host: settings.host });
      logger.close();
      process.exit(e.code === 'EADDRINUSE' ? EXIT_ADDRESS_IN_USE : 1);
    });
    server.listen(settings.port, settings.host, () => resolve(server.address()));
  });
  runtime.boundPort = typeof bound === 'object' && bound ? bound.port : settings.port;
  logger.info('listening', `listening on ${settings.host}:${runtime.boundPort}`, {
    port: runtime.boundPort,
    host: settings.host,
    pid: process.pid,
  });
  server.on('error', (err) => logger.error('server.error', err.message));

  /** @type {import('./lib/app.mjs').App | null} */
  let app = null;
  let stopping = false;
  /** Closes everything synchronously, so SIGTERM ends well inside Guardian's 2 s. */
  function shutdown(code, reason) {
    if (stopping) return;
    stopping = true;
    logger.info('shutdown', `stopping: ${reason}`, { code });
    app?.background.stop();
    server.close();
    server.closeAllConnections();
    app?.dbs.closeAll();
    logger.close();
    process.exit(code);
  }
  process.on('SIGTERM', () => shutdown(0, 'SIGTERM'));
  process.on('SIGINT', () => shutdown(0, 'SIGINT'));
  process.on('unhandledRejection', (err) => {
    logger.error('process.error', `unhandled rejection: ${err instanceof Error ? err.message : String(err)}`);
  });
  process.on('uncaughtException', (err) => {
    // State is unknown after this; exit and let Guardian's supervisor restart Grace.
    logger.error('process.error', `uncaught exception: ${err.message}`, { stack: err.stack });
    shutdown(1, 'uncaught exception');
  });

  // SQLite and YAML load after the port is bound: they are most of the start-up time.
  const [{ createApp }, { BootError }, { addAppRoutes }, { addDebugRoutes }, { addGuardianRoutes }] = await Promise.all(
    [
      import('./lib/app.mjs'),
      import('./lib/boot.mjs'),
      import('./lib/routes.mjs'),
      import('./lib/debug-routes.mjs'),
      import('./lib/guardian-routes.mjs'),
    ],
  );
  app = createApp(settings, logger, runtime);
  const router = createRouter();
  addGuardianRoutes(router, app);
  addAppRoutes(router, app);
  addDebugRoutes(router, app);
  server.setRouter(router);

  try {
    const summary = await app.boot.run();
    runtime.booting = false;
    runtime.bootMs = summary.durationMs;
  } catch (err) {
    logger.error('boot.failed', err instanceof Error ? err.message : String(err));
    shutdown(err instanceof BootError ? 1 : 70, 'boot failed');
  }
}

await main();
