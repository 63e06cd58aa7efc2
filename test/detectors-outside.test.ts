import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeJwt } from '../examples/remote-api/remote-api.mjs';
import { createApiTimeoutDetector } from '../detectors/api-timeout.js';
import { createInvalidCredentialsDetector } from '../detectors/invalid-credentials.js';
import { LogTail } from '../detectors/log-tail.js';
import { createNetworkUnreachableDetector } from '../detectors/network-unreachable.js';
import type { Finding } from '../detectors/types.js';
import { jwtExpiry } from '../lib/egress/credentials.js';
import type { CallEvent } from '../lib/egress/proxy.js';
import { createNetworkProber } from '../lib/network-probe.js';
import { tempDir } from './helpers/fixture.js';
import { remoteApi, until } from './helpers/outside.js';

const tmp = tempDir();
after(() => tmp.cleanup());

const event = (over: Partial<CallEvent>): CallEvent => ({
  endpoint: 'quotes',
  at: Date.now(),
  outcome: 'failure',
  detail: 'timeout after 300 ms',
  consecutiveFailures: 1,
  threshold: 3,
  ...over,
});

describe('network-unreachable detector', () => {
  it('reports once after two failed rounds of DNS and TCP probes against a resolver and a target it stops, and again only after a good round', async () => {
    const world = await remoteApi({ dnsPort: 0 });
    const prober = createNetworkProber({
      interval: 100,
      timeout: 200,
      failedRounds: 2,
      dns: { resolver: `127.0.0.1:${world.dnsPort}`, names: ['api.remote.test'] },
      tcp: [`127.0.0.1:${world.port}`],
      icmp: [],
    });
    const findings: Finding[] = [];
    const detector = createNetworkUnreachableDetector({
      probe: () => prober.round(),
      intervalMs: 100,
      failedRounds: 2,
    });
    await detector.start((f) => findings.push(f));
    try {
      await sleep(350);
      assert.equal(findings.length, 0, 'a reachable network is not reported');
      const outage = Date.now();
      await world.stop();
      await until(() => findings.length > 0, 3000);
      assert.equal(findings[0]?.mode, 'network-unreachable');
      assert.match(findings[0]?.evidence ?? '', /dns:api\.remote\.test .*tcp:127\.0\.0\.1/);
      assert.ok((findings[0]?.detectedAt ?? 0) - outage < 1000, 'within two rounds and a probe timeout');
      await sleep(400);
      assert.equal(findings.length, 1, 'one finding per outage');
      await world.start();
      await sleep(250);
      await world.stop();
      await until(() => findings.length > 1, 3000);
    } finally {
      await detector.stop();
      if (world.listening) await world.stop();
    }
  });

  it('counts a silent DNS server as down once the probe times out', async () => {
    const world = await remoteApi({ dnsPort: 0 });
    const prober = createNetworkProber({
      interval: 100,
      timeout: 150,
      failedRounds: 2,
      dns: { resolver: `127.0.0.1:${world.dnsPort}`, names: ['a.test'] },
      tcp: [],
      icmp: [],
    });
    try {
      assert.equal((await prober.round()).up, true);
      world.set({ dnsSilent: true });
      const round = await prober.round();
      assert.equal(round.up, false);
      assert.ok((round.results[0]?.ms ?? 0) >= 140);
    } finally {
      await world.stop();
    }
  });

  it('stays quiet while paused (offline mode on)', async () => {
    const findings: Finding[] = [];
    const detector = createNetworkUnreachableDetector({
      probe: async () => ({ up: false, at: Date.now(), results: [] }),
      intervalMs: 30,
      paused: () => true,
    });
    await detector.start((f) => findings.push(f));
    await sleep(200);
    await detector.stop();
    assert.equal(findings.length, 0);
  });

  it('reports an outage that outlives its incident (offline mode left, network still down) again, with doubling pauses', async () => {
    const findings: number[] = [];
    let offline = false;
    const detector = createNetworkUnreachableDetector({
      probe: async () => ({ up: false, at: Date.now(), results: [] }),
      intervalMs: 20,
      repeatMs: 200,
      maxRepeatMs: 400,
      paused: () => offline,
    });
    const began = Date.now();
    await detector.start(() => {
      findings.push(Date.now() - began);
      // The incident enters offline mode, then fails and leaves it.
      offline = true;
      setTimeout(() => (offline = false), 50);
    });
    await sleep(1300);
    await detector.stop();
    // At ~40 ms, then after 200, 400 and 400 ms (capped): about 4 findings, never one per round.
    assert.ok(findings.length >= 3 && findings.length <= 5, `findings at ${findings.join(', ')} ms`);
    const gaps = findings.slice(1).map((at, i) => at - (findings[i] ?? 0));
    assert.ok(gaps[0] !== undefined && gaps[0] >= 190, `first repeat after the pause (${gaps.join(', ')})`);
    assert.ok(
      gaps.slice(1).every((g) => g >= 390),
      `pauses doubled to the cap (${gaps.join(', ')})`,
    );
  });
});

