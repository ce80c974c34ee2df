/**
 * What the sidebar knows: each list from the server, its error, and whether a
 * refresh is running; kept apart from the React view so it can be tested alone.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { call } from './api';
import { isActive } from './jobs';
import { IDataset, IDeployment, IJob, IModel, ISnapshot } from './models';

/** What one section of the panel knows about its list. */
export interface ISectionState<T> {
  /** The items of the last successful load. */
  items: T[];
  /** True once a load succeeded at least once. */
  loaded: boolean;
  /** The message of the last failed load; null after a success. */
  error: string | null;
}

/** The form the panel shows open at its top, if any. */
export type PanelForm = 'upload' | 'new-model' | null;

/** Where the panel gets its lists from (swappable in tests). */
export interface IAutoMLSource {
  datasets(): Promise<IDataset[]>;
  snapshots(): Promise<ISnapshot[]>;
  models(): Promise<IModel[]>;
  jobs(): Promise<IJob[]>;
  deployments(): Promise<IDeployment[]>;
}

/** The REST API as a source. */
export const restSource: IAutoMLSource = {
  async datasets() {
    return (await call('get', '/automl/api/datasets')).datasets;
  },
  async snapshots() {
    return (await call('get', '/automl/api/snapshots')).snapshots;
  },
  async models() {
    return (await call('get', '/automl/api/models')).models;
  },
  async jobs() {
    return (await call('get', '/automl/api/jobs', { query: { limit: 50 } })).jobs;
  },
  async deployments() {
    return (await call('get', '/automl/api/deployments')).deployments;
  }
};

function emptySection<T>(): ISectionState<T> {
  return { items: [], loaded: false, error: null };
}

export function errorMessage(reason: unknown): string {
  if (reason instanceof Error && reason.message) {
    return reason.message;
  }
  return String(reason);
}

/**
 * The state behind the sidebar: every list, its error, and whether a
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

  get models(): ISectionState<IModel> {
    return this._models;
  }

  get jobs(): ISectionState<IJob> {
    return this._jobs;
  }

  get deployments(): ISectionState<IDeployment> {
    return this._deployments;
  }

  get loading(): boolean {
    return this._loading;
  }

  /** True while a job is queued or running or a deployment is loading: the panel then polls. */
  get hasActiveWork(): boolean {
    return (
      this._jobs.items.some(isActive) ||
      this._deployments.items.some(d => d.status === 'deploying')
    );
  }

  /** The form open at the top of the panel (the palette's commands open them). */
  get form(): PanelForm {
    return this._form;
  }

  showForm(form: PanelForm): void {
    this._form = form;
    this._stateChanged.emit();
  }

  /** Emitted whenever anything above changes. */
  get stateChanged(): ISignal<AutoMLModel, void> {
    return this._stateChanged;
  }

  /**
   * Whether the panel polls at `now`: at every tick while there is active work;
   * every `SERVING_POLL_MS` while a deployment serves, so that its request and
   * token counters follow the traffic of applications and batches.
   */
  shouldPoll(now: number = Date.now()): boolean {
    if (this.hasActiveWork) {
      return true;
    }
    return (
      this._deployments.items.some(d => d.status === 'complete') &&
      now - this._readAt >= AutoMLModel.SERVING_POLL_MS
    );
  }

  static readonly SERVING_POLL_MS = 10000;

  /** Reload every list. */
  async refresh(): Promise<void> {
    this._readAt = Date.now();
    const generation = ++this._generation;
    this._loading = true;
    this._stateChanged.emit();

    const [datasets, snapshots, models, jobs, deployments] = await Promise.allSettled([
      this._source.datasets(),
      this._source.snapshots(),
      this._source.models(),
      this._source.jobs(),
      this._source.deployments()
    ]);
    if (generation !== this._generation) {
      return; // a newer refresh started meanwhile; let it report
    }
    this._datasets = settle(this._datasets, datasets);
    this._snapshots = settle(this._snapshots, snapshots);
    this._models = settle(this._models, models);
    this._jobs = settle(this._jobs, jobs);
    this._deployments = settle(this._deployments, deployments);
    this._loading = false;
    this._stateChanged.emit();
  }

  /**
   * What polling does: reload the jobs and the deployments only; everything
   * when a job has ended since (its model and version changed too).
   */
  async poll(): Promise<void> {
    this._readAt = Date.now();
    const active = new Set(this._jobs.items.filter(isActive).map(j => j.id));
    const [jobs, deployments] = await Promise.allSettled([
      this._source.jobs(),
      this._source.deployments()
    ]);
    this._jobs = settle(this._jobs, jobs);
    this._deployments = settle(this._deployments, deployments);
    this._stateChanged.emit();
    if (this._jobs.items.some(j => active.has(j.id) && !isActive(j))) {
      await this.refresh();
    }
  }

  /** Show a deployment just made or changed before the next poll. */
  addDeployment(deployment: IDeployment): void {
    this._deployments = {
      ...this._deployments,
      items: [deployment, ...this._deployments.items.filter(d => d.id !== deployment.id)]
    };
    this._stateChanged.emit();
  }

  /** Show a job just queued before the next poll. */
  addJob(job: IJob): void {
    this._jobs = { ...this._jobs, items: [job, ...this._jobs.items.filter(j => j.id !== job.id)] };
    this._stateChanged.emit();
  }

  private _source: IAutoMLSource;
  private _datasets = emptySection<IDataset>();
  private _snapshots = emptySection<ISnapshot>();
  private _models = emptySection<IModel>();
  private _jobs = emptySection<IJob>();
  private _deployments = emptySection<IDeployment>();
  private _loading = false;
  private _readAt = 0; // when the deployments were last asked for
  private _form: PanelForm = null;
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
