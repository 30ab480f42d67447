// Spec semantics 7 (bad input the schema can see): every invalid spec of the catalogue in
// test/fixtures/invalid-credentials.ts is rejected at apply time with its CEL / OpenAPI message, and
// every valid one is accepted, applied the way users do: the real kubectl, `apply -f -` with the
// manifest on stdin. Also what users see of the API without reading the CRD: `kubectl explain`
// descriptions and the printer columns of `kubectl get`. No operator runs for this file: the API
// server alone answers.
import { uniqueSuffix } from '../harness/cluster.js';
import { kubectl } from '../../harness/controlplane.js';
import { invalidCredentials, validCredentials } from '../fixtures/invalid-credentials.js';

const suffix = uniqueSuffix();

/** A RegistryCredential manifest (JSON is YAML; kubectl reads either on stdin). */
function manifest(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'regcred.io/v1alpha1',
    kind: 'RegistryCredential',
    metadata: { name: `${name}-${suffix}` },
    spec,
  });
}

const dryRunApply = (name: string, spec: Record<string, unknown>) =>
  kubectl(['apply', '--dry-run=server', '-f', '-'], { input: manifest(name, spec) });

describe('kubectl apply rejects every invalid spec with its message', () => {
  test.each(invalidCredentials.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const res = await dryRunApply(c.name, c.spec);
    expect(res.code).not.toBe(0);
    expect(res.stdout).not.toContain('created');
    // The rejection comes from the API server's validation, not from kubectl or the transport.
    expect(res.stderr).toContain(`The RegistryCredential "${c.name}-${suffix}" is invalid:`);
    expect(res.stderr).toContain(c.message);
  });
});

describe('kubectl apply accepts every valid spec', () => {
  test.each(validCredentials.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const res = await dryRunApply(c.name, c.spec);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toBe(`registrycredential.regcred.io/${c.name}-${suffix} created (server dry run)`);
  });
});

/** The FIELDS section of `kubectl explain`: each field name with the text under it. */
function explainedFields(output: string): Map<string, string> {
  const fields = new Map<string, string>();
  const section = output.split(/^FIELDS:\s*$/m)[1] ?? '';
  let current: string | undefined;
  for (const line of section.split('\n')) {
    const field = /^ {2}(\S+)\s+<[^>]+>/.exec(line);
    if (field) {
      current = field[1]!;
      fields.set(current, '');
    } else if (current !== undefined && line.trim() !== '') {
      fields.set(current, `${fields.get(current)} ${line.trim()}`.trim());
    }
  }
  return fields;
}

describe('kubectl explain', () => {
  test('registrycredential.spec.registries describes the list and each of its fields', async () => {
    const res = await kubectl(['explain', 'registrycredential.spec.registries']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^GROUP:\s+regcred\.io$/m);
    expect(res.stdout).toMatch(/^KIND:\s+RegistryCredential$/m);
    expect(res.stdout).toMatch(/^VERSION:\s+v1alpha1$/m);
    expect(res.stdout).toMatch(/^FIELD:\s+registries <\[\]Object>$/m);
    expect(res.stdout).toContain('Registries whose credentials are merged into one .dockerconfigjson');
    const fields = explainedFields(res.stdout);
    expect([...fields.keys()].sort()).toEqual([
      'acr',
      'basicAuth',
      'dockerConfig',
      'ecr',
      'ecrPublic',
      'gcp',
      'github',
      'gitlab',
      'harbor',
      'quay',
      'server',
      'verify',
    ]);
    for (const [name, description] of fields) {
      expect({ name, long: description.length > 40 }).toEqual({ name, long: true });
    }
    expect(fields.get('server')).toContain('host[:port][/path] without a scheme');
    expect(fields.get('dockerConfig')).toMatch(/kubernetes\.io\/dockerconfigjson/);
  });

  test('registrycredential.spec describes every spec field', async () => {
    const res = await kubectl(['explain', 'registrycredential.spec']);
    expect(res.code).toBe(0);
    const fields = explainedFields(res.stdout);
    expect([...fields.keys()].sort()).toEqual(
      [
        'delivery',
        'excludeNamespaces',
        'excludeServiceAccounts',
        'injection',
        'namespaceNames',
        'namespaceSelector',
        'podRecovery',
        'refreshInterval',
        'registries',
        'secretName',
        'secretTemplate',
        'serviceAccountSelector',
        'serviceAccounts',
        'suspend',
      ].sort(),
    );
    for (const [name, description] of fields) {
      expect({ name, long: description.length > 40 }).toEqual({ name, long: true });
    }
    expect(res.stdout).toMatch(/registries\s+<\[\]Object> -required-/);
  });
});

