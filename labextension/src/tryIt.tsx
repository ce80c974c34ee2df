/**
 * Try a trained version through the playground, before deploying it: a chat
 * for LLMs, a text box or an image for classifiers (every head's class scores
 * as bars). Requests are limited within days of training unless the version
 * is deployed, in which case its deployment answers them without a limit.
 *
 * It sends what the notebook playground (`widgets/playground.py`) sends: the
 * message as `text_data`, and in `options` the generation settings, the
 * system prompt and, for chat models, the conversation so far as
 * `prompt_history` (oldest first).
 */
import * as React from 'react';

import { Schemas, call } from './api';
import { ResponseError } from './handler';
import { formatNumber } from './metricsTables';

/** The playground's count and end (`GET .../playground`). */
export type IPlaygroundInfo = Schemas['PlaygroundInfo'];

/** An answered task (`POST .../playground`). */
export type ITask = Schemas['Task'];

/** A request of the task API, as JSON. */
export type ITaskRequest = Schemas['TaskRequest'];

/** One turn of a conversation, as `prompt_history` takes it. */
export interface ITurn {
  role: string;
  content: string;
}

/** The settings of an LLM request. */
export interface IChatSettings {
  systemPrompt: string;
  maxTokens: number;
  temperature: number;
}

/** What the chat starts with (the notebook playground's defaults). */
export const DEFAULT_CHAT_SETTINGS: IChatSettings = {
  systemPrompt: '',
  maxTokens: 128,
  temperature: 0
};

/** The most new tokens a request may ask for. */
export const MAX_NEW_TOKENS = 4096;

/** An LLM's completion, with its token counts. */
export type ICompletion = Schemas['CompletionOutput'];

/** A head's classes and scores, best first. */
export interface IHeadScores {
  head: string;
  classes: { class: string; score: number }[];
}

/** Whether a model type is an LLM. */
export function isLLM(modelType: string): boolean {
  return modelType === 'llm_chat' || modelType === 'llm_text';
}

/** The line on the playground's remaining requests. */
export function usageLine(info: IPlaygroundInfo): string {
  if (info.deployment_id) {
    return 'deployed: answered by its deployment, no limit';
  }
  let until = '';
  if (info.expires_at) {
    const date = new Date(info.expires_at);
    until = isNaN(date.getTime()) ? ` until ${info.expires_at}` : ` until ${date.toLocaleString()}`;
  }
  return `${info.remaining} of ${info.limit} playground requests left${until}; deploy the version for more`;
}

/**
 * The body of an LLM playground request: the message as `text_data`; in
 * `options` the generation settings, and for chat models the system prompt
 * (when not blank) and the conversation so far as `prompt_history`, oldest
 * first (left out while it is empty).
 */
export function playgroundRequest(
  message: string,
  settings: IChatSettings,
  history: ITurn[],
  chat: boolean
): ITaskRequest {
  const options: NonNullable<ITaskRequest['options']> = {
    max_tokens: settings.maxTokens,
    temperature: settings.temperature
  };
  if (chat && settings.systemPrompt.trim()) {
    options.system_prompt = settings.systemPrompt;
  }
  if (chat && history.length > 0) {
    options.prompt_history = history.map(t => ({ role: t.role, content: t.content }));
  }
  return { text_data: message.trim(), options };
}

/** The history after one answered turn. */
export function withTurn(history: ITurn[], message: string, completion: string): ITurn[] {
  return [
    ...history,
    { role: 'user', content: message.trim() },
    { role: 'assistant', content: completion }
  ];
}

/**
 * The output of an answered task.
 *
 * @throws Error with the task's own message when it did not succeed
 */
function outputOf(task: ITask): ITask['status'][number]['response']['output'] {
  const entry = task.status[0];
  if (task.state !== 'succeeded' || !entry) {
    throw new Error(entry?.status.message || `the request ${task.state === 'queued' ? 'is still queued' : 'failed'}`);
  }
  return entry.response.output;
}

/**
 * An LLM's answer: the completion and its token counts.
 *
 * @throws Error when the task failed or holds no completion
 */
