import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { IErrorBody } from './models';

/** The API namespace of the jupyter_automl server extension. */
export const API_NAMESPACE = 'automl/api';

/**
 * A failed request: the server answered with a 4xx/5xx status.
 *
 * `message` is the server's own `message` (or the HTTP status text when the
 * body is not the API's error shape); `details` is its optional `details`.
 */
export class ResponseError extends ServerConnection.ResponseError {
  /** The HTTP status code. */
  readonly status: number;
  /** The server's `details`, when it sent some. */
  readonly details: unknown;

  constructor(response: Response, body: unknown) {
    super(response, ResponseError.messageOf(response, body));
    this.name = 'ResponseError';
    this.status = response.status;
    this.details = isErrorBody(body) ? body.details : undefined;
  }

  /** The message to show for a response and its parsed body. */
  static messageOf(response: Response, body: unknown): string {
    if (isErrorBody(body) && body.message) {
      return body.message;
    }
    const status = `${response.status} ${response.statusText}`.trim();
    if (response.status === 404) {
      // Not the API's own 404 (that one has a message): the routes are missing.
      return `The AutoML server API is not available (${status}). Is the jupyter_automl server extension enabled? Check with: jupyter server extension list`;
    }
    return `Request failed (${status})`;
  }
}

function isErrorBody(body: unknown): body is IErrorBody {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as IErrorBody).message === 'string'
  );
}

/**
 * Call the jupyter_automl REST API.
 *
 * @param endPoint path under `{base_url}automl/api/`, e.g. `datasets`
 * @param init fetch options (method, body, ...)
 * @param settings server settings; defaults to `ServerConnection.makeSettings()`
 * @returns the response body parsed as JSON (undefined for an empty body)
 * @throws ResponseError when the server answers with an error status
 * @throws ServerConnection.NetworkError when the server cannot be reached
 */
export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, API_NAMESPACE, endPoint);

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }

  const text = await response.text();
  let body: unknown = undefined;
  if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }

  if (!response.ok) {
    throw new ResponseError(response, body);
  }
  return body as T;
}
