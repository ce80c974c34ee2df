import { Time } from '@jupyterlab/coreutils';
import { ReactWidget, UseSignal, refreshIcon } from '@jupyterlab/ui-components';
import { ISignal, Signal } from '@lumino/signaling';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { call } from './api';
import { IDataset, ISnapshot, modelTypeLabel } from './models';

/** What one section of the panel knows about its list. */
export interface ISectionState<T> {
  /** The items of the last successful load. */
  items: T[];
  /** True once a load succeeded at least once. */
  loaded: boolean;
  /** The message of the last failed load; null after a success. */
  error: string | null;
}

/** Where the panel gets its lists from (swappable in tests). */
export interface IAutoMLSource {
  datasets(): Promise<IDataset[]>;
  snapshots(): Promise<ISnapshot[]>;
}

/** The REST API as a source. */
export const restSource: IAutoMLSource = {
  async datasets() {
    return (await call('get', '/automl/api/datasets')).datasets;
  },
  async snapshots() {
    return (await call('get', '/automl/api/snapshots')).snapshots;
  }
};

function emptySection<T>(): ISectionState<T> {
  return { items: [], loaded: false, error: null };
}

function errorMessage(reason: unknown): string {
  if (reason instanceof Error && reason.message) {
    return reason.message;
  }
  return String(reason);
}

/**
 * The state behind the sidebar: both lists, their errors, and whether a
 * refresh is running. The latest refresh wins when several overlap.
 */
export class AutoMLModel {
  constructor(source: IAutoMLSource = restSource) {
    this._source = source;
  }

  get datasets(): ISectionState<IDataset> {
    return this._datasets;
  }

  get snapshots(): ISectionState<ISnapshot> {
    return this._snapshots;
  }

  get loading(): boolean {
    return this._loading;
  }

  /** Emitted whenever anything above changes. */
  get stateChanged(): ISignal<AutoMLModel, void> {
    return this._stateChanged;
  }

  /** Reload both lists. */
  async refresh(): Promise<void> {
    const generation = ++this._generation;
    this._loading = true;
    this._stateChanged.emit();

    const [datasets, snapshots] = await Promise.allSettled([
      this._source.datasets(),
      this._source.snapshots()
    ]);
    if (generation !== this._generation) {
      return; // a newer refresh started meanwhile; let it report
    }
    this._datasets = settle(this._datasets, datasets);
    this._snapshots = settle(this._snapshots, snapshots);
    this._loading = false;
    this._stateChanged.emit();
  }

  private _source: IAutoMLSource;
  private _datasets = emptySection<IDataset>();
  private _snapshots = emptySection<ISnapshot>();
  private _loading = false;
  private _generation = 0;
  private _stateChanged = new Signal<AutoMLModel, void>(this);
}

function settle<T>(
  previous: ISectionState<T>,
  result: PromiseSettledResult<T[]>
): ISectionState<T> {
  if (result.status === 'fulfilled') {
    return { items: result.value, loaded: true, error: null };
  }
  console.error('jupyter-automl: request failed', result.reason);
  return { ...previous, error: errorMessage(result.reason) };
}

/** A timestamp, shown relative ("3 minutes ago") with the exact time on hover. */
function Timestamp(props: { iso: string }): JSX.Element {
  const date = new Date(props.iso);
  if (isNaN(date.getTime())) {
    return <span>{props.iso}</span>;
  }
  return (
    <time dateTime={props.iso} title={Time.format(date)}>
      {Time.formatHuman(date)}
    </time>
  );
}

function Badge(props: {
  kind: 'ok' | 'warn' | 'info';
  children: React.ReactNode;
}): JSX.Element {
  return (
    <span className={`jp-AutoML-badge jp-AutoML-badge-${props.kind}`}>
      {props.children}
    </span>
  );
}

function DatasetItem(props: { dataset: IDataset }): JSX.Element {
  const d = props.dataset;
  return (
    <li className="jp-AutoML-item" data-id={d.id}>
      <div className="jp-AutoML-itemHeader">
        <span className="jp-AutoML-itemName" title={d.name}>
          {d.name}
        </span>
        {d.valid ? (
          <Badge kind="ok">valid</Badge>
        ) : (
          <Badge kind="warn">invalid</Badge>
        )}
      </div>
      <div className="jp-AutoML-itemMeta">
        {modelTypeLabel(d.model_type)} · {d.valid_rows.toLocaleString()} of{' '}
        {d.rows.toLocaleString()} rows valid
      </div>
      <div className="jp-AutoML-itemMeta">
        <span className="jp-AutoML-filename" title={d.filename}>
          {d.filename}
        </span>{' '}
        · <Timestamp iso={d.created_at} />
      </div>
    </li>
  );
}

