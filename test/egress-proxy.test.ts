import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeJwt, type RemoteApi } from '../examples/remote-api/remote-api.mjs';
import type { CallEvent } from '../lib/egress/proxy.js';
import { EgressStore } from '../lib/egress/store.js';
import { tempDir, testConfig } from './helpers/fixture.js';
import { remoteApi, startProxy, writeSecret } from './helpers/outside.js';

const tmp = tempDir();
const KEY = 'key-primary-9f3c1e';
const BACKUP = 'key-backup-77aa02';
let primary: RemoteApi;
let backup: RemoteApi;

before(async () => {
  primary = await remoteApi({ keys: [KEY] });
  backup = await remoteApi({ keys: [KEY, BACKUP], role: 'backup' });
});
after(async () => {
  await primary.stop();
  await backup.stop();
  tmp.cleanup();
});

/** A proxy with its own state dir: endpoint `api` (with backup), `solo` (no backup), `open` (no credential). */
async function proxyFor(name: string, extra: { jwt?: string } = {}) {
  const dir = join(tmp.dir, name);
  const keyFile = writeSecret(dir, 'api.key', extra.jwt ?? KEY);
  const config = testConfig(dir, {
    egress: {
      endpoints: [
        {
          name: 'api',
          url: primary.url,
          backup: backup.url,
          credential: 'api-key',
          timeouts: ['300ms', '200ms', '100ms'],
        },
        { name: 'solo', url: primary.url, credential: 'api-key', timeouts: ['300ms'] },
        { name: 'open', url: primary.url, timeouts: ['300ms'] },
      ],
    },
    credentials: [
      { name: 'api-key', token: { file: keyFile }, backup: { env: 'GUARDIAN_TEST_BACKUP_KEY' }, expirySkew: 0 },
    ],
  });
  process.env.GUARDIAN_TEST_BACKUP_KEY = BACKUP;
  const logFile = join(dir, 'proxy.log');
  const started = await startProxy(config, logFile);
  const events: CallEvent[] = [];
  started.proxy.on('call', (e) => events.push(e));
  const get = async (path: string, init?: RequestInit) => {
    const res = await fetch(`${started.proxy.url}${path}`, {
      ...init,
      headers: { ...(init?.headers as Record<string, string> | undefined), ...started.proxy.authHeaders },
    });
    return {
      status: res.status,
      stale: res.headers.get('x-guardian-stale'),
      route: res.headers.get('x-guardian-route'),
      body: (await res.json()) as Record<string, unknown>,
    };
  };
  return { ...started, config, dir, keyFile, logFile, events, get };
}

