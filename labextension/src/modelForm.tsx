import * as React from 'react';

import { call } from './api';
import { FieldRow, OptionsFields } from './optionsFields';
import {
  IField,
  Values,
  checkValues,
  defaultValues,
  fieldOfError,
  fieldsFromSchema,
  optionsToSend
} from './optionsForm';
import { IBaseModel, IJob, IModel, ISnapshot, modelTypeLabel } from './models';

/** The model's own fields, beside the training options. */
const NAME: IField = {
  name: 'name', title: 'Name', description: 'Letters, digits, spaces, ".", "-" or "_"',
  kind: 'text', choices: [], optional: false, default: '', advanced: false
};
const TEST_PERCENT: IField = {
  name: 'test_percent', title: 'Test %', description: 'Training rows held out as test data',
  kind: 'integer', choices: [], min: 1, max: 90, optional: false, default: 20, advanced: false
};
/** How the core's messages name the model's own fields. */
const ALIASES = { name: ['model name', 'a model named'], test_percent: ['test percent'] };

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The test data of a version: a split of the training snapshot, or a test snapshot. */
const SPLIT = '';

/**
 * Create a model and queue its first version or, given `model`, "Update
 * Model": change what the next version trains on (snapshot, base model, test
 * data, options, starting from the model's own) and queue version n+1.
 * Every choice comes from the server: snapshots, the base models of the
 * snapshot's type, and the options with their ranges (GET options-schema for
 * the snapshot and base model). The server's error shows beside the field it
 * names.
 */
