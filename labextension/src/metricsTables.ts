/**
 * A trained version's metrics.json as tables, arranged as the Python faces
 * arrange them (`jupyter_automl/reports/tables.py`): the same rows and
 * columns, so the panel, the notebooks and the reports show the same figures.
 *
 * Pure functions of the parsed JSON: no requests, no React.
 */
import type { components } from './schema';

/** metrics.json as `GET .../versions/{version}/metrics` answers it (or as read from a file). */
export type Metrics = components['schemas']['Metrics'] | Record<string, unknown>;

/** The columns after the per-class ones: a head's overall figures. */
export const HEAD_COLUMNS = ['balanced_accuracy', 'macro_f1', 'accuracy'] as const;

/** The columns of a head's table, in order (`head_table`). */
export const HEAD_TABLE_COLUMNS = [
  'class',
  'precision',
  'recall',
  'f1',
  'support',
  ...HEAD_COLUMNS
] as const;

/** The label of the row that sums a head up. */
export const ALL_ROW = '(all)';

/** One row of a head's table: a class, or `(all)` with the head's overall figures. */
export interface IHeadRow {
  class: string;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  support: number | null;
  balanced_accuracy: number | null;
  macro_f1: number | null;
  accuracy: number | null;
}

/** One row of the LLM table: base model vs fine-tuned (`llm_comparison`). */
export interface IComparisonRow {
  metric: string;
  base: number | null;
  tuned: number | null;
  change: number | null;
  change_percent: number | null;
}

/** One headline number (`headline`). */
export interface IHeadlineEntry {
  metric: string;
  value: number | null;
}

/** Which way a number is better. */
export type Direction = 'higher' | 'lower';

/** One row of two versions side by side (`compare_versions`). */
export interface ICompareRow {
  metric: string;
  /** One value per column, in the order of `columns`; null where the version lacks it. */
  values: (number | null)[];
  /** Which way is better, when known. */
  direction: Direction | null;
  /** The index (in `columns`) of the better value; null when unknown, missing or equal. */
  better: number | null;
}

/** Versions side by side: `v1`, `v2`... (oldest first) and one row per headline number. */
export interface ICompareTable {
  columns: string[];
  rows: ICompareRow[];
}

/** What chose the epoch that became the model (`metrics.selection`). */
export interface ISelection {
  rule: string | null;
  label: string | null;
  value: number | null;
  epoch: number | null;
  step: number | null;
  why: string | null;
}

type Json = Record<string, unknown>;

function obj(value: unknown): Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Json)
    : {};
}

