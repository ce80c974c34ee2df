import { URLExt } from '@jupyterlab/coreutils';
import * as React from 'react';

import { DeploymentWorkspace } from './deploymentWorkspace';
import { IDeployment, INewApiKey } from './models';

/** A ready command that asks a deployment over the task API with one of its keys. */
export function curlExample(baseUrl: string, key: string, modelType: string): string {
  const url = URLExt.join(baseUrl, 'automl/api/v2/task/sync');
  const input =
    modelType === 'image_classification'
      ? '-F media=@photo.jpg'
      : modelType.startsWith('llm')
        ? "-F text_data='Hello, can you help me?'"
        : "-F text_data='The parcel arrived two days early'";
  return `curl -H 'Authorization: Bearer ${key}' ${input} ${url}`;
}

const BADGE: Record<string, string> = {
  complete: 'ok',
  deploying: 'info',
  failed: 'warn',
  undeployed: 'info'
};

/** The keys of a deployment as they are made: shown this once, with copy buttons and a curl line. */
export function NewKeys(props: {
  deployment: IDeployment;
  keys: INewApiKey[];
  baseUrl: string;
  onCopy: (text: string) => void;
  onDone: () => void;
}): JSX.Element {
  const { deployment, keys } = props;
  return (
    <div className="jp-AutoML-keys" role="group" aria-label={`API keys of ${deployment.name}`}>
      <p>
        <strong>Copy the key now:</strong> it is not shown again (a new one can be made in its
        slot).
      </p>
      {keys.map(k => (
        <div key={k.id} className="jp-AutoML-key">
          <span>slot {k.slot}</span>
          <code className="jp-AutoML-keyValue">{k.key}</code>
          <button
            type="button"
            className="jp-Button jp-mod-styled"
            aria-label={`Copy key ${k.slot}`}
            onClick={() => props.onCopy(k.key)}
          >
            Copy
          </button>
        </div>
      ))}
      {keys.length > 0 && (
        <>
          <p>Ask it from a terminal:</p>
          <pre className="jp-AutoML-curl">
            {curlExample(props.baseUrl, keys[0].key, deployment.model_type)}
          </pre>
        </>
      )}
      <button type="button" className="jp-Button jp-mod-styled" onClick={props.onDone}>
        Done
      </button>
    </div>
  );
}

/**
 * A deployment, its state as it changes, and undeploy / redeploy / new key; "Tasks & usage"
 * opens its workspace (recent tasks, batches, usage).
 */
export function DeploymentItem(props: {
  deployment: IDeployment;
  onUndeploy: (d: IDeployment) => void;
  onRedeploy: (d: IDeployment) => void;
  onRotate: (d: IDeployment, slot: 1 | 2) => void;
}): JSX.Element {
  const d = props.deployment;
  const live = d.status === 'complete' || d.status === 'deploying';
  const [open, setOpen] = React.useState(false);
  return (
    <li className="jp-AutoML-item" data-id={d.id} aria-label={d.name}>
      <div className="jp-AutoML-itemHeader">
        <span className="jp-AutoML-itemName">{d.name}</span>
        <span className={`jp-AutoML-badge jp-AutoML-badge-${BADGE[d.status] ?? 'info'}`}>
          {d.status}
        </span>
        {d.metadata_only && (
          <span
            className="jp-AutoML-badge jp-AutoML-badge-info"
            title="Its tasks keep no input or output text: status, times, token counts and key only"
          >
            metadata only
          </span>
        )}
        <button
          type="button"
          className="jp-Button jp-mod-minimal jp-AutoML-toggle"
          aria-expanded={open}
          aria-label={`Tasks and usage of ${d.name}`}
          onClick={() => setOpen(!open)}
        >
          {open ? 'Hide tasks & usage' : 'Tasks & usage'}
        </button>
      </div>
      <div className="jp-AutoML-itemMeta">
        {d.model_name} v{d.version} · {d.requests.toLocaleString()} requests ·{' '}
        {d.tokens.toLocaleString()} tokens
      </div>
      {d.error && (
        <div className="jp-AutoML-error" role="alert">
          {d.error}
        </div>
      )}
      <div className="jp-AutoML-itemMeta">
        keys:{' '}
        {d.keys
          .filter(k => !k.revoked_at)
          .map(k => `${k.slot}: ${k.prefix}…`)
          .join(', ') || 'none'}
      </div>
      <div className="jp-AutoML-actions">
        {live ? (
          <button type="button" className="jp-Button jp-mod-styled jp-mod-warn" onClick={() => props.onUndeploy(d)}>
            Undeploy
          </button>
        ) : (
          <button type="button" className="jp-Button jp-mod-styled" onClick={() => props.onRedeploy(d)}>
            Redeploy
          </button>
        )}
        {([1, 2] as const).map(slot => (
          <button
            key={slot}
            type="button"
            className="jp-Button jp-mod-styled"
            title={`A new key in slot ${slot}; the old one stops working, the other slot's goes on`}
            onClick={() => props.onRotate(d, slot)}
          >
            New key {slot}
          </button>
        ))}
      </div>
      {open && <DeploymentWorkspace deployment={d} />}
    </li>
  );
}
