// One API, two schemas that must agree: the CRD (crds/, what the API server enforces at apply
// time, with the CEL rules that only it can run) and the zod schema in src/api/v1alpha1.ts (what
// the operator parses with, and whose defaults it applies). This test reads both, reduces each to
// the same facts per field (type, required, default, bounds, enum, and which fields exist), and
// fails on any difference, naming the field. CEL rules and formats stay in the CRD; zod's
// refinements are the operator's own guards against an older CRD and are not compared.
import { readFileSync } from 'node:fs';
import { loadYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { z } from 'zod';
import { specSchema } from '../../src/api/v1alpha1.js';

const CRD_FILE = new URL('../../crds/regcred.io_registrycredentials.yaml', import.meta.url);

interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  items?: SchemaNode;
  additionalProperties?: SchemaNode | boolean;
  default?: unknown;
  enum?: unknown[];
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  minProperties?: number;
  maxProperties?: number;
}

const FACTS = [
  'type',
  'default',
  'enum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'minimum',
  'maximum',
  'minProperties',
  'maxProperties',
] as const;

/** Every field as `path -> facts`: `a.b` for properties, `a[]` for items, `a{}` for map values. */
export function facts(
  node: SchemaNode,
  path = 'spec',
  out: Record<string, Record<string, unknown>> = {},
): Record<string, Record<string, unknown>> {
  const own: Record<string, unknown> = {};
  for (const fact of FACTS) if (node[fact] !== undefined) own[fact] = node[fact];
  if (node.required?.length) own.required = [...node.required].sort();
  out[path] = own;
  for (const [name, child] of Object.entries(node.properties ?? {})) facts(child, `${path}.${name}`, out);
  if (node.items) facts(node.items, `${path}[]`, out);
  if (typeof node.additionalProperties === 'object') facts(node.additionalProperties, `${path}{}`, out);
  return out;
}

function crdSpecSchema(): SchemaNode {
  const crd = loadYaml<V1CustomResourceDefinition>(readFileSync(CRD_FILE, 'utf8'));
  const version = crd.spec.versions.find((v) => v.name === 'v1alpha1')!;
  return fromCrd(version.schema!.openAPIV3Schema!.properties!.spec);
}

/**
 * client-node's loadYaml reads the CRD into its typed model, where `default` and `enum` are named
 * `_default` and `_enum`; the untyped parts (items, additionalProperties) keep the YAML names.
 */
function fromCrd(props: unknown): SchemaNode {
  const node = props as SchemaNode & { _default?: unknown; _enum?: unknown[] };
  const { _default, _enum, properties, items, additionalProperties, ...rest } = node;
  return {
    ...rest,
    ...(_default !== undefined ? { default: _default } : {}),
    ...(_enum !== undefined ? { enum: _enum } : {}),
    ...(properties
      ? { properties: Object.fromEntries(Object.entries(properties).map(([name, child]) => [name, fromCrd(child)])) }
      : {}),
    ...(items ? { items: fromCrd(items) } : {}),
    ...(typeof additionalProperties === 'object' ? { additionalProperties: fromCrd(additionalProperties) } : {}),
  };
}

function zodSpecSchema(): SchemaNode {
  // io: 'input' = what a user may write: defaulted fields are optional, as in the CRD.
  return z.toJSONSchema(specSchema, { io: 'input', unrepresentable: 'any' }) as SchemaNode;
}

/** The differences between two fact maps, one line per field and fact. */
export function differences(
  crd: Record<string, Record<string, unknown>>,
  zod: Record<string, Record<string, unknown>>,
): string[] {
  const lines: string[] = [];
  for (const path of new Set([...Object.keys(crd), ...Object.keys(zod)])) {
    if (!(path in zod)) lines.push(`${path}: in the CRD, not in the zod schema`);
    else if (!(path in crd)) lines.push(`${path}: in the zod schema, not in the CRD`);
    else {
      for (const fact of new Set([...Object.keys(crd[path]!), ...Object.keys(zod[path]!)])) {
        const a = JSON.stringify(crd[path]![fact]);
        const b = JSON.stringify(zod[path]![fact]);
        if (a !== b) lines.push(`${path}: ${fact} is ${a ?? 'unset'} in the CRD, ${b ?? 'unset'} in the zod schema`);
      }
    }
  }
  return lines;
}

describe('the CRD and the zod schema describe the same spec', () => {
  test('fields, types, required fields, defaults, bounds and enums are equal', () => {
    expect(differences(facts(crdSpecSchema()), facts(zodSpecSchema()))).toEqual([]);
  });

  test('both have the fields the contract names', () => {
    const fields = Object.keys(facts(crdSpecSchema()));
    for (const field of [
      'spec.registries[].basicAuth.usernameKey',
      'spec.registries[].ecr.roleArn',
      'spec.namespaceSelector.matchLabels{}',
      'spec.refreshInterval',
      'spec.suspend',
    ]) {
      expect(fields).toContain(field);
    }
  });

  // The comparison itself: a difference of each kind is reported.
  test.each<[string, SchemaNode, SchemaNode, string[]]>([
    ['equal', { type: 'string', maxLength: 3 }, { type: 'string', maxLength: 3 }, []],
    [
      'a bound',
      { type: 'string', maxLength: 3 },
      { type: 'string', maxLength: 4 },
      ['spec: maxLength is 3 in the CRD, 4 in the zod schema'],
    ],
    [
      'a missing bound',
      { type: 'array', minItems: 1 },
      { type: 'array' },
      ['spec: minItems is 1 in the CRD, unset in the zod schema'],
    ],
    [
      'a default',
      { type: 'boolean', default: false },
      { type: 'boolean', default: true },
      ['spec: default is false in the CRD, true in the zod schema'],
    ],
    [
      'an enum',
      { type: 'string', enum: ['A', 'B'] },
      { type: 'string', enum: ['A'] },
      ['spec: enum is ["A","B"] in the CRD, ["A"] in the zod schema'],
    ],
    [
      'a field only on one side',
      { type: 'object', properties: { a: { type: 'string' } } },
      { type: 'object', properties: { b: { type: 'string' } } },
      ['spec.a: in the CRD, not in the zod schema', 'spec.b: in the zod schema, not in the CRD'],
    ],
    [
      'required fields',
      { type: 'object', required: ['a'] },
      { type: 'object' },
      ['spec: required is ["a"] in the CRD, unset in the zod schema'],
    ],
    [
      'a type',
      { type: 'integer' },
      { type: 'number' },
      ['spec: type is "integer" in the CRD, "number" in the zod schema'],
    ],
  ])('the comparison reports %s', (_name, crd, zod, expected) => {
    expect(differences(facts(crd), facts(zod))).toEqual(expected);
  });
});
