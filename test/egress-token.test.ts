import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RemoteApi } from '../examples/remote-api/remote-api.mjs';
import { decideRoute, type EgressCall } from '../lib/egress/routing.js';
import { EGRESS_TOKEN_HEADER } from '../lib/egress/transport.js';
import { tempDir, testConfig } from './helpers/fixture.js';
import { remoteApi, startProxy, writeSecret } from './helpers/outside.js';

const tmp = tempDir();
const KEY = 'key-held-by-guardian-4d8e';
let api: RemoteApi;

before(async () => {
  api = await remoteApi({ keys: [KEY] });
});
after(async () => {
  await api.stop();
  tmp.cleanup();
});

async function proxyIn(name: string) {
  const dir = join(tmp.dir, name);
  const config = testConfig(dir, {
    egress: { endpoints: [{ name: 'api', url: api.url, credential: 'api-key', timeouts: ['2s'] }] },
    credentials: [{ name: 'api-key', token: { file: writeSecret(dir, 'api.key', KEY) } }],
  });
  const logFile = join(dir, 'proxy.log');
  return { ...(await startProxy(config, logFile)), logFile, dir };
}

/** A raw HTTP request on loopback, as any local process could send it. */
function call(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('egress proxy token', () => {
  it('refuses a request without the token with 403 and a log line, before anything goes upstream', async () => {
    const p = await proxyIn('refuse');
    try {
      const calls = api.stats.calls;
      const missing = await call(`${p.proxy.url}/api/quote`);
      const wrong = await call(`${p.proxy.url}/api/quote`, { [EGRESS_TOKEN_HEADER]: 'guessed-token' });
      assert.equal(missing.status, 403);
      assert.equal(wrong.status, 403);
      assert.match(missing.body, /GUARDIAN_EGRESS_TOKEN/);
      assert.ok(!missing.body.includes(KEY) && !wrong.body.includes(KEY));
      assert.equal(api.stats.calls, calls, 'nothing reached the remote API');
      assert.match(readFileSync(p.logFile, 'utf8'), /egress proxy refused a request without the service token/);
    } finally {
      await p.stop();
    }
  });

  it('forwards a request carrying the token, with the credential it holds', async () => {
    const p = await proxyIn('forward');
    try {
      const reply = await call(`${p.proxy.url}/api/quote`, p.proxy.authHeaders);
      assert.equal(reply.status, 200, reply.body);
      assert.equal(api.stats.authFailures, 0, 'the key was attached');
    } finally {
      await p.stop();
    }
  });

  it('does not serve cached authenticated replies to a caller without the token', async () => {
    const p = await proxyIn('cache');
    try {
      assert.equal((await call(`${p.proxy.url}/api/quote`, p.proxy.authHeaders)).status, 200);
      p.proxy.setOffline(true);
      const cached = await call(`${p.proxy.url}/api/quote`, p.proxy.authHeaders);
      assert.equal(cached.status, 200, 'the service gets the cached reply while offline');
      const stranger = await call(`${p.proxy.url}/api/quote`);
      assert.equal(stranger.status, 403);
      assert.ok(!stranger.body.includes(cached.body), 'a stranger gets none of it');
    } finally {
      await p.stop();
    }
  });

  it('keeps the token across a restart, so a service that outlived Guardian keeps working', async () => {
    const first = await proxyIn('restart');
    const token = first.proxy.serviceToken;
    await first.stop();
    const second = await proxyIn('restart');
    try {
      assert.equal(second.proxy.serviceToken, token);
      assert.ok(token.length >= 40, 'a long random token');
    } finally {
      await second.stop();
    }
  });
});

describe('egress routing decision', () => {
  const endpoint = {
    name: 'api',
    url: 'http://127.0.0.1:1/v1',
    backup: 'http://127.0.0.1:2/v1',
    timeouts: [3000, 1000],
    failureThreshold: 3,
    retryInterval: 60_000,
    probePath: '/',
    queueWrites: true,
  };
  const closed = { circuit: 'closed' as const, timeoutMs: 3000, disabled: false, disabledReason: null };
  const get: EgressCall = {
    method: 'GET',
    path: '/q?x=1',
    body: undefined,
    contentType: undefined,
    accept: undefined,
    authorization: undefined,
    offline: false,
  };
  const post: EgressCall = { ...get, method: 'POST', body: Buffer.from('{}') };
  const state = { guardianOffline: false, route: closed, credentialExpired: false };

  it('goes to the primary with the enforced timeout, or the backup while the circuit is open', () => {
    assert.deepEqual(decideRoute(endpoint, get, state), {
      kind: 'forward',
      target: 'primary',
      url: 'http://127.0.0.1:1/v1/q?x=1',
      timeoutMs: 3000,
    });
    const open = decideRoute(endpoint, get, { ...state, route: { ...closed, circuit: 'open' } });
    assert.deepEqual(open, { kind: 'forward', target: 'backup', url: 'http://127.0.0.1:2/v1/q?x=1', timeoutMs: 3000 });
  });

  it('serves reads from the cache and queues writes while Guardian is offline', () => {
    assert.equal(decideRoute(endpoint, get, { ...state, guardianOffline: true }).kind, 'cache');
    assert.equal(decideRoute(endpoint, post, { ...state, guardianOffline: true }).kind, 'queue');
    assert.equal(
      decideRoute(endpoint, { ...post, offline: true }, state).kind,
      'reply',
      "only Guardian's offline queues",
    );
  });
});
