import * as React from 'react';

import { call, upload } from './api';
import { ResponseError } from './handler';
import {
  IBaseModel,
  IDataset,
  IDatasetDetail,
  IIssue,
  ISnapshot,
  ITokenStats,
  IValidationReport,
  MODEL_TYPE_LABELS,
  ModelType
} from './models';

/** The most errors (and warnings) a report lists; the rest are counted. */
export const MAX_ISSUES = 200;

/** The model types that classify, whose snapshots split stratified on a head. */
const CLASSIFIERS: string[] = ['text_classification', 'image_classification'];

/** One line of an error or warning table, as shown. */
export interface IIssueRow {
  /** The row number, or "file" for a problem with the whole file. */
  row: string;
  /** The column (or zip entry), or "—" when none. */
  column: string;
  reason: string;
}

/** The lines of an error or warning table: the first `limit`, and how many more there are. */
export interface IIssueTable {
  rows: IIssueRow[];
  more: number;
  total: number;
}

/** An error or warning list as table lines, cut to `limit`. */
export function issueRows(issues: IIssue[], limit = MAX_ISSUES): IIssueTable {
  return {
    rows: issues.slice(0, limit).map(issue => ({
      row: issue.row === null ? 'file' : String(issue.row),
      column: issue.column ?? '—',
      reason: issue.reason
    })),
    more: Math.max(0, issues.length - limit),
    total: issues.length
  };
}

/** A report's errors and warnings as table lines. */
export function reportRows(
  report: IValidationReport,
  limit = MAX_ISSUES
): { errors: IIssueTable; warnings: IIssueTable } {
  return {
    errors: issueRows(report.errors, limit),
    warnings: issueRows(report.warnings, limit)
  };
}

/** One class of one head and its examples. */
export interface IClassRow {
  head: string;
  name: string;
  count: number;
}

