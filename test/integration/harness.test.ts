// Tests of the integration harness itself, against the real control plane of global-setup.ts and a
// real registry: if these fail, no other integration test result means anything.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { kubeconfigFor, kubectl, restartApiServer, testEnv } from '../../harness/controlplane.js';
import { dockerConfigJson, startRegistry, type Registry } from '../harness/registry.js';
import { waitFor } from '../../harness/wait.js';
import { auditEventsOfEveryStage } from '../harness/audit.js';

const suffix = randomBytes(3).toString('hex');

describe('control plane', () => {
  const ns = `harness-${suffix}`;

  afterAll(async () => {
    await kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
  });

  test('the admin kubeconfig lists namespaces', async () => {
    const res = await kubectl(['get', 'ns', '-o', 'name']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout.split('\n')).toEqual(expect.arrayContaining(['namespace/default', 'namespace/kube-system']));
  });

  test('RBAC is on: a user without bindings is Forbidden to list secrets', async () => {
    const kc = await kubeconfigFor('someone', ['some-group']);
    const whoami = await kubectl(
      ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username} {.status.userInfo.groups}'],
      { kubeconfig: kc },
    );
    expect(whoami.code).toBe(0);
    expect(whoami.stdout).toContain('someone');
    expect(whoami.stdout).toContain('some-group');
    const res = await kubectl(['get', 'secrets', '-A'], { kubeconfig: kc });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/Forbidden/);
    expect(res.stderr).toContain('User "someone" cannot list resource "secrets"');
  });

  test('kube-controller-manager creates the default ServiceAccount in a new namespace', async () => {
    const created = await kubectl(['create', 'namespace', ns]);
    expect(created.code).toBe(0);
    const sa = await waitFor(
      async () => {
        const res = await kubectl(['get', 'serviceaccount', 'default', '-n', ns, '-o', 'jsonpath={.metadata.name}']);
        return res.code === 0 && res.stdout;
      },
      { timeoutMs: 60_000, what: `ServiceAccount ${ns}/default` },
    );
    expect(sa).toBe('default');
  });

  test('the audit log records the namespace create by test-admin', async () => {
    const event = await waitFor(
      async () =>
        (await auditEventsOfEveryStage()).find(
          (e) => e.verb === 'create' && e.objectRef?.resource === 'namespaces' && e.objectRef.name === ns,
        ),
      { timeoutMs: 10_000, what: `audit event for creating namespace ${ns}` },
    );
    expect(event.user.username).toBe('test-admin');
    expect(event.user.groups).toContain('system:masters');
    expect(event.stage).toBe('ResponseComplete');
    expect(event.responseStatus?.code).toBe(201);
  });

  test('restartApiServer() restarts kube-apiserver on the same port, keeping the data in etcd', async () => {
    const env = testEnv();
    const log = path.join(env.dir, 'kube-apiserver.log');
    const starts = async (): Promise<number> =>
      (await readFile(log, 'utf8')).split('\n').filter((l) => l.startsWith('--- ') && l.includes('kube-apiserver'))
        .length;
    const cm = `before-restart-${suffix}`;
    expect((await kubectl(['create', 'configmap', cm, '-n', 'default', '--from-literal=k=v'])).code).toBe(0);
    const startsBefore = await starts();

    await restartApiServer();

    expect(await starts()).toBe(startsBefore + 1);
    const res = await kubectl(['get', 'ns', 'default', '-o', 'name']);
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toBe('namespace/default');
    const kept = await kubectl(['get', 'configmap', cm, '-n', 'default', '-o', 'jsonpath={.data.k}']);
    expect(kept.stdout).toBe('v');
  }, 180_000);
});

describe('registry', () => {
  let registry: Registry;
  const user = { username: 'puller', password: `pw-${suffix}` };

  beforeAll(async () => {
    registry = await startRegistry({ users: [user, { username: 'other', password: 'other-pw' }] });
  }, 60_000);
  afterAll(async () => {
    await registry?.stop();
  });

  test('accepts a dockerconfigjson with the right password', async () => {
    const res = await registry.inspect(dockerConfigJson(registry.host, user.username, user.password));
    expect(res.output).toContain('"Digest": "sha256:');
    expect(res).toMatchObject({ ok: true, unauthorized: false });
  });

  test('rejects a wrong password as unauthorized', async () => {
    const res = await registry.inspect(dockerConfigJson(registry.host, user.username, 'wrong'));
    expect(res).toMatchObject({ ok: false, unauthorized: true });
  });

  test('every htpasswd user can pull', async () => {
    const res = await registry.inspect(dockerConfigJson(registry.host, 'other', 'other-pw'));
    expect(res.ok).toBe(true);
  });

  test('an auths entry without the `auth` field is not used by skopeo', async () => {
    const noAuthField = JSON.stringify({
      auths: { [registry.host]: { username: user.username, password: user.password } },
    });
    const res = await registry.inspect(noAuthField);
    expect(res).toMatchObject({ ok: false, unauthorized: true });
  });
});
