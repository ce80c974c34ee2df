import { execFileSync } from 'child_process';
import { JSDOM } from 'jsdom';
import * as path from 'path';
import * as React from 'react';
import { act } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

import { ServerConnection } from '@jupyterlab/services';

import { ResponseError } from '../handler';
import {
  BatchPanel,
  IBatch,
  batchForm,
  batchProgressText,
  pickBatchFiles,
  refusalReport,
  resultsUrl
} from '../batchUpload';
import { DeploymentItem } from '../deployments';
import {
  DeploymentWorkspace,
  ITaskPage,
  ITaskRecord,
  outputPreview,
  shorten
} from '../deploymentWorkspace';
import { IDeployment } from '../models';
import {
  CHART_HEIGHT,
  IUsageReport,
  UsageChart,
  chartBars,
  chartLabel,
  formatMs,
  keyLabel
} from '../usageChart';
import batchCompletedJson from './fixtures/batch_completed.json';
import batchQueuedJson from './fixtures/batch_queued.json';
import batchRefusedJson from './fixtures/batch_refused.json';
import batchRunningJson from './fixtures/batch_running.json';
import batchesJson from './fixtures/batches.json';
import taskClassifierJson from './fixtures/task_classifier.json';
import tasksClassifierJson from './fixtures/tasks_classifier.json';
import tasksOlderJson from './fixtures/tasks_classifier_older.json';
import tasksLlmJson from './fixtures/tasks_llm.json';
import tasksMetadataJson from './fixtures/tasks_metadata_only.json';
import usageJson from './fixtures/usage.json';

// JSON imports type their strings as `string`: the fixtures are checked against the OpenAPI
// document itself (first test), so they are taken as the types it generates.
const page1 = tasksClassifierJson as unknown as ITaskPage;
const page2 = tasksOlderJson as unknown as ITaskPage;
const fullTask = taskClassifierJson as unknown as ITaskRecord;
const llmPage = tasksLlmJson as unknown as ITaskPage;
const metadataPage = tasksMetadataJson as unknown as ITaskPage;
const usage = usageJson as unknown as IUsageReport;
const batchQueued = batchQueuedJson as unknown as IBatch;
const batchRunning = batchRunningJson as unknown as IBatch;
const batchCompleted = batchCompletedJson as unknown as IBatch;
const batches = batchesJson as unknown as { batches: IBatch[] };
const refused = batchRefusedJson as unknown as { message: string; details: unknown };

const D = page1.tasks[0].deployment_id!;
const B = batchQueued.id;

const deployment: IDeployment = {
  id: D, name: 'reviews-v1', version_id: page1.tasks[0].version_id!, model_id: 'f'.repeat(32),
  model_name: 'reviews', model_type: 'text_classification', version: 1, status: 'complete',
  error: null, requests: 303, tokens: 12726, errors: 13, created_at: '2026-11-01T10:00:00Z',
  deployed_at: '2026-11-01T10:01:00Z', undeployed_at: null, keys: [], metadata_only: false
};

describe('the fixtures', () => {
  // The same check the REST tests make of real answers: the OpenAPI document's schemas
  // (additionalProperties: false, every required field, the enums).
  const CHECK = `
import json, sys, yaml, jsonschema
doc = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
fails = {}
for label, name, value in json.load(sys.stdin):
    validator = jsonschema.Draft202012Validator({**doc, "$ref": "#/components/schemas/" + name})
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)]
    if errors:
        fails[label] = errors
print(json.dumps(fails))
`;

  it('are shaped exactly as the OpenAPI document says', () => {
    const checks: [string, string, unknown][] = [
      ['tasks_classifier.json', 'TaskPage', page1],
      ['tasks_classifier_older.json', 'TaskPage', page2],
      ['tasks_llm.json', 'TaskPage', llmPage],
      ['tasks_metadata_only.json', 'TaskPage', metadataPage],
      ['task_classifier.json', 'TaskRecord', fullTask],
      ['batch_queued.json', 'BatchInfo', batchQueued],
      ['batch_running.json', 'BatchInfo', batchRunning],
      ['batch_completed.json', 'BatchInfo', batchCompleted],
      ['batch_refused.json', 'Error', refused],
      ['batch_refused.json details', 'ValidationReport', refused.details],
      ['usage.json', 'UsageReport', usage],
      ...batches.batches.map((b, i): [string, string, unknown] => [`batches.json ${i}`, 'BatchInfo', b])
    ];
    // A task's output items are open in TaskRecord: they are the task API's.
    for (const [name, page] of [['page1', page1], ['page2', page2], ['llm', llmPage]] as const) {
      page.tasks.forEach((t, i) =>
        (t.output ?? []).forEach((item, j) =>
          checks.push([
            `${name} task ${i} output ${j}`,
            'head' in (item as object) ? 'HeadOutput' : 'CompletionOutput',
            item
          ])
        )
      );
    }
    expect(Object.keys(batches)).toEqual(['batches']);
    const document = path.resolve(__dirname, '..', '..', '..', 'jupyter_automl', 'rest', 'openapi.yaml');
    const fails = JSON.parse(
      execFileSync(process.env.PYTHON ?? 'python', ['-c', CHECK, document], {
        input: JSON.stringify(checks),
        encoding: 'utf-8'
      })
    );
    expect(fails).toEqual({});
  });

  it('agree with themselves: totals are the sums of the days and of the keys', () => {
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    expect(sum(usage.days.map(d => d.figures.requests))).toBe(usage.total.requests);
    expect(sum(usage.keys.map(k => k.figures.requests))).toBe(usage.total.requests);
    expect(sum(usage.days.map(d => d.figures.errors))).toBe(usage.total.errors);
    expect(usage.days).toHaveLength(14);
    for (const b of [batchQueued, batchRunning, batchCompleted]) {
      expect(b.done).toBe(b.succeeded + b.failed);
      expect(b.done + b.queued).toBe(b.rows);
    }
  });
});

