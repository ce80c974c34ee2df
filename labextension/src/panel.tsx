import { Time } from '@jupyterlab/coreutils';
import { ReactWidget, UseSignal, refreshIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { call } from './api';
import { DeploymentItem, NewKeys } from './deployments';
import { JobItem } from './jobs';
import { ModelForm } from './modelForm';
import { UploadDataset } from './upload';
import { VersionView } from './versions';
import {
  IDataset,
  IDeployment,
  IJob,
  IModel,
  INewApiKey,
  ISnapshot,
  modelTypeLabel
} from './models';
import { AutoMLModel, ISectionState, errorMessage } from './state';

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
  action?: React.ReactNode;
  children?: React.ReactNode;
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
        {props.action}
      </h2>
      {props.children}
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

/** What the panel's buttons do beyond the REST calls of the model. */
export interface IPanelActions {
  /** Open a version's executed training notebook in JupyterLab. */
  openReport(model: string, version: number): Promise<void>;
  /** Create and open a notebook with the chat widget on a trained LLM version. */
  openPlayground(model: string, version: number): Promise<void>;
  /** Put text on the system clipboard. */
  copy(text: string): void;
  /** The server's base URL, for the curl example. */
  baseUrl: string;
}

/**
 * A model: a click on "Versions" opens its version view (metrics, plots, try
 * it, compare); "Update Model" opens the form for version n+1 in place.
 */
function ModelItem(props: {
  model: IModel;
  snapshots: ISnapshot[];
  actions: IPanelActions;
  act: (work: Promise<unknown>) => void;
  onQueued: (job: IJob) => void;
  /** The states of the model's jobs: the version view reloads when one changes. */
  jobStates: string;
}): JSX.Element {
  const m = props.model;
  const [open, setOpen] = React.useState(false);
  const [updating, setUpdating] = React.useState(false);
  return (
    <li className="jp-AutoML-item" data-id={m.id} aria-label={m.name}>
      <div className="jp-AutoML-itemHeader">
        <span className="jp-AutoML-itemName" title={m.description || m.name}>
          {m.name}
        </span>
        <button
          type="button"
          className="jp-Button jp-mod-minimal jp-AutoML-toggle"
          aria-expanded={open}
          aria-label={`Versions of ${m.name}`}
          onClick={() => setOpen(!open)}
        >
          {open ? 'Hide versions' : 'Versions'}
        </button>
      </div>
      <div className="jp-AutoML-itemMeta">
        {modelTypeLabel(m.model_type)} · <code>{m.base_model}</code> · <Timestamp iso={m.updated_at} />
      </div>
      {updating && (
        <ModelForm
          snapshots={props.snapshots}
          model={m}
          onQueued={job => {
            setUpdating(false);
            props.onQueued(job);
          }}
          onClose={() => setUpdating(false)}
        />
      )}
      {open && (
        <VersionView
          model={m}
          onOpenReport={(model, version) => props.act(props.actions.openReport(model, version))}
          onUpdate={() => setUpdating(true)}
          onOpenPlayground={(model, version) =>
            props.act(props.actions.openPlayground(model, version))
          }
          revision={props.jobStates}
        />
      )}
    </li>
  );
}

/** The panel's content for one state of the model. */
export function AutoMLView(props: {
  model: AutoMLModel;
  actions: IPanelActions;
  defaultModelType: string;
}): JSX.Element {
  const { model, actions } = props;
  const toggle = (form: 'upload' | 'new-model') =>
    model.showForm(model.form === form ? null : form);
  const queued = (job: IJob) => {
    model.addJob(job);
    void model.refresh();
  };
  const [message, setMessage] = React.useState<string | null>(null);
  const act = (work: Promise<unknown>) =>
    work.then(
      () => setMessage(null),
      error => setMessage(errorMessage(error))
    );
  const [newKeys, setNewKeys] = React.useState<{
    deployment: IDeployment;
    keys: INewApiKey[];
  } | null>(null);
  const deploy = (job: IJob) =>
    act(
      call('post', '/automl/api/deployments', {
        body: { model: job.model_name, version: job.version }
      }).then(created => {
        const { new_keys, ...deployment } = created;
        model.addDeployment(deployment);
        setNewKeys({ deployment, keys: new_keys });
      })
    );
  const lifecycle = (deployment: IDeployment, step: 'undeploy' | 'redeploy') =>
    act(
      call('post', `/automl/api/deployments/{deployment}/${step}`, {
        path: { deployment: deployment.id }
      }).then(answer => model.addDeployment(answer))
    );
  const rotate = (deployment: IDeployment, slot: 1 | 2) =>
    act(
      call('post', '/automl/api/deployments/{deployment}/keys/{slot}', {
        path: { deployment: deployment.id, slot }
      }).then(key => {
        setNewKeys({ deployment, keys: [key] });
        return model.poll();
      })
    );
  const cancel = (job: IJob) =>
    act(
      call('post', '/automl/api/jobs/{job_id}/cancel', { path: { job_id: job.id } }).then(
        answer => model.addJob(answer)
      )
    );
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
      {message && (
        <div className="jp-AutoML-error jp-AutoML-panelError" role="alert">
          {message}
        </div>
      )}
      <Section
        title="Datasets"
        state={model.datasets}
        loading={model.loading}
        empty="No datasets yet: upload a CSV (or a zip of images) with Upload dataset."
        renderItem={(d: IDataset) => <DatasetItem key={d.id} dataset={d} />}
        action={
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-AutoML-sectionAction"
            aria-expanded={model.form === 'upload'}
            onClick={() => toggle('upload')}
          >
            Upload dataset
          </button>
        }
      >
        {model.form === 'upload' && (
          <UploadDataset
            defaultModelType={props.defaultModelType}
            onUploaded={() => void model.refresh()}
            onFrozen={() => void model.refresh()}
            onClose={() => model.showForm(null)}
          />
        )}
      </Section>
      <Section
        title="Snapshots"
        state={model.snapshots}
        loading={model.loading}
        empty="No snapshots yet."
        renderItem={(s: ISnapshot) => <SnapshotItem key={s.id} snapshot={s} />}
      />
      <Section
        title="Models"
        state={model.models}
        loading={model.loading}
        empty="No models yet."
        renderItem={(m: IModel) => (
          <ModelItem
            key={m.id}
            model={m}
            snapshots={model.snapshots.items}
            actions={actions}
            act={act}
            onQueued={queued}
            jobStates={model.jobs.items
              .filter(j => j.model_name === m.name)
              .map(j => `${j.version}:${j.status}`)
              .join(',')}
          />
        )}
        action={
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-AutoML-sectionAction"
            aria-expanded={model.form === 'new-model'}
            onClick={() => toggle('new-model')}
          >
            New model
          </button>
        }
      >
        {model.form === 'new-model' && (
          <ModelForm
            snapshots={model.snapshots.items}
            onQueued={job => {
              model.showForm(null);
              queued(job);
            }}
            onClose={() => model.showForm(null)}
          />
        )}
      </Section>
      <Section
        title="Jobs"
        state={model.jobs}
        loading={model.loading}
        empty="No training jobs yet."
        renderItem={(j: IJob) => (
          <JobItem
            key={j.id}
            job={j}
            onCancel={cancel}
            onOpenReport={job => act(actions.openReport(job.model_name, job.version))}
            onDeploy={deploy}
          />
        )}
      />
      <Section
        title="Deployments"
        state={model.deployments}
        loading={model.loading}
        empty="No deployments yet."
        renderItem={(d: IDeployment) => (
          <DeploymentItem
            key={d.id}
            deployment={d}
            onUndeploy={x => lifecycle(x, 'undeploy')}
            onRedeploy={x => lifecycle(x, 'redeploy')}
            onRotate={rotate}
          />
        )}
      >
        {newKeys && (
          <NewKeys
            deployment={newKeys.deployment}
            keys={newKeys.keys}
            baseUrl={actions.baseUrl}
            onCopy={actions.copy}
            onDone={() => setNewKeys(null)}
          />
        )}
      </Section>
    </div>
  );
}

