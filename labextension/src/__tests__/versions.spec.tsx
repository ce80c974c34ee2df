/** @jest-environment jsdom */
import * as React from 'react';
import { act } from 'react';
import { createRoot, Root } from 'react-dom/client';

import { call } from '../api';
import { IModel } from '../models';
import { VersionView, defaultVersion, IVersion } from '../versions';
import classifier from './fixtures/classifier.json';
import classifierF1 from './fixtures/classifier_f1.json';
import llmChat from './fixtures/llm_chat.json';

jest.mock('../api', () => ({ call: jest.fn() }));
const mockedCall = call as unknown as jest.Mock;

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const model: IModel = {
  id: 'm1',
  name: 'reviews',
  description: '',
  model_type: 'text_classification',
  base_model: 'all-minilm-l6-v2',
  train_snapshot_id: 's1',
  test_snapshot_id: null,
  test_split_percent: 10,
  options: {},
  created_at: '2026-11-23T10:00:00Z',
  updated_at: '2026-11-23T10:00:00Z'
};

function version(n: number, status: IVersion['status'], error: string | null = null): IVersion {
  return {
    id: `v${n}`,
    model_id: 'm1',
    version: n,
    status,
    base_model: 'all-minilm-l6-v2',
    options: {},
    train_snapshot_id: 's1',
    test_snapshot_id: null,
    test_split_percent: 10,
    snapshot_hash: null,
    artifacts_path: null,
    notebook_path: status === 'trained' || status === 'failed' ? `/nb/v${n}.ipynb` : null,
    metrics: null,
    error,
    created_at: '2026-11-23T10:00:00Z',
    trained_at: status === 'trained' ? '2026-11-23T11:00:00Z' : null
  };
}

const versions = [version(1, 'trained'), version(2, 'trained'), version(3, 'failed', 'CUDA out of memory')];
const metricsOf: Record<number, unknown> = { 1: classifier, 2: classifierF1 };

let root: Root;
let container: HTMLElement;
const created: string[] = [];
const revoked: string[] = [];

beforeEach(() => {
  created.length = 0;
  revoked.length = 0;
  URL.createObjectURL = jest.fn(() => {
    const url = `blob:plot-${created.length}`;
    created.push(url);
    return url;
  });
  URL.revokeObjectURL = jest.fn((url: string) => void revoked.push(url));
  mockedCall.mockReset();
  mockedCall.mockImplementation(async (_method: string, route: string, request: { path: Record<string, unknown> }) => {
    const v = request.path.version as number;
    if (route === '/automl/api/models/{model}') {
      return { ...model, name: request.path.model, versions };
    }
    if (route.endsWith('/metrics')) {
      return metricsOf[v];
    }
    if (route.endsWith('/plots')) {
      return { plots: ['confusion_sentiment.png', 'loss.png', 'pr_sentiment.png'] };
    }
    if (route.endsWith('/plots/{name}')) {
      return new Blob(['png'], { type: 'image/png' });
    }
    throw new Error(`unexpected ${route}`);
  });
  container = document.createElement('div');
  document.body.appendChild(container);
  root = createRoot(container);
});

afterEach(() => {
  act(() => root.unmount());
  container.remove();
});

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await act(async () => {
      await new Promise(resolve => setTimeout(resolve, 0));
    });
  }
}

function render(
  onOpenReport = jest.fn(),
  onUpdate = jest.fn(),
  onOpenPlayground = jest.fn(),
  shown: IModel = model
) {
  act(() =>
    root.render(
      <VersionView
        model={shown}
        onOpenReport={onOpenReport}
        onUpdate={onUpdate}
        onOpenPlayground={onOpenPlayground}
      />
    )
  );
}

function select(label: string, value: string): void {
  const el = Array.from(container.querySelectorAll('label'))
    .find(l => l.textContent === label)!
    .control as HTMLSelectElement;
  act(() => {
    // React tracks the value; set it through the native setter
    Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, 'value')!.set!.call(el, value);
    el.dispatchEvent(new Event('change', { bubbles: true }));
  });
}

