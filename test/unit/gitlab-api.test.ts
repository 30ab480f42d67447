// The GitLab deploy token client against the stand-in (test/harness/gitlab.ts, plain HTTP here):
// paths with URL-encoded ids, the PRIVATE-TOKEN header, the request and response shapes, and the
// reasons GitLab's answers become.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  errorText,
  GitLabApiError,
  GitLabClient,
  type GitLabTarget,
  reasonOf,
} from '../../src/providers/gitlab-api.js';
import { type GitLabStandIn, startGitLabStandIn } from '../harness/gitlab.js';
import type { TokenUser } from '../harness/token-server.js';

const MAINTAINER = 'glpat-maintainer-Secret1';
const DEVELOPER = 'glpat-developer-Secret2';
const READ_ONLY = 'glpat-read-api-Secret3';
const registryUsers: TokenUser[] = [];
/** The stand-in's registry users, as a token server would hold them. */
const tokenServer = {
  addUser: (user: TokenUser) => void registryUsers.push(user),
  removeUser(username: string, password: string) {
    const index = registryUsers.findIndex((u) => u.username === username && u.password === password);
    if (index >= 0) registryUsers.splice(index, 1);
  },
};
let gitlab: GitLabStandIn;

beforeAll(async () => {
  gitlab = await startGitLabStandIn({
    tls: false,
    accessTokens: [
      { token: MAINTAINER, scopes: ['api'], maintainerOf: ['group'] },
      { token: DEVELOPER, scopes: ['api'], maintainerOf: [] },
      { token: READ_ONLY, scopes: ['read_api'], maintainerOf: ['group'] },
    ],
    projects: [{ id: 7, path: 'group/app' }],
    groups: [{ id: 3, path: 'group' }],
    tokenServer,
  });
});
afterAll(() => gitlab.stop());

const client = (token = MAINTAINER, timeoutMs = 5_000) => new GitLabClient(gitlab.url, token, timeoutMs);
const project: GitLabTarget = { kind: 'project', id: 'group/app' };
const group: GitLabTarget = { kind: 'group', id: 'group' };
const create = (name: string) => ({
  name,
  username: name,
  expires_at: new Date(Date.now() + 86_400_000).toISOString(),
  scopes: ['read_registry' as const],
});

test.each<[string, GitLabTarget, string]>([
  ['a project by full path (URL-encoded: group%2Fapp)', project, 'project:group/app'],
  ['a project by numeric id', { kind: 'project', id: '7' }, 'project:group/app'],
  ['a group by full path', group, 'group:group'],
])('create, list and delete the deploy tokens of %s', async (_name, target, owner) => {
  const name = `t-${owner.replace(/[^a-z]/g, '')}-${target.id.length}`;
  const created = await client().createDeployToken(target, create(name));
  expect(created).toMatchObject({ name, username: name, scopes: ['read_registry'], revoked: false });
  expect(created.token).toMatch(/^gldt-/);
  expect(gitlab.tokens.get(created.id)?.owner).toBe(owner);
  expect(registryUsers).toContainEqual({
    username: name,
    password: created.token,
    pull: [owner.split(':')[1], `${owner.split(':')[1]}/*`],
  });
  const listed = await client().listDeployTokens(target);
  const mine = listed.find((t) => t.id === created.id);
  expect(mine).toMatchObject({ name, username: name, expired: false });
  expect(mine).not.toHaveProperty('token');
  await client().deleteDeployToken(target, created.id);
  expect(gitlab.tokens.has(created.id)).toBe(false);
  expect(registryUsers.some((u) => u.username === name)).toBe(false);
  // deleting again: already gone counts as deleted
  await expect(client().deleteDeployToken(target, created.id)).resolves.toBeUndefined();
});