describe('the previews and figures', () => {
  it("show a classifier's top class and score per head, and an LLM's completion start", () => {
    expect(outputPreview(page1.tasks[0])).toBe('sentiment: positive 0.97 · topic: shipping 0.88');
    expect(outputPreview(page1.tasks[1])).toBeNull(); // failed
    expect(outputPreview(page1.tasks[2])).toBeNull(); // queued
    const completion = "Crimson leaves descend, whispering to the cold earth summer's last goodbye.";
    expect(outputPreview(llmPage.tasks[0])).toBe(shorten(completion));
    expect(shorten(completion)).toBe('Crimson leaves descend, whispering to the cold earth summer…');
    expect(shorten('short\n text')).toBe('short text');
    expect(outputPreview(metadataPage.tasks[0])).toBeNull();
  });

  it('write latencies and keys for people', () => {
    expect([formatMs(85), formatMs(1400), formatMs(86.5), formatMs(null), formatMs(125_000)]).toEqual([
      '85 ms', '1.4 s', '87 ms', '—', '2.1 min'
    ]);
    expect(keyLabel(usage.keys[0])).toBe('key 1 (jam_3fK9…)');
    expect(keyLabel(usage.keys[2])).toBe('no key');
  });

  it('build the results URL as every API URL, with the format', () => {
    const settings = ServerConnection.makeSettings({ baseUrl: 'http://localhost:8888/lab-base/' });
    expect(resultsUrl('reviews v1', B, 'jsonl', settings)).toBe(
      `http://localhost:8888/lab-base/automl/api/deployments/reviews%20v1/batches/${B}/results?format=jsonl`
    );
  });

  it('take a CSV, or a zip only for image classifiers, as the BatchForm names them', () => {
    const csv = new File(['text_data\nhi\n'], 'inputs.csv');
    const zip = new File(['PK'], 'photos.zip');
    expect(pickBatchFiles([csv], 'llm_chat')).toEqual({ file: csv, images: null });
    expect(pickBatchFiles([zip], 'text_classification')).toEqual({
      error: expect.stringContaining('photos.zip: a zip of images is only for image classifiers')
    });
    expect(pickBatchFiles([csv, zip], 'image_classification')).toEqual({ file: csv, images: zip });
    expect(pickBatchFiles([new File([''], 'a.xlsx')], 'llm_chat')).toHaveProperty('error');
    const form = batchForm({ file: csv, images: zip });
    expect([...form.keys()]).toEqual(['file', 'images']);
    expect((form.get('file') as File).name).toBe('inputs.csv');
    const withOptions = batchForm({ file: csv, images: null }, ' {"top_k": 1} ');
    expect([...withOptions.keys()]).toEqual(['file', 'options']);
    expect(withOptions.get('options')).toBe('{"top_k": 1}');
  });

  it('find the validation report of a refusal, and only of a 422', () => {
    const error = (status: number) =>
      new ResponseError(new Response('', { status }), refused);
    expect(refusalReport(error(422))).toEqual(refused.details);
    expect(refusalReport(error(400))).toBeNull();
    expect(refusalReport(new ResponseError(new Response('', { status: 422 }), { message: 'x' }))).toBeNull();
    expect(batchProgressText(batchRunning)).toBe('2 of 3 rows done · 1 failed');
    expect(batchProgressText(batchCompleted)).toBe('Completed: 2 of 3 rows succeeded · 1 failed');
  });
});

