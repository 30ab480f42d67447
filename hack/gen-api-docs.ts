// The API reference, generated from the CRD so that it cannot drift from what the API server enforces:
// crds/regcred.io_registrycredentials.yaml -> docs/reference/api.md, every field path with its type,
// default, enum, bounds, pattern, CEL rules (x-kubernetes-validations, with their messages) and
// description. Nothing here knows a field of RegistryCredential: a field added to the CRD appears
// with whatever its schema says, and a schema keyword this file does not know is listed as it is.
//
//   node --import ./hack/ts-loader.mjs hack/gen-api-docs.ts      (npm run docs:api) writes the page
//   test/unit/api-docs.test.ts                                   fails when the page is stale
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import yaml from 'js-yaml';

export const CRD_PATH = 'crds/regcred.io_registrycredentials.yaml';
export const API_DOCS_PATH = 'docs/reference/api.md';
export const REGENERATE_COMMAND = 'npm run docs:api';

interface Rule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: string;
  optionalOldSelf?: boolean;
  [other: string]: unknown;
}

interface Schema {
  type?: string;
  format?: string;
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema | boolean;
  default?: unknown;
  enum?: unknown[];
  'x-kubernetes-validations'?: Rule[];
  [keyword: string]: unknown;
}

interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

interface CrdVersion {
  name: string;
  served?: boolean;
  storage?: boolean;
  deprecated?: boolean;
  subresources?: Record<string, unknown>;
  additionalPrinterColumns?: PrinterColumn[];
  schema?: { openAPIV3Schema?: Schema };
}

interface Crd {
  metadata?: { name?: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; singular?: string; listKind?: string; shortNames?: string[] };
    versions: CrdVersion[];
  };
}

/** Keywords rendered in their own place; any other keyword of a schema is listed under "Other". */
const STRUCTURE = new Set(['type', 'format', 'description', 'properties', 'required', 'items', 'additionalProperties']);
const BOUNDS: Array<[keyword: string, label: string]> = [
  ['minLength', 'min length'],
  ['maxLength', 'max length'],
  ['minimum', 'minimum'],
  ['maximum', 'maximum'],
  ['exclusiveMinimum', 'exclusive minimum'],
  ['exclusiveMaximum', 'exclusive maximum'],
  ['multipleOf', 'multiple of'],
  ['minItems', 'min items'],
  ['maxItems', 'max items'],
  ['uniqueItems', 'unique items'],
  ['minProperties', 'min properties'],
  ['maxProperties', 'max properties'],
  ['nullable', 'nullable'],
  ['x-kubernetes-list-type', 'list type'],
  ['x-kubernetes-list-map-keys', 'list map keys'],
  ['x-kubernetes-map-type', 'map type'],
];
const RENDERED = new Set([
  ...STRUCTURE,
  ...BOUNDS.map(([keyword]) => keyword),
  'default',
  'enum',
  'pattern',
  'x-kubernetes-validations',
]);
const RULE_FIELDS = new Set(['rule', 'message', 'messageExpression', 'fieldPath', 'reason', 'optionalOldSelf']);

/** One documented field: its path (`spec.registries[].server`), its schema, and whether its parent requires it. */
interface Field {
  path: string;
  schema: Schema;
  required: boolean;
}

/** Text for Markdown prose: everything Markdown or HTML would read as markup is escaped. */
export function escapeText(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_[\]{}|#])/g, '\\$1');
}

