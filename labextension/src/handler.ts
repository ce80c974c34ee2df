import { ServerConnection } from '@jupyterlab/services';

import { IErrorBody } from './models';

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
