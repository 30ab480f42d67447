// The monitoring artifacts' structure, without a cluster: the Grafana dashboard (schema version,
// unique panel ids, the datasource variable every query uses, a layout inside 24 columns), every
// alert's runbook anchor and severity, and the PromQL reading the real-scrape integration test
// (test/integration/monitoring.test.ts) relies on.
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { groupingLabelsOf, parseSeries, scrapedSeries, selectorsOf } from '../support/promql.js';

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Array<{ refId: string; expr: string; datasource?: { uid: string } }>;
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
  panels: Panel[];
}
interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const dashboard = JSON.parse(readFileSync('deploy/dashboards/regcred.json', 'utf8')) as Dashboard;
const panels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
const queryPanels = panels.filter((panel) => panel.type !== 'row');
const rules = (
  yaml.load(readFileSync('deploy/alerts/regcred-operator.rules.yaml', 'utf8')) as {
    groups: Array<{ rules: Rule[] }>;
  }
).groups.flatMap((group) => group.rules);
const runbook = readFileSync('docs/operations/alerts.md', 'utf8');

describe('the Grafana dashboard', () => {
  test('a current schema, a stable uid and title', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect({ uid: dashboard.uid, title: dashboard.title }).toEqual({
      uid: 'regcred-operator',
      title: 'regcred-operator',
    });
  });

  test('panel ids are unique', () => {
    const ids = panels.map((panel) => panel.id);
    expect(ids.length).toBeGreaterThan(0);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('a datasource variable of type prometheus, and a job variable read through it', () => {
    const variables = Object.fromEntries(dashboard.templating.list.map((variable) => [variable.name, variable]));
    expect(variables.datasource).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(variables.job).toMatchObject({ type: 'query', datasource: { uid: '${datasource}' } });
  });

  test.each(queryPanels.map((panel) => [panel.title, panel] as const))(
    'panel %s: queries through ${datasource}, each with its own refId, selecting $job',
    (_title, panel) => {
      expect(panel.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
      const targets = panel.targets ?? [];
      expect(targets.length).toBeGreaterThan(0);
      expect(new Set(targets.map((target) => target.refId)).size).toBe(targets.length);
      for (const target of targets) {
        expect(target.datasource?.uid).toBe('${datasource}');
        const selectors = selectorsOf(target.expr);
        expect(selectors.length).toBeGreaterThan(0);
        for (const selector of selectors)
          expect(selector).toEqual({ name: selector.name, labels: expect.arrayContaining(['job']) });
      }
    },
  );

  test('panels lie within 24 columns and do not overlap', () => {
    const cells = new Map<string, string>();
    for (const panel of panels) {
      const { x, y, w, h } = panel.gridPos;
      expect(x + w).toBeLessThanOrEqual(24);
      for (let row = y; row < y + h; row++)
        for (let column = x; column < x + w; column++) {
          const key = `${row},${column}`;
          expect({ cell: key, taken: cells.get(key) }).toEqual({ cell: key, taken: undefined });
          cells.set(key, panel.title);
        }
    }
  });
});

describe('the alerts', () => {
  const headings = new Set(
    [...runbook.matchAll(/^## (.+)$/gm)].map((heading) => heading[1]!.toLowerCase().replace(/[^a-z0-9]+/g, '-')),
  );

  test.each(rules.map((rule) => [rule.alert, rule] as const))(
    '%s: a severity, a summary, and a runbook_url at its own section of docs/operations/alerts.md',
    (alert, rule) => {
      expect(['critical', 'warning']).toContain(rule.labels.severity);
      expect(rule.annotations.summary).toBeTruthy();
      const url = new URL(rule.annotations.runbook_url!);
      expect(url.pathname.endsWith('/docs/operations/alerts.md')).toBe(true);
      expect(url.hash).toBe(`#${alert.toLowerCase()}`);
      expect(headings.has(alert.toLowerCase())).toBe(true);
    },
  );

  test('every section of the runbook is an alert', () => {
    expect([...headings].sort()).toEqual(rules.map((rule) => rule.alert.toLowerCase()).sort());
  });
});

describe('reading PromQL', () => {
  test.each([
    ['a bare name', 'regcred_leader', [{ name: 'regcred_leader', labels: [] }]],
    [
      'matchers, a function and a range',
      'sum by (code) (rate(regcred_api_requests_total{job=~"$job", code="429"}[$__rate_interval]))',
      [{ name: 'regcred_api_requests_total', labels: ['job', 'code'] }],
    ],
    [
      'vector matching',
      'regcred_namespaces{state="ready"} < ignoring (state) regcred_namespaces{state="selected"}' +
        ' and on (job, instance) regcred_leader == 1',
      [
        { name: 'regcred_namespaces', labels: ['state'] },
        { name: 'regcred_namespaces', labels: ['state'] },
        { name: 'regcred_leader', labels: [] },
      ],
    ],
    [
      'histogram_quantile over buckets, a number',
      'histogram_quantile(0.99, sum by (le) (rate(regcred_workqueue_queue_duration_seconds_bucket[5m]))) > 0.5',
      [{ name: 'regcred_workqueue_queue_duration_seconds_bucket', labels: [] }],
    ],
    ['absent() of up', 'absent(up{job="x"} == 1) or vector(0)', [{ name: 'up', labels: ['job'] }]],
    ['a string with a name in it', 'regcred_ready{job="regcred_leader"}', [{ name: 'regcred_ready', labels: ['job'] }]],
  ])('%s', (_name, expr, expected) => {
    expect(selectorsOf(expr)).toEqual(expected);
  });

  test('grouping and matching labels', () => {
    expect(groupingLabelsOf('sum by (job, reason) (x) / on (job) group_left (credential) y')).toEqual([
      'job',
      'reason',
      'job',
      'credential',
    ]);
  });

  test('a promtool series and a scrape', () => {
    expect(parseSeries('regcred_namespaces{job="j", credential="c", state="ready"}')).toEqual({
      name: 'regcred_namespaces',
      labels: ['job', 'credential', 'state'],
    });
    const scrape = scrapedSeries(
      [
        '# HELP regcred_leader 1 while this process may write',
        '# TYPE regcred_leader gauge',
        'regcred_leader 1',
        'regcred_namespaces{credential="a b",state="ready"} 3',
        'regcred_namespaces{state="failed",credential="a"} 0',
      ].join('\n'),
    );
    expect(Object.fromEntries([...scrape].map(([name, sets]) => [name, [...sets]]))).toEqual({
      regcred_leader: [''],
      regcred_namespaces: ['credential,state'],
    });
  });
});