describe('api-timeout detector', () => {
  it('reports an endpoint at its third consecutive failure, not before, and ignores 401/403', async () => {
    const listeners: ((e: CallEvent) => void)[] = [];
    const findings: Finding[] = [];
    const detector = createApiTimeoutDetector({ calls: (l) => (listeners.push(l), () => undefined) });
    await detector.start((f) => findings.push(f));
    const emit = (e: CallEvent) => listeners.forEach((l) => l(e));
    emit(event({ consecutiveFailures: 1 }));
    emit(event({ consecutiveFailures: 2 }));
    emit(event({ outcome: 'auth', detail: 'HTTP 401', consecutiveFailures: 2 }));
    assert.equal(findings.length, 0);
    emit(event({ consecutiveFailures: 3, detail: 'HTTP 503' }));
    assert.equal(findings.length, 1);
    assert.deepEqual([findings[0]?.mode, findings[0]?.resource], ['api-timeout', 'quotes']);
    assert.match(findings[0]?.evidence ?? '', /3 consecutive failures, the last: HTTP 503/);
    await detector.stop();
  });
});

describe('invalid-credentials detector', () => {
  it("reports a 401/403 through the proxy and the service's http.auth_error line, naming the credential, never its value", async () => {
    const logPath = join(tmp.dir, 'grace.log');
    writeFileSync(logPath, '');
    const log = new LogTail(logPath, 50);
    await log.start();
    const listeners: ((e: CallEvent) => void)[] = [];
    const findings: Finding[] = [];
    const detector = createInvalidCredentialsDetector({
      endpoints: [{ endpoint: 'quotes', credential: 'quotes-key' }, { endpoint: 'weather' }],
      calls: (l) => (listeners.push(l), () => undefined),
      log,
      // The endpoint's own answer, which a log line's claim needs before it counts.
      confirm: async () => 'HTTP 403',
    });
    await detector.start((f) => findings.push(f));
    try {
      listeners.forEach((l) => l(event({ outcome: 'auth', detail: 'HTTP 401', credential: 'quotes-key' })));
      assert.equal(findings[0]?.resource, 'quotes');
      assert.match(findings[0]?.evidence ?? '', /HTTP 401 from quotes \(credential quotes-key\)/);
      appendFileSync(
        logPath,
        `${JSON.stringify({ ts: Date.now(), level: 'error', event: 'http.auth_error', endpoint: 'weather', status: 403 })}\n`,
      );
      await until(() => findings.length > 1, 3000);
      assert.equal(findings[1]?.resource, 'weather');
      appendFileSync(
        logPath,
        `${JSON.stringify({ ts: Date.now(), event: 'http.auth_error', endpoint: 'unguarded', status: 401 })}\n`,
      );
      await sleep(200);
      assert.equal(findings.length, 2, 'an endpoint Guardian does not proxy is not its incident');
    } finally {
      await detector.stop();
      log.stop();
    }
  });

  it('reports a JWT past its exp before any call is refused, once per token', async () => {
    let token = makeJwt({ exp: Math.floor(Date.now() / 1000) + 1 });
    const findings: Finding[] = [];
    const detector = createInvalidCredentialsDetector({
      endpoints: [{ endpoint: 'weather', credential: 'weather-oauth' }],
      expiresAt: () => jwtExpiry(token),
      intervalMs: 50,
    });
    await detector.start((f) => findings.push(f));
    try {
      assert.equal(findings.length, 0);
      await until(() => findings.length > 0, 3000);
      assert.match(findings[0]?.evidence ?? '', /weather-oauth expired at .* \(JWT exp\)/);
      await sleep(200);
      assert.equal(findings.length, 1);
      token = makeJwt({ exp: Math.floor(Date.now() / 1000) + 3600 });
      await sleep(200);
      assert.equal(findings.length, 1, 'a fresh token is fine');
    } finally {
      await detector.stop();
    }
  });
});
