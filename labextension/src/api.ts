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
