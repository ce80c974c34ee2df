/**
 * Batches of a deployment: upload a file of inputs (`POST deployments/{deployment}/batches`)
 * with a progress bar, read why a file was refused, follow a batch's rows as they run and
 * download its results; the earlier batches with their state and results.
 */
import { Time } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import * as React from 'react';

import { Schemas, call, routeUrl, upload } from './api';
import { ResponseError } from './handler';
import { IDeployment, IValidationReport } from './models';
import { errorMessage } from './state';
import {
  IPicked,
  UploadControls,
  ValidationReportView,
  formatBytes,
  pickFiles,
  uploadErrorMessage
} from './upload';

/** A batch and its progress. */
export type IBatch = Schemas['BatchInfo'];

/** The formats the results come in. */
export type ResultsFormat = 'csv' | 'jsonl';

/** How often a running batch is asked for its progress, in milliseconds. */
export const BATCH_POLL_MS = 1000;

/** The URL of a batch's results, built as every API URL is (base URL, encoded ids). */
export function resultsUrl(
  deployment: string,
  batchId: string,
  format: ResultsFormat,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): string {
  return routeUrl(
    '/automl/api/deployments/{deployment}/batches/{batch_id}/results',
    { deployment, batch_id: batchId },
    { format },
    settings
  );
}

/** The files of a batch a deployment takes: a CSV, or for image classifiers a zip (or a CSV and a zip). */
export function pickBatchFiles(files: File[], modelType: string): IPicked | { error: string } {
  const picked = pickFiles(files);
  if ('error' in picked) {
    return picked;
  }
  const zip = picked.images ?? (/\.zip$/i.test(picked.file.name) ? picked.file : null);
  if (zip && modelType !== 'image_classification') {
    return {
      error: `${zip.name}: a zip of images is only for image classifiers; this deployment takes a CSV.`
    };
  }
  return picked;
}

/** The form of a batch, as the server's `BatchForm` names its parts. */
export function batchForm(picked: IPicked, options = ''): FormData {
  const form = new FormData();
  form.append('file', picked.file, picked.file.name);
  if (picked.images) {
    form.append('images', picked.images, picked.images.name);
  }
  if (options.trim()) {
    form.append('options', options.trim());
  }
  return form;
}

/** The validation report in a refusal (422), if the error holds one. */
export function refusalReport(error: unknown): IValidationReport | null {
  if (!(error instanceof ResponseError) || error.status !== 422) {
    return null;
  }
  const details = error.details as Partial<IValidationReport> | undefined;
  return details && Array.isArray(details.errors) && Array.isArray(details.warnings)
    ? (details as IValidationReport)
    : null;
}

