// The REST client's retries of transient failures, against a local HTTP server that answers with
// scripted statuses (the client itself is real; time is a FakeClock, so no test sleeps).
import http from 'node:http';
import https from 'node:https';
import { jest } from '@jest/globals';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, onePool } from '../../src/k8s/client.js';
import { accessFromKubeConfig } from '../../src/k8s/kubeconfig.js';
import { KubeApiError } from '../../src/k8s/errors.js';
import { FakeClock } from '../support/fake-clock.js';
import { WorkerPool } from '../../src/runtime/workerpool.js';
import { WorkQueue } from '../../src/runtime/workqueue.js';
import pino from 'pino';

type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'reset';

async function server(answers: Answer[]): Promise<{ url: string; seen: () => number; close: () => Promise<void> }> {
  let n = 0;
  const srv = http.createServer((req, res) => {
    const a = answers[Math.min(n++, answers.length - 1)]!;
    req.resume();
    if (a === 'reset') return req.socket.destroy();
    res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
    res.end(a.body ?? JSON.stringify({ kind: 'Status', code: a.status }));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    seen: () => n,
    close: () =>
      new Promise<void>((resolve) => {
        srv.closeAllConnections();
        srv.close(() => resolve());
      }),
  };
}

async function client(url: string, clock: FakeClock): Promise<KubeClient> {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: url, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return KubeClient.create(await accessFromKubeConfig(kc), { clock, qps: 0 });
}

/** Runs `p` to completion, advancing the fake clock past each timer the client sets; returns the delays waited. */
async function drive<T>(clock: FakeClock, p: Promise<T>): Promise<{ result: T | Error; waited: number[] }> {
  let done = false;
  let result: T | Error = new Error('unset');
  p.then(
    (r) => (result = r),
    (e: Error) => (result = e),
  ).finally(() => (done = true));
  const waited: number[] = [];
  while (!done) {
    await new Promise((resolve) => setImmediate(resolve));
    const at = clock.nextTimerAt();
    if (at !== undefined) {
      waited.push(at - clock.now());
      clock.advance(at - clock.now());
    }
  }
  return { result, waited };
}

const ok: Answer = { status: 200, body: '{"ok":true}' };

describe('KubeClient retries', () => {
  test.each<[string, Answer[], { ok: boolean; requests: number; waitedExactly?: number[] }]>([
    [
      '429 with Retry-After: waits exactly that long, then succeeds',
      [{ status: 429, headers: { 'retry-after': '3' } }, ok],
      { ok: true, requests: 2, waitedExactly: [3000] },
    ],
    [
      '429 with details.retryAfterSeconds',
      [{ status: 429, body: JSON.stringify({ kind: 'Status', code: 429, details: { retryAfterSeconds: 2 } }) }, ok],
      { ok: true, requests: 2, waitedExactly: [2000] },
    ],
    ['503 then 500 then success', [{ status: 503 }, { status: 500 }, ok], { ok: true, requests: 3 }],
    ['connection reset then success', ['reset', ok], { ok: true, requests: 2 }],
    ['gives up after 3 retries', [{ status: 503 }], { ok: false, requests: 4 }],
    ['403 is not retried', [{ status: 403 }, ok], { ok: false, requests: 1 }],
    [
      '409 is not retried',
      [{ status: 409, body: JSON.stringify({ reason: 'Conflict' }) }, ok],
      { ok: false, requests: 1 },
    ],
  ])('%s', async (_name, answers, expected) => {
    const srv = await server(answers);
    const clock = new FakeClock(0);
    const c = await client(srv.url, clock);
    try {
      const { result, waited } = await drive(
        clock,
        c.request({ method: 'PATCH', path: '/api/v1/namespaces/a/serviceaccounts/b', body: {} }),
      );
      expect(result instanceof Error ? 'error' : 'ok').toBe(expected.ok ? 'ok' : 'error');
      expect(srv.seen()).toBe(expected.requests);
      if (expected.waitedExactly) expect(waited).toEqual(expected.waitedExactly);
      else expect(waited.every((ms) => ms > 0)).toBe(true); // backoff between attempts, never a hot loop
    } finally {
      c.close();
      await srv.close();
    }
  });
});

describe('WorkerPool honours Retry-After', () => {
  test('a failed reconcile whose error carries Retry-After is retried no sooner', async () => {
    const clock = new FakeClock(0);
    const queue = new WorkQueue({ clock });
    const calls: number[] = [];
    const pool = new WorkerPool({
      queue,
      workers: 1,
      logger: pino({ level: 'silent' }),
      reconcile: async () => {
        calls.push(clock.now());
        if (calls.length === 1) throw new KubeApiError('Transient', 429, 'throttled', 'TooManyRequests', 5);
      },
    });
    pool.start();
    queue.add('k');
    const settle = async () => {
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    };
    await settle();
    clock.advance(4999);
    await settle();
    expect(calls).toEqual([0]);
    clock.advance(1);
    await settle();
    expect(calls).toEqual([0, 5000]);
    await pool.stop(0);
  });
});

describe('onePool', () => {
  test("names the agent's pool once, from the first request's options", () => {
    const agent = new https.Agent({ keepAlive: true, ca: Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n') });
    const computed = jest.spyOn(agent, 'getName');
    onePool(agent);
    const options = { host: '127.0.0.1', port: 6443, ca: Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n') };
    const first = agent.getName(options);
    expect(first).toContain('127.0.0.1:6443');
    expect(agent.getName(options)).toBe(first);
    expect(agent.getName({ host: '127.0.0.1', port: 6443 })).toBe(first);
    expect(computed).toHaveBeenCalledTimes(1);
    agent.destroy();
  });
});