/** The classes of each head with their counts, heads and classes in the report's order. */
export function classRows(heads: IValidationReport['heads']): IClassRow[] {
  return Object.entries(heads).flatMap(([head, classes]) =>
    Object.entries(classes).map(([name, count]) => ({ head, name, count }))
  );
}

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count.toLocaleString()} ${count === 1 ? one : many}`;
}

/** The report's verdict in one line. */
export function verdictText(report: IValidationReport): string {
  const rows = `${report.valid_rows.toLocaleString()} of ${plural(report.rows, 'row')} valid`;
  const invalid = `${plural(report.invalid_rows, 'invalid row')}${
    report.invalid_rows && report.valid ? ' (left out)' : ''
  }`;
  return `${report.valid ? 'Valid' : 'Invalid'}: ${rows}, ${invalid}`;
}

/** Why a report's dataset cannot be frozen: its errors that concern the whole file. */
export function freezeBlockers(report: IValidationReport): string[] {
  if (report.valid) {
    return [];
  }
  const reasons = report.errors.filter(e => e.row === null).map(e => e.reason);
  return reasons.length ? reasons : ['the file as a whole breaks the dataset rules'];
}

/** A size in bytes for people: "512 B", "1.4 kB", "2.7 MB" (units of 1000). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** The whole percent of `loaded` of `total` (0 when the total is unknown). */
export function percentOf(loaded: number, total: number): number {
  return total > 0 ? Math.min(100, Math.floor((loaded / total) * 100)) : 0;
}

/** The line beside the progress bar: "45% · 1.2 MB of 2.7 MB". */
export function progressText(loaded: number, total: number): string {
  if (total <= 0) {
    return `${formatBytes(loaded)} sent`;
  }
  return `${percentOf(loaded, total)}% · ${formatBytes(loaded)} of ${formatBytes(total)}`;
}

/** The token-length summary as (label, value) pairs. */
export function tokenStatRows(stats: ITokenStats): [string, string][] {
  return [
    ['Tokenizer', stats.tokenizer],
    ['Rows counted', stats.count.toLocaleString()],
    ['Min', stats.min.toLocaleString()],
    ['Median (p50)', stats.p50.toLocaleString()],
    ['p95', stats.p95.toLocaleString()],
    ['Max', stats.max.toLocaleString()],
    ['Mean', stats.mean.toLocaleString(undefined, { maximumFractionDigits: 1 })]
  ];
}

/** The files of an upload: the CSV (or one zip of a CSV and its images) and an images zip. */
export interface IPicked {
  file: File;
  images: File | null;
}

function extension(file: File): string {
  const dot = file.name.lastIndexOf('.');
  return dot < 0 ? '' : file.name.slice(dot + 1).toLowerCase();
}

/**
 * What the server takes from the files a user picked or dropped: one CSV; one zip that
 * holds a CSV and the images it names; or a CSV and a zip of its images.
 */
export function pickFiles(files: File[]): IPicked | { error: string } {
  const csv = files.filter(f => extension(f) === 'csv');
  const zip = files.filter(f => extension(f) === 'zip');
  const other = files.filter(f => !['csv', 'zip'].includes(extension(f)));
  if (!files.length) {
    return { error: 'No file was chosen.' };
  }
  if (other.length) {
    return {
      error: `${other.map(f => f.name).join(', ')}: only .csv files, or .zip files of images, can be uploaded.`
    };
  }
  if (csv.length > 1 || zip.length > 1) {
    return { error: 'Choose one CSV file (and at most one zip of images).' };
  }
  if (csv.length) {
    return { file: csv[0], images: zip[0] ?? null };
  }
  return { file: zip[0], images: null };
}

/** Whether a picked upload can only be image classification (it has a zip). */
export function needsImages(picked: IPicked): boolean {
  return picked.images !== null || extension(picked.file) === 'zip';
}

/** The head a split stratifies on: the first head of a classifier; none for LLM data. */
export function stratifyHead(modelType: string, heads: Record<string, unknown>): string | null {
  return CLASSIFIERS.includes(modelType) ? (Object.keys(heads)[0] ?? null) : null;
}

/** The test percent typed in: 0 (no split) for an empty field, else 1 to 90; or why not. */
export function parseTestPercent(text: string): number | { error: string } {
  const value = text.trim();
  if (!value) {
    return 0;
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 90) {
    return { error: 'The test set must be a whole percent from 1 to 90 (0 or empty: no split).' };
  }
  return n;
}

/** The form of an upload, as the server's `UploadForm` names its parts. */
export function uploadForm(options: {
  picked: IPicked;
  modelType: string;
  baseModel?: string;
  name?: string;
}): FormData {
  const form = new FormData();
  form.append('model_type', options.modelType);
  if (options.baseModel) {
    form.append('base_model', options.baseModel);
  }
  const name = options.name?.trim();
  if (name) {
    form.append('name', name);
  }
  form.append('file', options.picked.file, options.picked.file.name);
  if (options.picked.images) {
    form.append('images', options.picked.images, options.picked.images.name);
  }
  return form;
}

/** What to show for a failed request; never empty. */
export function uploadErrorMessage(error: unknown): string {
  const message =
    error instanceof Error && error.message ? error.message : String(error || 'unknown error');
  if (error instanceof ResponseError) {
    if (error.status === 413) {
      return `The upload is too large: ${message}`;
    }
    if (error.status === 400 || error.status === 422) {
      return `The server refused the upload: ${message}`;
    }
  }
  return message;
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

function IssueTable(props: { title: string; table: IIssueTable }): JSX.Element | null {
  const { title, table } = props;
  if (!table.total) {
    return null;
  }
  return (
    <div className="jp-AutoML-upload-issues">
      <table className="jp-AutoML-upload-table" aria-label={title}>
        <caption>
          {title} ({table.total.toLocaleString()})
        </caption>
        <thead>
          <tr>
            <th scope="col">Row</th>
            <th scope="col">Column</th>
            <th scope="col">Reason</th>
          </tr>
        </thead>
        <tbody>
          {table.rows.map((r, i) => (
            <tr key={i} className={r.row === 'file' ? 'jp-AutoML-upload-fileIssue' : undefined}>
              <td>{r.row}</td>
              <td>{r.column}</td>
              <td>{r.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {table.more > 0 && (
        <p className="jp-AutoML-upload-more">
          … and {table.more.toLocaleString()} more (the first {table.rows.length.toLocaleString()}{' '}
          are shown; <code>jupyter automl datasets show ID</code> lists all).
        </p>
      )}
    </div>
  );
}

/** A validation report: verdict, errors, warnings, classes per head and token lengths. */
/**
 * The bottom of an upload form: the progress bar while the bytes go (then `checking` while
 * the server checks them), a note, an error, and Submit, or Cancel while it is under way.
 */
export function UploadControls(props: {
  progress: { loaded: number; total: number } | null;
  checking: string;
  note: string | null;
  error: string | null;
  submit: string;
  canSubmit: boolean;
  onCancel: () => void;
  children?: React.ReactNode;
}): JSX.Element {
  const { progress } = props;
  return (
    <>
      {progress && (
        <div className="jp-AutoML-upload-progress">
          <progress
            className="jp-AutoML-progress"
            aria-label="Upload progress"
            max={progress.total || undefined}
            value={progress.total ? progress.loaded : undefined}
          />
          <span role="status">
            {progress.total && progress.loaded >= progress.total
              ? props.checking
              : progressText(progress.loaded, progress.total)}
          </span>
        </div>
      )}
      {props.note && (
        <p className="jp-AutoML-upload-note" role="status">
          {props.note}
        </p>
      )}
      {props.error && (
        <div className="jp-AutoML-error" role="alert">
          {props.error}
        </div>
      )}
      <div className="jp-AutoML-actions">
        {progress ? (
          <button type="button" className="jp-Button jp-mod-styled jp-mod-warn" onClick={props.onCancel}>
            Cancel upload
          </button>
        ) : (
          <button
            type="submit"
            className="jp-Button jp-mod-styled jp-mod-accept"
            disabled={!props.canSubmit}
          >
            {props.submit}
          </button>
        )}
        {props.children}
      </div>
    </>
  );
}

export function ValidationReportView(props: { report: IValidationReport }): JSX.Element {
  const { report } = props;
  const { errors, warnings } = reportRows(report);
  const classes = classRows(report.heads);
  return (
    <section className="jp-AutoML-upload-report" aria-label="Validation report">
      <p
        className={`jp-AutoML-upload-verdict ${
          report.valid ? 'jp-AutoML-upload-valid' : 'jp-AutoML-upload-invalid'
        }`}
        role="status"
      >
        {verdictText(report)}
      </p>
      {report.ignored_columns.length > 0 && (
        <p className="jp-AutoML-itemMeta">
          Ignored (empty) columns: {report.ignored_columns.join(', ')}
        </p>
      )}
      <IssueTable title="Errors" table={errors} />
      <IssueTable title="Warnings" table={warnings} />
      {classes.length > 0 && (
        <table className="jp-AutoML-upload-table jp-AutoML-upload-classes" aria-label="Classes">
          <caption>Classes per head</caption>
          <thead>
            <tr>
              <th scope="col">Head</th>
              <th scope="col">Class</th>
              <th scope="col">Examples</th>
            </tr>
          </thead>
          <tbody>
            {classes.map(c => (
              <tr key={`${c.head}\u0000${c.name}`}>
                <td>{c.head}</td>
                <td>{c.name}</td>
                <td className="jp-AutoML-upload-number">{c.count.toLocaleString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {report.token_stats && (
        <table className="jp-AutoML-upload-table jp-AutoML-upload-tokens" aria-label="Token lengths">
          <caption>Token lengths</caption>
          <tbody>
            {tokenStatRows(report.token_stats).map(([label, value]) => (
              <tr key={label}>
                <th scope="row">{label}</th>
                <td className="jp-AutoML-upload-number">{value}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** Freeze a valid dataset into a snapshot, and optionally split off a test set. */
function FreezeForm(props: {
  dataset: IDatasetDetail;
  onFrozen: (snapshots: ISnapshot[]) => void;
}): JSX.Element {
  const { dataset } = props;
  const [name, setName] = React.useState('');
  const [role, setRole] = React.useState<'train' | 'test'>('train');
  const [percent, setPercent] = React.useState('');
  const [percentError, setPercentError] = React.useState<string | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  const id = `jp-AutoML-upload-freeze-${dataset.id}`;

  const freeze = async (event: React.FormEvent) => {
    event.preventDefault();
    const testPercent = role === 'train' ? parseTestPercent(percent) : 0;
    if (typeof testPercent !== 'number') {
      setPercentError(testPercent.error);
      return;
    }
    setPercentError(null);
    setError(null);
    setBusy(true);
    try {
      // The same rows give back the same snapshot, so trying again after a failed split is safe.
      const snapshot = await call('post', '/automl/api/snapshots', {
        body: { dataset_id: dataset.id, name: name.trim() || null, role }
      });
      if (testPercent > 0) {
        const split = await call('post', '/automl/api/snapshots/{snapshot_id}/split', {
          path: { snapshot_id: snapshot.id },
          body: {
            test_percent: testPercent,
            stratify_by: stratifyHead(dataset.model_type, snapshot.heads)
          }
        });
        props.onFrozen([snapshot, split.train, split.test]);
      } else {
        props.onFrozen([snapshot]);
      }
    } catch (reason) {
      setError(uploadErrorMessage(reason));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="jp-AutoML-upload-freeze" aria-label="Freeze snapshot" onSubmit={freeze} noValidate>
      <h3 className="jp-AutoML-upload-heading">Freeze snapshot</h3>
      <div className="jp-AutoML-field">
        <label htmlFor={`${id}-name`}>Snapshot name (optional)</label>
        <input
          id={`${id}-name`}
          type="text"
          className="jp-mod-styled"
          placeholder={dataset.name}
          value={name}
          onChange={e => setName(e.target.value)}
        />
      </div>
      <div className="jp-AutoML-field">
        <label htmlFor={`${id}-role`}>Role</label>
        <select
          id={`${id}-role`}
          className="jp-mod-styled"
          value={role}
          onChange={e => setRole(e.target.value as 'train' | 'test')}
        >
          <option value="train">Training data</option>
          <option value="test">Test data</option>
        </select>
      </div>
      {role === 'train' && (
        <div className="jp-AutoML-field">
          <label htmlFor={`${id}-split`}>Split off a test set % (optional)</label>
          <input
            id={`${id}-split`}
            type="number"
            className="jp-mod-styled"
            min={0}
            max={90}
            step={1}
            placeholder="0"
            value={percent}
            aria-invalid={percentError ? true : undefined}
            aria-describedby={percentError ? `${id}-split-error` : undefined}
            onChange={e => {
              setPercent(e.target.value);
              setPercentError(null);
            }}
          />
          {percentError && (
            <span id={`${id}-split-error`} className="jp-AutoML-fieldError">
              {percentError}
            </span>
          )}
        </div>
      )}
      {error && (
        <div className="jp-AutoML-error" role="alert">
          {error}
        </div>
      )}
      <div className="jp-AutoML-actions">
        <button type="submit" className="jp-Button jp-mod-styled jp-mod-accept" disabled={busy}>
          {busy ? 'Freezing…' : 'Freeze snapshot'}
        </button>
      </div>
    </form>
  );
}

const TYPES = Object.keys(MODEL_TYPE_LABELS) as ModelType[];

/**
 * Upload a dataset: pick or drop a CSV (or a zip of a CSV and its images), choose the model
 * type and base model, watch the upload's progress, read the validation report, and freeze
 * a valid dataset into a snapshot (with a test split when asked).
 */
export function UploadDataset(props: {
  defaultModelType?: string;
  onUploaded: (dataset: IDataset) => void;
  onFrozen: (snapshots: ISnapshot[]) => void;
  onClose: () => void;
}): JSX.Element {
  const initialType = TYPES.includes(props.defaultModelType as ModelType)
    ? (props.defaultModelType as ModelType)
    : TYPES[0];
  const [modelType, setModelType] = React.useState<ModelType>(initialType);
  const [bases, setBases] = React.useState<IBaseModel[]>([]);
  const [baseModel, setBaseModel] = React.useState('');
  const [name, setName] = React.useState('');
  const [picked, setPicked] = React.useState<IPicked | null>(null);
  const [note, setNote] = React.useState<string | null>(null);
  const [dragging, setDragging] = React.useState(false);
  const [progress, setProgress] = React.useState<{ loaded: number; total: number } | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [dataset, setDataset] = React.useState<IDatasetDetail | null>(null);
  const input = React.useRef<HTMLInputElement>(null);
  const uploading = React.useRef<AbortController | null>(null);
  const id = 'jp-AutoML-upload';

  // An upload still under way when the form goes is cancelled.
  React.useEffect(() => () => uploading.current?.abort(), []);

  React.useEffect(() => {
    let current = true; // an answer for an earlier type must not overwrite a later one
    setBases([]);
    setBaseModel('');
    call('get', '/automl/api/base-models', { query: { model_type: modelType } })
      .then(answer => {
        if (current) {
          setBases(answer.base_models);
          setBaseModel(answer.base_models[0]?.name ?? '');
        }
      })
      .catch(reason => current && setError(uploadErrorMessage(reason)));
    return () => {
      current = false;
    };
  }, [modelType]);

  const choose = (files: File[]) => {
    const result = pickFiles(files);
    setError(null);
    setNote(null);
    if ('error' in result) {
      setError(result.error);
      return;
    }
    setPicked(result);
    if (needsImages(result) && modelType !== 'image_classification') {
      setModelType('image_classification');
      setNote('A zip is for image classification: the type is set to it.');
    }
  };

  const chooseImages = (files: File[]) => {
    if (!picked) {
      return;
    }
    const zip = files[0];
    if (zip && extension(zip) !== 'zip') {
      setError(`${zip.name}: the images must come as one .zip file.`);
      return;
    }
    setError(null);
    setPicked({ ...picked, images: zip ?? null });
  };

  const start = async (event: React.FormEvent) => {
    event.preventDefault();
    if (!picked) {
      setError('Choose a CSV file (or a zip of a CSV and its images) first.');
      return;
    }
    if (needsImages(picked) && modelType !== 'image_classification') {
      setError(`A zip can only be uploaded for ${MODEL_TYPE_LABELS.image_classification}.`);
      return;
    }
    const controller = new AbortController();
    uploading.current = controller;
    setError(null);
    setNote(null);
    setDataset(null);
    const size = picked.file.size + (picked.images?.size ?? 0);
    setProgress({ loaded: 0, total: size });
    try {
      const detail = await upload(
        '/automl/api/datasets',
        uploadForm({ picked, modelType, baseModel, name }),
        (loaded, total) => setProgress({ loaded, total: total || size }),
        undefined,
        { signal: controller.signal }
      );
      setDataset(detail);
      const { report, ...info } = detail;
      props.onUploaded(info);
    } catch (reason) {
      if (isAbort(reason)) {
        setNote('The upload was cancelled.');
      } else {
        setError(uploadErrorMessage(reason));
      }
    } finally {
      uploading.current = null;
      setProgress(null);
    }
  };

  const openPicker = (event: React.KeyboardEvent) => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      input.current?.click();
    }
  };

  const busy = progress !== null;
  const imagesNeeded = picked !== null && extension(picked.file) === 'csv' && modelType === 'image_classification';
  return (
    <div className="jp-AutoML-form jp-AutoML-upload">
      <form aria-label="Upload a dataset" onSubmit={start} noValidate>
        <input
          ref={input}
          id={`${id}-file`}
          className="jp-AutoML-upload-input"
          type="file"
          accept=".csv,.zip,text/csv,application/zip"
          multiple
          tabIndex={-1}
          aria-label="Dataset file (CSV, or a zip of a CSV and its images)"
          disabled={busy}
          onChange={e => {
            choose(Array.from(e.target.files ?? []));
            e.target.value = ''; // choosing the same file again still counts
          }}
        />
        <label
          htmlFor={`${id}-file`}
          className={`jp-AutoML-upload-drop${dragging ? ' jp-mod-dragover' : ''}`}
          role="button"
          tabIndex={busy ? -1 : 0}
          aria-disabled={busy || undefined}
          aria-describedby={`${id}-drop-hint`}
          onKeyDown={openPicker}
          onDragEnter={e => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragOver={e => {
            e.preventDefault();
            e.dataTransfer.dropEffect = busy ? 'none' : 'copy';
            setDragging(true);
          }}
          onDragLeave={e => {
            if (!e.currentTarget.contains(e.relatedTarget as Node | null)) {
              setDragging(false);
            }
          }}
          onDrop={e => {
            e.preventDefault();
            setDragging(false);
            if (!busy) {
              choose(Array.from(e.dataTransfer.files));
            }
          }}
        >
          <span className="jp-AutoML-upload-dropTitle">
            {picked ? picked.file.name : 'Drop a CSV or zip here, or choose a file'}
          </span>
          <span id={`${id}-drop-hint`} className="jp-AutoML-upload-hint">
            {picked
              ? `${formatBytes(picked.file.size)}${
                  picked.images ? ` · images: ${picked.images.name} (${formatBytes(picked.images.size)})` : ''
                } · press Enter to choose another`
              : 'CSV with a header row; for images, a zip holding one CSV and the images it names'}
          </span>
        </label>
        {imagesNeeded && (
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
          <label htmlFor={`${id}-type`}>Model type</label>
          <select
            id={`${id}-type`}
            className="jp-mod-styled"
            value={modelType}
            disabled={busy}
            onChange={e => {
              setModelType(e.target.value as ModelType);
              setNote(null);
            }}
          >
            {TYPES.map(t => (
              <option key={t} value={t}>
                {MODEL_TYPE_LABELS[t]}
              </option>
            ))}
          </select>
        </div>
        <div className="jp-AutoML-field">
          <label htmlFor={`${id}-base`}>Base model</label>
          <select
            id={`${id}-base`}
            className="jp-mod-styled"
            value={baseModel}
            disabled={busy || !bases.length}
            onChange={e => setBaseModel(e.target.value)}
          >
            {bases.map(b => (
              <option key={b.name} value={b.name}>
                {b.display_name}
              </option>
            ))}
          </select>
        </div>
        <div className="jp-AutoML-field">
          <label htmlFor={`${id}-name`}>Dataset name (optional)</label>
          <input
            id={`${id}-name`}
            type="text"
            className="jp-mod-styled"
            placeholder={picked ? picked.file.name.replace(/\.[^.]*$/, '') : 'the file name'}
            value={name}
            disabled={busy}
            onChange={e => setName(e.target.value)}
          />
        </div>
        <UploadControls
          progress={progress}
          checking="Validating…"
          note={note}
          error={error}
          submit="Upload"
          canSubmit={picked !== null}
          onCancel={() => uploading.current?.abort()}
        >
          <button type="button" className="jp-Button jp-mod-styled" onClick={props.onClose}>
            Close
          </button>
        </UploadControls>
      </form>
      {dataset && (
        <>
          <ValidationReportView report={dataset.report} />
          {dataset.report.valid ? (
            <FreezeForm key={dataset.id} dataset={dataset} onFrozen={props.onFrozen} />
          ) : (
            <div className="jp-AutoML-upload-blocked" role="alert">
              <strong>This dataset cannot be frozen into a snapshot:</strong>
              <ul>
                {freezeBlockers(dataset.report).map((reason, i) => (
                  <li key={i}>{reason}</li>
                ))}
              </ul>
              Fix the file and upload it again.
            </div>
          )}
        </>
      )}
    </div>
  );
}