describe('the version view', () => {
  it('opens on the newest trained version', () => {
    expect(defaultVersion(versions)).toBe(2);
    expect(defaultVersion([version(1, 'queued')])).toBe(1);
    expect(defaultVersion([])).toBeNull();
  });

  it('shows loading, then the head table, selection and plots with alt text', async () => {
    render();
    expect(container.textContent).toContain('Loading the versions…');
    await settle();
    const picker = container.querySelector('select') as HTMLSelectElement;
    expect(picker.value).toBe('2');
    expect(Array.from(picker.options).map(o => o.textContent)).toEqual([
      'v3 (failed)',
      'v2 (trained)',
      'v1 (trained)'
    ]);
    expect(container.textContent).toContain("highest validation f1 on head 'topic': 0.1000");
    const table = container.querySelector('table[aria-label="Test metrics, head sentiment"]')!;
    const last = table.querySelector('tbody tr:last-child')!;
    expect(Array.from(last.children).map(c => c.textContent)).toEqual([
      '(all)', '', '', '', '48', '0.3333', '0.1667', '0.3333'
    ]);
    const alts = Array.from(container.querySelectorAll('img')).map(i => i.getAttribute('alt'));
    expect(alts.sort()).toEqual(['Confusion matrix, sentiment', 'Loss (training, validation)', 'PR curve, sentiment']);
    expect(created).toHaveLength(3);
  });

  it('compares with another version and marks the better value', async () => {
    render();
    await settle();
    select('Compare with', '1');
    await settle();
    const table = container.querySelector('table[aria-label="Versions v1 and v2 side by side"]')!;
    const first = table.querySelector('tbody tr')!;
    expect(Array.from(first.children).map(c => c.textContent)).toEqual([
      'sentiment/balanced_accuracy',
      '0.9746 ▲',
      '0.3333'
    ]);
    expect(first.children[1].className).toBe('jp-AutoML-versionBetter');
  });

  it('shows a failed version’s error and revokes the plots of the one left', async () => {
    const onOpenReport = jest.fn();
    render(onOpenReport);
    await settle();
    select('Version', '3');
    await settle();
    const alert = container.querySelector('[role="alert"]')!;
    expect(alert.textContent).toBe('v3 failed: CUDA out of memory');
    expect(revoked.sort()).toEqual([...created].sort());
    const report = Array.from(container.querySelectorAll('button')).find(
      b => b.textContent === 'Open training report'
    )!;
    act(() => report.click());
    expect(onOpenReport).toHaveBeenCalledWith('reviews', 3);
  });

  it('says why when the server fails', async () => {
    mockedCall.mockImplementation(async () => {
      throw new Error('The AutoML server API is not available (404 Not Found).');
    });
    render();
    await settle();
    expect(container.querySelector('[role="alert"]')!.textContent).toBe(
      'The versions of reviews did not load: The AutoML server API is not available (404 Not Found).'
    );
  });

  it('shows an LLM’s base vs tuned table and opens its chat playground', async () => {
    const chat: IModel = { ...model, name: 'support', model_type: 'llm_chat' };
    metricsOf[2] = llmChat;
    const onOpenPlayground = jest.fn();
    const onUpdate = jest.fn();
    try {
      render(jest.fn(), onUpdate, onOpenPlayground, chat);
      await settle();
    } finally {
      metricsOf[2] = classifierF1;
    }
    const table = container.querySelector('table[aria-label="Base model vs fine-tuned, test rows"]')!;
    expect(Array.from(table.querySelectorAll('tbody tr')).map(r => Array.from(r.children).map(c => c.textContent))).toEqual([
      ['loss', '2.5731', '2.0561', '\u22120.5170', '\u221220.09%'],
      ['token_accuracy', '0.4601', '0.5425', '+0.0824', '+17.90%']
    ]);
    expect(container.textContent).toContain('lowest validation loss: 2.1635');
    const button = (text: string) =>
      Array.from(container.querySelectorAll('button')).find(b => b.textContent === text)!;
    act(() => button('Open chat playground notebook').click());
    expect(onOpenPlayground).toHaveBeenCalledWith('support', 2);
    act(() => button('Update Model').click());
    expect(onUpdate).toHaveBeenCalledWith(chat);
  });
});
