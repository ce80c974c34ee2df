/**
 * The version view of a model: pick a version, see what its training
 * measured (per-head tables or base-vs-tuned for LLMs, the selection, the
 * plots), compare it with another version, and act on it.
 *
 * The tables come from `metricsTables.ts`, which arranges metrics.json as
 * the Python faces do.
 */
import * as React from 'react';

import { Schemas, call } from './api';
import {
  ALL_ROW,
  ICompareTable,
  IHeadRow,
  Metrics,
  comparisonRows,
  compareRows,
  formatChange,
  formatNumber,
  headNames,
  headRows,
  isLLMMetrics,
  limitClasses,
  plotHead,
  plotTitle,
  selection,
  selectionLine
} from './metricsTables';
import { IModel, modelTypeLabel } from './models';
import { TryIt } from './tryIt';

/** A model with its versions, oldest first (`GET models/{model}`). */
export type IModelDetail = Schemas['ModelDetail'];

/** One version of a model. */
export type IVersion = Schemas['VersionInfo'];

/** The classes a head's table shows before "N more". */
export const CLASSES_SHOWN = 12;

const STATUS_KIND: Record<string, string> = {
  pending: 'info',
  queued: 'info',
  training: 'info',
  trained: 'ok',
  failed: 'warn',
  cancelled: 'warn'
};

function messageOf(error: unknown): string {
  return error instanceof Error && error.message ? error.message : String(error);
}

/** The version a view opens on: the newest trained one, else the newest. */
export function defaultVersion(versions: IVersion[]): number | null {
  const trained = versions.filter(v => v.status === 'trained');
  const pick = trained[trained.length - 1] ?? versions[versions.length - 1];
  return pick ? pick.version : null;
}

function isLLMType(modelType: string): boolean {
  return modelType === 'llm_chat' || modelType === 'llm_text';
}

/** A version's metrics, or why there are none. */
function useMetrics(
  model: string,
  version: number | null
): { metrics: Metrics | null; error: string | null } {
  const [state, setState] = React.useState<{
    key: string;
    metrics: Metrics | null;
    error: string | null;
  }>({ key: '', metrics: null, error: null });
  const key = `${model}\u0000${version}`;
  React.useEffect(() => {
    if (version === null) {
      return;
    }
    let live = true;
    setState({ key, metrics: null, error: null });
    call('get', '/automl/api/models/{model}/versions/{version}/metrics', {
      path: { model, version }
    }).then(
      metrics => live && setState({ key, metrics: metrics ?? null, error: null }),
      error => live && setState({ key, metrics: null, error: messageOf(error) })
    );
    return () => {
      live = false;
    };
  }, [key]);
  return state.key === key ? state : { metrics: null, error: null };
}

/**
 * The plots of a version as object URLs, each fetched as a Blob; the URLs are
 * revoked when the version changes or the view goes away.
 */
function usePlots(
  model: string,
  version: number
): { plots: { name: string; url: string }[]; loaded: boolean; error: string | null } {
  const [state, setState] = React.useState<{
    plots: { name: string; url: string }[];
    loaded: boolean;
    error: string | null;
  }>({ plots: [], loaded: false, error: null });
  React.useEffect(() => {
    let live = true;
    const urls: string[] = [];
    setState({ plots: [], loaded: false, error: null });
    const path = { model, version };
    (async () => {
      const { plots: names } = await call(
        'get',
        '/automl/api/models/{model}/versions/{version}/plots',
        { path }
      );
      const errors: string[] = [];
      const fetched = await Promise.all(
        names.map(async name => {
          try {
            const blob = await call(
              'get',
              '/automl/api/models/{model}/versions/{version}/plots/{name}',
              { path: { ...path, name } }
            );
            if (!blob || !live) {
              return null;
            }
            const url = URL.createObjectURL(blob);
            urls.push(url);
            return { name, url };
          } catch (error) {
            errors.push(`${plotTitle(name)}: ${messageOf(error)}`);
            return null;
          }
        })
      );
      if (live) {
        setState({
          plots: fetched.filter((p): p is { name: string; url: string } => p !== null),
          loaded: true,
          error: errors.length ? `Some plots did not load. ${errors.join('; ')}` : null
        });
      }
    })().catch(error => {
      if (live) {
        setState({ plots: [], loaded: true, error: `The plots did not load: ${messageOf(error)}` });
      }
    });
    return () => {
      live = false;
      urls.forEach(url => URL.revokeObjectURL(url));
    };
  }, [model, version]);
  return state;
}

