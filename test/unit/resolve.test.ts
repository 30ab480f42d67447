// resolveSources: every entry of a spec through its provider, into the one document all copies
// carry. A broken entry serves its last good value; without one the document is held; an entry
// gone from the spec is forgotten; token times are the earliest of all entries; a document too
// large for a Secret is never written. The providers are scripted (Providers takes its list).
import type { SourceKind } from '../../src/api/v1alpha1.js';
import { resolveSources } from '../../src/controller/resolve.js';
import { type Auths, authEntry, MAX_SECRET_DATA_BYTES, renderDockerConfig } from '../../src/dockerconfig.js';
import { Providers } from '../../src/providers/index.js';
import type {
  EntryResult,
  Provider,
  ResolveContext,
  SourceProblem,
  TokenTiming,
} from '../../src/providers/provider.js';
import { basicAuth, dockerConfig, sourceSecrets, specWith } from '../support/builders.js';

const A = authEntry('robot', 'pw-a');
const B = authEntry('robot', 'pw-b');
const OLD = authEntry('robot', 'old');

const ok = (auths: Auths, extra: { warning?: SourceProblem } & TokenTiming = {}): EntryResult => ({
  ok: true,
  auths,
  ...extra,
});
const broken = (reason: string, extra: Record<string, unknown> = {}): EntryResult => ({
  ok: false,
  reason,
  message: `${reason} happened`,
  ...extra,
});

/**
 * Providers answering from a script: basicAuth entries by server, dockerConfig entries by Secret
 * name. Records the context of every call.
 */
function scripted(answers: Record<string, EntryResult>) {
  const calls: Array<{ kind: SourceKind; key: string; context: ResolveContext }> = [];
  const provider = (kind: 'basicAuth' | 'dockerConfig', servers: 'named' | 'imported'): Provider => ({
    kind,
    servers,
    sourceSecrets: () => [],
    resolve(entry, context) {
      const key = kind === 'basicAuth' ? entry.server! : (entry.source as { secretName: string }).secretName;
      calls.push({ kind, key, context });
      const answer = answers[key];
      if (!answer) throw new Error(`no scripted answer for ${key}`);
      return answer;
    },
  });
  return { providers: new Providers([provider('basicAuth', 'named'), provider('dockerConfig', 'imported')]), calls };
}

async function resolve(
  entries: unknown[],
  answers: Record<string, EntryResult>,
  lastGood = new Map<string, Auths>(),
  extraSpec: Record<string, unknown> = {},
) {
  const { providers, calls } = scripted(answers);
  const spec = { ...specWith(...entries), ...extraSpec };
  const out = await resolveSources(spec, { source: sourceSecrets(), lastGood, providers });
  return { ...out, calls, lastGood };
}

const keyOf = (entry: unknown) => JSON.stringify(specWith(entry).registries[0]);

describe('resolveSources: the document', () => {
  test('every entry resolved: the merged document, its auths and where each key came from', async () => {
    const { resolution, held } = await resolve([basicAuth('a.io', 's'), dockerConfig('imported')], {
      'a.io': ok({ 'a.io': A }),
      imported: ok({ 'b.io': B }),
    });
    expect(held).toBe(false);
    expect(resolution.document).toBe(renderDockerConfig({ 'a.io': A, 'b.io': B }));
    expect(resolution.auths).toEqual({ 'a.io': A, 'b.io': B });
    expect(resolution.origins).toEqual({ 'a.io': 0, 'b.io': 1 });
    expect(resolution.failure).toBeUndefined();
  });

  test("an entry naming a server wins over an import of that server (the providers' merge)", async () => {
    const { resolution } = await resolve([dockerConfig('imported'), basicAuth('a.io', 's')], {
      'a.io': ok({ 'a.io': A }),
      imported: ok({ 'a.io': OLD }),
    });
    expect(resolution.auths).toEqual({ 'a.io': A });
    expect(resolution.origins).toEqual({ 'a.io': 1 });
  });

  test("each provider is asked with the spec's refreshInterval and the source Secrets", async () => {
    const { calls } = await resolve([basicAuth('a.io', 's')], { 'a.io': ok({ 'a.io': A }) }, new Map(), {
      refreshInterval: '90m',
    });
    expect(calls.map((call) => [call.key, call.context.refreshIntervalMs, call.context.secrets.namespace])).toEqual([
      ['a.io', 90 * 60_000, 'regcred-system'],
    ]);
  });
});

