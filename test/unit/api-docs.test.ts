// docs/reference/api.md is generated from the CRD (hack/gen-api-docs.ts): this test regenerates it
// in memory and fails when the committed page differs, so the reference cannot drift from the schema.
// It also checks the generator on a small CRD of its own: every kind of fact a field can carry shows.
import { readFileSync } from 'node:fs';
import { API_DOCS_PATH, CRD_PATH, REGENERATE_COMMAND, renderApiDocs } from '../../hack/gen-api-docs.js';

const ROOT = new URL('../../', import.meta.url);

describe('docs/reference/api.md', () => {
  test('is what hack/gen-api-docs.ts makes of the CRD', () => {
    const expected = renderApiDocs(readFileSync(new URL(CRD_PATH, ROOT), 'utf8'));
    let committed = '';
    try {
      committed = readFileSync(new URL(API_DOCS_PATH, ROOT), 'utf8');
    } catch {
      // missing: reported below like a stale page
    }
    if (committed !== expected) {
      const expectedLines = expected.split('\n');
      const committedLines = committed.split('\n');
      const lines = Math.max(expectedLines.length, committedLines.length);
      const line = Array.from({ length: lines }, (_, index) => index).find(
        (index) => expectedLines[index] !== committedLines[index],
      )!;
      throw new Error(
        `${API_DOCS_PATH} is stale: it differs from what ${CRD_PATH} generates ` +
          `(first at line ${line + 1}: expected ${JSON.stringify(expectedLines[line])}, ` +
          `found ${JSON.stringify(committedLines[line])}). Regenerate it with \`${REGENERATE_COMMAND}\` and commit it.`,
      );
    }
  });
});

describe('renderApiDocs', () => {
  const crd = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.io}
spec:
  group: example.io
  scope: Namespaced
  names: {kind: Widget, plural: widgets, shortNames: [wg]}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      additionalPrinterColumns:
        - {name: Size, type: integer, jsonPath: .spec.size, description: "a | pipe"}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size]
              x-kubernetes-validations:
                - rule: self.size > 0 || has(self.mode)
                  message: "size or mode: <one> of *them*"
                  fieldPath: .size
                  reason: FieldValueRequired
              properties:
                size: {type: integer, format: int32, minimum: 1, maximum: 9, default: 3, description: How big.}
                mode: {type: string, enum: [Fast, Slow], pattern: '^[A-Z]'}
                tags:
                  type: array
                  maxItems: 4
                  items: {type: string, maxLength: 8, x-kubernetes-validations: [{rule: self != "x", message: not x}]}
                parts:
                  type: array
                  items:
                    type: object
                    description: One part.
                    properties:
                      name: {type: string, x-kubernetes-future-keyword: 7}
                labels: {type: object, additionalProperties: {type: string, maxLength: 63}}
                port: {x-kubernetes-int-or-string: true}
`;
  const markdown = renderApiDocs(crd, 'widgets.yaml');

  test.each([
    ['the source and how to regenerate', `Regenerate with \`${REGENERATE_COMMAND}\``],
    ['names', '| short names | `wg` |'],
    ['printer columns, escaping a pipe', '| Size | `integer` | `.spec.size` | 0 | a \\| pipe |'],
    ['a field heading with a stable anchor', '### `spec.size` { #spec-size }'],
    ['type with format', '- **Type:** `integer (int32)`'],
    ['required', '- **Required:** yes'],
    ['default', '- **Default:** `3`'],
    ['bounds', '- **Bounds:** minimum `1`, maximum `9`'],
    ['enum', '- **One of:** `Fast`, `Slow`'],
    ['pattern', '- **Pattern:** `^[A-Z]`'],
    ['a CEL rule', '- **Rule (CEL):** `self.size > 0 || has(self.mode)`'],
    ['its message, escaped', '    - message: size or mode: &lt;one&gt; of \\*them\\*'],
    ['its field path and reason', '    - field path: `.size`\n    - reason: `FieldValueRequired`'],
    [
      'constraints of array items',
      '- **Each item:**\n    - **Bounds:** max length `8`\n    - **Rule (CEL):** `self != "x"`',
    ],
    ['fields inside array items', '### `spec.parts[].name` { #spec-parts-name }'],
    ['the description of array items', 'Each item: One part.'],
    ['a map', '- **Type:** `map[string]string`'],
    ['int-or-string', '- **Type:** `int-or-string`'],
    ['a keyword the generator does not know', '- **x-kubernetes-future-keyword:** `7`'],
    ['the summary table links every field', '| [spec.parts\\[\\].name](#spec-parts-name) | `string` |  |  |'],
  ])('shows %s', (_what, text) => {
    expect(markdown).toContain(text);
  });

  test('prefixes anchors with the version when the CRD has several', () => {
    const twoVersions = crd.replace(
      '  versions:\n',
      '  versions:\n    - {name: v0, served: false, storage: false, schema: {openAPIV3Schema: {type: object}}}\n',
    );
    const out = renderApiDocs(twoVersions, 'widgets.yaml');
    expect(out).toContain('## v1');
    expect(out).toContain('#### `spec.size` { #v1-spec-size }');
    expect(out).toContain('not served');
  });

  test('refuses what is not a CRD', () => {
    expect(() => renderApiDocs('kind: ConfigMap', 'cm.yaml')).toThrow('cm.yaml is not a CustomResourceDefinition');
  });
});