export function completionOf(task: ITask): ICompletion {
  const first = outputOf(task)[0];
  if (!first || !('completion' in first)) {
    throw new Error('the answer holds no completion');
  }
  return first;
}

/**
 * A classifier's answer: every head with every class and its score, best
 * first.
 *
 * @throws Error when the task failed
 */
export function answerLines(task: ITask): IHeadScores[] {
  return outputOf(task)
    .filter((o): o is Schemas['HeadOutput'] => 'head' in o && Array.isArray(o.classes))
    .map(o => ({
      head: o.head,
      classes: [...o.classes].sort((a, b) => b.score - a.score)
    }));
}

/** A playground error as a sentence: the server's message, with what to do. */
export function playgroundError(error: unknown): string {
  const message = error instanceof Error && error.message ? error.message : String(error);
  if (error instanceof ResponseError) {
    switch (error.status) {
      case 403:
        return /deploy/i.test(message)
          ? message
          : `The playground limit is reached (${message}): deploy the version to go on asking it.`;
      case 409:
        return `This version cannot answer yet: ${message}`;
      case 413:
        return `The input is too large: ${message}`;
      case 503:
        return `The model is busy; try again in a moment. (${message})`;
    }
  }
  return message;
}

function Usage(props: { info: IPlaygroundInfo | null; error: string | null }): JSX.Element {
  if (props.error !== null) {
    return (
      <div className="jp-AutoML-error" role="alert">
        The playground's count did not load: {props.error}
      </div>
    );
  }
  return (
    <p className="jp-AutoML-tryItUsage" role="status">
      {props.info ? usageLine(props.info) : 'Loading the playground’s count…'}
    </p>
  );
}

/** Every head's class scores as bars, best first. */
export function Scores(props: { heads: IHeadScores[] }): JSX.Element {
  return (
    <div className="jp-AutoML-tryItScores">
      {props.heads.map(h => (
        <section key={h.head} aria-label={`Head ${h.head}`}>
          <h4 className="jp-AutoML-tryItHead">{h.head}</h4>
          <ul className="jp-AutoML-tryItClasses">
            {h.classes.map((c, i) => {
              const share = Math.max(0, Math.min(1, c.score));
              return (
                <li
                  key={c.class}
                  className={`jp-AutoML-tryItClass${i === 0 ? ' jp-AutoML-tryItBest' : ''}`}
                >
                  <span className="jp-AutoML-tryItLabel">{c.class}</span>
                  <span
                    className="jp-AutoML-tryItBar"
                    role="meter"
                    aria-label={`${h.head}: ${c.class}`}
                    aria-valuemin={0}
                    aria-valuemax={1}
                    aria-valuenow={c.score}
                  >
                    <span
                      className="jp-AutoML-tryItBarFill"
                      style={{ width: `${(share * 100).toFixed(1)}%` }}
                    />
                  </span>
                  <span className="jp-AutoML-tryItScore">{formatNumber(c.score, 3)}</span>
                </li>
              );
            })}
          </ul>
        </section>
      ))}
    </div>
  );
}

/** Send a request to the version's playground. */
function ask(
  modelName: string,
  version: number,
  body: ITaskRequest | FormData
): Promise<ITask> {
  return call('post', '/automl/api/models/{model}/versions/{version}/playground', {
    path: { model: modelName, version },
    body
  });
}