function num(value: unknown): number | null {
  return typeof value === 'number' && isFinite(value) ? value : null;
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function heads(metrics: Metrics): Json {
  return obj(obj(obj(metrics).test).heads);
}

/** The heads of a classifier's test metrics, in the order training wrote them. */
export function headNames(metrics: Metrics): string[] {
  return Object.keys(heads(metrics));
}

/** Whether the metrics are an LLM's (a base vs tuned comparison, or an LLM model type). */
export function isLLMMetrics(metrics: Metrics): boolean {
  const type = str(obj(metrics).model_type);
  return (type !== null && type.startsWith('llm')) || Object.keys(obj(obj(metrics).comparison)).length > 0;
}

/**
 * One head's test metrics: precision, recall, F1 and support per class, then a
 * row `(all)` with the head's balanced accuracy, macro F1 and accuracy (its
 * support is the number of labelled test rows).
 *
 * @throws Error when the metrics have no such head
 */
export function headRows(metrics: Metrics, head: string): IHeadRow[] {
  const all = heads(metrics);
  if (!(head in all)) {
    const names = Object.keys(all).join(', ') || 'none';
    throw new Error(`no head '${head}' in these metrics (heads: ${names})`);
  }
  const values = obj(all[head]);
  const empty = { balanced_accuracy: null, macro_f1: null, accuracy: null };
  const rows: IHeadRow[] = Object.entries(obj(values.per_class)).map(([name, m]) => {
    const c = obj(m);
    return {
      class: name,
      precision: num(c.precision),
      recall: num(c.recall),
      f1: num(c.f1),
      support: num(c.support),
      ...empty
    };
  });
  rows.push({
    class: ALL_ROW,
    precision: null,
    recall: null,
    f1: null,
    support: num(values.labelled),
    balanced_accuracy: num(values.balanced_accuracy),
    macro_f1: num(values.macro_f1),
    accuracy: num(values.accuracy)
  });
  return rows;
}

/**
 * A head's rows with at most `limit` classes shown: the `(all)` row always
 * stays, and `more` says how many classes were left out.
 */
export function limitClasses(
  rows: IHeadRow[],
  limit: number
): { rows: IHeadRow[]; more: number } {
  const classes = rows.filter(r => r.class !== ALL_ROW);
  const total = rows.filter(r => r.class === ALL_ROW);
  const shown = classes.slice(0, Math.max(0, limit));
  return { rows: [...shown, ...total], more: classes.length - shown.length };
}

/**
 * LLMs: loss and token accuracy on the test rows, base model vs fine-tuned,
 * with the change and the change in percent of the base (null when the base
 * is 0).
 */
export function comparisonRows(metrics: Metrics): IComparisonRow[] {
  return Object.entries(obj(obj(metrics).comparison)).map(([metric, v]) => {
    const values = obj(v);
    return {
      metric,
      base: num(values.base),
      tuned: num(values.tuned),
      change: num(values.change),
      change_percent: num(values.change_percent)
    };
  });
}

/**
 * The few numbers that sum a version up: the tuned loss and token accuracy
 * with their change vs the base (LLMs), or each head's balanced accuracy,
 * macro F1 and accuracy (classifiers); the test loss when there is neither.
 */
export function headline(metrics: Metrics): IHeadlineEntry[] {
  const out: IHeadlineEntry[] = [];
  for (const [key, v] of Object.entries(obj(obj(metrics).comparison))) {
    const values = obj(v);
    out.push({ metric: key, value: num(values.tuned) });
    out.push({ metric: `${key} change vs base`, value: num(values.change) });
  }
  for (const [head, v] of Object.entries(heads(metrics))) {
    const values = obj(v);
    for (const key of HEAD_COLUMNS) {
      out.push({ metric: `${head}/${key}`, value: num(values[key]) });
    }
  }
  const loss = num(obj(obj(metrics).test).loss);
  if (out.length === 0 && loss !== null) {
    out.push({ metric: 'loss', value: loss });
  }
  return out;
}

/**
 * Which way a headline number is better: loss (and its change) lower;
 * accuracies and F1 (and their change) higher; null when not known.
 */
export function direction(metric: string): Direction | null {
  const base = metric.replace(/ change vs base$/, '');
  const last = base.split('/').pop() ?? base;
  if (/(^|_)loss$/.test(last)) {
    return 'lower';
  }
  if (/(accuracy|f1|precision|recall)$/.test(last)) {
    return 'higher';
  }
  return null;
}

/**
 * Two (or more) versions side by side, oldest first: one column per version
 * (`v1`, `v2`...), one row per headline number in the order they first
 * appear; a number a version lacks (a head added later) is null. Each row
 * marks the better value where the direction is known.
 */
export function compareRows(
  ...versions: { version: number; metrics: Metrics }[]
): ICompareTable {
  const sorted = [...versions].sort((a, b) => a.version - b.version);
  const columns = sorted.map(v => `v${v.version}`);
  const lookups = sorted.map(v => new Map(headline(v.metrics).map(e => [e.metric, e.value])));
  const order: string[] = [];
  for (const lookup of lookups) {
    for (const key of lookup.keys()) {
      if (!order.includes(key)) {
        order.push(key);
      }
    }
  }
  const rows = order.map(metric => {
    const values = lookups.map(l => l.get(metric) ?? null);
    const dir = direction(metric);
    return { metric, values, direction: dir, better: betterIndex(values, dir) };
  });
  return { columns, rows };
}

function betterIndex(values: (number | null)[], dir: Direction | null): number | null {
  if (dir === null || values.some(v => v === null) || values.length < 2) {
    return null;
  }
  const numbers = values as number[];
  const best = dir === 'higher' ? Math.max(...numbers) : Math.min(...numbers);
  const at = numbers.filter(v => v === best).length === 1 ? numbers.indexOf(best) : -1;
  return at >= 0 ? at : null;
}

/** What chose the model's epoch, or null when the metrics do not say. */
export function selection(metrics: Metrics): ISelection | null {
  const s = obj(obj(metrics).selection);
  if (Object.keys(s).length === 0) {
    return null;
  }
  return {
    rule: str(s.rule),
    label: str(s.label),
    value: num(s.value),
    epoch: num(s.epoch),
    step: num(s.step),
    why: str(s.why)
  };
}

/**
 * One line on the chosen epoch: the rule, on which head, its value and the
 * epoch and step, e.g. "Chosen: epoch 3 (step 93), highest validation
 * balanced_accuracy on head 'sentiment': 0.9807".
 */
export function selectionLine(metrics: Metrics): string {
  const s = selection(metrics);
  if (s === null) {
    return '';
  }
  const parts: string[] = [];
  if (s.epoch !== null) {
    parts.push(`epoch ${formatNumber(s.epoch, 4, true)}`);
  }
  if (s.step !== null) {
    parts.push(parts.length ? `(step ${s.step})` : `step ${s.step}`);
  }
  const when = parts.join(' ');
  let rule = '';
  if (s.rule) {
    const best = direction(s.rule) === 'lower' ? 'lowest' : 'highest';
    rule = `${best} validation ${s.rule}`;
    if (s.label) {
      rule += ` on head '${s.label}'`;
    }
    if (s.value !== null) {
      rule += `: ${formatNumber(s.value)}`;
    }
  }
  return `Chosen: ${[when, rule].filter(Boolean).join(', ')}`;
}

/**
 * A number as the tables show it: `digits` decimals (4, as the notebooks),
 * integers as they are when `trimIntegers`; empty for a missing one.
 */
export function formatNumber(
  value: number | null | undefined,
  digits = 4,
  trimIntegers = false
): string {
  if (value === null || value === undefined || !isFinite(value)) {
    return '';
  }
  if (trimIntegers && Number.isInteger(value)) {
    return String(value);
  }
  return value.toFixed(digits);
}

/** A signed change ("+0.0824", "−0.5170"); empty when missing. */
export function formatChange(value: number | null | undefined, digits = 4, suffix = ''): string {
  if (value === null || value === undefined || !isFinite(value)) {
    return '';
  }
  const text = Math.abs(value).toFixed(digits);
  const sign = Number(text) === 0 ? '' : value > 0 ? '+' : '\u2212';
  return `${sign}${text}${suffix}`;
}

/** A file-safe name of a head, as `evaluation/plots.py` names its plots. */
function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '') || 'head';
}

