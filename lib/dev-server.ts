import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

/** Path of temporal-dev.sh at the project root. */
export const TEMPORAL_DEV_SCRIPT = fileURLToPath(new URL('../temporal-dev.sh', import.meta.url));

/** True when something accepts TCP connections on host:port within the timeout. */
export function isListening(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Starts the embedded dev server through temporal-dev.sh (installing the CLI when missing). */
export async function startDevServer(onOutput: (line: string) => void = () => undefined): Promise<void> {
  const child = execa('bash', [TEMPORAL_DEV_SCRIPT, 'start'], { reject: false, all: true });
  child.all?.on('data', (chunk: Buffer) => chunk.toString().split('\n').filter(Boolean).forEach(onOutput));
  const result = await child;
  if (result.exitCode !== 0)
    throw new Error(`temporal-dev.sh start failed (exit ${result.exitCode}): ${String(result.all).slice(-800)}`);
}
