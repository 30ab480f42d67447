// The gitlab provider's lifecycle with a fake clock and an in-memory GitLab: one token per identity,
// renewal at 2/3 of expiresIn, the replaced token revoked only once every RegistryCredential of the
// identity carries its successor, foreign tokens never touched, revocation on release, errors served
// with the last token.
import type { RegistryCredentialSpec } from '../../src/api/v1alpha1.js';
import { parseSpec } from '../../src/api/v1alpha1.js';
import type { Auths } from '../../src/dockerconfig.js';
import {
  GitLabApiError,
  type CreatedDeployToken,
  type DeployToken,
  type GitLabTarget,
} from '../../src/providers/gitlab-api.js';
import { createdAtOf, expiresInMs, type GitLabApi, gitlabProvider, identityOf } from '../../src/providers/gitlab.js';
import { ownsCredential } from '../../src/providers/owned-credentials.js';
import type { EntryResult } from '../../src/providers/provider.js';
import { opaqueSecret, SOURCE_NAMESPACE, sourceSecrets } from '../support/builders.js';
import { FakeClock } from '../support/fake-clock.js';

const SERVER = 'registry.gitlab.example.com';
const HOUR = 3_600_000;

function fakeGitLab(clock: FakeClock) {
  const tokens = new Map<number, CreatedDeployToken & { owner: string }>();
  const calls: string[] = [];
  let nextId = 1;
  let failing: GitLabApiError | undefined;
  const key = (target: GitLabTarget) => `${target.kind}:${target.id}`;
  const api: GitLabApi = {
    async createDeployToken(target, token) {
      calls.push('POST');
      if (failing) throw failing;
      const id = nextId++;
      const created = { id, ...token, token: `gldt-${id}`, revoked: false, expired: false, owner: key(target) };
      tokens.set(id, created);
      return created;
    },
    async listDeployTokens(target) {
      calls.push('GET');
      if (failing) throw failing;
      return [...tokens.values()]
        .filter((t) => t.owner === key(target))
        .map(({ token: _token, owner: _owner, ...t }): DeployToken => ({
          ...t,
          expired: t.expires_at !== null && Date.parse(t.expires_at) <= clock.now(),
        }));
    },
    async deleteDeployToken(_target, id) {
      calls.push('DELETE');
      if (failing) throw failing;
      tokens.delete(id);
    },
  };
  return {
    api,
    tokens,
    calls,
    fail: (err?: GitLabApiError) => (failing = err),
    foreign: (owner: string, name: string) => {
      const id = nextId++;
      tokens.set(id, {
        id,
        name,
        username: name,
        token: 'x',
        expires_at: new Date(clock.now() - HOUR).toISOString(),
        scopes: ['read_registry'],
        owner,
      });
      return id;
    },
  };
}

const spec = (expiresIn = '3h', where: Record<string, string> = { project: 'group/app' }): RegistryCredentialSpec => {
  const parsed = parseSpec({
    registries: [
      { server: SERVER, gitlab: { url: 'https://gitlab.example.com', tokenSecretName: 'api', ...where, expiresIn } },
    ],
  });
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.spec;
};

function setup(expiresIn = '3h') {
  const clock = new FakeClock(Date.parse('2026-12-01T00:00:00Z'));
  const gitlab = fakeGitLab(clock);
  const provider = gitlabProvider({ clock, requestTimeoutMs: 1000, api: () => gitlab.api, random: () => 0.5 });
  const theSpec = spec(expiresIn);
  const source = theSpec.registries[0]!.gitlab!;
  const secrets = sourceSecrets({
    api: opaqueSecret({ token: 'glpat-S3cret' }, { name: 'api', namespace: SOURCE_NAMESPACE }),
  });
  const resolve = async () =>
    (await provider.resolve({ server: SERVER, source }, { secrets, refreshIntervalMs: 6 * HOUR })) as EntryResult;
  const usernameOf = (result: EntryResult) => (result.ok ? result.auths : result.stale)?.[SERVER]?.username;
  const authsOf = (result: EntryResult) => (result.ok ? result.auths : result.stale) as Auths;
  return { clock, gitlab, provider, spec: theSpec, source, secrets, resolve, usernameOf, authsOf };
}

test.each<[string, number]>([
  ['90m', 90 * 60_000],
  ['12h', 12 * HOUR],
  ['7d', 7 * 24 * HOUR],
])('expiresIn %s is %i ms', (text, ms) => expect(expiresInMs(text)).toBe(ms));