describe('the usage chart', () => {
  it('draws one bar per day, its height proportional to the requests, errors apart', () => {
    const html = renderToStaticMarkup(<UsageChart report={usage} />);
    const svg = new JSDOM(html).window.document;
    const days = Array.from(svg.querySelectorAll('g.jp-AutoML-usage-day'));
    expect(days.map(g => g.getAttribute('data-day'))).toEqual(usage.days.map(d => d.day));
    const heights = days.map(g => Number(g.querySelector('rect.jp-AutoML-usage-bar')!.getAttribute('height')));
    const most = Math.max(...usage.days.map(d => d.figures.requests));
    usage.days.forEach((d, i) => {
      expect(heights[i]).toBeCloseTo((d.figures.requests / most) * CHART_HEIGHT, 6);
      const bar = days[i].querySelector('rect.jp-AutoML-usage-bar')!;
      expect(Number(bar.getAttribute('y')) + heights[i]).toBeCloseTo(CHART_HEIGHT, 6); // on the axis
      const errors = days[i].querySelector('rect.jp-AutoML-usage-errors');
      if (d.figures.errors) {
        expect(Number(errors!.getAttribute('height'))).toBeCloseTo((d.figures.errors / most) * CHART_HEIGHT, 6);
      } else {
        expect(errors).toBeNull();
      }
      expect(days[i].querySelector('title')!.textContent).toBe(
        `${d.day}: ${d.figures.requests} request${d.figures.requests === 1 ? '' : 's'}` +
          (d.figures.errors ? `, ${d.figures.errors} error${d.figures.errors === 1 ? '' : 's'}` : '')
      );
    });
    expect(Math.max(...heights)).toBe(CHART_HEIGHT); // the busiest day fills the chart
    expect(days.filter(g => g.querySelector('.jp-AutoML-usage-errors'))).toHaveLength(5);

    const chart = svg.querySelector('svg')!;
    expect(chart.getAttribute('role')).toBe('img');
    const label = chart.getAttribute('aria-label')!;
    expect(label).toBe(chartLabel(usage));
    expect(label).toContain('Requests per day, 2026-11-10 to 2026-11-23: 303 requests and 13 errors in all');
    expect(label).toContain('p50 87 ms, p99 1.2 s');
    expect(label).toContain('2026-11-19: 60 requests, 6 errors; 2026-11-20: 45 requests;');
    expect(chart.querySelector(':scope > title')!.textContent).toBe(label);
  });

  it('draws flat bars when nothing was asked', () => {
    const quiet = usage.days.map(d => ({ ...d, figures: { ...d.figures, requests: 0, errors: 0 } }));
    expect(chartBars(quiet).every(b => b.height === 0 && b.errorHeight === 0)).toBe(true);
  });
});

