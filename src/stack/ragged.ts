/**
 * `raggedStack`: tensors that differ in their first dimension → `RaggedArray`s (rows end to end
 * plus row splits, as tf.RaggedTensor), what `raggedBatch` does.
 */
import { isNDArray, isTypedArray, type DTypeSpec, type RaggedArray } from '../types.js';
import { baseCtor } from './dtype.js';
import { asNDArray, nestedInfo } from './nested.js';
import { collect, stackAt, stackObjects, stackTuple, type Recurse, type StackOptions } from './stack.js';
import { isPlainObject, mismatch, sameShape, type Walk } from './walk.js';

/**
 * Stacks elements whose tensors differ in their first dimension: every tensor of rank ≥ 1 becomes
 * a {@link RaggedArray} (rows end to end plus row splits; the other dimensions must agree),
 * scalars and non-numeric values are stacked as by {@link stack}.
 */
export function raggedStack(elements: readonly unknown[], options: StackOptions = {}): unknown {
  if (elements.length === 0) throw new RangeError('raggedStack: no elements');
  return raggedAt({ op: 'raggedBatch' }, elements, '', options.dtype);
}

function raggedAt(walk: Walk, elements: readonly unknown[], path: string, dtype: DTypeSpec | undefined): unknown {
  const first = elements[0];
  if (typeof first === 'number' || typeof first === 'boolean' || (isNDArray(first) && first.shape.length === 0)) return stackAt(walk, elements, path, dtype);
  const recurse: Recurse = (column, _k, p, d) => raggedAt(walk, column, p, d);
  if (isTypedArray(first) || isNDArray(first)) return raggedTensors(walk, elements, path, dtype);
  if (Array.isArray(first)) {
    if (nestedInfo(first)) return raggedTensors(walk, elements, path, dtype);
    return stackTuple(walk, elements, first.length, path, dtype, recurse);
  }
  if (isPlainObject(first)) return stackObjects(walk, elements, first, path, dtype, recurse);
  return collect(walk, elements, first, path);
}

function raggedTensors(walk: Walk, elements: readonly unknown[], path: string, dtype: DTypeSpec | undefined): RaggedArray {
  const arrays = elements.map((e, i) => asNDArray(walk, e, path, i, dtype));
  const first = arrays[0];
  const inner = first.shape.slice(1);
  const Ctor = baseCtor(first.data);
  const rowSplits = new Int32Array(arrays.length + 1);
  for (const [i, a] of arrays.entries()) {
    if (a.shape.length === 0 || !sameShape(a.shape.slice(1), inner)) {
      throw mismatch(walk, path, i, `has shape [${a.shape.join(', ')}]`, `shape [*, ${inner.join(', ')}] (only the first dimension may vary)`);
    }
    if (baseCtor(a.data) !== Ctor) throw mismatch(walk, path, i, `is a ${a.data.constructor.name}`, `a ${Ctor.name}`);
    rowSplits[i + 1] = rowSplits[i] + a.shape[0];
  }
  const rowSize = inner.reduce((a, b) => a * b, 1);
  const data = new Ctor(rowSplits[arrays.length] * rowSize);
  for (const [i, a] of arrays.entries()) data.set(a.data, rowSplits[i] * rowSize);
  return { values: { data, shape: [rowSplits[arrays.length], ...inner] }, rowSplits };
}