function Chat(props: {
  modelName: string;
  version: number;
  chat: boolean;
  busy: boolean;
  run: (work: () => Promise<void>) => void;
}): JSX.Element {
  const [settings, setSettings] = React.useState<IChatSettings>(DEFAULT_CHAT_SETTINGS);
  const [history, setHistory] = React.useState<ITurn[]>([]);
  const [last, setLast] = React.useState<ITurn[]>([]); // text models: the last exchange
  const [message, setMessage] = React.useState('');
  const [tokens, setTokens] = React.useState<string>('');
  const id = `jp-AutoML-tryIt-${props.modelName}-${props.version}`.replace(/[^A-Za-z0-9_-]/g, '_');

  const send = () => {
    const text = message.trim();
    if (!text || props.busy) {
      return;
    }
    props.run(async () => {
      const task = await ask(
        props.modelName,
        props.version,
        playgroundRequest(text, settings, history, props.chat)
      );
      const answer = completionOf(task);
      if (props.chat) {
        setHistory(withTurn(history, text, answer.completion));
      } else {
        setLast(withTurn([], text, answer.completion));
      }
      setMessage('');
      setTokens(
        `${answer.prompt_tokens} prompt tokens, ${answer.completion_tokens} completion tokens` +
          (answer.finish_reason === 'length' ? ' (stopped at max tokens)' : '')
      );
    });
  };
  const turns = props.chat ? history : last;

  return (
    <div className="jp-AutoML-tryItChat">
      {props.chat && (
        <div className="jp-AutoML-field">
          <label htmlFor={`${id}-system`}>System prompt</label>
          <textarea
            id={`${id}-system`}
            rows={2}
            value={settings.systemPrompt}
            onChange={e => setSettings({ ...settings, systemPrompt: e.target.value })}
          />
        </div>
      )}
      <div className="jp-AutoML-tryItLog" role="log" aria-live="polite" aria-label="Conversation">
        {turns.length === 0 ? (
          <p className="jp-AutoML-empty">No messages yet.</p>
        ) : (
          turns.map((t, i) => (
            <div
              key={i}
              className={`jp-AutoML-tryItTurn jp-AutoML-tryItTurn-${t.role === 'user' ? 'user' : 'model'}`}
            >
              <span className="jp-AutoML-tryItRole">{t.role === 'user' ? 'you' : `v${props.version}`}</span>
              <div className="jp-AutoML-tryItText">
                {t.content.trim() ? t.content : <em>(an empty answer: only white space)</em>}
              </div>
            </div>
          ))
        )}
      </div>
      {tokens && <p className="jp-AutoML-itemMeta">{tokens}</p>}
      <div className="jp-AutoML-field">
        <label htmlFor={`${id}-message`}>Message</label>
        <textarea
          id={`${id}-message`}
          className="jp-AutoML-tryItInput"
          rows={2}
          placeholder="Your message (Enter sends, Shift+Enter for a new line)"
          value={message}
          onChange={e => setMessage(e.target.value)}
          onKeyDown={e => {
            if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              send();
            }
          }}
        />
      </div>
      <div className="jp-AutoML-tryItSettings">
        <div className="jp-AutoML-field">
          <label htmlFor={`${id}-max`}>Max new tokens</label>
          <input
            id={`${id}-max`}
            type="number"
            min={1}
            max={MAX_NEW_TOKENS}
            value={settings.maxTokens}
            onChange={e =>
              setSettings({
                ...settings,
                maxTokens: Math.max(1, Math.min(MAX_NEW_TOKENS, Math.round(Number(e.target.value) || 1)))
              })
            }
          />
        </div>
        <div className="jp-AutoML-field">
          <label htmlFor={`${id}-temperature`}>Temperature</label>
          <input
            id={`${id}-temperature`}
            type="number"
            min={0}
            max={5}
            step={0.1}
            value={settings.temperature}
            title="0 = greedy"
            onChange={e =>
              setSettings({
                ...settings,
                temperature: Math.max(0, Math.min(5, Number(e.target.value) || 0))
              })
            }
          />
        </div>
      </div>
      <div className="jp-AutoML-actions">
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-accept"
          disabled={props.busy || !message.trim()}
          onClick={send}
        >
          {props.busy ? 'Sending…' : 'Send'}
        </button>
        {props.chat && (
          <button
            type="button"
            className="jp-Button jp-mod-styled"
            disabled={props.busy || history.length === 0}
            onClick={() => {
              setHistory([]);
              setTokens('');
            }}
          >
            New conversation
          </button>
        )}
      </div>
    </div>
  );
}

