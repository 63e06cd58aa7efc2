// The stand-in's model registry: which models exist ("pulled"), which are loaded, and
// the memory each loaded one holds, with Ollama's keep_alive rules for unloading.

const MB = 1048576;
/** What /api/tags and /api/ps report as a model's size when no memory is really held. */
const NOMINAL_SIZE = 1_321_098_329;
/** Ollama keeps a model loaded this long after its last request unless told otherwise. */
export const DEFAULT_KEEP_ALIVE_MS = 5 * 60 * 1000;

/** Ollama's default tag: `llama3.2` means `llama3.2:latest`. */
export function normaliseName(name) {
  return name.includes(':') ? name : `${name}:latest`;
}

/**
 * Parses keep_alive the ways Ollama accepts it: a duration string ("5m", "30s", "1h"),
 * a number of seconds, or a negative value for "forever". Returns milliseconds.
 */
export function parseKeepAlive(value) {
  if (value === undefined || value === null || value === '') return DEFAULT_KEEP_ALIVE_MS;
  if (typeof value === 'number') return value < 0 ? Infinity : value * 1000;
  const match = /^(-?\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(value).trim());
  if (!match) throw new Error(`time: invalid duration "${value}"`);
  const n = Number(match[1]);
  if (n < 0) return Infinity;
  const unit = { ms: 1, s: 1000, m: 60000, h: 3600000 }[match[2] ?? 's'] ?? 1000;
  return n * unit;
}

/** A fake but stable digest, so repeated /api/tags calls agree. */
function digestOf(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h.toString(16).padStart(8, '0').repeat(8);
}

function details(name) {
  const size = /:(\d+(?:\.\d+)?b)$/i.exec(name)?.[1]?.toUpperCase() ?? '3.2B';
  return {
    parent_model: '',
    format: 'gguf',
    family: name.split(/[.:]/)[0],
    families: [name.split(/[.:]/)[0]],
    parameter_size: size,
    quantization_level: 'Q4_K_M',
  };
}

/**
 * @param {{ models: string[], modelMb: number, log: (msg: string) => void }} options
 */
export function createModelStore({ models, modelMb, log }) {
  const available = new Set(models.map(normaliseName));
  /** @type {Map<string, { memory: Buffer | null, expiresAt: number }>} */
  const loaded = new Map();
  const modifiedAt = new Date().toISOString();

  const sizeOf = () => (modelMb > 0 ? modelMb * MB : NOMINAL_SIZE);

  return {
    has: (name) => available.has(normaliseName(name)),
    isLoaded: (name) => loaded.has(normaliseName(name)),
    /** Loads (holding STANDIN_MODEL_MB of memory) or refreshes the expiry; returns load time in ms. */
    load(name, keepAliveMs) {
      const key = normaliseName(name);
      const started = Date.now();
      const existing = loaded.get(key);
      // Filled, not just reserved, so the memory shows up in RSS like real weights would.
      const memory = existing ? existing.memory : modelMb > 0 ? Buffer.alloc(modelMb * MB, 1) : null;
      loaded.set(key, { memory, expiresAt: started + keepAliveMs });
      if (!existing) log(`loaded model ${key} (${modelMb} MB held)`);
      return Date.now() - started;
    },
    unload(name) {
      const key = normaliseName(name);
      if (!loaded.delete(key)) return false;
      log(`unloaded model ${key}`);
      // Buffers are freed by the garbage collector; nudge it when node runs with --expose-gc.
      /** @type {any} */ (globalThis).gc?.();
      return true;
    },
    /** Unloads models whose keep_alive ran out. */
    sweep() {
      const now = Date.now();
      for (const [key, entry] of loaded) if (entry.expiresAt <= now) this.unload(key);
    },
    tags() {
      return [...available].map((name) => ({
        name,
        model: name,
        modified_at: modifiedAt,
        size: NOMINAL_SIZE,
        digest: digestOf(name),
        details: details(name),
      }));
    },
    ps() {
      return [...loaded].map(([name, entry]) => ({
        name,
        model: name,
        size: sizeOf(),
        digest: digestOf(name),
        details: details(name),
        expires_at: Number.isFinite(entry.expiresAt) ? new Date(entry.expiresAt).toISOString() : '2318-01-01T00:00:00Z',
        // The stand-in runs "on CPU": nothing sits in video memory.
        size_vram: 0,
      }));
    },
  };
}
