/**
 * A deployment's usage over its last days (`GET deployments/{deployment}/usage`): an inline
 * SVG bar chart of requests per day (the failed part in another colour), the totals and each
 * key's figures.
 */
import * as React from 'react';

import { Schemas, call } from './api';
import { IDeployment } from './models';
import { errorMessage } from './state';

/** A deployment's requests, tokens, errors and latency per day and per key. */
export type IUsageReport = Schemas['UsageReport'];

/** The figures of one day, one key or the whole range. */
export type IUsageFigures = Schemas['UsageFigures'];

/** One key's figures (no key: the playground, the Python API and batches). */
export type IKeyUsage = Schemas['KeyUsage'];

/** The chart's drawing area, in SVG user units (it is scaled to the sidebar's width). */
export const CHART_HEIGHT = 60;
const BAR_WIDTH = 10;
const BAR_GAP = 3;

/** A latency for people: "85 ms", "1.2 s"; "—" when there is none. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !isFinite(ms)) {
    return '—';
  }
  if (ms < 1000) {
    return `${Math.round(ms).toLocaleString()} ms`;
  }
  if (ms < 60_000) {
    return `${(ms / 1000).toFixed(1)} s`;
  }
  return `${(ms / 60_000).toFixed(1)} min`;
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

/** Who asks without a key. */
export const NO_KEY_MEANS = 'the playground, the Python API and batches';

/** What a key is called: "key 1 (jam_ab12…)", or "no key" (the playground, Python API and batches). */
export function keyLabel(key: {
  api_key_id: string | null;
  api_key_slot: number | null;
  api_key_prefix: string | null;
}): string {
  if (key.api_key_id === null) {
    return 'no key';
  }
  const slot = key.api_key_slot === null ? 'key' : `key ${key.api_key_slot}`;
  return key.api_key_prefix ? `${slot} (${key.api_key_prefix}…)` : slot;
}

/** One day's numbers in words: "2026-11-20: 58 requests, 2 errors". */
export function dayText(day: Schemas['UsageDay']): string {
  const { requests, errors } = day.figures;
  return `${day.day}: ${count(requests, 'request')}${errors ? `, ${count(errors, 'error')}` : ''}`;
}

/** The chart's accessible label: the range, the totals, then every day's figures. */
export function chartLabel(report: IUsageReport): string {
  const { total } = report;
  return (
    `Requests per day, ${report.since} to ${report.until}: ` +
    `${count(total.requests, 'request')} and ${count(total.errors, 'error')} in all, ` +
    `p50 ${formatMs(total.p50_ms)}, p99 ${formatMs(total.p99_ms)}. ` +
    report.days.map(dayText).join('; ') +
    '.'
  );
}

/** One bar's geometry: x, and the heights of the whole bar and of its failed part. */
export interface IBar {
  day: string;
  x: number;
  height: number;
  errorHeight: number;
}

/** The bars of the days: heights proportional to the requests, the busiest day full height. */
export function chartBars(days: Schemas['UsageDay'][], height = CHART_HEIGHT): IBar[] {
  const most = Math.max(0, ...days.map(d => d.figures.requests));
  const scale = most > 0 ? height / most : 0;
  return days.map((d, i) => ({
    day: d.day,
    x: i * (BAR_WIDTH + BAR_GAP),
    height: d.figures.requests * scale,
    errorHeight: Math.min(d.figures.errors, d.figures.requests) * scale
  }));
}

/** The bar chart of requests per day; a failed request is drawn in the warning colour. */
export function UsageChart(props: { report: IUsageReport }): JSX.Element {
  const { report } = props;
  const bars = chartBars(report.days);
  const width = Math.max(1, report.days.length * (BAR_WIDTH + BAR_GAP) - BAR_GAP);
  const label = chartLabel(report);
  const most = Math.max(0, ...report.days.map(d => d.figures.requests));
  return (
    <figure className="jp-AutoML-usage-figure">
      <svg
        className="jp-AutoML-usage-chart"
        role="img"
        aria-label={label}
        viewBox={`0 0 ${width} ${CHART_HEIGHT}`}
        preserveAspectRatio="none"
      >
        <title>{label}</title>
        <line
          className="jp-AutoML-usage-axis"
          x1={0}
          x2={width}
          y1={CHART_HEIGHT}
          y2={CHART_HEIGHT}
        />
        {bars.map((bar, i) => (
          <g key={bar.day} className="jp-AutoML-usage-day" data-day={bar.day}>
            <title>{dayText(report.days[i])}</title>
            {/* The whole column answers the hover, even on a quiet day. */}
            <rect
              className="jp-AutoML-usage-hit"
              x={bar.x}
              y={0}
              width={BAR_WIDTH}
              height={CHART_HEIGHT}
            />
            <rect
              className="jp-AutoML-usage-bar"
              x={bar.x}
              y={CHART_HEIGHT - bar.height}
              width={BAR_WIDTH}
              height={bar.height}
            />
            {bar.errorHeight > 0 && (
              <rect
                className="jp-AutoML-usage-errors"
                x={bar.x}
                y={CHART_HEIGHT - bar.errorHeight}
                width={BAR_WIDTH}
                height={bar.errorHeight}
              />
            )}
          </g>
        ))}
      </svg>
      <figcaption className="jp-AutoML-usage-caption" aria-hidden="true">
        <span>{report.since}</span>
        <span>
          most {most.toLocaleString()}/day ·{' '}
          <span className="jp-AutoML-usage-key-requests">■</span> requests{' '}
          <span className="jp-AutoML-usage-key-errors">■</span> errors
        </span>
        <span>{report.until}</span>
      </figcaption>
    </figure>
  );
}

