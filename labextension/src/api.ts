/**
 * The typed client of the jupyter_automl REST API.
 *
 * Every request and answer type comes from `schema.d.ts`, which
 * `jlpm generate:api` writes from the server's OpenAPI document
 * (`jupyter_automl/rest/openapi.yaml`); a test fails while the two differ.
 * So a route, a parameter or a field the server does not have does not
 * compile here.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { ResponseError } from './handler';
import type { components, paths } from './schema';

/** The shapes of the API, by their name in the OpenAPI document. */
export type Schemas = components['schemas'];

/** A route of the document, e.g. `/automl/api/models/{model}`. */
export type Route = keyof paths;

/** The HTTP methods the API uses. */
export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** The operation behind a route and method (never when the route lacks the method). */
export type Operation<R extends Route, M extends Method> = Exclude<
  paths[R][M],
  undefined
>;

type ParametersOf<O> = O extends { parameters: infer P } ? P : never;
type PathParameters<O> =
  ParametersOf<O> extends { path: infer P }
    ? P extends Record<string, unknown>
      ? P
      : undefined
    : undefined;
type QueryParameters<O> =
  ParametersOf<O> extends { query?: infer Q }
    ? Q extends Record<string, unknown>
      ? Q
      : undefined
    : undefined;
type JsonBody<O> = O extends {
  requestBody?: { content: { 'application/json': infer B } };
}
  ? B
  : never;
type FormBody<O> = O extends {
  requestBody?: { content: { 'multipart/form-data': unknown } };
}
  ? FormData
  : never;
type Responses<O> = O extends { responses: infer R } ? R : never;
type JsonOf<R> = R extends { content: { 'application/json': infer T } }
  ? T
  : R extends { content: { [type: string]: unknown } }
    ? Blob
    : undefined;

/** What a successful answer (200, 201 or 202) of an operation holds. */
export type Answer<O> = {
  [S in keyof Responses<O>]: S extends 200 | 201 | 202
    ? JsonOf<Responses<O>[S]>
    : never;
}[keyof Responses<O>];

/** The parts of a request: path parameters, query and body, as the document types them. */
export interface IRequest<O> {
  path?: PathParameters<O>;
  query?: QueryParameters<O>;
  body?: JsonBody<O> | FormBody<O>;
}

/** The URL of a route with its path parameters filled in (each URL-encoded). */
export function routeUrl(
  route: Route,
  path: Record<string, unknown> | undefined,
  query: Record<string, unknown> | undefined,
  settings: ServerConnection.ISettings
): string {
  const filled = route.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = path?.[name];
    if (value === undefined || value === null || value === '') {
      throw new Error(`${route}: the path parameter ${name} is missing`);
    }
    return encodeURIComponent(String(value));
  });
  const defined = Object.fromEntries(
    Object.entries(query ?? {}).filter(
      ([, value]) => value !== undefined && value !== null
    )
  ) as Record<string, string>;
  return (
    URLExt.join(settings.baseUrl, filled) +
    URLExt.objectToQueryString(defined)
  );
}

/**
 * Call one operation of the API and return its answer.
 *
 * JSON answers are parsed; other contents (a plot, a notebook file) come
 * back as a Blob; an empty answer as undefined.
 *
 * @throws ResponseError with the server's message when it answers 4xx/5xx
 * @throws ServerConnection.NetworkError when the server cannot be reached
 */
