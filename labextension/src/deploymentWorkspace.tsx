/**
 * A deployment's workspace in the sidebar: its recent tasks (`GET deployments/{d}/tasks`,
 * one opened in full with `GET .../tasks/{task_id}`), its batches (batchUpload.tsx) and its
 * usage (usageChart.tsx), each on a tab that loads when first opened.
 */
import { Time } from '@jupyterlab/coreutils';
import * as React from 'react';

import { Schemas, call } from './api';
import { BatchPanel } from './batchUpload';
import { IDeployment } from './models';
import { errorMessage } from './state';
import { UsageView, formatMs, keyLabel } from './usageChart';

/** A task of a deployment's history. */
export type ITaskRecord = Schemas['TaskRecord'];

/** One page of a deployment's tasks, newest first. */
export type ITaskPage = Schemas['TaskPage'];

/** The states a task can be in (the status filter). */
export type TaskState = Schemas['TaskState'];

/** How many tasks a page asks for. */
export const TASK_PAGE_SIZE = 20;

/** How much of a completion the list shows. */
export const COMPLETION_PREVIEW_CHARS = 60;

const STATES: TaskState[] = ['queued', 'succeeded', 'failed'];

const STATE_BADGE: Record<string, string> = { queued: 'info', succeeded: 'ok', failed: 'warn' };

type HeadOutput = Schemas['HeadOutput'];
type CompletionOutput = Schemas['CompletionOutput'];

function isHead(item: unknown): item is HeadOutput {
  return (
    typeof item === 'object' &&
    item !== null &&
    typeof (item as HeadOutput).head === 'string' &&
    Array.isArray((item as HeadOutput).classes)
  );
}

function isCompletion(item: unknown): item is CompletionOutput {
  return (
    typeof item === 'object' &&
    item !== null &&
    typeof (item as CompletionOutput).completion === 'string'
  );
}

/** A score as shown: two decimals. */
export function formatScore(score: number): string {
  return score.toFixed(2);
}

/** The start of a text on one line, cut to `chars` with "…". */
export function shorten(text: string, chars = COMPLETION_PREVIEW_CHARS): string {
  const line = text.split(/\s+/).filter(Boolean).join(' ');
  return line.length <= chars ? line : `${line.slice(0, chars - 1)}…`;
}

/**
 * What a task's answer says in one line: each head's top class and score for a classifier
 * ("sentiment: positive 0.97"), the completion's start for an LLM; null when there is none.
 */
export function outputPreview(task: ITaskRecord): string | null {
  const output = task.output;
  if (!output || !output.length) {
    return null;
  }
  const heads = output.filter(isHead);
  if (heads.length) {
    return heads
      .map(h => {
        const top = h.classes[0];
        return top ? `${h.head}: ${top.class} ${formatScore(top.score)}` : `${h.head}: —`;
      })
      .join(' · ');
  }
  const completion = output.find(isCompletion);
  if (completion) {
    return shorten(completion.completion);
  }
  return shorten(JSON.stringify(output));
}