describe('kubectl get', () => {
  const name = `columns-${suffix}`;
  // Selects no namespace: should any operator look at it, it has nothing to do.
  const spec = {
    registries: [{ server: 'harbor.example.com', basicAuth: { secretName: 'harbor-robot' } }],
    namespaceSelector: { matchLabels: { 'regcred-test': `none-${suffix}` } },
  };

  beforeAll(async () => {
    const res = await kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'regcred.io/v1alpha1',
        kind: 'RegistryCredential',
        metadata: { name },
        spec,
      }),
    });
    if (res.code !== 0) throw new Error(`kubectl apply failed: ${res.stderr}`);
  });
  afterAll(async () => {
    await kubectl(['delete', 'registrycredential', name, '--ignore-not-found', '--wait=false']);
  });

  /** Rows of a `kubectl get` table, split on runs of 2+ spaces (empty cells are "<none>" or blank). */
  const table = (stdout: string): string[][] =>
    stdout
      .trimEnd()
      .split('\n')
      .map((l) => l.trim().split(/\s{2,}/));

  test('shows the printer columns NAME READY NAMESPACES EXPIRES AGE, by full and short name', async () => {
    for (const resource of ['registrycredentials', 'regcred']) {
      const res = await kubectl(['get', resource, name]);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      const [header, row] = table(res.stdout);
      expect(header).toEqual(['NAME', 'READY', 'NAMESPACES', 'EXPIRES', 'AGE']);
      expect(row?.[0]).toBe(name);
      expect(row?.at(-1)).toMatch(/^\d+[smhd]/);
    }
    const list = await kubectl(['get', 'registrycredentials']);
    expect(list.code).toBe(0);
    expect(table(list.stdout)[0]).toEqual(['NAME', 'READY', 'NAMESPACES', 'EXPIRES', 'AGE']);
    expect(list.stdout).toContain(name);
  });

  test('the columns render the status the operator writes; -o wide adds REASON, SUSPENDED and VERIFIED', async () => {
    const status = {
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'SourceSecretNotFound',
          message: 'm',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
        {
          type: 'CredentialsVerified',
          status: 'False',
          reason: 'Unauthorized',
          message: 'm',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
      namespaces: { selected: 3, ready: 2, failed: 1 },
      namespaceSummary: '2/3',
      credentialsExpireAt: '2030-11-22T18:00:00Z',
    };
    const patched = await kubectl([
      'patch',
      'registrycredential',
      name,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status }),
    ]);
    expect(patched.stderr).toBe('');
    expect(patched.code).toBe(0);

    const res = await kubectl(['get', 'registrycredentials', name]);
    expect(res.code).toBe(0);
    const [header, row] = table(res.stdout);
    expect(header).toEqual(['NAME', 'READY', 'NAMESPACES', 'EXPIRES', 'AGE']);
    expect(row?.slice(0, 4)).toEqual([name, 'False', '2/3', '2030-11-22T18:00:00Z']);

    const wide = await kubectl(['get', 'registrycredentials', name, '-o', 'wide']);
    expect(wide.code).toBe(0);
    const [wideHeader, wideRow] = table(wide.stdout);
    expect(wideHeader).toEqual(['NAME', 'READY', 'NAMESPACES', 'EXPIRES', 'AGE', 'REASON', 'SUSPENDED', 'VERIFIED']);
    expect(wideRow?.slice(-3)).toEqual(['SourceSecretNotFound', 'false', 'False']);
  });
});
