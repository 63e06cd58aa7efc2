// Routes that let a drill push Grace into trouble on purpose: hold memory, write
// snapshots (disk use), exit or throw, and report memory.
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HttpError } from './errors.mjs';
import { logWriteError } from './logger.mjs';
import { healthBody } from './guardian-routes.mjs';

const MB = 1048576;
/** In low-memory mode, larger allocations are refused (docs/contract.md). */
const LOW_MEMORY_MAX_MB = 16;

/**
 * Refuses or fails an allocation the way the out-of-memory detector expects to read it.
 * @param {import('./app.mjs').App} app @param {string} reason @param {number} mb
 */
function memoryError(app, reason, mb) {
  app.logger.error('memory.error', `MemoryError: ${reason}`, { requestedMb: mb, rssBytes: process.memoryUsage.rss() });
  return { status: 507, body: { ok: false, refused: true, error: `MemoryError: ${reason}` } };
}

/**
 * @param {ReturnType<import('./http.mjs').createRouter>} router
 * @param {import('./app.mjs').App} app
 */
export function addDebugRoutes(router, app) {
  const { caches, runtime, config, dbs, settings, logger } = app;

  router.add('POST', '/debug/allocate', async ({ json }) => {
    const { mb } = await json();
    if (!Number.isInteger(mb) || mb < 1 || mb > 65536) throw new HttpError(400, '"mb" must be an integer 1..65536');
    if (runtime.lowMemory && mb > LOW_MEMORY_MAX_MB) {
      return memoryError(
        app,
        `low-memory mode refuses allocations over ${LOW_MEMORY_MAX_MB} MB (asked for ${mb} MB)`,
        mb,
      );
    }
    const budgetMb = config.current.limits.memoryBudgetMb;
    if (caches.ballastBytes() / MB + mb > budgetMb) {
      return memoryError(app, `cache budget of ${budgetMb} MB exceeded (asked for ${mb} MB more)`, mb);
    }
    try {
      // Filled, so the pages are really touched and RSS grows. Pieces of 40 MB or more: past glibc's
      // largest mmap threshold (32 MB), each is its own mapping, so freeing it gives RSS back at once;
      // smaller pieces may come from the heap, whose freed middle stays in RSS after the next GC.
      // Each piece is held at once and the event loop turns between pieces, so a large allocation
      // neither hides from a clear-caches nor stops the health route from answering.
      const count = Math.max(1, Math.floor(mb / 40));
      for (let i = 0; i < count; i++) {
        const size = Math.floor(mb / count) + (i < mb % count ? 1 : 0);
        caches.holdBallast(Buffer.alloc(size * MB, (i % 251) + 1));
        if (i + 1 < count) await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (err) {
      return memoryError(app, `allocation of ${mb} MB failed: ${err instanceof Error ? err.message : err}`, mb);
    }
    return {
      body: { ok: true, allocatedMb: mb, ballastBytes: caches.ballastBytes(), rssBytes: process.memoryUsage.rss() },
    };
  });

  // Gives back what /debug/allocate holds (a drill's cleanup when no heal did it).
  router.add('POST', '/debug/release', () => {
    const freedBytes = caches.releaseBallast();
    globalThis.gc?.(); // with --expose-gc (the demo's guardian.yaml sets it): RSS drops now, not at some later GC
    return { body: { ok: true, freedBytes, rssBytes: process.memoryUsage.rss() } };
  });

  // Crashes on purpose, after the reply is out: the service-down drill's exit and exception variants.
  router.add('POST', '/debug/exit', async ({ json }) => {
    const { code = 1 } = await json();
    if (!Number.isInteger(code) || code < 0 || code > 255) throw new HttpError(400, '"code" must be an integer 0..255');
    setTimeout(() => process.exit(code), 5);
    return { status: 202, body: { ok: true, exiting: code } };
  });

  router.add('POST', '/debug/throw', () => {
    setTimeout(() => {
      throw new Error('debug: an uncaught exception thrown on purpose');
    }, 5);
    return { status: 202, body: { ok: true, throwing: true } };
  });

  router.add('GET', '/debug/memory', () => {
    const mem = process.memoryUsage();
    return {
      body: {
        rssBytes: mem.rss,
        heapUsedBytes: mem.heapUsed,
        externalBytes: mem.external,
        cacheBytes: caches.totalBytes(),
        ballastBytes: caches.ballastBytes(),
        lowMemory: runtime.lowMemory,
      },
    };
  });

  router.add('POST', '/debug/snapshot', () => {
    if (!runtime.isEnabled('snapshots')) return { status: 503, body: { ok: false, disabled: true } };
    const ts = Date.now();
    let entities = [];
    try {
      entities = dbs.use('world_model', (db) =>
        db.prepare('SELECT id, name, data FROM entities ORDER BY id LIMIT 2000').all(),
      );
    } catch {
      // A snapshot without the world model is still worth having.
    }
    const file = path.join(settings.dirs.snapshots, `snapshot-${ts}.json`);
    // Written under tmp/ and renamed, so a full disk never leaves half a snapshot behind.
    const partial = path.join(settings.dirs.tmp, `snapshot-${ts}.json.partial`);
    try {
      writeFileSync(partial, JSON.stringify({ ts, health: healthBody(app), entities }));
      renameSync(partial, file);
    } catch (err) {
      rmSync(partial, { force: true });
      const e = /** @type {NodeJS.ErrnoException} */ (err);
      if (!logWriteError(logger, e, file)) throw err;
      return { status: 507, body: { ok: false, error: e.message, code: e.code } };
    }
    logger.info('snapshot.written', `snapshot ${path.basename(file)}`, { path: file });
    return { status: 201, body: { ok: true, path: file } };
  });
}
