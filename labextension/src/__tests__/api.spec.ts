import { ServerConnection } from '@jupyterlab/services';

import { call, routeUrl } from '../api';
import { ResponseError } from '../handler';

interface ISent {
  url: string;
  method: string;
  body: string;
  headers: Headers;
}

/** Server settings whose fetch answers `answer` and records what was sent. */
function fakeServer(answer: () => Response): {
  settings: ServerConnection.ISettings;
  sent: ISent[];
} {
  const sent: ISent[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input as RequestInfo, init);
    sent.push({
      url: request.url,
      method: request.method,
      body: await request.text(),
      headers: request.headers
    });
    return answer();
  };
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/lab-base/',
    token: 'secret',
    fetch: fetch as typeof globalThis.fetch
  });
  return { settings, sent };
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' }
  });
}

describe('call', () => {
  it('fills the path parameters, encoded, and the query', async () => {
    const { settings, sent } = fakeServer(() => json(200, { jobs: [] }));
    const answer = await call(
      'get',
      '/automl/api/jobs',
      { query: { status: 'running', model: 'support bot' } },
      settings
    );
    expect(answer).toEqual({ jobs: [] });
    expect(sent[0].method).toBe('GET');
    // (JupyterLab adds a cache-busting number to every GET.)
    const url = new URL(sent[0].url);
    expect(url.pathname).toBe('/lab-base/automl/api/jobs');
    expect(url.searchParams.get('status')).toBe('running');
    expect(url.searchParams.get('model')).toBe('support bot');
    expect(sent[0].headers.get('Authorization')).toBe('token secret');

    await call(
      'get',
      '/automl/api/models/{model}/versions/{version}',
      { path: { model: 'a/b', version: 2 } },
      settings
    );
    expect(new URL(sent[1].url).pathname).toBe(
      '/lab-base/automl/api/models/a%2Fb/versions/2'
    );
  });

  it('sends a JSON body with its content type', async () => {
    const { settings, sent } = fakeServer(() =>
      json(201, { id: 'm1', name: 'reviews' })
    );
    await call(
      'post',
      '/automl/api/models',
      {
        body: {
          name: 'reviews',
          snapshot_id: 's1',
          options: { max_epochs: 3 }
        }
      },
      settings
    );
    expect(sent[0].method).toBe('POST');
    expect(sent[0].headers.get('Content-Type')).toBe('application/json');
    expect(JSON.parse(sent[0].body)).toEqual({
      name: 'reviews',
      snapshot_id: 's1',
      options: { max_epochs: 3 }
    });
  });

  it('passes a form through for the browser to encode', async () => {
    const { settings, sent } = fakeServer(() => json(201, {}));
    const form = new FormData();
    form.append('model_type', 'llm_chat');
    form.append('file', new Blob(['prompt,completion\n']), 'chat.csv');
    await call('post', '/automl/api/datasets', { body: form }, settings);
    expect(sent[0].headers.get('Content-Type')).toMatch(
      /^multipart\/form-data; boundary=/
    );
    expect(sent[0].body).toContain('name="file"; filename="chat.csv"');
    expect(sent[0].body).toContain('llm_chat');
  });

  it("raises the server's message and status", async () => {
    const message = "a model named 'reviews' exists already";
    const { settings } = fakeServer(() => json(409, { message }));
    const failure = call(
      'post',
      '/automl/api/models',
      { body: { name: 'reviews', snapshot_id: 's1' } },
      settings
    );
    await expect(failure).rejects.toBeInstanceOf(ResponseError);
    await expect(failure).rejects.toMatchObject({ message, status: 409 });
  });

  it('says the server extension is missing on a bare 404', async () => {
    const { settings } = fakeServer(
      () => new Response('Not Found', { status: 404, statusText: 'Not Found' })
    );
    await expect(call('get', '/automl/api/datasets', {}, settings)).rejects.toThrow(
      /jupyter server extension list/
    );
  });

  it('reports an unreachable server as a network error', async () => {
    const settings = ServerConnection.makeSettings({
      baseUrl: 'http://localhost:8888/',
      fetch: (async () => {
        throw new TypeError('Failed to fetch');
      }) as typeof globalThis.fetch
    });
    await expect(call('get', '/automl/api/datasets', {}, settings)).rejects.toBeInstanceOf(
      ServerConnection.NetworkError
    );
  });

  it('returns a non-JSON answer as a Blob', async () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
    const { settings } = fakeServer(
      () => new Response(png, { status: 200, headers: { 'Content-Type': 'image/png' } })
    );
    const plot = await call(
      'get',
      '/automl/api/models/{model}/versions/{version}/plots/{name}',
      { path: { model: 'reviews', version: 1, name: 'loss.png' } },
      settings
    );
    expect(plot).toBeInstanceOf(Blob);
    expect((plot as Blob).size).toBe(4);
  });
});

describe('routeUrl', () => {
  it('refuses a missing path parameter instead of calling a wrong route', () => {
    const settings = ServerConnection.makeSettings({ baseUrl: 'http://h/' });
    expect(() => routeUrl('/automl/api/jobs/{job_id}', {}, undefined, settings)).toThrow(
      'the path parameter job_id is missing'
    );
  });
});