test('the first resolve lists, then creates one read_registry token named after the identity', async () => {
  const t = setup();
  const result = await t.resolve();
  expect(result.ok).toBe(true);
  expect(t.gitlab.calls).toEqual(['GET', 'POST']);
  const [token] = [...t.gitlab.tokens.values()];
  expect(token!.scopes).toEqual(['read_registry']);
  expect(ownsCredential(identityOf(t.source, SOURCE_NAMESPACE), { name: token!.name, description: token!.name })).toBe(
    true,
  );
  expect(token!.name).toMatch(/^regcred-[0-9a-f]{8}-[0-9a-z]+ \(managed by regcred-operator, identity [0-9a-f]{16};/);
  expect(createdAtOf(token!.username)).toBe(t.clock.now());
  expect(Date.parse(token!.expires_at!)).toBe(t.clock.now() + 3 * HOUR);
  expect(t.authsOf(result)[SERVER]).toMatchObject({ username: token!.username, password: token!.token });
  expect(result.expiresAt).toBe(t.clock.now() + 3 * HOUR);
  expect(result.nextCheckAt).toBe(t.clock.now() + 2 * HOUR);
  await t.resolve();
  expect(t.gitlab.calls).toEqual(['GET', 'POST']);
});

test('renewal at 2/3; the old token is revoked only once every RegistryCredential of the identity carries the new one', async () => {
  const t = setup();
  const first = await t.resolve();
  const users = new Set(['a', 'b']);
  const identity = identityOf(t.source, SOURCE_NAMESPACE);
  t.provider.confirmDelivered(identity, 'a', t.authsOf(first), users);
  t.provider.confirmDelivered(identity, 'b', t.authsOf(first), users);
  t.clock.advance(2 * HOUR - 1);
  expect(t.usernameOf(await t.resolve())).toBe(t.usernameOf(first));
  t.clock.advance(1);
  const second = await t.resolve();
  expect(t.usernameOf(second)).not.toBe(t.usernameOf(first));
  expect(t.gitlab.tokens.size).toBe(2);
  expect(t.provider.confirmDelivered(identity, 'a', t.authsOf(second), users)).toBe(false);
  await t.resolve();
  expect(t.gitlab.tokens.size).toBe(2);
  expect(t.gitlab.calls.filter((c) => c === 'DELETE')).toEqual([]);
  expect(t.provider.confirmDelivered(identity, 'b', t.authsOf(second), users)).toBe(true);
  await t.resolve();
  expect([...t.gitlab.tokens.values()].map((x) => x.username)).toEqual([t.usernameOf(second)]);
});

test('a token revoked by hand is replaced at the next listing; tokens of others are never touched, even expired', async () => {
  const t = setup();
  const foreign = t.gitlab.foreign('project:group/app', 'ci-pull');
  const first = await t.resolve();
  const id = [...t.gitlab.tokens.values()].find((x) => x.username === t.usernameOf(first))!.id;
  t.gitlab.tokens.get(id)!.revoked = true;
  t.clock.advance(6 * HOUR);
  const second = await t.resolve();
  expect(t.usernameOf(second)).not.toBe(t.usernameOf(first));
  expect(t.gitlab.tokens.has(foreign)).toBe(true);
});

test('GitLab down: the last token keeps being served with the reason; retried with backoff', async () => {
  const t = setup();
  const first = await t.resolve();
  t.gitlab.fail(new GitLabApiError('GitLabUnavailable', 503, 'POST /projects/group%2Fapp/deploy_tokens: HTTP 503'));
  t.clock.advance(2 * HOUR);
  const failed = await t.resolve();
  expect(failed).toMatchObject({ ok: false, reason: 'GitLabUnavailable' });
  expect(t.usernameOf(failed)).toBe(t.usernameOf(first));
  expect(JSON.stringify(failed)).not.toContain('glpat-S3cret');
  expect(failed.nextCheckAt).toBeGreaterThan(t.clock.now());
  t.gitlab.fail(undefined);
  t.clock.advance(failed.nextCheckAt! - t.clock.now());
  const renewed = await t.resolve();
  expect(renewed.ok).toBe(true);
  expect(t.usernameOf(renewed)).not.toBe(t.usernameOf(first));
});

test('release deletes every token of the identity, never a foreign one', async () => {
  const t = setup();
  const foreign = t.gitlab.foreign('project:group/app', 'ci-pull');
  await t.resolve();
  const outcome = await t.provider.release(identityOf(t.source, SOURCE_NAMESPACE), t.source, t.secrets);
  expect(outcome).toEqual({ ok: true, deleted: 1 });
  expect([...t.gitlab.tokens.keys()]).toEqual([foreign]);
});

test('release while GitLab is unreachable may be retried; refused rights are not worth retrying', async () => {
  const t = setup();
  await t.resolve();
  const identity = identityOf(t.source, SOURCE_NAMESPACE);
  t.gitlab.fail(new GitLabApiError('GitLabUnavailable', 0, 'GET: TimeoutError'));
  expect(await t.provider.release(identity, t.source, t.secrets)).toMatchObject({
    ok: false,
    reason: 'GitLabUnavailable',
    retry: true,
  });
  t.gitlab.fail(new GitLabApiError('GitLabForbidden', 403, 'GET: HTTP 403'));
  expect(await t.provider.release(identity, t.source, t.secrets)).toMatchObject({
    ok: false,
    reason: 'GitLabForbidden',
    retry: false,
  });
});

test('a token Secret without the key token is InvalidSourceSecret, with no request', async () => {
  const t = setup();
  const provider = gitlabProvider({ clock: t.clock, requestTimeoutMs: 1000, api: () => t.gitlab.api });
  const secrets = sourceSecrets({ api: opaqueSecret({ password: 'x' }, { name: 'api', namespace: SOURCE_NAMESPACE }) });
  const result = await provider.resolve({ server: SERVER, source: t.source }, { secrets, refreshIntervalMs: HOUR });
  expect(result).toMatchObject({ ok: false, reason: 'InvalidSourceSecret' });
  expect(t.gitlab.calls).toEqual([]);
});