/** The totals of the range as (label, value) pairs. */
export function totalRows(total: IUsageFigures): [string, string][] {
  return [
    ['Requests', total.requests.toLocaleString()],
    [
      'Tokens',
      `${total.tokens.toLocaleString()} (${total.prompt_tokens.toLocaleString()} prompt + ${total.completion_tokens.toLocaleString()} completion)`
    ],
    ['Errors', total.errors.toLocaleString()],
    ['Latency p50', formatMs(total.p50_ms)],
    ['Latency p99', formatMs(total.p99_ms)]
  ];
}

/** The chart, the totals and the per-key figures of a report. */
export function UsageReportView(props: { report: IUsageReport }): JSX.Element {
  const { report } = props;
  return (
    <div className="jp-AutoML-usage">
      <UsageChart report={report} />
      <dl className="jp-AutoML-usage-totals" aria-label="Totals">
        {totalRows(report.total).map(([label, value]) => (
          <React.Fragment key={label}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </React.Fragment>
        ))}
      </dl>
      {report.keys.length > 0 && (
        <table className="jp-AutoML-workspace-table" aria-label="Usage per key">
          <caption>Per key</caption>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Requests</th>
              <th scope="col">Tokens</th>
              <th scope="col">Errors</th>
              <th scope="col">p50</th>
              <th scope="col">p99</th>
            </tr>
          </thead>
          <tbody>
            {report.keys.map(k => (
              <tr key={k.api_key_id ?? 'none'}>
                <th
                  scope="row"
                  title={k.api_key_id === null ? NO_KEY_MEANS : undefined}
                >
                  {keyLabel(k)}
                </th>
                <td>{k.figures.requests.toLocaleString()}</td>
                <td>{k.figures.tokens.toLocaleString()}</td>
                <td>{k.figures.errors.toLocaleString()}</td>
                <td>{formatMs(k.figures.p50_ms)}</td>
                <td>{formatMs(k.figures.p99_ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {report.keys.some(k => k.api_key_id === null) && (
        <p className="jp-AutoML-workspace-note">no key: {NO_KEY_MEANS}.</p>
      )}
    </div>
  );
}

/** A deployment's usage over the last `days` days, loaded when shown and on Refresh. */
export function UsageView(props: { deployment: IDeployment; days?: number }): JSX.Element {
  const { deployment, days = 14 } = props;
  const [report, setReport] = React.useState<IUsageReport | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [loads, setLoads] = React.useState(0);
  React.useEffect(() => {
    let live = true;
    setError(null);
    call('get', '/automl/api/deployments/{deployment}/usage', {
      path: { deployment: deployment.id },
      query: { days }
    }).then(
      answer => live && setReport(answer),
      reason => live && setError(errorMessage(reason))
    );
    return () => {
      live = false;
    };
  }, [deployment.id, days, loads]);
  return (
    <section className="jp-AutoML-workspace-part" aria-label="Usage">
      <div className="jp-AutoML-workspace-bar">
        <span className="jp-AutoML-itemMeta">Last {days} days (UTC)</span>
        <button
          type="button"
          className="jp-Button jp-mod-styled"
          onClick={() => setLoads(loads + 1)}
        >
          Refresh
        </button>
      </div>
      {error && (
        <div className="jp-AutoML-error" role="alert">
          {error}
        </div>
      )}
      {!report && !error && (
        <p className="jp-AutoML-placeholder" role="status">
          Loading usage…
        </p>
      )}
      {report && <UsageReportView report={report} />}
    </section>
  );
}