function SnapshotItem(props: { snapshot: ISnapshot }): JSX.Element {
  const s = props.snapshot;
  return (
    <li className="jp-AutoML-item" data-id={s.id}>
      <div className="jp-AutoML-itemHeader">
        <span className="jp-AutoML-itemName" title={s.name}>
          {s.name}
        </span>
        <Badge kind="info">{s.role}</Badge>
        {s.is_example && <Badge kind="info">example</Badge>}
      </div>
      <div className="jp-AutoML-itemMeta">
        {modelTypeLabel(s.model_type)} · {s.rows.toLocaleString()} rows
      </div>
      <div className="jp-AutoML-itemMeta">
        <code className="jp-AutoML-hash" title={`content hash ${s.content_hash}`}>
          {s.content_hash.slice(0, 12)}
        </code>{' '}
        · <Timestamp iso={s.created_at} />
      </div>
    </li>
  );
}

function Section<T>(props: {
  title: string;
  state: ISectionState<T>;
  loading: boolean;
  empty: React.ReactNode;
  renderItem: (item: T) => JSX.Element;
}): JSX.Element {
  const { title, state, loading } = props;
  const showEmpty = state.loaded && state.items.length === 0;
  return (
    <section
      className="jp-AutoML-section"
      aria-label={title}
      aria-busy={loading}
    >
      <h2 className="jp-AutoML-sectionTitle">
        {title}
        {state.loaded && (
          <span
            className="jp-AutoML-count"
            title={`${state.items.length} ${title.toLowerCase()}`}
          >
            {state.items.length}
          </span>
        )}
      </h2>
      {state.error !== null && (
        <div className="jp-AutoML-error" role="alert">
          {state.error}
        </div>
      )}
      {!state.loaded && state.error === null && (
        <p className="jp-AutoML-placeholder">Loading…</p>
      )}
      {showEmpty && <p className="jp-AutoML-empty">{props.empty}</p>}
      {state.items.length > 0 && (
        <ul className="jp-AutoML-list" aria-label={title}>
          {state.items.map(props.renderItem)}
        </ul>
      )}
    </section>
  );
}

/** The panel's content for one state of the model. */
export function AutoMLView(props: { model: AutoMLModel }): JSX.Element {
  const { model } = props;
  return (
    <div className="jp-AutoML-content">
      <header className="jp-AutoML-header">
        <h1 className="jp-AutoML-title">AutoML</h1>
        <button
          type="button"
          className="jp-Button jp-mod-minimal jp-AutoML-refresh"
          aria-label="Refresh datasets and snapshots"
          title="Refresh"
          onClick={() => void model.refresh()}
        >
          <refreshIcon.react tag="span" elementSize="normal" />
        </button>
      </header>
      <p className="jp-AutoML-status" role="status">
        {model.loading ? 'Loading…' : ''}
      </p>
      <Section
        title="Datasets"
        state={model.datasets}
        loading={model.loading}
        empty={
          <>
            No datasets yet: upload one with{' '}
            <code>jupyter automl datasets upload FILE --type TYPE</code>
          </>
        }
        renderItem={(d: IDataset) => <DatasetItem key={d.id} dataset={d} />}
      />
      <Section
        title="Snapshots"
        state={model.snapshots}
        loading={model.loading}
        empty="No snapshots yet."
        renderItem={(s: ISnapshot) => <SnapshotItem key={s.id} snapshot={s} />}
      />
    </div>
  );
}

/**
 * The AutoML sidebar: datasets and snapshots, refreshed each time the panel
 * is shown and on demand.
 */
export class AutoMLPanel extends ReactWidget {
  constructor(model: AutoMLModel = new AutoMLModel()) {
    super();
    this.model = model;
    this.addClass('jp-AutoML');
  }

  readonly model: AutoMLModel;

  render(): JSX.Element {
    return (
      <UseSignal signal={this.model.stateChanged}>
        {() => <AutoMLView model={this.model} />}
      </UseSignal>
    );
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    // A panel restored open at start-up is attached visible and never "shown".
    if (this.isVisible) {
      void this.model.refresh();
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.model.refresh();
  }

  /** Move keyboard focus into the panel (onto its first control). */
  focusContent(): void {
    if (this.isAttached && this.isVisible) {
      this.node.querySelector<HTMLButtonElement>('.jp-AutoML-refresh')?.focus();
    }
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this.focusContent();
  }
}
