// /ai/complete: asks the local model server (Ollama's HTTP API) and degrades the way
// the contract describes: a cached answer for a prompt seen before, else a rule-based one.

/** How long boot's model-warmup waits for /api/version. */
const PING_TIMEOUT_MS = 1500;

/**
 * @param {{ ollamaHost: string, runtime: import('./settings.mjs').Runtime,
 *   caches: import('./caches.mjs').Caches, limiter: import('./caches.mjs').Limiter,
 *   config: import('./config.mjs').ConfigStore, logger: import('./logger.mjs').Logger }} deps
 */
export function createAi({ ollamaHost, runtime, caches, limiter, config, logger }) {
  let lastModelErrorAt = 0;

  /** Logs a failed model call at most once a second: a dead server must not flood the log. */
  function logModelError(err, model) {
    const now = Date.now();
    if (now - lastModelErrorAt < 1000) return;
    lastModelErrorAt = now;
    logger.warn('model.error', describeFetchError(err), { host: ollamaHost, model, code: errorCode(err) });
  }

  /** POST /api/generate, non-streaming; throws on transport errors, timeouts and non-2xx. */
  async function generate(model, prompt, timeoutMs) {
    const res = await fetch(`${ollamaHost}/api/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt, stream: false }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = /** @type {any} */ (await res.json().catch(() => ({})));
    if (!res.ok)
      throw Object.assign(new Error(`model server answered ${res.status}: ${body.error ?? ''}`.trim()), {
        code: `HTTP_${res.status}`,
      });
    if (typeof body.response !== 'string')
      throw Object.assign(new Error('model server reply has no "response"'), { code: 'BAD_REPLY' });
    return body.response;
  }

  return {
    /** @param {string} prompt */
    async complete(prompt) {
      const { model, timeoutMs } = config.current.ai;
      const key = `${model}\u0000${prompt}`;
      if (!runtime.isEnabled('ai')) return degrade(key, prompt, 'feature-disabled');
      const started = Date.now();
      try {
        const response = await limiter.run(() => generate(model, prompt, timeoutMs));
        caches.ai.set(key, response, Buffer.byteLength(response) + Buffer.byteLength(key));
        return { response, model, cached: false, fallback: false, durationMs: Date.now() - started };
      } catch (err) {
        logModelError(err, model);
        return degrade(key, prompt, 'model-unavailable');
      }
    },
    /** model-warmup: proves the model server answers; throws (chunk failed, degraded) if not. */
    async ping(/** @type {AbortSignal} */ signal) {
      const res = await fetch(`${ollamaHost}/api/version`, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(PING_TIMEOUT_MS)]),
      }).catch((err) => {
        throw new Error(`model server ${ollamaHost} unreachable: ${describeFetchError(err)}`);
      });
      if (!res.ok) throw new Error(`model server ${ollamaHost} answered ${res.status}`);
      return /** @type {{ version?: string }} */ (await res.json());
    },
  };

  /** A cached answer if this prompt was answered before, else the rule-based one. */
  function degrade(key, prompt, reason) {
    const cached = caches.ai.get(key);
    if (typeof cached === 'string') return { response: cached, cached: true, fallback: false, reason };
    return { response: ruleBasedAnswer(prompt), cached: false, fallback: true, reason };
  }
}

/** A few fixed rules: enough to keep the feature useful while the model is away. */
export function ruleBasedAnswer(prompt) {
  const p = prompt.toLowerCase();
  if (/\b(hi|hello|hey)\b/.test(p))
    return 'Hello! The language model is unavailable right now; this is a rule-based reply.';
  if (/\btime\b/.test(p)) return `The current time is ${new Date().toISOString()}.`;
  if (/\b(status|health)\b/.test(p))
    return 'Grace is running in a degraded mode: AI answers come from fixed rules for now.';
  return 'The language model is unavailable right now. Please try again shortly.';
}

/** The code that says why a fetch failed (ECONNREFUSED, TimeoutError, HTTP_404 …). */
export function errorCode(err) {
  const e = /** @type {any} */ (err);
  if (e?.name === 'TimeoutError') return 'ETIMEDOUT';
  if (typeof e?.cause?.code === 'string') return e.cause.code;
  return typeof e?.code === 'string' ? e.code : (e?.name ?? 'UNKNOWN');
}

/** Readable cause: undici hides the socket error under `cause`. */
export function describeFetchError(err) {
  const e = /** @type {any} */ (err);
  if (e?.name === 'TimeoutError') return 'timed out';
  return e?.cause?.message ?? e?.message ?? String(err);
}