test('a listing follows the pages (per_page=100)', async () => {
  const ids = [];
  for (let i = 0; i < 101; i++) ids.push((await client().createDeployToken(group, create(`page-${i}`))).id);
  const before = gitlab.requests.GET ?? 0;
  const listed = await client().listDeployTokens(group);
  expect(listed.filter((t) => t.name.startsWith('page-'))).toHaveLength(101);
  expect((gitlab.requests.GET ?? 0) - before).toBe(2);
  for (const id of ids) await client().deleteDeployToken(group, id);
});

test.each<[string, string, GitLabTarget, string, number, RegExp]>([
  ['an unknown access token', 'glpat-nobody', project, 'GitLabUnauthorized', 401, /401 Unauthorized/],
  ['a token without the Maintainer role', DEVELOPER, project, 'GitLabForbidden', 403, /403 Forbidden/],
  ['a token without the api scope', READ_ONLY, group, 'GitLabForbidden', 403, /insufficient_scope/],
  [
    'an unknown project',
    MAINTAINER,
    { kind: 'project', id: 'group/nosuch' },
    'GitLabProjectNotFound',
    404,
    /404 Project Not Found/,
  ],
  ['an unknown group', MAINTAINER, { kind: 'group', id: 'nosuch' }, 'GitLabGroupNotFound', 404, /404 Group Not Found/],
])('%s: %s', async (_name, token, target, reason, status, text) => {
  const err = await client(token)
    .createDeployToken(target, create('refused'))
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(GitLabApiError);
  expect(err).toMatchObject({ reason, status });
  expect((err as Error).message).toMatch(text);
  expect((err as Error).message).not.toContain(token);
  // a delete that meets a missing project is an error too, not "already gone"
  if (status === 404)
    await expect(client(token).deleteDeployToken(target, 1)).rejects.toMatchObject({ reason, status: 404 });
});

test('a username taken twice is a bad request naming the field', async () => {
  const first = await client().createDeployToken(project, create('twice'));
  const err = await client()
    .createDeployToken(project, create('twice'))
    .catch((e: unknown) => e);
  expect(err).toMatchObject({ reason: 'GitLabBadRequest', status: 400 });
  expect((err as Error).message).toContain('username has already been taken');
  await client().deleteDeployToken(project, first.id);
});

test('GitLab down (503) and no answer within the deadline are GitLabUnavailable', async () => {
  gitlab.down = true;
  try {
    await expect(client().listDeployTokens(project)).rejects.toMatchObject({
      reason: 'GitLabUnavailable',
      status: 503,
    });
  } finally {
    gitlab.down = false;
  }
  const silent = http.createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    await expect(new GitLabClient(url, MAINTAINER, 200).listDeployTokens(project)).rejects.toMatchObject({
      reason: 'GitLabUnavailable',
      status: 0,
      message: expect.stringMatching(/TimeoutError/),
    });
  } finally {
    silent.closeAllConnections();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});

test.each<[number, GitLabTarget, string]>([
  [401, project, 'GitLabUnauthorized'],
  [403, group, 'GitLabForbidden'],
  [404, project, 'GitLabProjectNotFound'],
  [404, group, 'GitLabGroupNotFound'],
  [400, project, 'GitLabBadRequest'],
  [422, project, 'GitLabBadRequest'],
  [429, project, 'GitLabUnavailable'],
  [502, group, 'GitLabUnavailable'],
  [418, project, 'GitLabError'],
])('HTTP %i for a %o is %s', (status, target, reason) => {
  expect(reasonOf(status, target)).toBe(reason);
});

test.each<[string, string]>([
  ['{"message":"404 Project Not Found"}', '404 Project Not Found'],
  [
    '{"message":{"username":["has already been taken"],"name":["is too long"]}}',
    'username has already been taken; name is too long',
  ],
  ['{"error":"scopes is missing"}', 'scopes is missing'],
  ['<html>bad gateway</html>', ''],
])('error text of %s', (body, text) => {
  expect(errorText(body)).toBe(text);
});