function Alert(props: { children: React.ReactNode }): JSX.Element {
  return (
    <div className="jp-AutoML-error" role="alert">
      {props.children}
    </div>
  );
}

function Loading(props: { children: React.ReactNode }): JSX.Element {
  return (
    <p className="jp-AutoML-placeholder" role="status">
      {props.children}
    </p>
  );
}

/** One head's test metrics: per class, then `(all)`; past `CLASSES_SHOWN` classes, "N more". */
export function HeadTable(props: { head: string; rows: IHeadRow[] }): JSX.Element {
  const [all, setAll] = React.useState(false);
  const limited = limitClasses(props.rows, all ? Infinity : CLASSES_SHOWN);
  return (
    <>
      <table className="jp-AutoML-versionTable" aria-label={`Test metrics, head ${props.head}`}>
        <thead>
          <tr>
            <th scope="col">class</th>
            <th scope="col">precision</th>
            <th scope="col">recall</th>
            <th scope="col">f1</th>
            <th scope="col">support</th>
            <th scope="col" title="mean recall over the classes">balanced accuracy</th>
            <th scope="col">macro F1</th>
            <th scope="col">accuracy</th>
          </tr>
        </thead>
        <tbody>
          {limited.rows.map(row => (
            <tr
              key={row.class}
              className={row.class === ALL_ROW ? 'jp-AutoML-versionTotal' : undefined}
            >
              <th scope="row">{row.class}</th>
              <td>{formatNumber(row.precision)}</td>
              <td>{formatNumber(row.recall)}</td>
              <td>{formatNumber(row.f1)}</td>
              <td>{formatNumber(row.support, 0, true)}</td>
              <td>{formatNumber(row.balanced_accuracy)}</td>
              <td>{formatNumber(row.macro_f1)}</td>
              <td>{formatNumber(row.accuracy)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {(limited.more > 0 || all) && (
        <button
          type="button"
          className="jp-Button jp-mod-minimal jp-AutoML-versionMore"
          aria-expanded={all}
          onClick={() => setAll(!all)}
        >
          {all ? 'Show fewer classes' : `${limited.more} more classes`}
        </button>
      )}
    </>
  );
}

/** LLMs: loss and token accuracy, base model vs fine-tuned, with the change. */
export function ComparisonTable(props: { metrics: Metrics }): JSX.Element {
  const rows = comparisonRows(props.metrics);
  if (rows.length === 0) {
    return <p className="jp-AutoML-empty">No base-model comparison in these metrics.</p>;
  }
  return (
    <table className="jp-AutoML-versionTable" aria-label="Base model vs fine-tuned, test rows">
      <thead>
        <tr>
          <th scope="col">metric</th>
          <th scope="col">base</th>
          <th scope="col">tuned</th>
          <th scope="col">change</th>
          <th scope="col">change %</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(row => (
          <tr key={row.metric}>
            <th scope="row">{row.metric}</th>
            <td>{formatNumber(row.base)}</td>
            <td>{formatNumber(row.tuned)}</td>
            <td>{formatChange(row.change)}</td>
            <td>{formatChange(row.change_percent, 2, '%')}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Versions side by side, the better value of each row marked. */
export function CompareTable(props: { table: ICompareTable }): JSX.Element {
  const { columns, rows } = props.table;
  if (rows.length === 0) {
    return <p className="jp-AutoML-empty">No headline numbers to compare.</p>;
  }
  return (
    <table className="jp-AutoML-versionTable" aria-label={`Versions ${columns.join(' and ')} side by side`}>
      <thead>
        <tr>
          <th scope="col">metric</th>
          {columns.map(c => (
            <th key={c} scope="col">
              {c}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map(row => (
          <tr
            key={row.metric}
            title={
              row.direction === 'lower'
                ? 'lower is better'
                : row.direction === 'higher'
                  ? 'higher is better'
                  : undefined
            }
          >
            <th scope="row">{row.metric}</th>
            {row.values.map((value, i) => (
              <td
                key={columns[i]}
                className={row.better === i ? 'jp-AutoML-versionBetter' : undefined}
              >
                {formatNumber(value)}
                {row.better === i && (
                  <span className="jp-AutoML-versionBetterMark" aria-label="better">
                    {' '}
                    ▲
                  </span>
                )}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Plot(props: { name: string; url: string; heads: string[] }): JSX.Element {
  const title = plotTitle(props.name, props.heads);
  return (
    <figure className="jp-AutoML-versionPlot">
      <img src={props.url} alt={title} />
      <figcaption>{title}</figcaption>
    </figure>
  );
}

/** A trained version: its tables, plots and the comparison. */
function TrainedVersion(props: {
  modelName: string;
  version: IVersion;
  others: IVersion[];
}): JSX.Element {
  const { modelName, version } = props;
  const { metrics, error } = useMetrics(modelName, version.version);
  const plots = usePlots(modelName, version.version);
  const [head, setHead] = React.useState<string | null>(null);
  const [compareWith, setCompareWith] = React.useState<number | null>(null);
  const other = useMetrics(modelName, compareWith);

  if (error !== null) {
    return <Alert>The metrics of v{version.version} did not load: {error}</Alert>;
  }
  if (metrics === null) {
    return <Loading>Loading the metrics of v{version.version}…</Loading>;
  }
  const heads = headNames(metrics);
  const llm = isLLMMetrics(metrics);
  const current = head !== null && heads.includes(head) ? head : heads[0] ?? null;
  const chosen = selection(metrics);
  const general = plots.plots.filter(p => plotHead(p.name, heads) === null);
  const ofHead = plots.plots.filter(p => current !== null && plotHead(p.name, heads) === current);
  const headId = (h: string) => `jp-AutoML-version-${version.id}-${heads.indexOf(h)}`;

  return (
    <div className="jp-AutoML-versionMetrics">
      {chosen && (
        <div className="jp-AutoML-versionSelection">
          <div>{selectionLine(metrics)}</div>
          {chosen.why && <div className="jp-AutoML-itemMeta">{chosen.why}</div>}
        </div>
      )}
      {llm ? (
        <section aria-label="Base model vs fine-tuned">
          <h3 className="jp-AutoML-versionHeading">Base model vs fine-tuned (test rows)</h3>
          <ComparisonTable metrics={metrics} />
          <p className="jp-AutoML-itemMeta">Loss: lower is better; token accuracy: higher is better.</p>
        </section>
      ) : heads.length === 0 ? (
        <p className="jp-AutoML-empty">No per-head test metrics in this version.</p>
      ) : (
        <section aria-label="Test metrics per head">
          <h3 className="jp-AutoML-versionHeading">Test metrics of the chosen epoch</h3>
          <div className="jp-AutoML-versionTabs" role="tablist" aria-label="Heads">
            {heads.map(h => (
              <button
                key={h}
                type="button"
                role="tab"
                id={`${headId(h)}-tab`}
                aria-selected={h === current}
                aria-controls={headId(h)}
                tabIndex={h === current ? 0 : -1}
                className="jp-AutoML-versionTab"
                onClick={() => setHead(h)}
                onKeyDown={event => {
                  const step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
                  if (step) {
                    const next = heads[(heads.indexOf(h) + step + heads.length) % heads.length];
                    setHead(next);
                    const parent = event.currentTarget.parentElement;
                    window.requestAnimationFrame(() =>
                      parent?.querySelector<HTMLButtonElement>('[aria-selected="true"]')?.focus()
                    );
                  }
                }}
              >
                {h}
              </button>
            ))}
          </div>
          {current !== null && (
            <div role="tabpanel" id={headId(current)} aria-labelledby={`${headId(current)}-tab`}>
              <HeadTable key={current} head={current} rows={headRows(metrics, current)} />
              {ofHead.length > 0 && (
                <div className="jp-AutoML-versionPlots">
                  {ofHead.map(p => (
                    <Plot key={p.name} name={p.name} url={p.url} heads={heads} />
                  ))}
                </div>
              )}
            </div>
          )}
        </section>
      )}
      <section aria-label="Plots">
        {!plots.loaded && <Loading>Loading the plots…</Loading>}
        {plots.error && <Alert>{plots.error}</Alert>}
        {general.length > 0 && (
          <>
            <h3 className="jp-AutoML-versionHeading">During training</h3>
            <div className="jp-AutoML-versionPlots">
              {general.map(p => (
                <Plot key={p.name} name={p.name} url={p.url} heads={heads} />
              ))}
            </div>
          </>
        )}
        {plots.loaded && !plots.error && plots.plots.length === 0 && (
          <p className="jp-AutoML-empty">This version has no plots.</p>
        )}
      </section>
      <section aria-label="Compare versions">
        <h3 className="jp-AutoML-versionHeading">Versions side by side</h3>
        {props.others.length === 0 ? (
          <p className="jp-AutoML-empty">No other trained version to compare with.</p>
        ) : (
          <div className="jp-AutoML-field">
            <label htmlFor={`jp-AutoML-versionCompare-${version.id}`}>Compare with</label>
            <select
              id={`jp-AutoML-versionCompare-${version.id}`}
              value={compareWith ?? ''}
              onChange={event =>
                setCompareWith(event.target.value === '' ? null : Number(event.target.value))
              }
            >
              <option value="">(none)</option>
              {props.others.map(v => (
                <option key={v.version} value={v.version}>
                  v{v.version}
                </option>
              ))}
            </select>
          </div>
        )}
        {compareWith !== null && other.error !== null && (
          <Alert>The metrics of v{compareWith} did not load: {other.error}</Alert>
        )}
        {compareWith !== null && other.error === null && other.metrics === null && (
          <Loading>Loading the metrics of v{compareWith}…</Loading>
        )}
        <CompareTable
          table={compareRows(
            { version: version.version, metrics },
            ...(compareWith !== null && other.metrics !== null
              ? [{ version: compareWith, metrics: other.metrics }]
              : [])
          )}
        />
      </section>
    </div>
  );
}

/** What a version that has not trained shows. */
function UntrainedVersion(props: { version: IVersion }): JSX.Element {
  const v = props.version;
  if (v.status === 'failed') {
    return <Alert>v{v.version} failed: {v.error || 'no reason was recorded (see its training report)'}</Alert>;
  }
  if (v.status === 'cancelled') {
    return (
      <p className="jp-AutoML-empty">
        v{v.version} was cancelled before it finished training{v.error ? `: ${v.error}` : '.'}
      </p>
    );
  }
  return (
    <p className="jp-AutoML-empty">
      v{v.version} is {v.status}: its metrics appear once it has trained.
    </p>
  );
}

/**
 * A model's versions: a picker (the newest trained one first chosen), and for
 * the chosen version its metrics, plots, a comparison with another trained
 * version, and its actions.
 */
export function VersionView(props: {
  model: IModel;
  onOpenReport: (modelName: string, version: number) => void;
  onUpdate: (model: IModel) => void;
  onOpenPlayground: (modelName: string, version: number) => void;
  /** Changes whenever one of the model's jobs changes state: the versions are read again. */
  revision?: string;
}): JSX.Element {
  const { model } = props;
  const [detail, setDetail] = React.useState<IModelDetail | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [chosen, setChosen] = React.useState<number | null>(null);
  const shownModel = React.useRef<string | null>(null);

  React.useEffect(() => {
    let live = true;
    setError(null);
    call('get', '/automl/api/models/{model}', { path: { model: model.name } }).then(
      answer => {
        if (!live) {
          return;
        }
        const sameModel = shownModel.current === answer.name;
        shownModel.current = answer.name;
        setDetail(answer);
        // A refresh keeps the version chosen; another model opens on its own default.
        setChosen(previous =>
          sameModel && previous !== null && answer.versions.some(v => v.version === previous)
            ? previous
            : defaultVersion(answer.versions)
        );
      },
      reason => live && setError(messageOf(reason))
    );
    return () => {
      live = false;
    };
  }, [model.name, model.updated_at, props.revision]);

  const versions = detail?.name === model.name ? detail.versions : [];
  const version = versions.find(v => v.version === chosen) ?? null;
  const others = versions.filter(v => v.status === 'trained' && v.version !== chosen);
  const pickerId = `jp-AutoML-versionPick-${model.id}`;

  return (
    <section className="jp-AutoML-version" aria-label={`Versions of ${model.name}`}>
      <div className="jp-AutoML-itemHeader">
        <span className="jp-AutoML-itemName">{model.name}</span>
        <span className="jp-AutoML-itemMeta">{modelTypeLabel(model.model_type)}</span>
      </div>
      {error !== null && <Alert>The versions of {model.name} did not load: {error}</Alert>}
      {error === null && detail?.name !== model.name && <Loading>Loading the versions…</Loading>}
      {detail?.name === model.name && versions.length === 0 && (
        <p className="jp-AutoML-empty">No versions yet: train the model first.</p>
      )}
      {versions.length > 0 && (
        <div className="jp-AutoML-versionPicker">
          <label htmlFor={pickerId}>Version</label>
          <select
            id={pickerId}
            value={chosen ?? ''}
            onChange={event => setChosen(Number(event.target.value))}
          >
            {[...versions].reverse().map(v => (
              <option key={v.version} value={v.version}>
                v{v.version} ({v.status})
              </option>
            ))}
          </select>
          {version && (
            <span className={`jp-AutoML-badge jp-AutoML-badge-${STATUS_KIND[version.status] ?? 'info'}`}>
              {version.status}
            </span>
          )}
        </div>
      )}
      {version && (
        <div className="jp-AutoML-itemMeta">
          base model <code>{version.base_model}</code>
          {version.trained_at && ` · trained ${new Date(version.trained_at).toLocaleString()}`}
        </div>
      )}
      {version && (
        <div className="jp-AutoML-actions">
          {(version.notebook_path || version.status === 'trained' || version.status === 'failed') && (
            <button
              type="button"
              className="jp-Button jp-mod-styled"
              onClick={() => props.onOpenReport(model.name, version.version)}
            >
              Open training report
            </button>
          )}
          <button
            type="button"
            className="jp-Button jp-mod-styled"
            title="Change what the next version trains on and train it"
            onClick={() => props.onUpdate(model)}
          >
            Update Model
          </button>
          {version.status === 'trained' && isLLMType(model.model_type) && (
            <button
              type="button"
              className="jp-Button jp-mod-styled"
              onClick={() => props.onOpenPlayground(model.name, version.version)}
            >
              Open chat playground notebook
            </button>
          )}
        </div>
      )}
      {version &&
        (version.status === 'trained' ? (
          <>
            <TryIt
              key={`try-${model.name}-${version.version}`}
              modelName={model.name}
              modelType={model.model_type}
              version={version.version}
            />
            <TrainedVersion
              key={`${model.name}-${version.version}`}
              modelName={model.name}
              version={version}
              others={others}
            />
          </>
        ) : (
          <UntrainedVersion version={version} />
        ))}
    </section>
  );
}
