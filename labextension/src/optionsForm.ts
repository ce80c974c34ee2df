/**
 * Training options as form fields, read from the JSON Schema the server
 * serves (`GET automl/api/options-schema`), so the sidebar repeats none of the
 * core's rules: which options apply, their ranges, choices and defaults all
 * come from the server. The one rule between two fields, early stopping at
 * most max epochs, is kept while typing; the server checks it again.
 */
import type { components } from './schema';

export type OptionsSchema = components['schemas']['OptionsSchema'];

/** Options shown first, in this order; the rest go under "Advanced". */
export const MAIN_OPTIONS = [
  'max_epochs',
  'selection_rule',
  'selection_label',
  'early_stopping',
  'max_invalid_row_percent',
  'max_tokens',
  'method'
];

export type FieldKind = 'integer' | 'number' | 'boolean' | 'choice' | 'text';

/** One option as a form shows it. */
export interface IField {
  name: string;
  title: string;
  description: string;
  kind: FieldKind;
  choices: string[];
  /** Inclusive bounds (an exclusive bound of the schema is moved inside). */
  min?: number;
  max?: number;
  /** The option may be left unset: the server then picks its default. */
  optional: boolean;
  default: unknown;
  advanced: boolean;
}

/** A value per option name; null (or absent) means unset. */
export type Values = Record<string, unknown>;

interface IPropertySchema {
  type?: string;
  enum?: unknown[];
  anyOf?: IPropertySchema[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  title?: string;
  description?: string;
  default?: unknown;
}

/** The smallest step past an exclusive bound of a number. */
const TINY = 1e-12;

function field(name: string, raw: IPropertySchema): IField {
  let spec = raw;
  let optional = false;
  if (raw.anyOf) {
    const branches = raw.anyOf.filter(b => b.type !== 'null');
    optional = branches.length < raw.anyOf.length;
    spec = { ...raw, ...branches[0] };
  }
  const integer = spec.type === 'integer';
  let kind: FieldKind = 'text';
  if (spec.enum) {
    kind = 'choice';
  } else if (spec.type === 'boolean') {
    kind = 'boolean';
  } else if (integer || spec.type === 'number') {
    kind = integer ? 'integer' : 'number';
  }
  const step = integer ? 1 : TINY;
  const min =
    spec.minimum ??
    (spec.exclusiveMinimum !== undefined ? spec.exclusiveMinimum + step : undefined);
  const max =
    spec.maximum ??
    (spec.exclusiveMaximum !== undefined ? spec.exclusiveMaximum - step : undefined);
  return {
    name,
    title: spec.title ?? name,
    description: spec.description ?? '',
    kind,
    choices: (spec.enum ?? []).map(String),
    min,
    max,
    optional: optional || spec.default === undefined || spec.default === null,
    default: spec.default ?? null,
    advanced: !MAIN_OPTIONS.includes(name)
  };
}

/** The fields of a schema: the main options first, in MAIN_OPTIONS order. */
export function fieldsFromSchema(schema: OptionsSchema): IField[] {
  const all = Object.entries(schema.properties).map(([name, spec]) =>
    field(name, spec as IPropertySchema)
  );
  const rank = (f: IField) =>
    f.advanced ? MAIN_OPTIONS.length : MAIN_OPTIONS.indexOf(f.name);
  return all
    .map((f, i) => ({ f, i }))
    .sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i)
    .map(({ f }) => f);
}

/** Each field's default, as a new form starts. */
export function defaultValues(fields: IField[]): Values {
  return Object.fromEntries(fields.map(f => [f.name, f.default]));
}

/** The bounds a field has now: early stopping may not pass max epochs. */
export function boundsOf(
  f: IField,
  values: Values
): { min?: number; max?: number } {
  if (f.name === 'early_stopping' && typeof values['max_epochs'] === 'number') {
    const epochs = values['max_epochs'] as number;
    return { min: f.min, max: f.max === undefined ? epochs : Math.min(f.max, epochs) };
  }
  return { min: f.min, max: f.max };
}

/**
 * What is wrong with the values, by field (empty when nothing is): a number
 * out of its range, a choice not offered, a required field left empty.
 */
export function checkValues(fields: IField[], values: Values): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const f of fields) {
    const value = values[f.name];
    if (value === null || value === undefined || value === '') {
      if (!f.optional) {
        errors[f.name] = `${f.title} is required`;
      }
      continue;
    }
    if (f.kind === 'integer' || f.kind === 'number') {
      const number = Number(value);
      if (!Number.isFinite(number) || (f.kind === 'integer' && !Number.isInteger(number))) {
        errors[f.name] = `${f.title} must be ${f.kind === 'integer' ? 'a whole number' : 'a number'}`;
        continue;
      }
      const { min, max } = boundsOf(f, values);
      if ((min !== undefined && number < min) || (max !== undefined && number > max)) {
        const range =
          f.name === 'early_stopping' && max !== f.max
            ? `from ${min} to max epochs (${max})`
            : `from ${min ?? '-∞'} to ${max ?? '∞'}`;
        errors[f.name] = `${f.title} must be ${range}`;
      }
    } else if (f.kind === 'choice' && !f.choices.includes(String(value))) {
      errors[f.name] = `${f.title} must be one of ${f.choices.join(', ')}`;
    }
  }
  return errors;
}

/** The options to send: each value that is set and differs from its default. */
export function optionsToSend(fields: IField[], values: Values): Values {
  const out: Values = {};
  for (const f of fields) {
    let value = values[f.name];
    if (value === null || value === undefined || value === '') {
      continue;
    }
    if (f.kind === 'integer' || f.kind === 'number') {
      value = Number(value);
    }
    if (value !== f.default) {
      out[f.name] = value;
    }
  }
  return out;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The field a server error names, so the form shows it there: the message
 * starts with the option's name ("early_stopping: must be ...") or lists it
 * after "invalid training options:", or uses one of the field's `aliases`
 * ("model name 'x': ..." for the name field). The earliest mention wins;
 * null when the message names no field of the form.
 */
export function fieldOfError(
  message: string,
  names: string[],
  aliases: Record<string, string[]> = {}
): string | null {
  const text = message.replace(/^invalid training options:\s*/, '');
  let best: { name: string; at: number } | null = null;
  for (const name of names) {
    for (const word of [name, ...(aliases[name] ?? [])]) {
      const match = new RegExp(`(^|[\\s'"(])${escape(word)}(?=[:\\s'")]|$)`).exec(text);
      if (match && (best === null || match.index < best.at)) {
        best = { name, at: match.index };
      }
    }
  }
  return best?.name ?? null;
}
