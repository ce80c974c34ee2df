import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

import { ResponseError } from '../handler';
import {
  DEFAULT_CHAT_SETTINGS,
  ITask,
  Scores,
  TryIt,
  answerLines,
  completionOf,
  playgroundError,
  playgroundRequest,
  usageLine,
  withTurn
} from '../tryIt';

/** A task as serve/tasks.py shapes it. */
function task(output: ITask['status'][number]['response']['output'], state: ITask['state'] = 'succeeded', message = 'SUCCESS'): ITask {
  return {
    id: 't1',
    deployment_id: null,
    version_id: 'v1',
    kind: 'playground',
    state,
    status: [
      {
        status: { code: state === 'succeeded' ? '0' : '1', message },
        response: { input: { model: 'reviews', model_version: 1, hash: 'h' }, output }
      }
    ],
    usage: { prompt_tokens: 0, completion_tokens: 0 },
    created_on: '2026-11-23T10:00:00+00:00',
    finished_on: '2026-11-23T10:00:01+00:00'
  };
}

describe('a classifier answer', () => {
  const answer = task([
    {
      head: 'sentiment',
      classes: [
        { class: 'neutral', score: 0.2 },
        { class: 'positive', score: 0.7 },
        { class: 'negative', score: 0.1 }
      ]
    },
    { head: 'topic', classes: [{ class: 'price', score: 0.4 }, { class: 'shipping', score: 0.6 }] }
  ]);

  it('has every head with every class, best first', () => {
    expect(answerLines(answer)).toEqual([
      {
        head: 'sentiment',
        classes: [
          { class: 'positive', score: 0.7 },
          { class: 'neutral', score: 0.2 },
          { class: 'negative', score: 0.1 }
        ]
      },
      { head: 'topic', classes: [{ class: 'shipping', score: 0.6 }, { class: 'price', score: 0.4 }] }
    ]);
  });

  it('is drawn as bars, the best class first', () => {
    const html = renderToStaticMarkup(<Scores heads={answerLines(answer)} />);
    expect(html.indexOf('positive')).toBeLessThan(html.indexOf('neutral'));
    expect(html).toContain('style="width:70.0%"');
    expect(html).toContain('aria-label="sentiment: positive"');
    expect(html).toContain('0.700');
    expect(html).toContain('<h4 class="jp-AutoML-tryItHead">topic</h4>');
  });

  it('of a failed task is its message', () => {
    expect(() => answerLines(task([], 'failed', 'FAILED: the image does not decode'))).toThrow(
      'FAILED: the image does not decode'
    );
  });
});

describe('an LLM answer', () => {
  it('is the completion with its token counts', () => {
    const answer = task([
      { completion: 'Sure, I can help.', prompt_tokens: 31, completion_tokens: 6, finish_reason: 'stop' }
    ]);
    expect(completionOf(answer)).toEqual({
      completion: 'Sure, I can help.',
      prompt_tokens: 31,
      completion_tokens: 6,
      finish_reason: 'stop'
    });
    expect(() => completionOf(task([{ head: 'h', classes: [] }]))).toThrow('no completion');
  });
});

describe('the playground request', () => {
  const settings = { systemPrompt: 'You answer support questions.', maxTokens: 64, temperature: 0.7 };

  it('sends the first chat message without history', () => {
    expect(playgroundRequest('  Where is my parcel?\n', settings, [], true)).toEqual({
      text_data: 'Where is my parcel?',
      options: { max_tokens: 64, temperature: 0.7, system_prompt: 'You answer support questions.' }
    });
  });

  it('sends the conversation so far as prompt_history, oldest first', () => {
    let history = withTurn([], 'Where is my parcel?', 'It left the depot today.');
    history = withTurn(history, 'When will it arrive?', 'Tomorrow.');
    const body = playgroundRequest('Thanks!', settings, history, true);
    expect(body.options?.prompt_history).toEqual([
      { role: 'user', content: 'Where is my parcel?' },
      { role: 'assistant', content: 'It left the depot today.' },
      { role: 'user', content: 'When will it arrive?' },
      { role: 'assistant', content: 'Tomorrow.' }
    ]);
    expect(body.text_data).toBe('Thanks!');
    // a copy: later turns do not change a request already built
    history.push({ role: 'user', content: 'x' });
    expect((body.options?.prompt_history as unknown[]).length).toBe(4);
  });

  it('leaves out a blank system prompt, and history and system prompt for text models', () => {
    expect(playgroundRequest('Hi', { ...settings, systemPrompt: '  ' }, [], true).options).toEqual({
      max_tokens: 64,
      temperature: 0.7
    });
    const history = withTurn([], 'a', 'b');
    expect(playgroundRequest('Hi', settings, history, false)).toEqual({
      text_data: 'Hi',
      options: { max_tokens: 64, temperature: 0.7 }
    });
    expect(DEFAULT_CHAT_SETTINGS).toEqual({ systemPrompt: '', maxTokens: 128, temperature: 0 });
  });
});

describe('the playground count', () => {
  const info = {
    version_id: 'v1',
    requests: 3,
    limit: 500,
    remaining: 497,
    expires_at: null,
    deployment_id: null
  };

  it('says how many requests are left', () => {
    expect(usageLine(info)).toBe('497 of 500 playground requests left; deploy the version for more');
    expect(usageLine({ ...info, expires_at: '2026-12-08T10:00:00+00:00' })).toMatch(
      /^497 of 500 playground requests left until .+; deploy the version for more$/
    );
  });

  it('says a deployed version has no limit', () => {
    expect(usageLine({ ...info, deployment_id: 'd1' })).toBe(
      'deployed: answered by its deployment, no limit'
    );
  });
});

describe('playground errors', () => {
  const error = (status: number, message: string) =>
    new ResponseError(new Response(JSON.stringify({ message }), { status }), { message });

  it('keep the server message and say what to do', () => {
    expect(
      playgroundError(error(403, 'the playground of v1 has answered its 500 requests: deploy it to go on'))
    ).toBe('the playground of v1 has answered its 500 requests: deploy it to go on');
    expect(playgroundError(error(403, 'limit'))).toBe(
      'The playground limit is reached (limit): deploy the version to go on asking it.'
    );
    expect(playgroundError(error(409, 'version 2 of model reviews is training, not trained'))).toBe(
      'This version cannot answer yet: version 2 of model reviews is training, not trained'
    );
    expect(playgroundError(error(503, 'the queue is full'))).toBe(
      'The model is busy; try again in a moment. (the queue is full)'
    );
    expect(playgroundError(new Error('offline'))).toBe('offline');
  });
});

describe('the try-it box', () => {
  it('is a chat with a system prompt for chat models', () => {
    const html = renderToStaticMarkup(<TryIt modelName="support bot" modelType="llm_chat" version={2} />);
    expect(html).toContain('Try support bot v2');
    expect(html).toContain('System prompt');
    expect(html).toContain('Max new tokens');
    expect(html).toContain('Temperature');
    expect(html).toContain('New conversation');
    expect(html).toContain('role="status"');
  });

  it('has no system prompt for text LLMs, a file input for images, a text box for text', () => {
    expect(renderToStaticMarkup(<TryIt modelName="m" modelType="llm_text" version={1} />)).not.toContain(
      'System prompt'
    );
    const image = renderToStaticMarkup(<TryIt modelName="m" modelType="image_classification" version={1} />);
    expect(image).toContain('type="file"');
    const text = renderToStaticMarkup(<TryIt modelName="m" modelType="text_classification" version={1} />);
    expect(text).toContain('Text to classify');
    expect(text).not.toContain('type="file"');
  });
});