/** An XMLHttpRequest that records what it is given and answers as a test says. */
class FakeXHR {
  static made: FakeXHR[] = [];
  method = '';
  url = '';
  headers: Record<string, string> = {};
  body: unknown = null;
  withCredentials = false;
  aborted = false;
  status = 0;
  statusText = '';
  responseText = '';
  responseHeaders: Record<string, string> = {};
  upload: { onprogress: ((event: Partial<ProgressEvent>) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  ontimeout: (() => void) | null = null;
  onabort: (() => void) | null = null;

  constructor() {
    FakeXHR.made.push(this);
  }
  open(method: string, url: string): void {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(name: string, value: string): void {
    this.headers[name] = value;
  }
  send(body: unknown): void {
    this.body = body;
  }
  getResponseHeader(name: string): string | null {
    return this.responseHeaders[name.toLowerCase()] ?? null;
  }
  getAllResponseHeaders(): string {
    return Object.entries(this.responseHeaders)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
  }
  abort(): void {
    this.aborted = true;
    this.onabort?.();
  }
  progress(loaded: number, total: number): void {
    this.upload.onprogress?.({ loaded, total, lengthComputable: true });
  }
  respond(status: number, body: unknown, statusText = ''): void {
    this.status = status;
    this.statusText = statusText;
    this.responseText = JSON.stringify(body);
    this.responseHeaders = { 'content-type': 'application/json; charset=UTF-8' };
    this.onload?.();
  }
}

describe('the workspace of a deployment', () => {
  // A DOM for React, installed only here (the XHR and fetch stay Node's and the test's).
  const dom = new JSDOM('<!doctype html><html><body></body></html>', {
    url: 'http://localhost:8888/lab'
  });
  const win = dom.window as unknown as Window & typeof globalThis;
  const installed = ['window', 'document', 'navigator', 'Node', 'Element', 'HTMLElement',
    'HTMLInputElement', 'HTMLSelectElement', 'HTMLIFrameElement', 'SVGElement', 'Event',
    'KeyboardEvent', 'MouseEvent'];
  const saved: Record<string, unknown> = {};
  const realFetch = globalThis.fetch;
  const realXHR = (globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest;
  let createRoot: typeof import('react-dom/client').createRoot;
  let container: HTMLElement;
  let root: import('react-dom/client').Root;
  /** Every request the fake server got: method, path and query. */
  let requests: { method: string; path: string; query: Record<string, string> }[];
  /** What the fake server answers, by "METHOD path": a body, or a function of the query. */
  let routes: Record<string, unknown | ((query: Record<string, string>) => unknown | Promise<unknown>)>;

  const tasksPath = `/automl/api/deployments/${D}/tasks`;
  const batchesPath = `/automl/api/deployments/${D}/batches`;

  beforeAll(() => {
    const global = globalThis as Record<string, unknown>;
    for (const name of installed) {
      saved[name] = global[name];
      global[name] = name === 'window' ? win : (win as unknown as Record<string, unknown>)[name];
    }
    global.IS_REACT_ACT_ENVIRONMENT = true;
    // react-dom decides whether it has a DOM when it loads: load it now.
    createRoot = require('react-dom/client').createRoot;
  });

  afterAll(() => {
    const global = globalThis as Record<string, unknown>;
    for (const name of installed) {
      global[name] = saved[name];
    }
    delete global.IS_REACT_ACT_ENVIRONMENT;
  });

  beforeEach(() => {
    requests = [];
    routes = {
      [`GET ${tasksPath}`]: (q: Record<string, string>) => (q.cursor ? page2 : page1),
      [`GET ${tasksPath}/${fullTask.id}`]: fullTask,
      [`GET ${tasksPath}/${page1.tasks[1].id}`]: page1.tasks[1],
      [`GET ${batchesPath}`]: batches,
      [`GET /automl/api/deployments/${D}/usage`]: usage
    };
    globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input as RequestInfo, init);
      const url = new URL(request.url);
      // Without the cache buster ServerConnection adds to GET requests (a bare timestamp).
      const query = Object.fromEntries(
        [...url.searchParams.entries()].filter(([k, v]) => !(/^\d+$/.test(k) && v === ''))
      );
      requests.push({ method: request.method, path: url.pathname, query });
      const key = `${request.method} ${url.pathname}`;
      if (!(key in routes)) {
        return new Response(JSON.stringify({ message: `no ${key}` }), { status: 404 });
      }
      const route = routes[key];
      const body = typeof route === 'function' ? await route(query) : route;
      return new Response(JSON.stringify(body), {
        status: 200,
        headers: { 'Content-Type': 'application/json' }
      });
    }) as typeof fetch;
    FakeXHR.made = [];
    (globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest = FakeXHR;
    container = win.document.createElement('div');
    win.document.body.appendChild(container);
    root = createRoot(container);
  });

  afterEach(() => {
    act(() => root.unmount());
    container.remove();
    globalThis.fetch = realFetch;
    (globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest = realXHR;
  });

  const $ = <T extends Element = HTMLElement>(selector: string, within: ParentNode = container): T => {
    const found = within.querySelector<T>(selector);
    if (!found) {
      throw new Error(`nothing matches ${selector}`);
    }
    return found;
  };
  const $$ = (selector: string, within: ParentNode = container) =>
    Array.from(within.querySelectorAll<HTMLElement>(selector));
  const settle = async (rounds = 5) => {
    for (let i = 0; i < rounds; i++) {
      await act(async () => {
        await new Promise(resolve => setTimeout(resolve, 0));
      });
    }
  };
  /** Wait (really) until `ready` holds; the batch polls on a timer. */
  const until = async (ready: () => boolean, ms = 3000) => {
    const end = Date.now() + ms;
    while (!ready()) {
      if (Date.now() > end) {
        throw new Error('timed out');
      }
      await act(async () => {
        await new Promise(resolve => setTimeout(resolve, 5));
      });
    }
  };
  const click = async (element: Element) => {
    await act(async () => {
      (element as HTMLElement).click();
    });
    await settle();
  };
  const button = (text: string, within: ParentNode = container) => {
    const found = $$('button', within).find(b => b.textContent === text);
    if (!found) {
      throw new Error(`no button ${text}`);
    }
    return found;
  };
  const render = async (element: JSX.Element) => {
    act(() => root.render(element));
    await settle();
  };
  const rows = () => $$('.jp-AutoML-task');
  const cells = (table: Element) =>
    Array.from(table.querySelectorAll('tbody tr')).map(tr =>
      Array.from(tr.children).map(td => td.textContent)
    );
  const choose = (input: HTMLInputElement, files: File[]) =>
    act(() => {
      Object.defineProperty(input, 'files', { value: files, configurable: true });
      input.dispatchEvent(new win.Event('change', { bubbles: true }));
    });

  describe('recent tasks', () => {
    it('lists the newest tasks with kind, status, previews, latency and time', async () => {
      await render(<DeploymentWorkspace deployment={deployment} />);
      expect(requests).toEqual([{ method: 'GET', path: tasksPath, query: { limit: '20' } }]);
      expect(rows().map(r => r.getAttribute('data-id'))).toEqual(page1.tasks.map(t => t.id));
      const [ok, failed, queued] = rows();
      expect($('.jp-AutoML-badge', ok).textContent).toBe('succeeded');
      expect($('.jp-AutoML-task-kind', ok).textContent).toBe('sync');
      expect($('.jp-AutoML-task-latency', ok).textContent).toBe('85 ms');
      expect($('.jp-AutoML-task-input', ok).textContent).toBe(
        'The parcel arrived two days early and the support team was lovely'
      );
      expect($('.jp-AutoML-task-output', ok).textContent).toBe(
        '→ sentiment: positive 0.97 · topic: shipping 0.88'
      );
      expect($('time', ok).getAttribute('datetime')).toBe(page1.tasks[0].created_at);
      expect($('.jp-AutoML-task-latency', failed).textContent).toBe('1.4 s');
      expect($('.jp-AutoML-task-output', failed).textContent).toBe(`→ ${shorten(page1.tasks[1].error!)}`);
      expect($('.jp-AutoML-badge', failed).className).toContain('badge-warn');
      expect($('.jp-AutoML-task-latency', queued).textContent).toBe('—');
      expect($('.jp-AutoML-task-output', queued).textContent).toBe('');
      expect($('[role=tab][aria-selected=true]').textContent).toBe('Tasks');
    });

    it('loads older tasks with the cursor of the page before', async () => {
      await render(<DeploymentWorkspace deployment={deployment} />);
      await click(button('Load more'));
      expect(requests[1]).toEqual({
        method: 'GET',
        path: tasksPath,
        query: { limit: '20', cursor: page1.next_cursor! }
      });
      expect(rows().map(r => r.getAttribute('data-id'))).toEqual(
        [...page1.tasks, ...page2.tasks].map(t => t.id)
      );
      expect($$('button').filter(b => b.textContent === 'Load more')).toHaveLength(0); // the last page
      expect($('.jp-AutoML-task-output', rows()[3]).textContent).toBe('→ sentiment: negative 0.88 · topic: price 0.94');
    });

    it('filters by status, from the newest again', async () => {
      routes[`GET ${tasksPath}`] = (q: Record<string, string>) =>
        q.status === 'failed' ? { tasks: [page1.tasks[1]], next_cursor: null } : page1;
      await render(<DeploymentWorkspace deployment={deployment} />);
      const select = $<HTMLSelectElement>('select');
      expect($(`label[for="${select.id}"]`).textContent).toBe('Status');
      act(() => {
        Object.getOwnPropertyDescriptor(win.HTMLSelectElement.prototype, 'value')!.set!.call(select, 'failed');
        select.dispatchEvent(new win.Event('change', { bubbles: true }));
      });
      await settle();
      expect(requests[1]).toEqual({ method: 'GET', path: tasksPath, query: { limit: '20', status: 'failed' } });
      expect(rows().map(r => r.getAttribute('data-id'))).toEqual([page1.tasks[1].id]);
    });

    it('opens a task in full: output, tokens, key, times', async () => {
      await render(<DeploymentWorkspace deployment={deployment} />);
      const row = $('.jp-AutoML-task-row', rows()[0]);
      expect(row.getAttribute('aria-expanded')).toBe('false');
      await click(row);
      expect(requests[1]).toEqual({ method: 'GET', path: `${tasksPath}/${fullTask.id}`, query: {} });
      expect(row.getAttribute('aria-expanded')).toBe('true');
      const detail = $(`#${row.getAttribute('aria-controls')}`);
      expect(cells($('table[aria-label="Output, head sentiment"]', detail))).toEqual([
        ['positive', '0.97'], ['neutral', '0.02'], ['negative', '0.01']
      ]);
      expect(cells($('table[aria-label="Output, head topic"]', detail))).toEqual([
        ['shipping', '0.88'], ['price', '0.12']
      ]);
      const facts = Object.fromEntries(
        $$('dt', detail).map(dt => [dt.textContent, dt.nextElementSibling!.textContent])
      );
      expect(facts).toMatchObject({
        Task: fullTask.id,
        Kind: 'sync',
        Status: 'succeeded',
        Latency: '85 ms',
        Tokens: '0 prompt + 0 completion',
        Key: 'key 1 (jam_3fK9…)',
        Attempts: '1',
        'Input hash': fullTask.input_hash!.slice(0, 12)
      });
      expect(facts.Started).not.toBe('—');
      expect($('pre[aria-label="Input text"]', detail).textContent).toBe(fullTask.input!.text_data);

      // Another task: its error, and no output.
      await click($('.jp-AutoML-task-row', rows()[1]));
      const failed = $('.jp-AutoML-task-detail');
      expect($$('.jp-AutoML-task-detail')).toHaveLength(1); // one open at a time
      expect($('.jp-AutoML-task-error', failed).textContent).toBe(`Error: ${page1.tasks[1].error}`);
      expect(failed.textContent).toContain('Options: {"top_k":2}');
      expect(failed.textContent).toContain('Output' + 'None.');
    });

    it("shows an LLM's completion, and its tokens", async () => {
      const llm = { ...deployment, model_type: 'llm_chat' as const };
      const task = llmPage.tasks[0];
      routes[`GET ${tasksPath}`] = llmPage;
      routes[`GET ${tasksPath}/${task.id}`] = task;
      await render(<DeploymentWorkspace deployment={llm} />);
      expect($('.jp-AutoML-task-output').textContent).toBe(
        '→ Crimson leaves descend, whispering to the cold earth summer…'
      );
      expect($('.jp-AutoML-task-latency').textContent).toBe('1.7 s');
      await click($('.jp-AutoML-task-row'));
      expect($('pre[aria-label=Completion]').textContent).toBe(
        (task.output![0] as { completion: string }).completion
      );
      expect($('.jp-AutoML-task-detail').textContent).toContain('Tokens14 prompt + 42 completion');
    });

    it('says that a metadata-only deployment keeps no text', async () => {
      const hidden = { ...deployment, metadata_only: true };
      const task = metadataPage.tasks[0];
      routes[`GET ${tasksPath}`] = metadataPage;
      routes[`GET ${tasksPath}/${task.id}`] = task;
      await render(<DeploymentWorkspace deployment={hidden} />);
      expect($('[role=note]').textContent).toContain('keeps metadata only');
      expect($('.jp-AutoML-task-input').textContent).toBe('no text kept');
      expect(container.querySelector('.jp-AutoML-task-output')).toBeNull();
      await click($('.jp-AutoML-task-row'));
      const detail = $('.jp-AutoML-task-detail');
      expect(detail.textContent).toContain('InputNot kept: this deployment keeps metadata only.');
      expect(detail.textContent).toContain('OutputNot kept');
      expect(detail.textContent).toContain('Tokens120 prompt + 64 completion');
      // Nor can it take batches (their results could not be read back).
      await click(button('Batches'));
      expect(container.querySelector('form[aria-label="Upload a batch"]')).toBeNull();
      expect($('[aria-label=Batches]').textContent).toContain('keeps no task text');
    });

    it('says why the tasks did not load', async () => {
      delete routes[`GET ${tasksPath}`];
      await render(<DeploymentWorkspace deployment={deployment} />);
      expect($('[role=alert]').textContent).toBe(`no GET ${tasksPath}`);
    });
  });

  describe('batches', () => {
    const openBatches = async () => {
      await render(<DeploymentWorkspace deployment={deployment} initialTab="batches" pollInterval={10} />);
      expect(requests).toEqual([{ method: 'GET', path: batchesPath, query: {} }]);
    };
    const send = async (files: File[]) => {
      choose($<HTMLInputElement>('input[type=file]'), files);
      await act(async () => {
        button('Run batch').click();
      });
      return FakeXHR.made[FakeXHR.made.length - 1];
    };

    it('shows the row, column and reason of each error of a refused file, and no progress', async () => {
      await openBatches();
      const xhr = await send([new File(['text_data,sentiment\n'], 'mixed.csv')]);
      expect(xhr.method).toBe('POST');
      expect(xhr.url).toBe(`http://localhost:8888${batchesPath}`);
      expect(((xhr.body as FormData).get('file') as File).name).toBe('mixed.csv');
      act(() => xhr.progress(10, 20));
      expect($<HTMLProgressElement>('progress[aria-label="Upload progress"]').value).toBe(10);
      expect(button('Cancel upload')).toBeTruthy();

      await act(async () => xhr.respond(422, refused, 'Unprocessable Entity'));
      await settle();
      expect($('[role=alert]').textContent).toBe(`The server refused the upload: ${refused.message}`);
      expect(cells($('table[aria-label=Errors]'))).toEqual([
        ['file', '—', '2 of 50 rows are invalid (4.0%); a batch is refused when any row is invalid'],
        ['4', 'text_data', 'empty text'],
        ['10', '—', 'the row has 3 fields; the header has 2']
      ]);
      expect(container.querySelector('progress')).toBeNull();
      expect(container.querySelector('.jp-AutoML-batch')).toBeNull();
      expect(requests.filter(r => r.path.startsWith(`${batchesPath}/`))).toEqual([]);
    });

    it('follows a running batch until it is completed, then links both result files', async () => {
      // Each poll waits until the test answers it.
      const polled: ((batch: IBatch) => void)[] = [];
      routes[`GET ${batchesPath}/${B}`] = () => new Promise(resolve => polled.push(resolve));
      await openBatches();
      const xhr = await send([new File(['text_data,sentiment\nhi,x\n'], 'reviews.csv')]);
      await act(async () => xhr.respond(201, batchQueued, 'Created'));

      const batch = $('.jp-AutoML-batch');
      expect($('[role=status]', batch).textContent).toBe('0 of 3 rows done');
      expect($('.jp-AutoML-batch-warnings', batch).textContent).toBe(
        "sentiment: column 'sentiment' is ignored: a batch takes inputs only"
      );
      expect(batch.querySelector('a')).toBeNull();
      expect(container.querySelector('progress[aria-label="Upload progress"]')).toBeNull();

      await until(() => polled.length === 1);
      await act(async () => polled.shift()!(batchRunning));
      await until(() => $('[role=status]', batch).textContent === '2 of 3 rows done · 1 failed');
      const bar = $<HTMLProgressElement>('progress[aria-label="Batch progress"]', batch);
      expect([bar.max, bar.value]).toEqual([3, 2]);
      expect(batch.querySelector('a')).toBeNull();

      await until(() => polled.length === 1);
      await act(async () => polled.shift()!(batchCompleted));
      await until(() => batch.querySelectorAll('a').length === 2);
      expect($('[role=status]', batch).textContent).toBe('Completed: 2 of 3 rows succeeded · 1 failed');
      const links = $$('a', batch);
      expect(links.map(a => [a.textContent, a.getAttribute('href'), a.getAttribute('download')])).toEqual([
        ['Results (CSV)', `http://localhost:8888${batchesPath}/${B}/results?format=csv`, 'reviews-results.csv'],
        ['Results (JSON Lines)', `http://localhost:8888${batchesPath}/${B}/results?format=jsonl`, 'reviews-results.jsonl']
      ]);

      // It stops asking once completed; the list is read again after the upload and at the end.
      const polls = () => requests.filter(r => r.path === `${batchesPath}/${B}`).length;
      expect(polls()).toBe(2);
      await new Promise(resolve => setTimeout(resolve, 60));
      await settle();
      expect(polls()).toBe(2);
      expect(requests.filter(r => r.path === batchesPath)).toHaveLength(3);
    });

    it('lists the earlier batches with their state, results, and the progress of a running one', async () => {
      const running = batches.batches[0];
      const done = batches.batches[1];
      routes[`GET ${batchesPath}/${running.id}`] = { ...running, queued: 0, succeeded: 1195, done: 1200, state: 'completed' };
      await openBatches();
      const items = $$('.jp-AutoML-batch-item');
      expect(items.map(li => li.getAttribute('data-id'))).toEqual([running.id, done.id]);
      expect($('.jp-AutoML-badge', items[0]).textContent).toBe('running');
      expect($('.jp-AutoML-itemMeta', items[0]).textContent).toContain('800 of 1,200 rows done · 5 failed');
      expect(items[0].querySelector('a')).toBeNull();
      expect($('.jp-AutoML-badge', items[1]).textContent).toBe('completed');
      expect($$('a', items[1]).map(a => [a.getAttribute('href'), a.getAttribute('download')])).toEqual([
        [`http://localhost:8888${batchesPath}/${done.id}/results?format=csv`, 'september reviews-results.csv'],
        [`http://localhost:8888${batchesPath}/${done.id}/results?format=jsonl`, 'september reviews-results.jsonl']
      ]);

      await click(button('Show progress', items[0]));
      await until(() => $$('.jp-AutoML-batch a').length === 2);
      expect($('.jp-AutoML-batch [role=status]').textContent).toBe('Completed: 1,195 of 1,200 rows succeeded · 5 failed');
    });

    it('cancels an upload', async () => {
      await openBatches();
      const xhr = await send([new File(['x'], 'big.csv')]);
      await act(async () => {
        button('Cancel upload').click();
      });
      expect(xhr.aborted).toBe(true);
      expect($('.jp-AutoML-upload-note').textContent).toBe('The upload was cancelled.');
      expect(container.querySelector('progress')).toBeNull();
    });

    it('refuses a zip for a deployment that is not an image classifier', async () => {
      await openBatches();
      choose($<HTMLInputElement>('input[type=file]'), [new File(['PK'], 'photos.zip')]);
      expect($('[role=alert]').textContent).toContain('a zip of images is only for image classifiers');
      expect(button('Run batch').hasAttribute('disabled')).toBe(true);
    });

    it('sends a CSV and a zip of images for an image classifier', async () => {
      await render(
        <DeploymentWorkspace
          deployment={{ ...deployment, model_type: 'image_classification' }}
          initialTab="batches"
        />
      );
      const input = $<HTMLInputElement>('input[type=file]');
      expect(input.accept).toBe('.csv,.zip,text/csv,application/zip');
      choose(input, [new File(['image\na.png\n'], 'photos.csv')]);
      choose($<HTMLInputElement>('input[type=file][accept=".zip,application/zip"]'), [new File(['PK'], 'photos.zip')]);
      await act(async () => {
        button('Run batch').click();
      });
      const sent = FakeXHR.made[0].body as FormData;
      expect([(sent.get('file') as File).name, (sent.get('images') as File).name]).toEqual(['photos.csv', 'photos.zip']);
    });
  });

  describe('usage', () => {
    it('loads the last 14 days when its tab opens: chart, totals and each key', async () => {
      await render(<DeploymentWorkspace deployment={deployment} />);
      await click(button('Usage'));
      expect(requests.slice(1)).toEqual([
        { method: 'GET', path: `/automl/api/deployments/${D}/usage`, query: { days: '14' } }
      ]);
      expect($('[role=tab][aria-selected=true]').textContent).toBe('Usage');
      expect($$('svg g.jp-AutoML-usage-day')).toHaveLength(14);
      expect($('svg[role=img]').getAttribute('aria-label')).toBe(chartLabel(usage));
      const totals = Object.fromEntries(
        $$('dl[aria-label=Totals] dt').map(dt => [dt.textContent, dt.nextElementSibling!.textContent])
      );
      expect(totals).toEqual({
        Requests: '303',
        Tokens: '12,726 (3,636 prompt + 9,090 completion)',
        Errors: '13',
        'Latency p50': '87 ms',
        'Latency p99': '1.2 s'
      });
      expect(cells($('table[aria-label="Usage per key"]'))).toEqual([
        ['key 1 (jam_3fK9…)', '199', '8,358', '8', '80 ms', '240 ms'],
        ['key 2 (jam_Qx7w…)', '101', '4,242', '5', '95 ms', '1.2 s'],
        ['no key', '3', '126', '0', '70 ms', '75 ms']
      ]);
      expect(container.textContent).toContain(
        'no key: the playground, the Python API and batches.'
      );

      // The tasks stay loaded behind their tab; going back asks nothing again.
      await click(button('Tasks'));
      expect(requests).toHaveLength(2);
      expect(rows()).toHaveLength(3);
    });
  });

  describe('in the deployment list', () => {
    it('opens from "Tasks & usage" and closes again', async () => {
      const noop = () => undefined;
      await render(
        <ul>
          <DeploymentItem deployment={deployment} onUndeploy={noop} onRedeploy={noop} onRotate={noop} />
        </ul>
      );
      const toggle = $('button[aria-label="Tasks and usage of reviews-v1"]');
      expect([toggle.textContent, toggle.getAttribute('aria-expanded')]).toEqual(['Tasks & usage', 'false']);
      expect(requests).toEqual([]);
      await click(toggle);
      expect(toggle.getAttribute('aria-expanded')).toBe('true');
      expect($('[role=region][aria-label="Workspace of reviews-v1"]')).toBeTruthy();
      expect(requests.map(r => r.path)).toEqual([tasksPath]);
      await click(toggle);
      expect(container.querySelector('.jp-AutoML-workspace')).toBeNull();
    });
  });
});

describe('BatchPanel', () => {
  it('renders on the server without a request', () => {
    // The first render asks nothing (effects do): a panel can be rendered statically.
    const html = renderToStaticMarkup(<BatchPanel deployment={deployment} />);
    expect(html).toContain('aria-label="Upload a batch"');
    expect(html).toContain('A CSV with a text_data column.');
  });
});
