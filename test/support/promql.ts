// What the monitoring artifacts ask of the operator's series, read from their text: the metric
// selectors of PromQL expressions (the alert rules, the dashboard's queries), the series of
// `promtool test rules` files, and the series of a real /metrics scrape. Enough PromQL for those
// files, not a parser of the language: a selector is a metric name with an optional {matchers}.

/** A metric selector: the metric's name and the label names its matchers use. */
export interface Selector {
  name: string;
  labels: string[];
}

/** Labels Prometheus adds to every scraped series (the target's), and `le` of histogram buckets. */
export const TARGET_LABELS = ['job', 'instance'];

const IDENTIFIER = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const MATCHER = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?/y;
/** PromQL words that look like metric names but are not (functions, keywords, aggregations). */
const NOT_METRICS = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right',
  'and', 'or', 'unless', 'rate', 'increase', 'irate', 'delta', 'absent', 'vector', 'histogram_quantile',
  'time', 'timestamp', 'offset', 'bool', 'topk', 'bottomk', 'label_values', 'clamp_min', 'clamp_max',
  'abs', 'scalar', 'deriv', 'predict_linear', 'max_over_time', 'min_over_time', 'avg_over_time',
]); // prettier-ignore

/** The metric selectors of an expression (Grafana's $variables are kept inside matchers' strings). */
export function selectorsOf(expr: string): Selector[] {
  const found: Selector[] = [];
  let i = 0;
  while (i < expr.length) {
    const ch = expr[i]!;
    if (ch === '"' || ch === "'") {
      const end = expr.indexOf(ch, i + 1);
      i = end < 0 ? expr.length : end + 1;
      continue;
    }
    if (ch === '[') {
      i = expr.indexOf(']', i) + 1 || expr.length;
      continue;
    }
    IDENTIFIER.lastIndex = i;
    const word = IDENTIFIER.exec(expr);
    if (!word || (i > 0 && /[a-zA-Z0-9_:$.]/.test(expr[i - 1]!))) {
      i += word ? word[0].length : 1;
      continue;
    }
    i += word[0].length;
    const name = word[0];
    const rest = expr.slice(i);
    // a function call, or a grouping clause `by (a, b)`: not a selector
    if (NOT_METRICS.has(name) || /^\s*\(/.test(rest) || /^\d/.test(name)) {
      if (['by', 'without', 'on', 'ignoring', 'group_left', 'group_right'].includes(name)) {
        const close = expr.indexOf(')', i);
        i = close < 0 ? expr.length : close + 1;
      }
      continue;
    }
    const labels: string[] = [];
    const brace = /^\s*\{/.exec(rest);
    if (brace) {
      let j = i + brace[0].length;
      for (;;) {
        MATCHER.lastIndex = j;
        const matcher = MATCHER.exec(expr);
        if (!matcher) break;
        labels.push(matcher[1]!);
        j = MATCHER.lastIndex;
      }
      if (expr[j] !== '}') throw new Error(`cannot read the matchers of ${name} in: ${expr}`);
      i = j + 1;
    }
    found.push({ name, labels });
  }
  return found;
}

/** The label names of grouping and matching clauses: by (…), without (…), on (…), ignoring (…). */
export function groupingLabelsOf(expr: string): string[] {
  const labels: string[] = [];
  for (const clause of expr.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g))
    labels.push(
      ...clause[1]!
        .split(',')
        .map((label) => label.trim())
        .filter(Boolean),
    );
  return labels;
}

/** A series of a promtool test file, `name{a="x", b="y"}`: its name and label names. */
export function parseSeries(series: string): Selector {
  const [selector, ...more] = selectorsOf(series);
  if (!selector || more.length) throw new Error(`not one series: ${series}`);
  return selector;
}

/** Every sample name of a Prometheus text exposition with the label-name sets it has (sorted, joined by ","). */
export function scrapedSeries(text: string): Map<string, Set<string>> {
  const series = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const { name, labels } = parseSeries(line.slice(0, line.lastIndexOf(' ')).trim());
    const sets = series.get(name) ?? new Set<string>();
    sets.add(labelSet(labels));
    series.set(name, sets);
  }
  return series;
}

export function labelSet(labels: string[]): string {
  return [...new Set(labels)].sort().join(',');
}
