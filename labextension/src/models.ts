/**
 * TypeScript mirrors of the REST shapes served under `{base_url}automl/api/`.
 *
 * Keep these field for field with the server's models; the server is the
 * source of truth.
 */

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
export interface IDataset {
  id: string;
  name: string;
  model_type: ModelType;
  filename: string;
  rows: number;
  valid_rows: number;
  valid: boolean;
  /** ISO 8601 timestamp. */
  created_at: string;
}

/** Response of `GET datasets`. */
export interface IDatasetList {
  datasets: IDataset[];
}

/** Which side of a train/test split a snapshot is for. */
export type SnapshotRole = 'train' | 'test';

/** An immutable, content-hashed copy of a validated dataset (`GET snapshots`). */
export interface ISnapshot {
  id: string;
  name: string;
  /** Null for the example snapshots shipped with the package. */
  dataset_id: string | null;
  model_type: ModelType;
  content_hash: string;
  rows: number;
  role: SnapshotRole;
  is_example: boolean;
  /** ISO 8601 timestamp. */
  created_at: string;
}

/** Response of `GET snapshots`. */
export interface ISnapshotList {
  snapshots: ISnapshot[];
}

/** The body of every 4xx/5xx answer. */
export interface IErrorBody {
  message: string;
  details?: unknown;
}
