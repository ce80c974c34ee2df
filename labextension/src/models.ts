/**
 * The API's shapes under the names the panel uses. They are the types that
 * `schema.d.ts` generates from the server's OpenAPI document, never copies.
 */
import type { components } from './schema';

type Schemas = components['schemas'];

/** The kinds of model the platform trains. */
export type ModelType =
  | 'text_classification'
  | 'image_classification'
  | 'llm_text'
  | 'llm_chat';

/** Human-readable names for each model type. */
export const MODEL_TYPE_LABELS: Record<ModelType, string> = {
  text_classification: 'Text classification',
  image_classification: 'Image classification',
  llm_text: 'LLM (text)',
  llm_chat: 'LLM (chat)'
};

/** The label of a model type, falling back to the raw value for unknown ones. */
export function modelTypeLabel(modelType: string): string {
  return MODEL_TYPE_LABELS[modelType as ModelType] ?? modelType;
}

/** A named upload (`GET datasets`). */
export type IDataset = Schemas['DatasetInfo'];

/** An immutable, content-hashed copy of a validated dataset (`GET snapshots`). */
export type ISnapshot = Schemas['SnapshotInfo'];

/** The body of every 4xx/5xx answer. */
export type IErrorBody = Schemas['Error'];

/** A model: what its next version trains on (`GET models`). */
export type IModel = Schemas['ModelInfo'];

/** A training job, one per version (`GET jobs`). */
export type IJob = Schemas['JobInfo'];

/** A deployment of a version (`GET deployments`). */
export type IDeployment = Schemas['DeploymentInfo'];

/** A base model a model can start from (`GET base-models`). */
export type IBaseModel = Schemas['BaseModelInfo'];

/** A key as it is made: the only time the key itself is shown. */
export type INewApiKey = Schemas['NewApiKey'];

/** A dataset with its validation report (the answer of an upload, `GET datasets/{id}`). */
export type IDatasetDetail = Schemas['DatasetDetail'];

/** What validation found in an upload: rows, errors, warnings, heads and token counts. */
export type IValidationReport = Schemas['ValidationReport'];

/** One problem of a file: its row (null for the whole file), column and reason. */
export type IIssue = Schemas['Issue'];

/** Token counts of a dataset's valid rows. */
export type ITokenStats = Schemas['TokenStats'];

/** A snapshot split into a train and a test part. */
export type ISplit = Schemas['SplitInfo'];
