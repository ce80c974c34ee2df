import { execFileSync } from 'child_process';
import { JSDOM } from 'jsdom';
import * as React from 'react';
import { act } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

import { ServerConnection } from '@jupyterlab/services';

import { upload } from '../api';
import { ResponseError } from '../handler';
import { IDataset, IDatasetDetail, ISnapshot, IValidationReport } from '../models';
import {
  MAX_ISSUES,
  UploadDataset,
  ValidationReportView,
  classRows,
  formatBytes,
  freezeBlockers,
  issueRows,
  parseTestPercent,
  pickFiles,
  progressText,
  reportRows,
  stratifyHead,
  tokenStatRows,
  uploadErrorMessage,
  uploadForm,
  verdictText
} from '../upload';

// Reports of the real core (jupyter_automl.api.AutoML.validate) for broken and good files.
const CORE = `
import csv, json, tempfile
from pathlib import Path
from jupyter_automl.api import AutoML
from jupyter_automl.datasets import examples
ex = Path(examples.__file__).parent
with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    automl = AutoML(data_dir=str(tmp / "data"))
    def read(name):
        return list(csv.reader((ex / name).open(encoding="utf-8")))
    def write(name, table):
        path = tmp / name
        with path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(table)
        return path
    rows = read("text_classification.csv")
    broken = [list(r) for r in rows]
    broken[3][0] = ""         # row 4: an empty text
    broken[5][1] = "positve"  # a class with one example: a whole-file error on its column
    many = [list(r) for r in rows[:1200]]
    for r in many[1:400]:     # a third of the rows invalid, and too few rows
        r[0] = ""
    reports = {
        "valid": automl.validate(ex / "text_classification.csv", "text_classification"),
        "broken": automl.validate(write("broken.csv", broken), "text_classification"),
        "no_text": automl.validate(write("no_text.csv", [r[1:] for r in rows]), "text_classification"),
        "many": automl.validate(write("many.csv", many), "text_classification"),
        "chat": automl.validate(write("chat.csv", read("chat.csv")[:121]), "llm_chat"),
    }
    print(json.dumps({k: v.to_dict() for k, v in reports.items()}))
`;
const core: Record<'valid' | 'broken' | 'no_text' | 'many' | 'chat', IValidationReport> = JSON.parse(
  execFileSync(process.env.PYTHON ?? 'python', ['-c', CORE], {
    encoding: 'utf-8',
    env: { ...process.env, HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1' },
    maxBuffer: 64 * 1024 * 1024
  })
);

function detailOf(report: IValidationReport, id = 'd1'): IDatasetDetail {
  return {
    id,
    name: report.file.replace(/\.csv$/, ''),
    model_type: report.model_type,
    filename: report.file,
    size_bytes: 1234,
    sha256: 'ab'.repeat(32),
    base_model: report.base_model,
    rows: report.rows,
    valid_rows: report.valid_rows,
    valid: report.valid,
    created_at: '2026-11-23T10:00:00Z',
    report
  };
}

function snapshot(id: string, role: 'train' | 'test', heads: ISnapshot['heads']): ISnapshot {
  return {
    id, name: id, dataset_id: 'd1', parent_id: null, model_type: 'text_classification',
    content_hash: 'c'.repeat(64), rows: 100, role, split_percent: null, seed: null,
    base_model: null, heads, is_example: false, created_at: '2026-11-23T10:00:00Z'
  };
}

describe('the report of an upload', () => {
  it('names whole-file problems "file" and rows by number, with "—" for no column', () => {
    const { errors } = reportRows(core.broken);
    expect(errors.total).toBe(2);
    expect(errors.more).toBe(0);
    expect(errors.rows).toContainEqual({
      row: 'file',
      column: 'sentiment',
      reason: expect.stringContaining("class 'positve' of head 'sentiment'")
    });
    expect(errors.rows).toContainEqual({ row: '4', column: 'text_data', reason: 'empty text' });
    const noText = reportRows(core.no_text).errors.rows;
    expect(noText).toEqual([{ row: 'file', column: '—', reason: expect.stringContaining('no header row') }]);
  });

  it('shows the first 200 errors and counts the rest', () => {
    expect(core.many.errors.length).toBe(400);
    const { errors, warnings } = reportRows(core.many);
    expect(errors.rows).toHaveLength(MAX_ISSUES);
    expect(errors.more).toBe(200);
    expect(errors.rows[0]).toEqual({ row: 'file', column: '—', reason: expect.stringContaining('max_invalid_row_percent') });
    expect(errors.rows[MAX_ISSUES - 1].row).toBe(String(core.many.errors[MAX_ISSUES - 1].row));
    expect(warnings.rows).toEqual([
      { row: 'file', column: '—', reason: '1,199 data rows; 2,000 or more are recommended' }
    ]);
    expect(issueRows(core.many.errors, 5)).toMatchObject({ more: 395, total: 400 });

    const html = renderToStaticMarkup(<ValidationReportView report={core.many} />);
    expect(html).toContain('Errors (400)');
    expect(html).toContain('… and 200 more (the first 200 are shown;');
    expect(html.match(/<tr/g)?.length).toBeLessThan(260); // not 400 rows
  });

  it('gives a verdict line, and why an invalid dataset cannot be frozen', () => {
    expect(verdictText(core.broken)).toBe('Invalid: 2,999 of 3,000 rows valid, 1 invalid row');
    expect(verdictText(core.valid)).toBe('Valid: 3,000 of 3,000 rows valid, 0 invalid rows');
    expect(verdictText({ ...core.valid, valid_rows: 2998, invalid_rows: 2 })).toBe(
      'Valid: 2,998 of 3,000 rows valid, 2 invalid rows (left out)'
    );
    expect(freezeBlockers(core.valid)).toEqual([]);
    expect(freezeBlockers(core.broken)).toEqual([expect.stringContaining("class 'positve'")]);
    expect(freezeBlockers(core.no_text)).toEqual([expect.stringContaining('no header row')]);
  });

  it('lists each head with its classes and counts', () => {
    const rows = classRows(core.broken.heads);
    expect(rows).toContainEqual({ head: 'sentiment', name: 'positve', count: 1 });
    expect(rows.filter(r => r.head === 'topic').map(r => r.name).sort()).toEqual([
      'price', 'quality', 'shipping', 'support', 'usability'
    ]);
    // In the report's order (most examples first), one row per class of each head.
    const sentiment = rows.filter(r => r.head === 'sentiment');
    expect(sentiment.map(r => r.name)).toEqual(Object.keys(core.broken.heads.sentiment));
    expect(sentiment[sentiment.length - 1]).toEqual({ head: 'sentiment', name: 'positve', count: 1 });
    expect(rows).toHaveLength(4 + 5);
    expect(classRows(core.chat.heads)).toEqual([]);
  });

  it('summarises token lengths when the report has them', () => {
    const stats = core.chat.token_stats!;
    expect(tokenStatRows(stats)).toEqual([
      ['Tokenizer', stats.tokenizer],
      ['Rows counted', '120'],
      ['Min', String(stats.min)],
      ['Median (p50)', String(stats.p50)],
      ['p95', String(stats.p95)],
      ['Max', String(stats.max)],
      ['Mean', String(Math.round(stats.mean * 10) / 10)]
    ]);
    const chat = renderToStaticMarkup(<ValidationReportView report={core.chat} />);
    expect(chat).toContain('aria-label="Token lengths"');
    expect(chat).toContain(`<td class="jp-AutoML-upload-number">${stats.p95}</td>`);
    expect(chat).not.toContain('aria-label="Classes"');
    const noText = renderToStaticMarkup(<ValidationReportView report={core.no_text} />);
    expect(noText).not.toContain('Token lengths');
    expect(noText).toContain('<td>file</td><td>—</td>');
  });
});

describe('the upload form helpers', () => {
  const csv = new File(['text_data,label\n'], 'reviews.csv');
  const zip = new File(['PK'], 'photos.ZIP');

  it('writes the progress with percent and bytes', () => {
    expect(progressText(0, 2_500_000)).toBe('0% · 0 B of 2.5 MB');
    expect(progressText(1_250_000, 2_500_000)).toBe('50% · 1.3 MB of 2.5 MB');
    expect(progressText(2_500_000, 2_500_000)).toBe('100% · 2.5 MB of 2.5 MB');
    expect(progressText(512, 0)).toBe('512 B sent');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1_500)).toBe('1.5 kB');
    expect(formatBytes(250_000_000)).toBe('250 MB');
  });

  it('takes a CSV, a zip of a CSV and images, or both, and refuses the rest', () => {
    expect(pickFiles([csv])).toEqual({ file: csv, images: null });
    expect(pickFiles([zip])).toEqual({ file: zip, images: null });
    expect(pickFiles([zip, csv])).toEqual({ file: csv, images: zip });
    expect(pickFiles([new File([''], 'data.xlsx')])).toEqual({
      error: expect.stringContaining('data.xlsx: only .csv files')
    });
    expect(pickFiles([csv, csv])).toHaveProperty('error');
    expect(pickFiles([])).toHaveProperty('error');
  });

  it('names the form parts as the server reads them', () => {
    const form = uploadForm({
      picked: { file: csv, images: zip },
      modelType: 'image_classification',
      baseModel: 'vit-tiny',
      name: '  '
    });
    expect(form.get('model_type')).toBe('image_classification');
    expect(form.get('base_model')).toBe('vit-tiny');
    expect(form.has('name')).toBe(false); // the server names it after the file
    expect((form.get('file') as File).name).toBe('reviews.csv');
    expect((form.get('images') as File).name).toBe('photos.ZIP');
    expect(uploadForm({ picked: { file: csv, images: null }, modelType: 'llm_chat', name: 'x' }).get('name')).toBe('x');
  });

  it('stratifies a classifier split on its first head, and LLM data not at all', () => {
    expect(stratifyHead('text_classification', { sentiment: {}, topic: {} })).toBe('sentiment');
    expect(stratifyHead('image_classification', { nsfw: {} })).toBe('nsfw');
    expect(stratifyHead('llm_chat', {})).toBeNull();
    expect(stratifyHead('text_classification', {})).toBeNull();
  });

  it('reads the test percent', () => {
    expect(parseTestPercent('')).toBe(0);
    expect(parseTestPercent(' 20 ')).toBe(20);
    expect(parseTestPercent('91')).toHaveProperty('error');
    expect(parseTestPercent('12.5')).toHaveProperty('error');
    expect(parseTestPercent('-1')).toHaveProperty('error');
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

  // What the network does, as a test says.
  progress(loaded: number, total: number, lengthComputable = true): void {
    this.upload.onprogress?.({ loaded, total, lengthComputable });
  }
  respond(status: number, body: unknown, statusText = ''): void {
    this.status = status;
    this.statusText = statusText;
    this.responseText = typeof body === 'string' ? body : JSON.stringify(body);
    this.responseHeaders = {
      'content-type': typeof body === 'string' ? 'text/html' : 'application/json; charset=UTF-8'
    };
    this.onload?.();
  }
}

const realXHR = (globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest;
beforeEach(() => {
  FakeXHR.made = [];
  (globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest = FakeXHR;
});
afterEach(() => {
  (globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest = realXHR;
});

describe('upload', () => {
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/lab-base/',
    token: 'secret'
  });
  const form = () => uploadForm({ picked: { file: new File(['a,b\n'], 'a.csv'), images: null }, modelType: 'llm_text' });

  it('posts the form with the token, reports progress and returns the answer', async () => {
    const seen: [number, number][] = [];
    const sent = form();
    const answer = upload('/automl/api/datasets', sent, (l, t) => seen.push([l, t]), settings);
    const xhr = FakeXHR.made[0];
    expect(xhr.method).toBe('POST');
    expect(xhr.url).toBe('http://localhost:8888/lab-base/automl/api/datasets');
    expect(xhr.headers).toEqual({ Authorization: 'token secret' }); // no Content-Type: the boundary is the browser's
    expect(xhr.body).toBe(sent);
    expect(xhr.withCredentials).toBe(false);
    xhr.progress(10, 40);
    xhr.progress(40, 40);
    xhr.progress(7, 0, false);
    expect(seen).toEqual([[10, 40], [40, 40], [7, 0]]);
    const detail = detailOf(core.valid);
    xhr.respond(201, detail);
    await expect(answer).resolves.toEqual(detail);
  });

  it('sends the _xsrf cookie as X-XSRFToken, the last one as the server reads it', async () => {
    const settingsNoToken = ServerConnection.makeSettings({
      baseUrl: 'http://localhost:8888/',
      token: '',
      init: { credentials: 'include' }
    });
    const global = globalThis as { document?: unknown };
    global.document = { cookie: '_xsrf=first; theme=dark; _xsrf=2|abc|def' };
    try {
      const answer = upload('/automl/api/datasets/validate', form(), () => undefined, settingsNoToken);
      const xhr = FakeXHR.made[0];
      expect(xhr.headers).toEqual({ 'X-XSRFToken': '2|abc|def' });
      expect(xhr.withCredentials).toBe(true);
      xhr.respond(200, core.valid);
      await expect(answer).resolves.toEqual(core.valid);
    } finally {
      delete global.document;
    }
  });

  it.each([
    [422, 'Unprocessable Entity', "unknown model type 'llm'"],
    [413, 'Payload Too Large', 'the upload is 3.1 GB; the limit is 2.0 GB (AutoML.max_upload_bytes)'],
    [400, 'Bad Request', "the form has no 'file': send the CSV as the part named 'file'"]
  ])("raises a ResponseError with the server's message on %i", async (status, statusText, message) => {
    const answer = upload('/automl/api/datasets', form(), () => undefined, settings);
    FakeXHR.made[0].respond(status, { message, details: { field: 'x' } }, statusText);
    await expect(answer).rejects.toBeInstanceOf(ResponseError);
    await expect(answer).rejects.toMatchObject({ status, message, details: { field: 'x' } });
    await expect(answer).rejects.toBeInstanceOf(ServerConnection.ResponseError);
  });

  it('says what failed when the answer is not the API error shape', async () => {
    const answer = upload('/automl/api/datasets', form(), () => undefined, settings);
    FakeXHR.made[0].respond(502, '<html>Bad gateway</html>', 'Bad Gateway');
    await expect(answer).rejects.toMatchObject({ status: 502, message: 'Request failed (502 Bad Gateway)' });
  });

  it('raises a NetworkError when the server cannot be reached', async () => {
    const answer = upload('/automl/api/datasets', form(), () => undefined, settings);
    FakeXHR.made[0].onerror?.();
    await expect(answer).rejects.toBeInstanceOf(ServerConnection.NetworkError);
    await expect(answer).rejects.toThrow('the connection to the server was lost');
  });

  it('aborts the request when the signal says so', async () => {
    const controller = new AbortController();
    const answer = upload('/automl/api/datasets', form(), () => undefined, settings, {
      signal: controller.signal
    });
    controller.abort();
    expect(FakeXHR.made[0].aborted).toBe(true);
    await expect(answer).rejects.toMatchObject({ name: 'AbortError' });
    // Already aborted: nothing is sent at all.
    await expect(
      upload('/automl/api/datasets', form(), () => undefined, settings, { signal: controller.signal })
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(FakeXHR.made).toHaveLength(1);
  });

  it('only takes routes whose POST is a multipart form', () => {
    // A route that takes JSON does not compile (tsc checks the tests too).
    // @ts-expect-error: /automl/api/models takes JSON
    const wrong = () => upload('/automl/api/models', form(), () => undefined, settings);
    expect(typeof wrong).toBe('function');
  });

  it('words server errors for people, never blank', () => {
    const error = (status: number, message: string) =>
      new ResponseError(new Response('', { status }), { message });
    expect(uploadErrorMessage(error(413, 'the limit is 2.0 GB'))).toBe(
      'The upload is too large: the limit is 2.0 GB'
    );
    expect(uploadErrorMessage(error(422, 'bad type'))).toBe('The server refused the upload: bad type');
    expect(uploadErrorMessage(new ResponseError(new Response('', { status: 500 }), ''))).toBe(
      'Request failed (500)'
    );
    expect(uploadErrorMessage(new Error(''))).not.toBe('');
  });
});

describe('UploadDataset', () => {
  // A DOM for React, installed only here (the XHR and fetch stay Node's and the test's).
  const dom = new JSDOM('<!doctype html><html><body></body></html>', {
    url: 'http://localhost:8888/lab'
  });
  const win = dom.window as unknown as Window & typeof globalThis;
  const installed = ['window', 'document', 'navigator', 'Node', 'Element', 'HTMLElement',
    'HTMLInputElement', 'HTMLIFrameElement', 'Event', 'KeyboardEvent', 'MouseEvent'];
  const saved: Record<string, unknown> = {};
  const realFetch = globalThis.fetch;
  let createRoot: typeof import('react-dom/client').createRoot;
  let container: HTMLElement;
  let root: import('react-dom/client').Root;
  let requests: { method: string; path: string; body: unknown }[];
  let answers: Record<string, unknown>;

  beforeAll(() => {
    const global = globalThis as Record<string, unknown>;
    for (const name of installed) {
      saved[name] = global[name];
      global[name] = name === 'window' ? win : (win as unknown as Record<string, unknown>)[name];
    }
    global.IS_REACT_ACT_ENVIRONMENT = true;
    win.document.cookie = '_xsrf=cookie-token';
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
    answers = {
      'GET /automl/api/base-models': {
        base_models: [
          { name: 'all-minilm-l6-v2', display_name: 'MiniLM' },
          { name: 'toxic-bert', display_name: 'Toxic BERT' }
        ]
      },
      'POST /automl/api/snapshots': snapshot('s1', 'train', { sentiment: {}, topic: {} }),
      'POST /automl/api/snapshots/s1/split': {
        train: snapshot('s1-train', 'train', {}),
        test: snapshot('s1-test', 'test', {})
      }
    };
    globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input as RequestInfo, init);
      const path = new URL(request.url).pathname;
      const text = await request.text();
      requests.push({ method: request.method, path, body: text ? JSON.parse(text) : undefined });
      const key = `${request.method} ${path}`;
      if (!(key in answers)) {
        return new Response(JSON.stringify({ message: `no ${key}` }), { status: 404 });
      }
      return new Response(JSON.stringify(answers[key]), {
        status: request.method === 'POST' ? 201 : 200,
        headers: { 'Content-Type': 'application/json' }
      });
    }) as typeof fetch;
    container = win.document.createElement('div');
    win.document.body.appendChild(container);
    root = createRoot(container);
  });

  afterEach(() => {
    act(() => root.unmount());
    container.remove();
    globalThis.fetch = realFetch;
  });

  const $ = <T extends Element = HTMLElement>(selector: string): T => {
    const found = container.querySelector<T>(selector);
    if (!found) {
      throw new Error(`nothing matches ${selector}`);
    }
    return found;
  };
  const settle = () => act(async () => { await new Promise(resolve => setTimeout(resolve, 0)); });
  const typeInto = (input: HTMLInputElement, value: string) => {
    Object.getOwnPropertyDescriptor(win.HTMLInputElement.prototype, 'value')!.set!.call(input, value);
    input.dispatchEvent(new win.Event('input', { bubbles: true }));
  };
  const drop = (files: File[]) => {
    const zone = $('.jp-AutoML-upload-drop');
    const over = new win.Event('dragover', { bubbles: true, cancelable: true });
    Object.defineProperty(over, 'dataTransfer', { value: { dropEffect: 'none', files: [] } });
    act(() => { zone.dispatchEvent(over); });
    expect(zone.classList.contains('jp-mod-dragover')).toBe(true);
    const event = new win.Event('drop', { bubbles: true, cancelable: true });
    Object.defineProperty(event, 'dataTransfer', { value: { files } });
    act(() => { zone.dispatchEvent(event); });
    expect(zone.classList.contains('jp-mod-dragover')).toBe(false);
  };
  const render = async (props: Partial<React.ComponentProps<typeof UploadDataset>> = {}) => {
    const calls = { uploaded: [] as IDataset[], frozen: [] as ISnapshot[][], closed: 0 };
    act(() =>
      root.render(
        <UploadDataset
          onUploaded={d => calls.uploaded.push(d)}
          onFrozen={s => calls.frozen.push(s)}
          onClose={() => calls.closed++}
          {...props}
        />
      )
    );
    await settle();
    return calls;
  };

  it('opens the file picker from the keyboard', async () => {
    await render();
    const zone = $('.jp-AutoML-upload-drop');
    expect(zone.getAttribute('tabindex')).toBe('0');
    expect(zone.getAttribute('role')).toBe('button');
    expect(zone.getAttribute('for')).toBe($('input[type=file]').id);
    const click = jest.spyOn($<HTMLInputElement>('input[type=file]'), 'click').mockImplementation(() => undefined);
    for (const key of ['Enter', ' ', 'a']) {
      act(() => { zone.dispatchEvent(new win.KeyboardEvent('keydown', { key, bubbles: true })); });
    }
    expect(click).toHaveBeenCalledTimes(2);
  });

  it('uploads with progress, shows the report, and freezes with a stratified split', async () => {
    const calls = await render({ defaultModelType: 'text_classification' });
    expect($<HTMLSelectElement>('#jp-AutoML-upload-type').value).toBe('text_classification');
    expect(requests[0]).toMatchObject({ method: 'GET', path: '/automl/api/base-models' });
    expect($<HTMLSelectElement>('#jp-AutoML-upload-base').value).toBe('all-minilm-l6-v2');
    expect($('label[for=jp-AutoML-upload-name]').textContent).toBe('Dataset name (optional)');

    drop([new File(['x'.repeat(200)], 'reviews.csv')]);
    expect($('.jp-AutoML-upload-dropTitle').textContent).toBe('reviews.csv');
    act(() => { $<HTMLButtonElement>('button[type=submit]').click(); });

    const xhr = FakeXHR.made[0];
    expect(xhr.url).toBe('http://localhost:8888/automl/api/datasets');
    expect(xhr.headers['X-XSRFToken']).toBe('cookie-token');
    const sent = xhr.body as FormData;
    expect([sent.get('model_type'), sent.get('base_model'), (sent.get('file') as File).name]).toEqual([
      'text_classification', 'all-minilm-l6-v2', 'reviews.csv'
    ]);
    act(() => xhr.progress(50, 200));
    expect($<HTMLProgressElement>('progress').value).toBe(50);
    expect($('.jp-AutoML-upload-progress [role=status]').textContent).toBe('25% · 50 B of 200 B');
    expect($('button.jp-mod-warn').textContent).toBe('Cancel upload');

    const detail = detailOf({ ...core.valid, valid_rows: 2999, invalid_rows: 1, errors: [{ row: 7, column: 'topic', reason: 'bad' }] });
    await act(async () => xhr.respond(201, detail));
    expect(container.querySelector('progress')).toBeNull();
    const { report, ...info } = detail;
    expect(calls.uploaded).toEqual([info]);
    expect($('.jp-AutoML-upload-verdict').textContent).toBe(verdictText(report));
    expect($('table[aria-label=Errors] tbody').textContent).toBe('7topicbad');

    act(() => typeInto($<HTMLInputElement>('input[type=number]'), '20'));
    await act(async () => { $<HTMLButtonElement>('.jp-AutoML-upload-freeze button[type=submit]').click(); });
    await settle();
    expect(requests.slice(1)).toEqual([
      { method: 'POST', path: '/automl/api/snapshots', body: { dataset_id: 'd1', name: null, role: 'train' } },
      { method: 'POST', path: '/automl/api/snapshots/s1/split', body: { test_percent: 20, stratify_by: 'sentiment' } }
    ]);
    expect(calls.frozen.map(s => s.map(x => x.id))).toEqual([['s1', 's1-train', 's1-test']]);
  });

  it("shows the server's refusal as an alert, and cancels an upload", async () => {
    await render();
    drop([new File(['x'], 'big.csv')]);
    act(() => { $<HTMLButtonElement>('button[type=submit]').click(); });
    await act(async () =>
      FakeXHR.made[0].respond(413, { message: 'the upload is 3.1 GB; the limit is 2.0 GB' }, 'Payload Too Large')
    );
    expect($('[role=alert]').textContent).toBe('The upload is too large: the upload is 3.1 GB; the limit is 2.0 GB');
    expect(container.querySelector('.jp-AutoML-upload-report')).toBeNull();

    act(() => { $<HTMLButtonElement>('button[type=submit]').click(); });
    expect(container.querySelector('[role=alert]')).toBeNull();
    await act(async () => { $<HTMLButtonElement>('button.jp-mod-warn').click(); });
    expect(FakeXHR.made[1].aborted).toBe(true);
    expect($('.jp-AutoML-upload-note').textContent).toBe('The upload was cancelled.');
    expect(container.querySelector('progress')).toBeNull();
  });

  it('says why an invalid dataset cannot be frozen instead of offering to', async () => {
    const calls = await render({ defaultModelType: 'text_classification' });
    drop([new File(['x'], 'no_text.csv')]);
    act(() => { $<HTMLButtonElement>('button[type=submit]').click(); });
    await act(async () => FakeXHR.made[0].respond(201, detailOf(core.no_text)));
    expect(calls.uploaded).toHaveLength(1);
    expect($('.jp-AutoML-upload-verdict').textContent).toBe('Invalid: 0 of 0 rows valid, 0 invalid rows');
    expect($('.jp-AutoML-upload-blocked').textContent).toContain('no header row');
    expect(container.querySelector('.jp-AutoML-upload-freeze')).toBeNull();
  });

  it('sets image classification for a zip and refuses other files', async () => {
    await render({ defaultModelType: 'llm_chat' });
    expect($<HTMLSelectElement>('#jp-AutoML-upload-type').value).toBe('llm_chat');
    drop([new File(['x'], 'notes.txt')]);
    expect($('[role=alert]').textContent).toContain('notes.txt: only .csv files');
    drop([new File(['PK'], 'photos.zip')]);
    await settle();
    expect($<HTMLSelectElement>('#jp-AutoML-upload-type').value).toBe('image_classification');
    expect(requests.map(r => r.path)).toEqual(['/automl/api/base-models', '/automl/api/base-models']);
    act(() => { $<HTMLButtonElement>('button[type=submit]').click(); });
    const sent = FakeXHR.made[0].body as FormData;
    expect(sent.get('model_type')).toBe('image_classification');
    expect((sent.get('file') as File).name).toBe('photos.zip');
    expect(sent.has('images')).toBe(false);
  });
});
