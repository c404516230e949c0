/**
 * Batch → tensors, inside the training sink only: one copy from each typed array
 * (`tf.tensor(data, shape)`), and every tensor made here is disposed by the caller after the step.
 */
import * as tf from '@tensorflow/tfjs';
import { isNDArray, type NDArray } from '../types.js';

/** Features as the pipeline carries them: one array, several (multi-input models), or named ones. */
export type NDInput = NDArray | readonly NDArray[] | { readonly [name: string]: NDArray };

/** Features as a tfjs model takes them. */
export type TensorInput = tf.Tensor | tf.Tensor[] | tf.NamedTensorMap;

/** Which fields of a batch are the model's inputs and labels. */
export interface FieldSelection {
  /** The input field, or fields for a multi-input model. Default `'xs'`. */
  inputs?: string | readonly string[];
  /** The label field, or fields for a multi-output model. Default `'ys'`. */
  labels?: string | readonly string[];
}

/** Field names, or a function that picks `{ xs, ys }` out of a batch. */
export type BatchSelector<B> = FieldSelection | ((batch: B) => { xs: NDInput; ys: NDInput });

/** One tensor from one NDArray: float32 unless the data is int32 (labels for embeddings, indices). */
export function toTensor(nd: NDArray): tf.Tensor {
  if (nd.data instanceof Int32Array) return tf.tensor(nd.data, [...nd.shape], 'int32');
  const data = nd.data instanceof Float32Array ? nd.data : exactFloat32(nd.data);
  return tf.tensor(data, [...nd.shape], 'float32');
}

/** `data` as float32 (tfjs's only float); an integer that float32 cannot hold (a Float64Array's, a Uint32Array's) is an error, not rounded. */
function exactFloat32(data: NDArray['data']): Float32Array {
  const out = Float32Array.from(data);
  for (let i = 0; i < out.length; i++) {
    if (out[i] !== data[i] && Number.isInteger(data[i])) {
      throw new RangeError(`a ${data.constructor.name} holds the integer ${data[i]}, which float32 (the only float dtype of tfjs) cannot hold exactly; scale it, or batch it as int32`);
    }
  }
  return out;
}

function field(batch: unknown, name: string): NDArray {
  const value = (batch as Record<string, unknown> | null)?.[name];
  if (!isNDArray(value)) {
    const have = batch && typeof batch === 'object' ? Object.keys(batch).join(', ') : typeof batch;
    throw new TypeError(`trainOn: batch field '${name}' is not an NDArray (the batch has: ${have}); set inputs/labels or a select function`);
  }
  return value;
}

/** Picks the inputs and labels of a batch, as NDArrays. */
export function selectArrays<B>(batch: B, selector: BatchSelector<B> = {}): { xs: NDInput; ys: NDInput } {
  if (typeof selector === 'function') return selector(batch);
  const pick = (names: string | readonly string[]): NDInput => (typeof names === 'string' ? field(batch, names) : names.map((n) => field(batch, n)));
  return { xs: pick(selector.inputs ?? 'xs'), ys: pick(selector.labels ?? 'ys') };
}

/** Tensors for `input`; push each one made onto `made`, so the caller can dispose them whatever happens. */
export function toTensors(input: NDInput, made: tf.Tensor[]): TensorInput {
  const one = (nd: NDArray): tf.Tensor => {
    const t = toTensor(nd);
    made.push(t);
    return t;
  };
  if (isNDArray(input)) return one(input);
  if (Array.isArray(input)) return (input as readonly NDArray[]).map(one);
  const out: tf.NamedTensorMap = {};
  for (const [name, nd] of Object.entries(input as Record<string, NDArray>)) out[name] = one(nd);
  return out;
}

/** The leading dimension of the first array in `input`. */
export function leadingSize(input: NDInput): number {
  if (isNDArray(input)) return input.shape[0] ?? 0;
  const first = Array.isArray(input) ? (input as readonly NDArray[])[0] : Object.values(input as Record<string, NDArray>)[0];
  return first?.shape[0] ?? 0;
}
