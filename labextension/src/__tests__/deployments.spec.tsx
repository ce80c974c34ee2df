import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

import { NewKeys, curlExample } from '../deployments';
import { IDeployment } from '../models';

const deployment: IDeployment = {
  id: 'd1', name: 'support-bot-v1', version_id: 'v1', model_id: 'm1', model_name: 'support-bot',
  model_type: 'llm_chat', version: 1, status: 'deploying', error: null, requests: 0, tokens: 0,
  errors: 0, created_at: '2026-11-23T10:00:00Z', deployed_at: null, undeployed_at: null, keys: [],
  metadata_only: false
};

describe('the keys of a new deployment', () => {
  it('are shown once with a ready curl line for the task API', () => {
    const html = renderToStaticMarkup(
      <NewKeys
        deployment={deployment}
        keys={[
          { id: 'k1', slot: 1, key: 'jam_first' },
          { id: 'k2', slot: 2, key: 'jam_second' }
        ]}
        baseUrl="http://localhost:8888/lab-base/"
        onCopy={() => undefined}
        onDone={() => undefined}
      />
    );
    expect(html).toContain('<code class="jp-AutoML-keyValue">jam_first</code>');
    expect(html).toContain('<code class="jp-AutoML-keyValue">jam_second</code>');
    expect(html).toContain('aria-label="Copy key 2"');
    expect(html).toContain('it is not shown again');
    expect(html).toContain(
      "curl -H &#x27;Authorization: Bearer jam_first&#x27; -F text_data=&#x27;Hello, can you help me?&#x27; http://localhost:8888/lab-base/automl/api/v2/task/sync"
    );
  });

  it('uses the input each model type takes', () => {
    expect(curlExample('http://h/', 'k', 'image_classification')).toBe(
      "curl -H 'Authorization: Bearer k' -F media=@photo.jpg http://h/automl/api/v2/task/sync"
    );
    expect(curlExample('http://h/', 'k', 'text_classification')).toContain("-F text_data='");
  });
});