/**
 * The AutoML sidebar: every list, refreshed each time the panel is shown and
 * on demand. While the panel is visible, the jobs and deployments are polled
 * every `refreshInterval` milliseconds when a job is queued or running or a
 * deployment is loading, and every `AutoMLModel.SERVING_POLL_MS` while a
 * deployment serves (its counters); nothing is polled otherwise.
 */
export class AutoMLPanel extends ReactWidget {
  constructor(options: AutoMLPanel.IOptions) {
    super();
    this.model = options.model ?? new AutoMLModel();
    this.actions = options.actions;
    this.refreshInterval = options.refreshInterval ?? 2000;
    this._defaultModelType = options.defaultModelType ?? 'text_classification';
    this.addClass('jp-AutoML');
  }

  /** The model type the upload form starts with (a setting). */
  get defaultModelType(): string {
    return this._defaultModelType;
  }

  set defaultModelType(value: string) {
    this._defaultModelType = value;
    this.update();
  }

  readonly model: AutoMLModel;
  readonly actions: IPanelActions;
  /** Milliseconds between two polls of running jobs. */
  refreshInterval: number;

  render(): JSX.Element {
    return (
      <UseSignal signal={this.model.stateChanged}>
        {() => (
          <AutoMLView
            model={this.model}
            actions={this.actions}
            defaultModelType={this._defaultModelType}
          />
        )}
      </UseSignal>
    );
  }

  dispose(): void {
    this._stopPolling();
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    // A panel restored open at start-up is attached visible and never "shown".
    if (this.isVisible) {
      void this.model.refresh();
      this._startPolling();
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.model.refresh();
    this._startPolling();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._stopPolling();
  }

  protected onBeforeDetach(msg: Message): void {
    this._stopPolling();
    super.onBeforeDetach(msg);
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

  private _startPolling(): void {
    if (this._polls) {
      return;
    }
    this._polls = true;
    const tick = async () => {
      if (this.isVisible && this.model.shouldPoll() && !this._polling) {
        this._polling = true;
        try {
          await this.model.poll();
        } finally {
          this._polling = false;
        }
      }
      if (this._polls) {
        this._timer = window.setTimeout(tick, this.refreshInterval);
      }
    };
    this._timer = window.setTimeout(tick, this.refreshInterval);
  }

  private _stopPolling(): void {
    this._polls = false;
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _defaultModelType: string;
  private _timer: number | null = null;
  private _polls = false; // polling is on (the panel is shown)
  private _polling = false; // a poll is under way
}

export namespace AutoMLPanel {
  export interface IOptions {
    actions: IPanelActions;
    model?: AutoMLModel;
    refreshInterval?: number;
    defaultModelType?: string;
  }
}