describe('egress proxy', () => {
  it('forwards a call with the credential it holds, and caches the good reply', async () => {
    const p = await proxyFor('forward');
    try {
      primary.set({ delayMs: 0, status: null, keys: [KEY] });
      const reply = await p.get('/api/quote?symbol=X');
      assert.equal(reply.status, 200);
      assert.equal(reply.route, 'primary');
      assert.deepEqual(reply.body.query, { symbol: 'X' });
      assert.ok(p.store.cached('api', '/quote?symbol=X'));
    } finally {
      await p.stop();
    }
  });

  it('counts timeouts toward the breaker and reports the third in a row; 401 neither trips nor resets it', async () => {
    const p = await proxyFor('breaker');
    try {
      primary.set({ delayMs: 2000, status: null, keys: [KEY] });
      assert.equal((await p.get('/api/a')).status, 504);
      assert.equal((await p.get('/api/a')).status, 504);
      primary.set({ delayMs: 0, keys: ['another'], refuseStatus: 403 });
      assert.equal((await p.get('/api/a')).status, 403);
      primary.set({ delayMs: 2000, keys: [KEY], refuseStatus: 401 });
      assert.equal((await p.get('/api/a')).status, 504);
      const failures = p.events.filter((e) => e.outcome === 'failure');
      assert.deepEqual(
        failures.map((e) => e.consecutiveFailures),
        [1, 2, 3],
      );
      assert.equal(p.events.find((e) => e.outcome === 'auth')?.consecutiveFailures, 2, 'the 403 kept the count');
      assert.match(failures[2]?.detail ?? '', /timeout after 300 ms/);
    } finally {
      primary.set({ delayMs: 0, keys: [KEY] });
      await p.stop();
    }
  });

  it('sends traffic to the backup while the circuit is open, and serves the last good reply marked stale when there is none', async () => {
    const p = await proxyFor('open-circuit');
    try {
      primary.set({ delayMs: 0, status: null, keys: [KEY] });
      await p.get('/solo/quote');
      const calls = primary.stats.calls;
      primary.set({ delayMs: 5000 });
      p.proxy.setCircuit('api', 'open', 200);
      p.proxy.setCircuit('solo', 'open', 200);
      const viaBackup = await p.get('/api/quote');
      assert.equal(viaBackup.route, 'backup');
      assert.equal(viaBackup.body.role, 'backup');
      const stale = await p.get('/solo/quote');
      assert.equal(stale.status, 200);
      assert.match(stale.stale ?? '', /^circuit-open; age=\d+ms$/);
      assert.equal((await p.get('/solo/never-cached')).status, 503);
      assert.equal(primary.stats.calls, calls, 'the primary saw no call while the circuit was open');
    } finally {
      primary.set({ delayMs: 0 });
      await p.stop();
    }
  });

  it('while offline, answers GETs from the cache and queues writes, then sends them in order, each once', async () => {
    const p = await proxyFor('offline');
    try {
      primary.set({ delayMs: 0, status: null, keys: [KEY] });
      await p.get('/api/news');
      p.proxy.setOffline(true);
      const callsBefore = primary.stats.calls;
      const cached = await p.get('/api/news');
      assert.match(cached.stale ?? '', /^offline/);
      const ids: unknown[] = [];
      for (const n of [1, 2, 3]) {
        const queued = await p.get('/api/orders', {
          method: 'POST',
          body: JSON.stringify({ n }),
          headers: { 'content-type': 'application/json' },
        });
        assert.equal(queued.status, 202);
        ids.push(queued.body.id);
      }
      assert.equal(primary.stats.calls, callsBefore, 'nothing left while offline');
      p.proxy.setOffline(false);
      const receivedBefore = primary.received.length;
      const first = await p.proxy.drainOutbox();
      assert.deepEqual(first.order, ids);
      assert.equal(first.sent, 3);
      const second = await p.proxy.drainOutbox();
      assert.equal(second.sent, 0, 'a second drain sends nothing again');
      assert.deepEqual(
        primary.received.slice(receivedBefore).map((r) => JSON.parse(r.body).n),
        [1, 2, 3],
      );
    } finally {
      await p.stop();
    }
  });

  it("honours a call the service marks offline without queueing it: only Guardian's own offline mode has a drain", async () => {
    const p = await proxyFor('service-offline');
    try {
      primary.set({ delayMs: 0, status: null, keys: [KEY] });
      await p.get('/api/news');
      const calls = primary.stats.calls;
      const offline = { 'x-guardian-offline': 'true' };
      assert.match((await p.get('/api/news', { headers: offline })).stale ?? '', /^offline/);
      const write = await p.get('/api/orders', {
        method: 'POST',
        body: '{}',
        headers: { ...offline, 'content-type': 'application/json' },
      });
      assert.equal(write.status, 503);
      assert.equal(p.store.outbox.list().length, 0);
      assert.equal(primary.stats.calls, calls, 'nothing left the machine');
    } finally {
      await p.stop();
    }
  });

  it('keeps a queued call when the endpoint refuses the connection, and never resends one that may have arrived', async () => {
    const p = await proxyFor('at-most-once');
    try {
      p.proxy.setOffline(true);
      await p.get('/api/orders', { method: 'POST', body: '{"n":1}', headers: { 'content-type': 'application/json' } });
      await p.get('/api/orders', { method: 'POST', body: '{"n":2}', headers: { 'content-type': 'application/json' } });
      p.proxy.setOffline(false);
      await primary.stop();
      const refused = await p.proxy.drainOutbox();
      assert.deepEqual({ sent: refused.sent, pending: refused.pending }, { sent: 0, pending: 2 });
      await primary.start();
      // A Guardian that died after it claimed a call: that call may have left, so it is never sent
      // again, and the next drain counts it as unknown.
      const earlier = new EgressStore(p.store.path);
      earlier.outbox.claimNext('an-earlier-guardian');
      earlier.close();
      const after = await p.proxy.drainOutbox();
      assert.deepEqual(
        { sent: after.sent, unknown: after.unknown, pending: after.pending },
        { sent: 1, unknown: 1, pending: 0 },
      );
      assert.deepEqual(
        p.store.outbox.list().map((e) => e.state),
        ['unknown', 'sent'],
      );
    } finally {
      if (!primary.listening) await primary.start();
      await p.stop();
    }
  });

  it('keeps offline mode, circuit states and the outbox across a restart of the proxy', async () => {
    const p = await proxyFor('restart');
    p.proxy.setOffline(true);
    p.proxy.setCircuit('solo', 'open', 100);
    await p.get('/api/orders', { method: 'POST', body: '{"n":9}', headers: { 'content-type': 'application/json' } });
    await p.stop();
    const again = await startProxy(p.config);
    try {
      assert.equal(again.proxy.offline, true);
      assert.equal(again.proxy.route('solo').circuit, 'open');
      assert.equal(again.proxy.route('solo').timeoutMs, 100);
      assert.equal(again.store.outbox.list(['pending']).length, 1);
    } finally {
      await again.stop();
    }
  });

  it('does not send a JWT past its exp: answers 401 itself and reports it', async () => {
    const p = await proxyFor('expired', { jwt: makeJwt({ sub: 'x', exp: Math.floor(Date.now() / 1000) - 60 }) });
    try {
      const callsBefore = primary.stats.calls;
      const reply = await p.get('/api/quote');
      assert.equal(reply.status, 401);
      assert.equal(reply.body.error, 'credential expired');
      assert.equal(primary.stats.calls, callsBefore);
      assert.equal(p.events[0]?.outcome, 'auth');
    } finally {
      await p.stop();
    }
  });

  it('switches to the backup key, and serves only cached replies while an endpoint is disabled', async () => {
    const p = await proxyFor('keys');
    try {
      primary.set({ delayMs: 0, status: null, keys: [BACKUP] });
      assert.equal((await p.get('/api/q')).status, 401);
      assert.equal(p.proxy.credentials.use('api-key', 'backup'), 'primary');
      assert.equal((await p.get('/api/q')).status, 200);
      p.proxy.setDisabled('api', true, 'authentication required');
      const calls = primary.stats.calls;
      const cached = await p.get('/api/q');
      assert.match(cached.stale ?? '', /^auth-required/);
      assert.equal((await p.get('/api/other')).body.reason, 'authentication required');
      assert.equal(primary.stats.calls, calls);
    } finally {
      primary.set({ keys: [KEY] });
      await p.stop();
    }
  });

  it('refreshes an OAuth token at most once per window, and never writes a secret to its log', async () => {
    const refresh = 'refresh-7d1f0c2b';
    primary.addRefreshToken(refresh);
    const dir = join(tmp.dir, 'oauth');
    const config = testConfig(dir, {
      egress: { endpoints: [{ name: 'api', url: primary.url, credential: 'oauth', timeouts: ['1s'] }] },
      credentials: [
        {
          name: 'oauth',
          token: { file: writeSecret(dir, 'access', 'stale-access-token') },
          oauth: {
            tokenUrl: `${primary.url}/oauth/token`,
            clientId: 'guardian',
            refreshToken: { file: writeSecret(dir, 'refresh', refresh) },
          },
          refreshBackoff: '1h',
        },
      ],
    });
    const logFile = join(dir, 'proxy.log');
    writeFileSync(logFile, '');
    const p = await startProxy(config, logFile);
    try {
      primary.set({ keys: [KEY] });
      const grants = primary.stats.tokenGrants;
      const first = await p.proxy.credentials.refresh('oauth');
      assert.equal(first.refreshed, true);
      const second = await p.proxy.credentials.refresh('oauth');
      assert.deepEqual(
        { refreshed: second.refreshed, reason: second.reason },
        { refreshed: false, reason: 'recently-refreshed' },
      );
      assert.equal(primary.stats.tokenGrants, grants + 1);
      const res = await fetch(`${p.proxy.url}/api/q`, { headers: p.proxy.authHeaders });
      assert.equal(res.status, 200, 'the refreshed token is accepted');
      const log = readFileSync(logFile, 'utf8');
      for (const secret of [refresh, 'stale-access-token', ...(primary.behaviour.keys ?? [])])
        assert.ok(!log.includes(secret));
    } finally {
      await p.stop();
    }
  });
});