/** An inline code span that holds `text` exactly, whatever backticks it contains. */
export function code(text: string): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((run) => run[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** A code span inside a table cell: a `|` would end the cell, so such text becomes an HTML <code>. */
function codeCell(text: string): string {
  if (!text.includes('|')) return code(text);
  return `<code>${text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '&#124;')}</code>`;
}

function json(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The anchor of a field's heading: stable, readable, and the same for every build. */
export function anchorOf(path: string, version?: string): string {
  const slug = path
    .replace(/\[\]/g, '')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .toLowerCase();
  return version ? `${version}-${slug}` : slug;
}

/** `string`, `string (date-time)`, `[]object`, `map[string]string`, `int-or-string`, ... */
export function typeOf(schema: Schema): string {
  if (schema['x-kubernetes-int-or-string']) return 'int-or-string';
  const base = schema.type ?? 'any';
  const withFormat = schema.format ? `${base} (${schema.format})` : base;
  if (base === 'array' && schema.items) return `[]${typeOf(schema.items)}`;
  if (base === 'object' && !schema.properties && typeof schema.additionalProperties === 'object')
    return `map[string]${typeOf(schema.additionalProperties)}`;
  return withFormat;
}

/** Every field below `schema`, depth first, in the order the CRD lists them. */
function fieldsOf(schema: Schema, prefix: string): Field[] {
  const out: Field[] = [];
  const required = new Set(schema.required ?? []);
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const path = prefix ? `${prefix}.${name}` : name;
    out.push({ path, schema: child, required: required.has(name) });
    out.push(...nestedFieldsOf(child, path));
  }
  return out;
}

/** Fields inside array items and map values that are objects with properties of their own. */
function nestedFieldsOf(schema: Schema, path: string): Field[] {
  if (schema.properties) return fieldsOf(schema, path);
  if (schema.items && hasFields(schema.items)) return nestedFieldsOf(schema.items, `${path}[]`);
  if (typeof schema.additionalProperties === 'object' && hasFields(schema.additionalProperties))
    return nestedFieldsOf(schema.additionalProperties, `${path}{}`);
  return [];
}

function hasFields(schema: Schema): boolean {
  return (
    schema.properties !== undefined ||
    (schema.items !== undefined && hasFields(schema.items)) ||
    (typeof schema.additionalProperties === 'object' && hasFields(schema.additionalProperties))
  );
}

/** The facts a schema node states about its own values: bounds, enum, pattern, CEL rules, other keywords. */
function constraintLines(schema: Schema): string[] {
  const lines: string[] = [];
  const bounds = BOUNDS.filter(([keyword]) => schema[keyword] !== undefined).map(
    ([keyword, label]) => `${label} ${code(json(schema[keyword]))}`,
  );
  if (bounds.length > 0) lines.push(`- **Bounds:** ${bounds.join(', ')}`);
  if (schema.enum) lines.push(`- **One of:** ${schema.enum.map((value) => code(json(value))).join(', ')}`);
  if (typeof schema.pattern === 'string') lines.push(`- **Pattern:** ${code(schema.pattern)}`);
  for (const rule of schema['x-kubernetes-validations'] ?? []) lines.push(...ruleLines(rule));
  for (const [keyword, value] of Object.entries(schema)) {
    if (RENDERED.has(keyword)) continue;
    lines.push(`- **${escapeText(keyword)}:** ${code(json(value))}`);
  }
  return lines;
}

function ruleLines(rule: Rule): string[] {
  const lines = [`- **Rule (CEL):** ${code(rule.rule.trim())}`];
  if (rule.message) lines.push(`    - message: ${escapeText(rule.message.trim())}`);
  if (rule.messageExpression) lines.push(`    - message expression: ${code(rule.messageExpression.trim())}`);
  if (rule.fieldPath) lines.push(`    - field path: ${code(rule.fieldPath)}`);
  if (rule.reason) lines.push(`    - reason: ${code(rule.reason)}`);
  if (rule.optionalOldSelf !== undefined) lines.push(`    - optionalOldSelf: ${code(json(rule.optionalOldSelf))}`);
  for (const [key, value] of Object.entries(rule)) {
    if (!RULE_FIELDS.has(key)) lines.push(`    - ${escapeText(key)}: ${code(json(value))}`);
  }
  return lines;
}

/** What the items of an array or the values of a map must satisfy, when they are not documented as fields. */
function elementLines(schema: Schema): string[] {
  const element =
    schema.items ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
  if (!element || hasFields(element)) return [];
  const what = schema.items ? 'Each item' : 'Each value';
  const lines: string[] = [];
  const facts = constraintLines(element);
  if (element.description) lines.push(`- **${what}:** ${escapeText(element.description.trim())}`);
  if (facts.length > 0) {
    if (!element.description) lines.push(`- **${what}:**`);
    lines.push(...facts.map((line) => `    ${line}`));
  }
  return lines;
}

function fieldSection(field: Field, version: string | undefined, level: string): string {
  const { schema } = field;
  const lines = [`${level} ${code(field.path)} { #${anchorOf(field.path, version)} }`, ''];
  const facts = [`- **Type:** ${code(typeOf(schema))}`, `- **Required:** ${field.required ? 'yes' : 'no'}`];
  if (schema.default !== undefined) facts.push(`- **Default:** ${code(json(schema.default))}`);
  facts.push(...constraintLines(schema), ...elementLines(schema));
  const itemDescription =
    schema.items && hasFields(schema.items) && schema.items.description
      ? [`Each item: ${escapeText(schema.items.description.trim())}`, '']
      : [];
  const description = schema.description ? [escapeText(schema.description.trim()), ''] : [];
  return [...lines, ...description, ...itemDescription, ...facts, ''].join('\n');
}

function summaryTable(fields: Field[], version: string | undefined): string {
  const rows = fields.map((field) => {
    const link = `[${escapeText(field.path)}](#${anchorOf(field.path, version)})`;
    const fallback = field.schema.default === undefined ? '' : codeCell(json(field.schema.default));
    return `| ${link} | ${codeCell(typeOf(field.schema))} | ${field.required ? 'yes' : ''} | ${fallback} |`;
  });
  return ['| field | type | required | default |', '| --- | --- | --- | --- |', ...rows, ''].join('\n');
}

function printerColumns(columns: PrinterColumn[]): string {
  const rows = columns.map((column) => {
    const description = column.description ? escapeText(column.description) : '';
    const priority = column.priority ? String(column.priority) : '0';
    const cells = [escapeText(column.name), codeCell(column.type), codeCell(column.jsonPath), priority, description];
    return `| ${cells.join(' | ')} |`;
  });
  return [
    'Priority 0 columns show in `kubectl get`; the others only with `-o wide`.',
    '',
    '| column | type | JSON path | priority | description |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

function versionSection(crd: Crd, version: CrdVersion, prefixAnchors: boolean): string {
  const root = version.schema?.openAPIV3Schema;
  if (!root) throw new Error(`${crd.metadata?.name ?? 'the CRD'}: version ${version.name} has no openAPIV3Schema`);
  const anchorVersion = prefixAnchors ? version.name : undefined;
  const heading = prefixAnchors ? '###' : '##';
  const fieldHeading = prefixAnchors ? '####' : '###';
  const flags = [
    version.served === false ? 'not served' : 'served',
    ...(version.storage ? ['storage version'] : []),
    ...(version.deprecated ? ['deprecated'] : []),
  ];
  const subresources = Object.keys(version.subresources ?? {});
  const out: string[] = [];
  if (prefixAnchors) out.push(`## ${version.name}`, '');
  out.push(
    `\`${crd.spec.group}/${version.name}\`: ${flags.join(', ')}; subresources: ${
      subresources.length ? subresources.map(code).join(', ') : 'none'
    }.`,
    '',
  );
  if (root.description) out.push(escapeText(root.description.trim()), '');
  const rootFacts = constraintLines(root);
  if (rootFacts.length > 0) out.push(`${heading} Rules on the whole object`, '', ...rootFacts, '');
  if (version.additionalPrinterColumns?.length)
    out.push(`${heading} Printer columns`, '', printerColumns(version.additionalPrinterColumns));
  const fields = fieldsOf(root, '');
  out.push(`${heading} Fields`, '', summaryTable(fields, anchorVersion));
  for (const field of fields) out.push(fieldSection(field, anchorVersion, fieldHeading));
  return out.join('\n');
}

/** Pure: the CRD's YAML text -> the Markdown of docs/reference/api.md. */
export function renderApiDocs(crdYaml: string, source = CRD_PATH): string {
  const crd = yaml.load(crdYaml) as Crd;
  if (!crd?.spec?.versions?.length) throw new Error(`${source} is not a CustomResourceDefinition with versions`);
  const { group, scope, names } = crd.spec;
  const identity = [
    '| what | value |',
    '| --- | --- |',
    `| group | ${code(group)} |`,
    `| versions | ${crd.spec.versions.map((version) => code(version.name)).join(', ')} |`,
    `| kind | ${code(names.kind)} |`,
    ...(names.listKind ? [`| list kind | ${code(names.listKind)} |`] : []),
    `| plural | ${code(names.plural)} |`,
    ...(names.singular ? [`| singular | ${code(names.singular)} |`] : []),
    ...(names.shortNames?.length ? [`| short names | ${names.shortNames.map(code).join(', ')} |`] : []),
    `| scope | ${escapeText(scope)} |`,
    '',
  ];
  const several = crd.spec.versions.length > 1;
  return [
    `<!-- Generated from ${source} by hack/gen-api-docs.ts: do not edit. ` +
      `Regenerate with \`${REGENERATE_COMMAND}\`. -->`,
    '',
    '# API reference',
    '',
    `Every field of ${code(names.kind)} as the CRD defines it: type, default, bounds, patterns and the CEL rules ` +
      'the API server runs at apply time, with the message each rule answers with. This page is generated from ' +
      `${code(source)}; the [examples and semantics](../usage.md) explain how the fields work together.`,
    '',
    ...identity,
    ...crd.spec.versions.map((version) => versionSection(crd, version, several)),
  ]
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .replace(/\n*$/, '\n');
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const root = new URL('../', import.meta.url);
  const markdown = renderApiDocs(readFileSync(new URL(CRD_PATH, root), 'utf8'));
  writeFileSync(new URL(API_DOCS_PATH, root), markdown);
  process.stderr.write(`[gen-api-docs] wrote ${API_DOCS_PATH}\n`);
}
