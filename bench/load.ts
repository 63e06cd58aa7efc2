// Steady load for benchmarks, from processes of their own so that a stall in Guardian shows as
// latency instead of delaying the load itself: an upstream HTTP server, and a client that calls
// through the egress proxy at a fixed rate and reports each call's latency from its scheduled time.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const UPSTREAM = `
const http = require('node:http');
const server = http.createServer((req, res) => { res.setHeader('content-type', 'application/json'); res.end('{"ok":true}'); });
server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;

const CLIENT = `
const [url, rate, headers] = [process.argv[1], Number(process.argv[2]), JSON.parse(process.argv[3] || '{}')];
const every = 1000 / rate;
const start = performance.now();
let n = 0;
function next() {
  const scheduled = start + n * every;
  n++;
  setTimeout(() => {
    const sentAt = Date.now();
    fetch(url, { headers, signal: AbortSignal.timeout(10000) })
      .then((r) => r.arrayBuffer().then(() => r.status))
      .catch(() => 0)
      .then((status) => {
        // Latency from when the call was due, so a late send counts too.
        const ms = performance.now() - scheduled;
        process.stdout.write(JSON.stringify({ at: sentAt, ms, status }) + '\\n');
      });
    next();
  }, Math.max(0, scheduled - performance.now()));
}
next();`;

/** One call through the proxy: when it was sent, how long from its due time to its answer. */
export interface CallSample {
  at: number;
  ms: number;
  status: number;
}

/** A process of the load. */
export interface LoadProcess {
  stop(): void;
}

/** Starts an upstream that answers every request at once; resolves with its URL. */
export async function startUpstream(): Promise<LoadProcess & { url: string }> {
  const child = spawn(process.execPath, ['-e', UPSTREAM], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    createInterface({ input: child.stdout }).once('line', resolve);
  });
  return { url: `http://127.0.0.1:${port.trim()}`, stop: () => stopChild(child) };
}

/** Calls `url` `rate` times a second from its own process, with `headers`; samples accumulate in `samples`. */
export function startCallLoad(
  url: string,
  rate: number,
  headers: Record<string, string> = {},
): LoadProcess & { samples: CallSample[] } {
  const child = spawn(process.execPath, ['-e', CLIENT, url, String(rate), JSON.stringify(headers)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const samples: CallSample[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => samples.push(JSON.parse(line) as CallSample));
  return { samples, stop: () => stopChild(child) };
}

function stopChild(child: ChildProcess): void {
  if (child.exitCode === null) child.kill('SIGTERM');
}

/** Samples the event loop's lateness every 10 ms; each sample is when it was taken and how late. */
export function watchEventLoop(): { samples: { at: number; lagMs: number }[]; stop(): void } {
  const samples: { at: number; lagMs: number }[] = [];
  let expected = performance.now() + 10;
  const timer = setInterval(() => {
    const now = performance.now();
    samples.push({ at: Date.now(), lagMs: Math.max(0, now - expected) });
    expected = now + 10;
  }, 10);
  return { samples, stop: () => clearInterval(timer) };
}