/** A batch's progress in one line: "2 of 3 rows done · 1 failed". */
export function batchProgressText(batch: IBatch): string {
  const failed = batch.failed ? ` · ${batch.failed.toLocaleString()} failed` : '';
  if (batch.state === 'completed') {
    return `Completed: ${batch.succeeded.toLocaleString()} of ${batch.rows.toLocaleString()} rows succeeded${failed}`;
  }
  return `${batch.done.toLocaleString()} of ${batch.rows.toLocaleString()} rows done${failed}`;
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

/** The download links of a completed batch's results. */
export function ResultLinks(props: { deployment: string; batch: IBatch }): JSX.Element {
  const { deployment, batch } = props;
  const stem = batch.file_name.replace(/\.[^.]*$/, '') || 'batch';
  return (
    <span className="jp-AutoML-batch-links">
      <a
        href={resultsUrl(deployment, batch.id, 'csv')}
        download={`${stem}-results.csv`}
        aria-label={`Results of ${batch.file_name} as CSV`}
      >
        Results (CSV)
      </a>
      <a
        href={resultsUrl(deployment, batch.id, 'jsonl')}
        download={`${stem}-results.jsonl`}
        aria-label={`Results of ${batch.file_name} as JSON Lines`}
      >
        Results (JSON Lines)
      </a>
    </span>
  );
}

/**
 * A batch's progress, asked again every `interval` ms while it runs; `onCompleted` is called
 * once when it is done. Give it a `key` of the batch's id: another batch is another view.
 */
export function BatchProgress(props: {
  deployment: string;
  batch: IBatch;
  interval?: number;
  onCompleted?: (batch: IBatch) => void;
}): JSX.Element {
  const { deployment, interval = BATCH_POLL_MS } = props;
  const [batch, setBatch] = React.useState<IBatch>(props.batch);
  const [error, setError] = React.useState<string | null>(null);
  const completed = React.useRef(props.onCompleted);
  completed.current = props.onCompleted;

  React.useEffect(() => {
    if (batch.state !== 'running') {
      return;
    }
    let live = true;
    const timer = setTimeout(() => {
      call('get', '/automl/api/deployments/{deployment}/batches/{batch_id}', {
        path: { deployment, batch_id: batch.id }
      }).then(
        answer => {
          if (!live) {
            return;
          }
          setError(null);
          setBatch(answer);
          if (answer.state === 'completed') {
            completed.current?.(answer);
          }
        },
        reason => {
          if (!live) {
            return;
          }
          setError(errorMessage(reason));
          if (!(reason instanceof ServerConnection.NetworkError)) {
            return; // the server refused: asking again would not help
          }
          setBatch({ ...batch }); // the server could not be reached: ask again
        }
      );
    }, interval);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [batch, deployment, interval]);

  return (
    <div className="jp-AutoML-batch" aria-label={`Batch ${batch.file_name}`} role="group">
      <div className="jp-AutoML-itemHeader">
        <span className="jp-AutoML-itemName" title={batch.file_name}>
          {batch.file_name}
        </span>
        <span
          className={`jp-AutoML-badge jp-AutoML-badge-${batch.state === 'completed' ? 'ok' : 'info'}`}
        >
          {batch.state}
        </span>
      </div>
      <progress
        className="jp-AutoML-progress"
        aria-label="Batch progress"
        max={batch.rows || 1}
        value={batch.rows ? batch.done : 0}
      />
      <span className="jp-AutoML-batch-status" role="status">
        {batchProgressText(batch)}
      </span>
      {batch.warnings.length > 0 && (
        <ul className="jp-AutoML-batch-warnings" aria-label="Warnings">
          {batch.warnings.map((w, i) => (
            <li key={i}>
              {w.row !== null ? `row ${w.row}: ` : ''}
              {w.column ? `${w.column}: ` : ''}
              {w.reason}
            </li>
          ))}
        </ul>
      )}
      {error && (
        <div className="jp-AutoML-error" role="alert">
          {error}
        </div>
      )}
      {batch.state === 'completed' && <ResultLinks deployment={deployment} batch={batch} />}
    </div>
  );
}

/** The deployment's batches, newest first, with their state and, when done, their results. */
function BatchList(props: {
  deployment: string;
  batches: IBatch[];
  following: string | null;
  onFollow: (batch: IBatch) => void;
}): JSX.Element {
  const { deployment, batches } = props;
  return (
    <ul className="jp-AutoML-list jp-AutoML-batch-list" aria-label="Batches">
      {batches.map(b => (
        <li key={b.id} className="jp-AutoML-batch-item" data-id={b.id}>
          <div className="jp-AutoML-itemHeader">
            <span className="jp-AutoML-itemName" title={b.file_name}>
              {b.file_name}
            </span>
            <span
              className={`jp-AutoML-badge jp-AutoML-badge-${b.state === 'completed' ? 'ok' : 'info'}`}
            >
              {b.state}
            </span>
          </div>
          <div className="jp-AutoML-itemMeta">
            {batchProgressText(b)} ·{' '}
            <time dateTime={b.created_at} title={Time.format(b.created_at)}>
              {Time.formatHuman(b.created_at)}
            </time>
          </div>
          {b.state === 'completed' ? (
            <ResultLinks deployment={deployment} batch={b} />
          ) : (
            props.following !== b.id && (
              <button
                type="button"
                className="jp-Button jp-mod-minimal jp-AutoML-toggle"
                onClick={() => props.onFollow(b)}
              >
                Show progress
              </button>
            )
          )}
        </li>
      ))}
    </ul>
  );
}

/**
 * Upload a file of inputs to a deployment and follow the batch it makes; below, the
 * deployment's earlier batches.
 */
export function BatchPanel(props: { deployment: IDeployment; pollInterval?: number }): JSX.Element {
  const { deployment, pollInterval } = props;
  const image = deployment.model_type === 'image_classification';
  const [picked, setPicked] = React.useState<IPicked | null>(null);
  const [progress, setProgress] = React.useState<{ loaded: number; total: number } | null>(null);
  const [options, setOptions] = React.useState('');
  const [error, setError] = React.useState<string | null>(null);
  const [note, setNote] = React.useState<string | null>(null);
  const [report, setReport] = React.useState<IValidationReport | null>(null);
  const [current, setCurrent] = React.useState<IBatch | null>(null);
  const [batches, setBatches] = React.useState<IBatch[] | null>(null);
  const [listError, setListError] = React.useState<string | null>(null);
  const [loads, setLoads] = React.useState(0);
  const uploading = React.useRef<AbortController | null>(null);
  const id = `jp-AutoML-batch-${deployment.id}`;

  // An upload still under way when the panel goes is cancelled.
  React.useEffect(() => () => uploading.current?.abort(), []);

  React.useEffect(() => {
    let live = true;
    call('get', '/automl/api/deployments/{deployment}/batches', {
      path: { deployment: deployment.id }
    }).then(
      answer => {
        if (live) {
          setBatches(answer.batches);
          setListError(null);
        }
      },
      reason => live && setListError(errorMessage(reason))
    );
    return () => {
      live = false;
    };
  }, [deployment.id, loads]);

  const choose = (files: File[]) => {
    setError(null);
    setNote(null);
    const result = pickBatchFiles(files, deployment.model_type);
    if ('error' in result) {
      setError(result.error);
      return;
    }
    setPicked(result);
  };

  const chooseImages = (files: File[]) => {
    const zip = files[0];
    if (!picked) {
      return;
    }
    if (zip && !/\.zip$/i.test(zip.name)) {
      setError(`${zip.name}: the images must come as one .zip file.`);
      return;
    }
    setError(null);
    setPicked({ ...picked, images: zip ?? null });
  };

  const start = async (event: React.FormEvent) => {
    event.preventDefault();
    if (!picked) {
      setError(`Choose a CSV file${image ? ' (or a zip of a CSV and its images)' : ''} first.`);
      return;
    }
    const controller = new AbortController();
    uploading.current = controller;
    setError(null);
    setNote(null);
    setReport(null);
    const size = picked.file.size + (picked.images?.size ?? 0);
    setProgress({ loaded: 0, total: size });
    try {
      const batch = await upload(
        '/automl/api/deployments/{deployment}/batches',
        batchForm(picked, options),
        (loaded, total) => setProgress({ loaded, total: total || size }),
        undefined,
        { path: { deployment: deployment.id }, signal: controller.signal }
      );
      setCurrent(batch);
      setPicked(null);
      setLoads(n => n + 1);
    } catch (reason) {
      if (isAbort(reason)) {
        setNote('The upload was cancelled.');
      } else {
        setError(uploadErrorMessage(reason));
        setReport(refusalReport(reason));
      }
    } finally {
      uploading.current = null;
      setProgress(null);
    }
  };

  const busy = progress !== null;
  const imagesField = image && picked !== null && /\.csv$/i.test(picked.file.name);
  const earlier = (batches ?? []).filter(b => b.id !== current?.id);
  return (
    <section className="jp-AutoML-workspace-part" aria-label="Batches">
      {deployment.metadata_only ? (
        <p className="jp-AutoML-itemMeta">
          This deployment keeps no task text, so a batch's results could not be read back: send
          the rows as async tasks with a callback URL instead.
        </p>
      ) : (
        <form aria-label="Upload a batch" onSubmit={start} noValidate>
          <p className="jp-AutoML-itemMeta">
            Every row of the file becomes a task.{' '}
            {image
              ? 'A CSV with an image (or image_url) column, and its images as a zip; or one zip holding both.'
              : deployment.model_type.startsWith('llm')
                ? 'A CSV with a prompt column (system_prompt, prompt_history, roles optional).'
                : 'A CSV with a text_data column.'}{' '}
            A file with an invalid row is refused whole.
          </p>
          <div className="jp-AutoML-field">
            <label htmlFor={`${id}-file`}>
              {image ? 'Inputs (CSV or zip)' : 'Inputs (CSV)'}
            </label>
            <input
              id={`${id}-file`}
              type="file"
              accept={image ? '.csv,.zip,text/csv,application/zip' : '.csv,text/csv'}
              multiple={image}
              disabled={busy}
              onChange={e => {
                choose(Array.from(e.target.files ?? []));
                e.target.value = ''; // choosing the same file again still counts
              }}
            />
            {picked && (
              <span className="jp-AutoML-upload-hint">
                {picked.file.name} ({formatBytes(picked.file.size)})
                {picked.images
                  ? ` · images: ${picked.images.name} (${formatBytes(picked.images.size)})`
                  : ''}
              </span>
            )}
          </div>
          {imagesField && (
            <div className="jp-AutoML-field">
              <label htmlFor={`${id}-images`}>Images (zip, optional)</label>
              <input
                id={`${id}-images`}
                type="file"
                accept=".zip,application/zip"
                disabled={busy}
                onChange={e => chooseImages(Array.from(e.target.files ?? []))}
              />
            </div>
          )}
          <div className="jp-AutoML-field">
            <label htmlFor={`${id}-options`}>Options for every row (JSON, optional)</label>
            <input
              id={`${id}-options`}
              type="text"
              className="jp-mod-styled"
              placeholder={
                deployment.model_type.startsWith('llm')
                  ? '{"max_tokens": 64, "temperature": 0}'
                  : '{"top_k": 1}'
              }
              value={options}
              disabled={busy}
              onChange={e => setOptions(e.target.value)}
            />
          </div>
          <UploadControls
            progress={progress}
            checking="Checking the file…"
            note={note}
            error={error}
            submit="Run batch"
            canSubmit={picked !== null}
            onCancel={() => uploading.current?.abort()}
          />
        </form>
      )}
      {report && <ValidationReportView report={report} />}
      {current && (
        <BatchProgress
          key={current.id}
          deployment={deployment.id}
          batch={current}
          interval={pollInterval}
          onCompleted={() => setLoads(n => n + 1)}
        />
      )}
      <h3 className="jp-AutoML-workspace-heading">
        {current ? 'Earlier batches' : 'Batches'}
      </h3>
      {listError && (
        <div className="jp-AutoML-error" role="alert">
          {listError}
        </div>
      )}
      {batches === null && !listError && (
        <p className="jp-AutoML-placeholder">Loading batches…</p>
      )}
      {batches !== null && earlier.length === 0 && (
        <p className="jp-AutoML-empty">
          {current ? 'No other batches.' : 'No batches yet.'}
        </p>
      )}
      {earlier.length > 0 && (
        <BatchList
          deployment={deployment.id}
          batches={earlier}
          following={current?.id ?? null}
          onFollow={setCurrent}
        />
      )}
    </section>
  );
}
