// Runs the remote-API stand-in for the demo: a primary on REMOTE_API_PORT (9400), a backup on
// the next port, DNS on REMOTE_API_DNS_PORT (9453). Keys are read from (or, when missing,
// written to) REMOTE_API_SECRETS (.guardian/secrets), the files guardian.yaml's credentials name.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startRemoteApi } from './remote-api.mjs';

const port = Number(process.env.REMOTE_API_PORT ?? 9400);
const dnsPort = Number(process.env.REMOTE_API_DNS_PORT ?? 9453);
const secrets = path.resolve(process.env.REMOTE_API_SECRETS ?? '.guardian/secrets');

/** Reads a key file, creating it with a random value (mode 0600) when missing. */
function key(name) {
  const file = path.join(secrets, name);
  if (!existsSync(file)) {
    mkdirSync(secrets, { recursive: true, mode: 0o700 });
    writeFileSync(file, `${name.replace(/\W/g, '-')}-${randomBytes(12).toString('hex')}\n`, { mode: 0o600 });
  }
  return readFileSync(file, 'utf8').trim();
}

const keys = ['quotes.key', 'quotes.backup.key', 'news.key', 'weather.access'].map(key);
const refresh = key('weather.refresh');
const primary = await startRemoteApi({ port, dnsPort, keys, refreshTokens: [refresh], jwt: true });
const backup = await startRemoteApi({ port: port + 1, keys, role: 'backup' });
console.log(JSON.stringify({ primary: primary.url, backup: backup.url, dns: `127.0.0.1:${primary.dnsPort}`, secrets }));

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    await Promise.all([primary.stop(), backup.stop()]);
    process.exit(0);
  });
}
