import * as React from 'react';

import { IField, Values, boundsOf } from './optionsForm';

/** The id of a field's input, and of its error text (for aria-describedby). */
export function inputId(form: string, name: string): string {
  return `jp-AutoML-${form}-${name}`;
}

/** One labelled input, with its error beside it. */
export function FieldRow(props: {
  form: string;
  field: IField;
  values: Values;
  error?: string;
  onChange: (name: string, value: unknown) => void;
}): JSX.Element {
  const { form, field: f, values, error } = props;
  const id = inputId(form, f.name);
  const value = values[f.name];
  const common = {
    id,
    name: f.name,
    'aria-invalid': error ? true : undefined,
    'aria-describedby': error ? `${id}-error` : undefined,
    title: f.description
  };
  let input: JSX.Element;
  if (f.kind === 'choice') {
    input = (
      <select
        {...common}
        className="jp-mod-styled"
        value={value === null || value === undefined ? '' : String(value)}
        onChange={e => props.onChange(f.name, e.target.value || null)}
      >
        {f.optional && <option value="">(default)</option>}
        {f.choices.map(c => (
          <option key={c} value={c}>
            {c}
          </option>
        ))}
      </select>
    );
  } else if (f.kind === 'boolean') {
    input = (
      <input
        {...common}
        type="checkbox"
        checked={Boolean(value)}
        onChange={e => props.onChange(f.name, e.target.checked)}
      />
    );
  } else {
    const numeric = f.kind === 'integer' || f.kind === 'number';
    const { min, max } = boundsOf(f, values);
    input = (
      <input
        {...common}
        className="jp-mod-styled"
        type={numeric ? 'number' : 'text'}
        min={numeric ? min : undefined}
        max={numeric ? max : undefined}
        step={f.kind === 'integer' ? 1 : numeric ? 'any' : undefined}
        placeholder={f.optional ? 'default' : undefined}
        value={value === null || value === undefined ? '' : String(value)}
        onChange={e =>
          props.onChange(
            f.name,
            e.target.value === '' ? null : numeric ? Number(e.target.value) : e.target.value
          )
        }
      />
    );
  }
  return (
    <div className="jp-AutoML-field" data-field={f.name}>
      <label htmlFor={id}>{f.title}</label>
      {input}
      {error && (
        <span id={`${id}-error`} className="jp-AutoML-fieldError" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

function isUnset(value: unknown): boolean {
  return value === null || value === undefined || value === '';
}

/** Every option of the schema; the advanced ones folded away unless one is set. */
export function OptionsFields(props: {
  form: string;
  fields: IField[];
  values: Values;
  errors: Record<string, string>;
  onChange: (name: string, value: unknown) => void;
}): JSX.Element {
  const row = (f: IField) => (
    <FieldRow
      key={f.name}
      form={props.form}
      field={f}
      values={props.values}
      error={props.errors[f.name]}
      onChange={props.onChange}
    />
  );
  const advanced = props.fields.filter(f => f.advanced);
  // Open when an advanced option needs attention or is set away from its default.
  const advancedOpen = advanced.some(
    f => props.errors[f.name] || !isUnset(props.values[f.name]) && props.values[f.name] !== f.default
  );
  return (
    <fieldset className="jp-AutoML-options">
      <legend>Training options</legend>
      {props.fields.filter(f => !f.advanced).map(row)}
      {advanced.length > 0 && (
        <details open={advancedOpen}>
          <summary>Advanced options</summary>
          {advanced.map(row)}
        </details>
      )}
    </fieldset>
  );
}