/** The file stem of each head's plots, distinct per head (`plot_stems`). */
export function plotStems(headList: string[]): Record<string, string> {
  const stems: Record<string, string> = {};
  const used = new Set<string>();
  for (const head of headList) {
    let stem = safeName(head);
    let n = 2;
    while (used.has(stem)) {
      stem = `${safeName(head)}_${n}`;
      n += 1;
    }
    stems[head] = stem;
    used.add(stem);
  }
  return stems;
}

const PER_HEAD_PLOTS: [RegExp, string][] = [
  [/^pr_(.+)$/, 'PR curve'],
  [/^confusion_(.+)$/, 'Confusion matrix'],
  [/^history_(.+)$/, 'Validation metrics']
];

const PLOTS: Record<string, string> = {
  loss: 'Loss (training, validation)',
  token_accuracy: 'Validation token accuracy'
};

/**
 * The head a plot belongs to ("pr_sentiment.png" → "sentiment"), or null for
 * the version's own plots (loss, token accuracy). With the heads given, a
 * stem maps back to the head's own name ("a/b" → "a_b" → "a/b").
 */
export function plotHead(name: string, headList: string[] = []): string | null {
  const stem = name.replace(/\.png$/i, '');
  for (const [pattern] of PER_HEAD_PLOTS) {
    const match = pattern.exec(stem);
    if (match) {
      const stems = plotStems(headList);
      const head = Object.keys(stems).find(h => stems[h] === match[1]);
      return head ?? match[1];
    }
  }
  return null;
}

/**
 * A readable title for a plot file, for its alt text and caption:
 * "pr_sentiment.png" → "PR curve, sentiment", "loss.png" → "Loss (training,
 * validation)".
 */
export function plotTitle(name: string, headList: string[] = []): string {
  const stem = name.replace(/^.*\//, '').replace(/\.png$/i, '');
  if (stem in PLOTS) {
    return PLOTS[stem];
  }
  for (const [pattern, title] of PER_HEAD_PLOTS) {
    if (pattern.test(stem)) {
      return `${title}, ${plotHead(stem, headList)}`;
    }
  }
  const words = stem.replace(/_/g, ' ').trim();
  return words ? words[0].toUpperCase() + words.slice(1) : name;
}