export function ModelForm(props: {
  snapshots: ISnapshot[];
  model?: IModel;
  onQueued: (job: IJob) => void;
  onClose: () => void;
}): JSX.Element {
  const { model } = props;
  const form = model ? `update-${model.id}` : 'new-model';
  const train = props.snapshots.filter(
    s => s.role === 'train' && (!model || s.model_type === model.model_type)
  );
  const [snapshotId, setSnapshotId] = React.useState(
    model && train.some(s => s.id === model.train_snapshot_id)
      ? model.train_snapshot_id
      : train[0]?.id ?? ''
  );
  const snapshot = train.find(s => s.id === snapshotId);
  const tests = props.snapshots.filter(
    s => s.role === 'test' && snapshot && s.model_type === snapshot.model_type
  );
  const [testSnapshotId, setTestSnapshotId] = React.useState(model?.test_snapshot_id ?? SPLIT);
  const [bases, setBases] = React.useState<IBaseModel[]>([]);
  const [baseModel, setBaseModel] = React.useState('');
  const [fields, setFields] = React.useState<IField[]>([]);
  const [values, setValues] = React.useState<Values>({
    name: model?.name ?? '',
    test_percent: model?.test_split_percent ?? 20
  });
  // The model's own options fill the first form built; later ones keep what was typed.
  const ownOptions = React.useRef<Values | null>(model ? { ...model.options } : null);
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [formError, setFormError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);

  // The base models of the snapshot's type; the options follow the pair.
  React.useEffect(() => {
    if (!snapshot) {
      return;
    }
    setBaseModel('');
    call('get', '/automl/api/base-models', { query: { model_type: snapshot.model_type } })
      .then(answer => {
        setBases(answer.base_models);
        const own = answer.base_models.find(b => b.name === model?.base_model);
        setBaseModel((own ?? answer.base_models[0])?.name ?? '');
      })
      .catch(error => setFormError(messageOf(error)));
  }, [snapshotId]);

  React.useEffect(() => {
    if (!snapshot || !bases.some(b => b.name === baseModel)) {
      return;
    }
    let current = true; // an answer for an earlier choice must not overwrite a later one
    call('get', '/automl/api/options-schema', {
      query: { snapshot_id: snapshot.id, base_model: baseModel }
    })
      .then(schema => {
        if (!current) {
          return;
        }
        setFormError(null);
        const next = fieldsFromSchema(schema);
        const own = ownOptions.current ?? {};
        ownOptions.current = null;
        setFields(next);
        setValues(previous => ({
          ...defaultValues(next),
          ...Object.fromEntries(next.filter(f => f.name in own).map(f => [f.name, own[f.name]])),
          name: previous['name'],
          test_percent: previous['test_percent']
        }));
      })
      .catch(error => current && setFormError(messageOf(error)));
    return () => {
      current = false;
    };
  }, [snapshotId, baseModel, bases]);

  const change = (name: string, value: unknown) => {
    setValues(previous => ({ ...previous, [name]: value }));
    setErrors(previous => ({ ...previous, [name]: '' }));
  };

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const own = [...(model ? [] : [NAME]), ...(testSnapshotId === SPLIT ? [TEST_PERCENT] : [])];
    const found = checkValues([...own, ...fields], values);
    setErrors(found);
    setFormError(null);
    if (Object.values(found).some(Boolean) || !snapshot) {
      return;
    }
    setBusy(true);
    try {
      const data = {
        snapshot_id: snapshot.id,
        base_model: baseModel,
        ...(testSnapshotId === SPLIT
          ? { test_percent: Number(values['test_percent']) }
          : { test_snapshot_id: testSnapshotId }),
        options: optionsToSend(fields, values)
      };
      const name = model ? model.id : String(values['name']).trim();
      if (model) {
        await call('patch', '/automl/api/models/{model}', { path: { model: name }, body: data });
      } else {
        await call('post', '/automl/api/models', { body: { name, ...data } });
      }
      props.onQueued(await call('post', '/automl/api/models/{model}/train', { path: { model: name } }));
    } catch (error) {
      const message = messageOf(error);
      const field = fieldOfError(message, [...own, ...fields].map(f => f.name), ALIASES);
      if (field) {
        setErrors({ [field]: message });
      } else {
        setFormError(message);
      }
    } finally {
      setBusy(false);
    }
  };

  if (!train.length) {
    return (
      <div className="jp-AutoML-form">
        <p className="jp-AutoML-empty">Freeze a dataset into a training snapshot first.</p>
        <button type="button" className="jp-Button jp-mod-styled" onClick={props.onClose}>
          Close
        </button>
      </div>
    );
  }
  return (
    // noValidate: the form's own messages (the server's wording) instead of the browser's.
    <form
      className="jp-AutoML-form"
      aria-label={model ? `Update ${model.name}` : 'New model'}
      onSubmit={submit}
      noValidate
    >
      {model ? (
        <h3 className="jp-AutoML-formTitle">Update {model.name}: the next version trains with</h3>
      ) : (
        <FieldRow form={form} field={NAME} values={values} error={errors['name']} onChange={change} />
      )}
      <div className="jp-AutoML-field">
        <label htmlFor={`jp-AutoML-${form}-snapshot`}>Training snapshot</label>
        <select
          id={`jp-AutoML-${form}-snapshot`}
          className="jp-mod-styled"
          value={snapshotId}
          onChange={e => setSnapshotId(e.target.value)}
        >
          {train.map(s => (
            <option key={s.id} value={s.id}>
              {s.name} ({modelTypeLabel(s.model_type)}, {s.rows} rows)
            </option>
          ))}
        </select>
      </div>
      <div className="jp-AutoML-field">
        <label htmlFor={`jp-AutoML-${form}-base`}>Base model</label>
        <select
          id={`jp-AutoML-${form}-base`}
          className="jp-mod-styled"
          value={baseModel}
          onChange={e => setBaseModel(e.target.value)}
        >
          {bases.map(b => (
            <option key={b.name} value={b.name}>
              {b.display_name}
            </option>
          ))}
        </select>
      </div>
      <div className="jp-AutoML-field">
        <label htmlFor={`jp-AutoML-${form}-test`}>Test data</label>
        <select
          id={`jp-AutoML-${form}-test`}
          className="jp-mod-styled"
          value={testSnapshotId}
          onChange={e => setTestSnapshotId(e.target.value)}
        >
          <option value={SPLIT}>Split off the training snapshot</option>
          {tests.map(s => (
            <option key={s.id} value={s.id}>
              {s.name} ({s.rows} rows)
            </option>
          ))}
        </select>
      </div>
      {testSnapshotId === SPLIT && (
        <FieldRow
          form={form}
          field={TEST_PERCENT}
          values={values}
          error={errors['test_percent']}
          onChange={change}
        />
      )}
      {fields.length > 0 && (
        <OptionsFields form={form} fields={fields} values={values} errors={errors} onChange={change} />
      )}
      {formError && (
        <div className="jp-AutoML-error" role="alert">
          {formError}
        </div>
      )}
      <div className="jp-AutoML-actions">
        <button type="submit" className="jp-Button jp-mod-styled jp-mod-accept" disabled={busy || !fields.length}>
          {busy ? 'Queuing…' : model ? 'Update Model' : 'Train'}
        </button>
        <button type="button" className="jp-Button jp-mod-styled" onClick={props.onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}