/** A timestamp, shown relative ("3 minutes ago") with the exact time on hover. */
function Timestamp(props: { iso: string | null }): JSX.Element {
  if (!props.iso) {
    return <span>—</span>;
  }
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

function ExactTime(props: { iso: string | null }): JSX.Element {
  if (!props.iso) {
    return <>—</>;
  }
  const date = new Date(props.iso);
  return isNaN(date.getTime()) ? <>{props.iso}</> : <time dateTime={props.iso}>{Time.format(date)}</time>;
}

/** A task's output in full: each head's classes with their scores, or the completion. */
function OutputView(props: { output: unknown[] }): JSX.Element {
  const heads = props.output.filter(isHead);
  const completions = props.output.filter(isCompletion);
  if (heads.length) {
    return (
      <>
        {heads.map(h => (
          <table
            key={h.head}
            className="jp-AutoML-workspace-table"
            aria-label={`Output, head ${h.head}`}
          >
            <caption>{h.head}</caption>
            <thead>
              <tr>
                <th scope="col">Class</th>
                <th scope="col">Score</th>
              </tr>
            </thead>
            <tbody>
              {h.classes.map(c => (
                <tr key={c.class}>
                  <th scope="row">{c.class}</th>
                  <td>{formatScore(c.score)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
      </>
    );
  }
  if (completions.length) {
    return (
      <>
        {completions.map((c, i) => (
          <div key={i}>
            <pre className="jp-AutoML-task-text" aria-label="Completion">
              {c.completion}
            </pre>
            <span className="jp-AutoML-itemMeta">finish reason: {c.finish_reason}</span>
          </div>
        ))}
      </>
    );
  }
  return <pre className="jp-AutoML-task-text">{JSON.stringify(props.output, null, 2)}</pre>;
}

/** A task's input as received: its text, URL or media file, and options. */
function InputView(props: { input: Record<string, unknown> }): JSX.Element {
  const { text_data: text, url, media, options, ...rest } = props.input;
  const file = media as { filename?: string | null; bytes?: number; sha256?: string } | undefined;
  const hasOptions = options && typeof options === 'object' && Object.keys(options).length > 0;
  return (
    <>
      {typeof text === 'string' && (
        <pre className="jp-AutoML-task-text" aria-label="Input text">
          {text}
        </pre>
      )}
      {typeof url === 'string' && (
        <p className="jp-AutoML-task-url">
          URL: <code>{url}</code>
        </p>
      )}
      {file && (
        <p>
          File: {file.filename ?? 'media'}
          {file.bytes !== undefined ? `, ${file.bytes.toLocaleString()} bytes` : ''}
          {file.sha256 ? (
            <>
              {' '}
              · <code title={`SHA-256 ${file.sha256}`}>{file.sha256.slice(0, 12)}</code>
            </>
          ) : null}
        </p>
      )}
      {hasOptions && (
        <p>
          Options: <code>{JSON.stringify(options)}</code>
        </p>
      )}
      {Object.keys(rest).length > 0 && (
        <pre className="jp-AutoML-task-text">{JSON.stringify(rest, null, 2)}</pre>
      )}
    </>
  );
}

/** The details of a task as (label, value) pairs. */
export function taskFacts(task: ITaskRecord): [string, React.ReactNode][] {
  return [
    ['Task', <code key="id">{task.id}</code>],
    ['Kind', task.kind],
    ['Status', task.status],
    ['Created', <ExactTime key="c" iso={task.created_at} />],
    ['Started', <ExactTime key="s" iso={task.started_at} />],
    ['Finished', <ExactTime key="f" iso={task.finished_at} />],
    ['Latency', formatMs(task.latency_ms)],
    [
      'Tokens',
      `${task.prompt_tokens.toLocaleString()} prompt + ${task.completion_tokens.toLocaleString()} completion`
    ],
    ['Key', keyLabel(task)],
    ['Attempts', task.attempts.toLocaleString()],
    [
      'Input hash',
      task.input_hash ? (
        <code key="h" title={`SHA-256 ${task.input_hash}`}>
          {task.input_hash.slice(0, 12)}
        </code>
      ) : (
        '—'
      )
    ]
  ];
}

/** A task in full, read again from the server (a queued task may have finished since). */
function TaskDetail(props: { deployment: string; task: ITaskRecord; id: string }): JSX.Element {
  const [task, setTask] = React.useState<ITaskRecord>(props.task);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    let live = true;
    call('get', '/automl/api/deployments/{deployment}/tasks/{task_id}', {
      path: { deployment: props.deployment, task_id: props.task.id }
    }).then(
      answer => live && setTask(answer),
      reason => live && setError(errorMessage(reason))
    );
    return () => {
      live = false;
    };
  }, [props.deployment, props.task.id]);
  return (
    <div className="jp-AutoML-task-detail" id={props.id} aria-label={`Task ${task.id}`} role="region">
      {error && (
        <div className="jp-AutoML-error" role="alert">
          {error}
        </div>
      )}
      <dl className="jp-AutoML-task-facts">
        {taskFacts(task).map(([label, value]) => (
          <React.Fragment key={label}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </React.Fragment>
        ))}
      </dl>
      {task.error && (
        <div className="jp-AutoML-error jp-AutoML-task-error">
          <strong>Error:</strong> {task.error}
        </div>
      )}
      <h4 className="jp-AutoML-workspace-heading">Input</h4>
      {task.metadata_only ? (
        <p className="jp-AutoML-itemMeta">Not kept: this deployment keeps metadata only.</p>
      ) : task.input ? (
        <InputView input={task.input} />
      ) : (
        <p className="jp-AutoML-itemMeta">—</p>
      )}
      <h4 className="jp-AutoML-workspace-heading">Output</h4>
      {task.metadata_only ? (
        <p className="jp-AutoML-itemMeta">Not kept: this deployment keeps metadata only.</p>
      ) : task.output && task.output.length ? (
        <OutputView output={task.output} />
      ) : (
        <p className="jp-AutoML-itemMeta">
          {task.status === 'queued' ? 'None yet: the task is queued.' : 'None.'}
        </p>
      )}
    </div>
  );
}

/** One task in the list; a click opens it in full below. */
function TaskItem(props: {
  deployment: string;
  task: ITaskRecord;
  open: boolean;
  onToggle: () => void;
}): JSX.Element {
  const { task } = props;
  const detail = `jp-AutoML-task-${task.id}`;
  const output = outputPreview(task);
  return (
    <li className="jp-AutoML-task" data-id={task.id}>
      <button
        type="button"
        className="jp-AutoML-task-row"
        aria-expanded={props.open}
        aria-controls={props.open ? detail : undefined}
        onClick={props.onToggle}
      >
        <span className="jp-AutoML-task-meta">
          <span className={`jp-AutoML-badge jp-AutoML-badge-${STATE_BADGE[task.status] ?? 'info'}`}>
            {task.status}
          </span>
          <span className="jp-AutoML-task-kind">{task.kind}</span>
          <span className="jp-AutoML-task-latency">{formatMs(task.latency_ms)}</span>
          <Timestamp iso={task.created_at} />
        </span>
        {task.metadata_only ? (
          <span className="jp-AutoML-task-input jp-AutoML-task-hidden">no text kept</span>
        ) : (
          <>
            <span className="jp-AutoML-task-input">{task.input_preview ?? '—'}</span>
            <span className="jp-AutoML-task-output">
              {output !== null ? `→ ${output}` : task.error ? `→ ${shorten(task.error)}` : ''}
            </span>
          </>
        )}
      </button>
      {props.open && <TaskDetail deployment={props.deployment} task={task} id={detail} />}
    </li>
  );
}

/** The recent tasks of a deployment: a status filter, pages of tasks, and one opened in full. */
export function TaskList(props: { deployment: IDeployment; pageSize?: number }): JSX.Element {
  const { deployment, pageSize = TASK_PAGE_SIZE } = props;
  const [status, setStatus] = React.useState<TaskState | ''>('');
  const [tasks, setTasks] = React.useState<ITaskRecord[] | null>(null);
  const [cursor, setCursor] = React.useState<string | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  const [open, setOpen] = React.useState<string | null>(null);
  const [loads, setLoads] = React.useState(0);
  const generation = React.useRef(0);

  const load = async (after: string | null) => {
    const current = ++generation.current; // a newer load (another filter) wins
    setBusy(true);
    setError(null);
    try {
      const page = await call('get', '/automl/api/deployments/{deployment}/tasks', {
        path: { deployment: deployment.id },
        query: { limit: pageSize, status: status || undefined, cursor: after ?? undefined }
      });
      if (current !== generation.current) {
        return;
      }
      setTasks(previous => (after && previous ? [...previous, ...page.tasks] : page.tasks));
      setCursor(page.next_cursor);
    } catch (reason) {
      if (current === generation.current) {
        setError(errorMessage(reason));
      }
    } finally {
      if (current === generation.current) {
        setBusy(false);
      }
    }
  };

  React.useEffect(() => {
    setTasks(null);
    setCursor(null);
    setOpen(null);
    void load(null);
    return () => {
      generation.current++; // answers after the view went (or the filter changed) are dropped
    };
  }, [deployment.id, status, pageSize, loads]);

  const filterId = `jp-AutoML-tasks-status-${deployment.id}`;
  return (
    <section className="jp-AutoML-workspace-part" aria-label="Recent tasks" aria-busy={busy}>
      {deployment.metadata_only && (
        <p className="jp-AutoML-workspace-note" role="note">
          This deployment keeps metadata only: its tasks show status, times, token counts and key,
          but no input or output text.
        </p>
      )}
      <div className="jp-AutoML-workspace-bar">
        <label htmlFor={filterId}>Status</label>
        <select
          id={filterId}
          className="jp-mod-styled"
          value={status}
          onChange={e => setStatus(e.target.value as TaskState | '')}
        >
          <option value="">All</option>
          {STATES.map(s => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
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
      {tasks === null && !error && (
        <p className="jp-AutoML-placeholder" role="status">
          Loading tasks…
        </p>
      )}
      {tasks !== null && tasks.length === 0 && (
        <p className="jp-AutoML-empty">
          {status ? `No ${status} tasks.` : 'No tasks yet: ask the deployment through its API.'}
        </p>
      )}
      {tasks !== null && tasks.length > 0 && (
        <ul className="jp-AutoML-list jp-AutoML-task-list" aria-label="Tasks">
          {tasks.map(t => (
            <TaskItem
              key={t.id}
              deployment={deployment.id}
              task={t}
              open={open === t.id}
              onToggle={() => setOpen(open === t.id ? null : t.id)}
            />
          ))}
        </ul>
      )}
      {cursor && (
        <div className="jp-AutoML-actions">
          <button
            type="button"
            className="jp-Button jp-mod-styled"
            disabled={busy}
            onClick={() => void load(cursor)}
          >
            {busy ? 'Loading…' : 'Load more'}
          </button>
        </div>
      )}
    </section>
  );
}

/** The parts of the workspace, one tab each. */
export type WorkspaceTab = 'tasks' | 'batches' | 'usage';

const TABS: [WorkspaceTab, string][] = [
  ['tasks', 'Tasks'],
  ['batches', 'Batches'],
  ['usage', 'Usage']
];

/**
 * A deployment's tasks, batches and usage. A tab's content loads when the tab is first
 * opened and stays (hidden) when another is, so a batch upload or its progress goes on.
 */
export function DeploymentWorkspace(props: {
  deployment: IDeployment;
  initialTab?: WorkspaceTab;
  /** How often a running batch is asked for its progress, in milliseconds. */
  pollInterval?: number;
}): JSX.Element {
  const { deployment } = props;
  const [tab, setTab] = React.useState<WorkspaceTab>(props.initialTab ?? 'tasks');
  const [opened, setOpened] = React.useState<Set<WorkspaceTab>>(() => new Set([tab]));
  const base = `jp-AutoML-workspace-${deployment.id}`;
  const select = (next: WorkspaceTab) => {
    setTab(next);
    setOpened(previous => (previous.has(next) ? previous : new Set([...previous, next])));
  };
  const onKeyDown = (event: React.KeyboardEvent) => {
    const at = TABS.findIndex(([t]) => t === tab);
    const step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
    if (step) {
      event.preventDefault();
      const next = TABS[(at + step + TABS.length) % TABS.length][0];
      select(next);
      (event.currentTarget as HTMLElement)
        .querySelector<HTMLButtonElement>(`#${base}-tab-${next}`)
        ?.focus();
    }
  };
  return (
    <div className="jp-AutoML-workspace" role="region" aria-label={`Workspace of ${deployment.name}`}>
      <div className="jp-AutoML-workspace-tabs" role="tablist" aria-label="Workspace" onKeyDown={onKeyDown}>
        {TABS.map(([t, label]) => (
          <button
            key={t}
            id={`${base}-tab-${t}`}
            type="button"
            role="tab"
            className="jp-AutoML-workspace-tab"
            aria-selected={tab === t}
            aria-controls={`${base}-panel-${t}`}
            tabIndex={tab === t ? 0 : -1}
            onClick={() => select(t)}
          >
            {label}
          </button>
        ))}
      </div>
      {TABS.map(([t]) => (
        <div
          key={t}
          id={`${base}-panel-${t}`}
          role="tabpanel"
          aria-labelledby={`${base}-tab-${t}`}
          hidden={tab !== t}
        >
          {opened.has(t) &&
            (t === 'tasks' ? (
              <TaskList deployment={deployment} />
            ) : t === 'batches' ? (
              <BatchPanel deployment={deployment} pollInterval={props.pollInterval} />
            ) : (
              <UsageView deployment={deployment} />
            ))}
        </div>
      ))}
    </div>
  );
}