export async function call<R extends Route, M extends Method>(
  method: M,
  route: R,
  request: IRequest<Operation<R, M>> = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<Answer<Operation<R, M>>> {
  const url = routeUrl(
    route,
    request.path as Record<string, unknown> | undefined,
    request.query as Record<string, unknown> | undefined,
    settings
  );
  const init: RequestInit = { method: method.toUpperCase() };
  if (request.body instanceof FormData) {
    init.body = request.body; // the browser sets the multipart boundary
  } else if (request.body !== undefined) {
    init.body = JSON.stringify(request.body);
    init.headers = { 'Content-Type': 'application/json' };
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const type = response.headers.get('Content-Type') ?? '';
  if (!response.ok) {
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: the status text says what happened
    }
    throw new ResponseError(response, body);
  }
  if (type.includes('json')) {
    return (await response.json()) as Answer<Operation<R, M>>;
  }
  const blob = await response.blob();
  return (blob.size ? blob : undefined) as Answer<Operation<R, M>>;
}

/** The routes whose POST takes a multipart form (uploads). */
export type FormRoute = {
  [R in Route]: [FormBody<Operation<R, 'post'>>] extends [never] ? never : R;
}[Route];

/** How an upload's bytes go: `loaded` of `total` bytes sent so far. */
export type ProgressCallback = (loaded: number, total: number) => void;

/** Options of {@link upload} beyond the form. */
export interface IUploadOptions<R extends FormRoute> {
  /** The route's path parameters. */
  path?: PathParameters<Operation<R, 'post'>>;
  /** Aborting it cancels the upload; the promise then rejects with an `AbortError`. */
  signal?: AbortSignal;
}

/** The `_xsrf` cookie, read as ServerConnection does (the last one wins, as in Tornado). */
function xsrfCookie(): string | undefined {
  let cookie = '';
  try {
    cookie = document.cookie;
  } catch {
    return undefined; // e.g. a sandboxed page
  }
  let value: string | undefined;
  for (const part of cookie.split(';')) {
    const trimmed = part.trim();
    if (trimmed.startsWith('_xsrf=')) {
      value = trimmed.substring('_xsrf='.length);
    }
  }
  return value;
}

/** An XHR's response headers as a Headers object. */
function responseHeaders(xhr: XMLHttpRequest): Headers {
  const headers = new Headers();
  for (const line of xhr.getAllResponseHeaders().trim().split(/[\r\n]+/)) {
    const at = line.indexOf(':');
    if (at > 0) {
      try {
        headers.append(line.slice(0, at).trim(), line.slice(at + 1).trim());
      } catch {
        // a header name the Headers class refuses: not needed here
      }
    }
  }
  return headers;
}

function abortError(): Error {
  const error = new Error('The upload was cancelled');
  error.name = 'AbortError';
  return error;
}

/**
 * POST a multipart form to a route, reporting the upload's progress.
 *
 * `fetch` cannot report how much of a request body is sent, so this uses
 * XMLHttpRequest, authenticated as `ServerConnection.makeRequest` does: the
 * `Authorization: token …` header when the settings have a token, the
 * `X-XSRFToken` header from the `_xsrf` cookie, and cookies sent per
 * `settings.init.credentials`. The browser writes the multipart boundary.
 *
 * @throws ResponseError with the server's message when it answers 4xx/5xx
 * @throws ServerConnection.NetworkError when the server cannot be reached
 * @throws an Error named `AbortError` when `options.signal` aborts
 */
export function upload<R extends FormRoute>(
  route: R,
  form: FormData,
  onProgress: ProgressCallback,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings(),
  options: IUploadOptions<R> = {}
): Promise<Answer<Operation<R, 'post'>>> {
  type Result = Answer<Operation<R, 'post'>>;
  const url = routeUrl(
    route,
    options.path as Record<string, unknown> | undefined,
    undefined,
    settings
  );
  return new Promise<Result>((resolve, reject) => {
    const { signal } = options;
    if (signal?.aborted) {
      reject(abortError());
      return;
    }
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    const credentials = settings.init.credentials ?? 'same-origin';
    xhr.withCredentials = credentials === 'include';
    if (settings.token) {
      xhr.setRequestHeader('Authorization', `token ${settings.token}`);
    }
    if (typeof document !== 'undefined') {
      const xsrf = xsrfCookie();
      if (xsrf !== undefined) {
        xhr.setRequestHeader('X-XSRFToken', xsrf);
      }
    }
    const onAbort = () => xhr.abort();
    const settle = () => signal?.removeEventListener('abort', onAbort);
    const failed = () => {
      settle();
      reject(
        new ServerConnection.NetworkError(
          new TypeError(
            'The upload failed: the connection to the server was lost (is the server running? ' +
              'A file above its upload limit can also end the connection)'
          )
        )
      );
    };
    xhr.upload.onprogress = event => {
      onProgress(event.loaded, event.lengthComputable ? event.total : 0);
    };
    xhr.onload = () => {
      if (xhr.status === 0) {
        failed(); // no answer at all (e.g. a blocked request)
        return;
      }
      settle();
      const text = typeof xhr.responseText === 'string' ? xhr.responseText : '';
      const type = xhr.getResponseHeader('Content-Type') ?? '';
      if (xhr.status < 200 || xhr.status >= 300) {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: the status text says what happened
        }
        const response = new Response(text, {
          status: xhr.status >= 200 && xhr.status <= 599 ? xhr.status : 500,
          statusText: xhr.statusText,
          headers: responseHeaders(xhr)
        });
        reject(new ResponseError(response, body));
        return;
      }
      if (!text) {
        resolve(undefined as Result);
        return;
      }
      try {
        resolve((type.includes('json') ? JSON.parse(text) : new Blob([text])) as Result);
      } catch (error) {
        reject(error);
      }
    };
    xhr.onerror = failed;
    xhr.ontimeout = failed;
    xhr.onabort = () => {
      settle();
      reject(abortError());
    };
    signal?.addEventListener('abort', onAbort);
    xhr.send(form);
  });
}
