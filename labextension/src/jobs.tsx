import * as React from 'react';

import { IJob } from './models';

/** Jobs that are still going (the panel polls while any is). */
export function isActive(job: IJob): boolean {
  return job.status === 'queued' || job.status === 'running';
}

interface IProgressState {
  phase?: string;
  step?: number;
  total_steps?: number;
  epoch?: number;
  max_epochs?: number;
  loss?: number | null;
  eta_seconds?: number | null;
}

function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) {
    return '?';
  }
  const s = Math.round(seconds);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${Math.floor(s / 3600)}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}

/** The line under a job's bar: phase, epoch, step, loss and ETA as the runner last reported. */
export function progressLine(job: IJob): string {
  const state = ((job.progress ?? {}) as { state?: IProgressState }).state ?? {};
  const parts: string[] = [];
  if (isActive(job) && state.phase) {
    parts.push(state.phase);
  }
  if (state.max_epochs) {
    parts.push(`epoch ${(state.epoch ?? 0).toFixed(2)} of ${state.max_epochs}`);
  }
  if (state.total_steps) {
    parts.push(`step ${state.step ?? 0} of ${state.total_steps}`);
  }
  if (typeof state.loss === 'number') {
    parts.push(`loss ${state.loss.toFixed(4)}`);
  }
  if (job.status === 'running') {
    parts.push(`ETA ${duration(state.eta_seconds)}`);
  }
  return parts.join(' · ');
}

/** The share of the job done, from 0 to 1. */
export function fractionDone(job: IJob): number {
  if (job.status === 'succeeded') {
    return 1;
  }
  const state = ((job.progress ?? {}) as { state?: IProgressState }).state ?? {};
  return state.total_steps ? Math.min(1, (state.step ?? 0) / state.total_steps) : 0;
}

const STATUS_KIND: Record<string, string> = {
  queued: 'info',
  running: 'info',
  succeeded: 'ok',
  failed: 'warn',
  cancelled: 'warn'
};

/** A job: its version, status, progress, log tail, and what can be done with it. */
export function JobItem(props: {
  job: IJob;
  onCancel: (job: IJob) => void;
  onOpenReport: (job: IJob) => void;
  onDeploy: (job: IJob) => void;
}): JSX.Element {
  const { job } = props;
  const fraction = fractionDone(job);
  const tail = (job.log_tail ?? '').split('\n').slice(-8).join('\n');
  return (
    <li className="jp-AutoML-item" data-id={job.id} aria-label={`${job.model_name} v${job.version}`}>
      <div className="jp-AutoML-itemHeader">
        <span className="jp-AutoML-itemName">
          {job.model_name} v{job.version}
        </span>
        <span className={`jp-AutoML-badge jp-AutoML-badge-${STATUS_KIND[job.status] ?? 'info'}`}>
          {job.status}
        </span>
      </div>
      <progress
        className="jp-AutoML-progress"
        max={1}
        value={fraction}
        aria-label={`${job.model_name} v${job.version} progress`}
        aria-valuetext={`${Math.round(fraction * 100)}%`}
      />
      <div className="jp-AutoML-itemMeta jp-AutoML-jobProgress">{progressLine(job)}</div>
      {job.error && (
        <div className="jp-AutoML-error" role="alert">
          {job.error}
        </div>
      )}
      {tail.trim() && (
        <details className="jp-AutoML-log">
          <summary>Log</summary>
          <pre>{tail}</pre>
        </details>
      )}
      <div className="jp-AutoML-actions">
        {isActive(job) && (
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-mod-warn"
            disabled={job.cancel_requested}
            onClick={() => props.onCancel(job)}
          >
            {job.cancel_requested ? 'Cancelling…' : 'Cancel'}
          </button>
        )}
        {!isActive(job) && (
          <button
            type="button"
            className="jp-Button jp-mod-styled"
            onClick={() => props.onOpenReport(job)}
          >
            Open training report
          </button>
        )}
        {job.status === 'succeeded' && (
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-mod-accept"
            title={`Serve ${job.model_name} v${job.version} over the task API behind its own keys`}
            onClick={() => props.onDeploy(job)}
          >
            Deploy
          </button>
        )}
      </div>
    </li>
  );
}
