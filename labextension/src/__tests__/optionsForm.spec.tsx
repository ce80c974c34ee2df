import { execFileSync } from 'child_process';
import * as path from 'path';
import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

import {
  OptionsSchema,
  checkValues,
  defaultValues,
  fieldOfError,
  fieldsFromSchema,
  optionsToSend
} from '../optionsForm';
import { OptionsFields } from '../optionsFields';

interface ICore {
  text_classification: OptionsSchema;
  llm_chat: OptionsSchema;
  errors: { options: Record<string, unknown>; field: string; message: string }[];
}

// The schemas and error messages of the real core (see core_fixtures.py).
const core: ICore = JSON.parse(
  execFileSync(process.env.PYTHON ?? 'python', [path.join(__dirname, 'core_fixtures.py')], {
    encoding: 'utf-8',
    env: { ...process.env, HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1' }
  })
);

describe('fields from the schema', () => {
  const fields = fieldsFromSchema(core.text_classification);
  const byName = Object.fromEntries(fields.map(f => [f.name, f]));

  it('offers the snapshot heads and the type rules as choices', () => {
    expect(byName['selection_label'].choices).toEqual(['sentiment', 'topic']);
    expect(byName['selection_rule'].choices).toEqual(['balanced_accuracy', 'f1', 'loss']);
    expect(byName['max_tokens']).toBeUndefined(); // an LLM option
    const chat = fieldsFromSchema(core.llm_chat).find(f => f.name === 'selection_rule');
    expect(chat?.choices).toEqual(['loss']);
  });

  it('keeps the ranges and defaults of the core', () => {
    expect(byName['max_epochs']).toMatchObject({ kind: 'integer', min: 1, max: 1000, optional: false });
    expect(byName['early_stopping']).toMatchObject({ kind: 'integer', optional: true, default: null });
    expect(byName['learning_rate'].min).toBeGreaterThan(0); // exclusive minimum 0
    expect(fields.slice(0, 3).map(f => f.name)).toEqual([
      'max_epochs',
      'selection_rule',
      'selection_label'
    ]);
    expect(byName['weight_decay'].advanced).toBe(true);
  });

  it('checks ranges, and early stopping against max epochs', () => {
    const values = { ...defaultValues(fields), max_epochs: 3, early_stopping: 5 };
    expect(checkValues(fields, values)).toEqual({
      early_stopping: 'Early Stopping must be from 1 to max epochs (3)'
    });
    expect(checkValues(fields, { ...values, early_stopping: 2, max_epochs: 0 })).toMatchObject({
      max_epochs: 'Max Epochs must be from 1 to 1000',
      early_stopping: 'Early Stopping must be from 1 to max epochs (0)'
    });
    expect(checkValues(fields, { ...defaultValues(fields), selection_rule: 'auc' })).toEqual({
      selection_rule: 'Selection Rule must be one of balanced_accuracy, f1, loss'
    });
    expect(checkValues(fields, { ...defaultValues(fields), max_epochs: null })).toEqual({
      max_epochs: 'Max Epochs is required'
    });
  });

  it('sends only what differs from the defaults', () => {
    const values = { ...defaultValues(fields), max_epochs: '4', selection_label: 'topic' };
    expect(optionsToSend(fields, values)).toEqual({ max_epochs: 4, selection_label: 'topic' });
    expect(optionsToSend(fields, defaultValues(fields))).toEqual({});
  });

  it("places each of the core's option errors beside its field", () => {
    const names = fields.map(f => f.name);
    expect(core.errors.length).toBeGreaterThan(3);
    for (const error of core.errors) {
      expect([error.message, fieldOfError(error.message, names)]).toEqual([
        error.message,
        error.field
      ]);
    }
    expect(
      fieldOfError("model name 'a/b': use 1 to 100 letters", ['name'], { name: ['model name'] })
    ).toBe('name');
    expect(fieldOfError('the store is unavailable', names)).toBeNull();
  });
});

describe('OptionsFields', () => {
  const fields = fieldsFromSchema(core.text_classification);

  it('renders each option with its range and the error beside it', () => {
    const html = renderToStaticMarkup(
      <OptionsFields
        form="new-model"
        fields={fields}
        values={{ ...defaultValues(fields), max_epochs: 3 }}
        errors={{ early_stopping: 'Early Stopping must be from 1 to max epochs (3)' }}
        onChange={() => undefined}
      />
    );
    const epochs = /<input[^>]*id="jp-AutoML-new-model-max_epochs"[^>]*>/.exec(html)?.[0] ?? '';
    expect(epochs).toContain('min="1"');
    expect(epochs).toContain('max="1000"');
    const patience = /<input[^>]*id="jp-AutoML-new-model-early_stopping"[^>]*>/.exec(html)?.[0] ?? '';
    expect(patience).toContain('max="3"'); // follows max epochs
    expect(patience).toContain('aria-invalid="true"');
    expect(patience).toContain('aria-describedby="jp-AutoML-new-model-early_stopping-error"');
    // The error sits in the early-stopping row, right after its input.
    const row = /<div class="jp-AutoML-field" data-field="early_stopping">.*?<\/div>/.exec(html)?.[0];
    expect(row).toContain('Early Stopping must be from 1 to max epochs (3)</span>');
    expect(html).toContain('<option value="topic">topic</option>');
    // An error in a folded option opens the fold.
    const folded = renderToStaticMarkup(
      <OptionsFields
        form="f"
        fields={fields}
        values={defaultValues(fields)}
        errors={{ weight_decay: 'Weight Decay must be from 0 to 1' }}
        onChange={() => undefined}
      />
    );
    expect(folded).toContain('<details open="">');
  });
});
