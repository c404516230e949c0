/**
 * Batches back into elements, what `unbatch` does: the batch size (`batchSize`, checked across
 * components) and row `i` as views into the batch's arrays (`unstack`), no copies.
 */
import { isMarkedTuple, isNDArray, isRaggedArray, isTypedArray, markTuple, type NDArray, type TypedArray } from '../types.js';
import { nestedInfo } from './nested.js';
import { fieldPath, isPlainObject, itemPath, setOwn } from './walk.js';

/** A value a batch can hold as a component (rather than as one of a column's values). */
const isComponent = (x: unknown): boolean => Array.isArray(x) || isNDArray(x) || isPlainObject(x) || isTypedArray(x);

/**
 * How `unbatch` reads an array: a numeric (possibly ragged) nested array is a tensor whose rows
 * are its items; an array whose items are all components (NDArrays, arrays, objects) is a tuple;
 * anything else is a column of values (what `batch` makes of strings).
 */
function arrayKind(x: readonly unknown[]): 'tensor' | 'tuple' | 'column' {
  if (isMarkedTuple(x)) return 'tuple';
  if (nestedInfo(x)) return 'tensor';
  return x.length > 0 && x.every(isComponent) ? 'tuple' : 'column';
}

/**
 * The leading (batch) dimension of a batch, checked to agree across its components; undefined when
 * it holds no array. Throws when two components disagree, naming them.
 */
export function batchSize(batch: unknown): number | undefined {
  return sizeAt(batch, '');
}

function sizeAt(batch: unknown, path: string): number | undefined {
  if (isNDArray(batch)) return batch.shape.length > 0 ? batch.shape[0] : undefined;
  if (isTypedArray(batch)) return batch.length;
  if (isRaggedArray(batch)) return batch.rowSplits.length - 1;
  let parts: [string, unknown][];
  if (Array.isArray(batch)) {
    if (arrayKind(batch) !== 'tuple') return batch.length;
    parts = batch.map((b, k) => [itemPath(path, k), b]);
  } else if (isPlainObject(batch)) {
    parts = Object.keys(batch).map((k) => [fieldPath(path, k), batch[k]]);
  } else {
    return undefined;
  }
  let n: number | undefined;
  let where = '';
  for (const [p, part] of parts) {
    const m = sizeAt(part, p);
    if (m === undefined) continue;
    if (n === undefined) [n, where] = [m, p];
    else if (m !== n) throw new RangeError(`unbatch: components disagree on the batch size: '${where}' has ${n} rows, '${p}' has ${m}`);
  }
  return n;
}

/** Row `i` of a tensor `[n, ...rest]`: a number (float32), a rank-0 NDArray (other dtypes), a typed array (rank 1) or an NDArray. */
function row(data: TypedArray, rest: readonly number[], i: number): unknown {
  if (rest.length === 0) return data instanceof Float32Array ? data[i] : ({ data: data.subarray(i, i + 1), shape: [] } satisfies NDArray);
  const size = rest.reduce((a, b) => a * b, 1);
  const view = data.subarray(i * size, (i + 1) * size);
  return rest.length === 1 ? view : ({ data: view, shape: [...rest] } satisfies NDArray);
}

/**
 * Element `i` of a batch: views into the batch's arrays, no copies. Float32 scalars come back as
 * numbers, scalars of other dtypes as rank-0 NDArrays (so `batch` again keeps their dtype), rank-1
 * rows as typed arrays, higher ranks as NDArrays; tuples come back marked with `tuple`.
 */
export function unstack(batch: unknown, i: number): unknown {
  if (isNDArray(batch)) {
    if (batch.shape.length === 0) throw new TypeError('unbatch: a rank-0 NDArray has no rows');
    return row(batch.data, batch.shape.slice(1), i);
  }
  if (isTypedArray(batch)) return row(batch, [], i);
  if (isRaggedArray(batch)) {
    const { values, rowSplits } = batch;
    const rest = values.shape.slice(1);
    const size = rest.reduce((a, b) => a * b, 1);
    const view = values.data.subarray(rowSplits[i] * size, rowSplits[i + 1] * size);
    return rest.length === 0 ? view : ({ data: view, shape: [rowSplits[i + 1] - rowSplits[i], ...rest] } satisfies NDArray);
  }
  if (Array.isArray(batch)) {
    if (arrayKind(batch) === 'tuple') return markTuple(batch.map((b) => unstack(b, i)));
    return batch[i];
  }
  if (isPlainObject(batch)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(batch)) setOwn(out, k, unstack(batch[k], i));
    return out;
  }
  throw new TypeError('unbatch: not a batch (expected an NDArray, an array, or an object of them)');
}