function Classify(props: {
  modelName: string;
  version: number;
  images: boolean;
  busy: boolean;
  run: (work: () => Promise<void>) => void;
}): JSX.Element {
  const [text, setText] = React.useState('');
  const [file, setFile] = React.useState<File | null>(null);
  const [scores, setScores] = React.useState<IHeadScores[] | null>(null);
  const id = `jp-AutoML-tryIt-${props.modelName}-${props.version}`.replace(/[^A-Za-z0-9_-]/g, '_');
  const ready = props.images ? file !== null : text.trim() !== '';

  const classify = () => {
    if (!ready || props.busy) {
      return;
    }
    props.run(async () => {
      let body: ITaskRequest | FormData;
      if (props.images && file) {
        body = new FormData();
        body.append('media', file, file.name);
      } else {
        body = { text_data: text };
      }
      setScores(answerLines(await ask(props.modelName, props.version, body)));
    });
  };

  return (
    <div className="jp-AutoML-tryItClassify">
      {props.images ? (
        <div className="jp-AutoML-field">
          <label htmlFor={`${id}-image`}>Image</label>
          <input
            id={`${id}-image`}
            type="file"
            accept="image/*"
            onChange={e => setFile(e.target.files?.[0] ?? null)}
          />
        </div>
      ) : (
        <div className="jp-AutoML-field">
          <label htmlFor={`${id}-text`}>Text to classify</label>
          <textarea
            id={`${id}-text`}
            className="jp-AutoML-tryItInput"
            rows={3}
            value={text}
            onChange={e => setText(e.target.value)}
            onKeyDown={e => {
              if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
                e.preventDefault();
                classify();
              }
            }}
          />
        </div>
      )}
      <div className="jp-AutoML-actions">
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-accept"
          disabled={props.busy || !ready}
          onClick={classify}
        >
          {props.busy ? 'Classifying…' : 'Classify'}
        </button>
      </div>
      {scores && <Scores heads={scores} />}
    </div>
  );
}

/**
 * Ask a trained version through the playground: a chat box for LLMs, a text
 * box (text classifiers) or an image (image classifiers) with every head's
 * class scores. The remaining requests show above and refresh after each.
 */
export function TryIt(props: { modelName: string; modelType: string; version: number }): JSX.Element {
  const { modelName, modelType, version } = props;
  const [info, setInfo] = React.useState<IPlaygroundInfo | null>(null);
  const [usageError, setUsageError] = React.useState<string | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  const live = React.useRef(true);

  const refresh = React.useCallback(() => {
    call('get', '/automl/api/models/{model}/versions/{version}/playground', {
      path: { model: modelName, version }
    }).then(
      answer => {
        if (live.current) {
          setInfo(answer);
          setUsageError(null);
        }
      },
      reason => live.current && setUsageError(playgroundError(reason))
    );
  }, [modelName, version]);

  React.useEffect(() => {
    live.current = true;
    setInfo(null);
    setError(null);
    refresh();
    return () => {
      live.current = false;
    };
  }, [refresh]);

  const run = (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    work()
      .catch(reason => live.current && setError(playgroundError(reason)))
      .finally(() => {
        if (live.current) {
          setBusy(false);
          refresh();
        }
      });
  };

  return (
    <section
      className="jp-AutoML-tryIt"
      aria-label={`Try ${modelName} v${version}`}
      aria-busy={busy}
    >
      <h3 className="jp-AutoML-tryItTitle">
        Try {modelName} v{version}
      </h3>
      <Usage info={info} error={usageError} />
      {isLLM(modelType) ? (
        <Chat
          key={`${modelName}-${version}`}
          modelName={modelName}
          version={version}
          chat={modelType === 'llm_chat'}
          busy={busy}
          run={run}
        />
      ) : (
        <Classify
          key={`${modelName}-${version}`}
          modelName={modelName}
          version={version}
          images={modelType === 'image_classification'}
          busy={busy}
          run={run}
        />
      )}
      {error !== null && (
        <div className="jp-AutoML-error" role="alert">
          {error}
        </div>
      )}
    </section>
  );
}