describe('resolveSources: broken entries', () => {
  // Rows: the second entry's answer, what lastGood held for it before, then the document's auths
  // (undefined: held), `held`, and the failure reason.
  test.each<[string, EntryResult, Auths | undefined, Auths | undefined, boolean, string]>([
    [
      'no last good value: the whole document is held',
      broken('SourceSecretNotFound'),
      undefined,
      undefined,
      true,
      'SourceSecretNotFound',
    ],
    [
      'a last good value remembered here is served',
      broken('InvalidSourceSecret'),
      { 'b.io': OLD },
      { 'a.io': A, 'b.io': OLD },
      false,
      'InvalidSourceSecret',
    ],
    [
      "the provider's own stale value (a token still valid) is served",
      broken('TokenRefreshFailed', { stale: { 'b.io': B } }),
      undefined,
      { 'a.io': A, 'b.io': B },
      false,
      'TokenRefreshFailed',
    ],
    [
      "the provider's stale value wins over the one remembered here",
      broken('TokenRefreshFailed', { stale: { 'b.io': B } }),
      { 'b.io': OLD },
      { 'a.io': A, 'b.io': B },
      false,
      'TokenRefreshFailed',
    ],
  ])('%s', async (_name, answer, remembered, auths, held, reason) => {
    const second = basicAuth('b.io', 't');
    const lastGood = new Map<string, Auths>(remembered ? [[keyOf(second), remembered]] : []);
    const out = await resolve(
      [basicAuth('a.io', 's'), second],
      { 'a.io': ok({ 'a.io': A }), 'b.io': answer },
      lastGood,
    );
    expect(out.held).toBe(held);
    expect(out.resolution.auths).toEqual(auths);
    expect(out.resolution.document).toBe(auths && renderDockerConfig(auths));
    expect(out.resolution.failure).toEqual({ reason, message: `${reason} happened` });
  });

  test('a held document carries no auths or origins', async () => {
    const { resolution } = await resolve([basicAuth('a.io', 's')], { 'a.io': broken('SourceSecretNotFound') });
    expect(resolution).toEqual({
      document: undefined,
      failure: { reason: 'SourceSecretNotFound', message: 'SourceSecretNotFound happened' },
      warning: undefined,
      tokens: {},
    });
  });

  test('the first failure and the first warning are reported', async () => {
    const warning = (reason: string) => ({ reason, message: reason });
    const { resolution } = await resolve(
      [basicAuth('a.io', 's'), basicAuth('b.io', 't'), basicAuth('c.io', 'u'), basicAuth('d.io', 'v')],
      {
        'a.io': ok({ 'a.io': A }, { warning: warning('TokenExpiryUnknown') }),
        'b.io': broken('First', { stale: { 'b.io': B } }),
        'c.io': broken('Second', { stale: { 'c.io': B } }),
        'd.io': ok({ 'd.io': A }, { warning: warning('Later') }),
      },
    );
    expect([resolution.failure?.reason, resolution.warning?.reason]).toEqual(['First', 'TokenExpiryUnknown']);
  });
});

describe('resolveSources: last good values', () => {
  test('a resolved entry is remembered; an entry gone from the spec is forgotten', async () => {
    const kept = basicAuth('a.io', 's');
    const lastGood = new Map<string, Auths>([
      [keyOf(kept), { 'a.io': OLD }],
      [keyOf(basicAuth('gone.io', 'x')), { 'gone.io': OLD }],
    ]);
    await resolve([kept], { 'a.io': ok({ 'a.io': A }) }, lastGood);
    expect([...lastGood.entries()]).toEqual([[keyOf(kept), { 'a.io': A }]]);
  });

  test('a broken entry keeps its last good value for the next time', async () => {
    const entry = basicAuth('a.io', 's');
    const lastGood = new Map<string, Auths>([[keyOf(entry), { 'a.io': OLD }]]);
    await resolve([entry], { 'a.io': broken('SourceSecretNotFound') }, lastGood);
    expect(lastGood.get(keyOf(entry))).toEqual({ 'a.io': OLD });
  });

  test('an entry changed in the spec is a new entry: its old value is not served', async () => {
    const before = basicAuth('a.io', 'old-secret');
    const lastGood = new Map<string, Auths>([[keyOf(before), { 'a.io': OLD }]]);
    const out = await resolve([basicAuth('a.io', 'new-secret')], { 'a.io': broken('SourceSecretNotFound') }, lastGood);
    expect(out.held).toBe(true);
    expect(lastGood.size).toBe(0);
  });
});

describe('resolveSources: token times', () => {
  test.each<[string, Array<Partial<EntryResult>>, Record<string, number | undefined>]>([
    ['no token entries: no times', [{}, {}], {}],
    [
      'each time is the earliest of the entries that have one',
      [
        { expiresAt: 500, refreshedAt: 20, nextCheckAt: 300 },
        { expiresAt: 400, refreshedAt: 30 },
        { nextCheckAt: 100 },
      ],
      { expiresAt: 400, refreshedAt: 20, nextCheckAt: 100 },
    ],
    [
      'a failed entry counts too (its retry is when to look again)',
      [{ expiresAt: 500 }, { ok: false, reason: 'TokenRefreshFailed', message: 'x', nextCheckAt: 50, stale: {} }],
      { expiresAt: 500, nextCheckAt: 50 },
    ],
  ])('%s', async (_name, times, expected) => {
    const servers = times.map((_time, i) => `r${i}.io`);
    const answers = Object.fromEntries(
      servers.map((server, i) => [server, { ...ok({ [server]: A }), ...times[i] } as EntryResult]),
    );
    const { resolution } = await resolve(
      servers.map((server) => basicAuth(server, 's')),
      answers,
    );
    expect(Object.fromEntries(Object.entries(resolution.tokens).filter(([, v]) => v !== undefined))).toEqual(expected);
  });
});

describe('resolveSources: a document too large for a Secret', () => {
  test('is not written at all (no truncated copy): SecretTooLarge, no auths', async () => {
    const huge = authEntry('robot', 'x'.repeat(MAX_SECRET_DATA_BYTES));
    const { resolution, held } = await resolve([basicAuth('a.io', 's')], { 'a.io': ok({ 'a.io': huge }) });
    expect(held).toBe(false);
    expect(resolution.document).toBeUndefined();
    expect(resolution.auths).toBeUndefined();
    expect(resolution.failure?.reason).toBe('SecretTooLarge');
    expect(resolution.failure?.message).toMatch(/more than the 1048576 bytes a Secret can hold; use fewer/);
  });

  test('an earlier source failure is the one reported', async () => {
    const huge = authEntry('robot', 'x'.repeat(MAX_SECRET_DATA_BYTES));
    const { resolution } = await resolve([basicAuth('a.io', 's'), basicAuth('b.io', 't')], {
      'a.io': ok({ 'a.io': huge }),
      'b.io': broken('TokenRefreshFailed', { stale: { 'b.io': B } }),
    });
    expect([resolution.document, resolution.failure?.reason]).toEqual([undefined, 'TokenRefreshFailed']);
  });
});
