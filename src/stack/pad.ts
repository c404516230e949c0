/**
 * `padStack`: variable-shaped tensors → one batch padded to the longest (or to fixed shapes),
 * what `paddedBatch` and `bucketBySequenceLength` do (tf.data's `padded_batch`).
 */
import { isNDArray, isTypedArray, type DTypeSpec, type NDArray, type TypedArray } from '../types.js';
import { baseCtor } from './dtype.js';
import { asNDArray, nestedInfo } from './nested.js';
import { collect, stackAt, stackObjects, stackTuple, type Recurse } from './stack.js';
import { at, isPlainObject, mismatch, raggedError, type Walk } from './walk.js';

/**
 * Padded shapes with the element's structure: a shape (`[null, 5]`: `null` or -1 pads that
 * dimension to the longest in the batch) for a tensor, an array of them for a tuple, an object of
 * them for an object.
 */
export type PaddedShapes = readonly (number | null)[] | readonly PaddedShapes[] | { readonly [field: string]: PaddedShapes };

/** Pad values with the element's structure: one number for everything below, or one per component. */
export type PadValues = number | readonly PadValues[] | { readonly [field: string]: PadValues };

export interface PadOptions {
  /** The value padding is filled with: one number, or per component (tf.data's `padding_values`). Default 0. */
  padValue?: PadValues;
  /** Padded shapes per component (tf.data's `padded_shapes`). Default: the longest in the batch, every dimension. */
  shapes?: PaddedShapes;
  /** The dtype for plain JS numbers. Default float32. */
  dtype?: DTypeSpec;
}

/**
 * Stacks variable-shaped tensors, padding each dimension to the longest in the batch (or to a fixed
 * size from `shapes`) with `padValue`, over the same structures as {@link stack}. Scalars and
 * non-numeric values are stacked as by {@link stack}.
 */
export function padStack(elements: readonly unknown[], options: PadOptions = {}): unknown {
  if (elements.length === 0) throw new RangeError('padStack: no elements');
  return padAt({ op: 'paddedBatch' }, elements, '', options.padValue ?? 0, options.shapes, options.dtype);
}

const isShape = (s: unknown): s is readonly (number | null)[] => Array.isArray(s) && s.every((d) => d === null || typeof d === 'number');

function subShapes(walk: Walk, shapes: PaddedShapes | undefined, key: string | number, path: string): PaddedShapes | undefined {
  if (shapes === undefined) return undefined;
  if (typeof key === 'number') {
    if (!Array.isArray(shapes) || (isShape(shapes) && shapes.length > 0)) throw new TypeError(`${walk.op}: shapes${at(path)} should be a tuple of shapes, one per item`);
    return (shapes as readonly PaddedShapes[])[key];
  }
  if (Array.isArray(shapes)) throw new TypeError(`${walk.op}: shapes${at(path)} should be an object of shapes, one per field`);
  return Object.hasOwn(shapes, key) ? (shapes as Record<string, PaddedShapes>)[key] : undefined;
}

function subPad(walk: Walk, pad: PadValues, key: string | number, path: string): PadValues {
  if (typeof pad === 'number') return pad;
  if (typeof key === 'number') {
    if (!Array.isArray(pad)) throw new TypeError(`${walk.op}: padValue${at(path)} should be a number or an array, one per item`);
    return (pad as readonly PadValues[])[key] ?? 0;
  }
  if (Array.isArray(pad)) throw new TypeError(`${walk.op}: padValue${at(path)} should be a number or an object, one per field`);
  return Object.hasOwn(pad, key) ? (pad as Record<string, PadValues>)[key] : 0;
}

function padAt(walk: Walk, elements: readonly unknown[], path: string, pad: PadValues, shapes: PaddedShapes | undefined, dtype: DTypeSpec | undefined): unknown {
  const first = elements[0];
  if (typeof first === 'number' || typeof first === 'boolean') return stackAt(walk, elements, path, dtype);
  if (isTypedArray(first) || isNDArray(first)) return padTensors(walk, elements, path, pad, shapes, dtype);
  const recurse: Recurse = (column, key, p, d) => padAt(walk, column, p, subPad(walk, pad, key, path), subShapes(walk, shapes, key, path), d);
  if (Array.isArray(first)) {
    const info = nestedInfo(first);
    if (info?.ragged) throw raggedError(walk, path, 0);
    if (info) return padTensors(walk, elements, path, pad, shapes, dtype);
    return stackTuple(walk, elements, first.length, path, dtype, recurse);
  }
  if (isPlainObject(first)) {
    return stackObjects(walk, elements, first, path, dtype, recurse);
  }
  return collect(walk, elements, first, path);
}

function padTensors(walk: Walk, elements: readonly unknown[], path: string, pad: PadValues, shapes: PaddedShapes | undefined, dtype: DTypeSpec | undefined): NDArray {
  if (typeof pad !== 'number') throw new TypeError(`${walk.op}: padValue${at(path)} should be a number (the value there is a tensor)`);
  if (shapes !== undefined && !isShape(shapes)) throw new TypeError(`${walk.op}: shapes${at(path)} should be a shape like [null, 5] (the value there is a tensor)`);
  const arrays = elements.map((e, i) => asNDArray(walk, e, path, i, dtype));
  const rank = arrays[0].shape.length;
  const Ctor = baseCtor(arrays[0].data);
  const target = new Array<number>(rank).fill(0);
  for (const [i, a] of arrays.entries()) {
    if (a.shape.length !== rank) throw mismatch(walk, path, i, `has rank ${a.shape.length}`, `rank ${rank}`);
    if (baseCtor(a.data) !== Ctor) throw mismatch(walk, path, i, `is a ${a.data.constructor.name}`, `a ${Ctor.name}`);
    for (let d = 0; d < rank; d++) target[d] = Math.max(target[d], a.shape[d]);
  }
  if (shapes) {
    if (shapes.length !== rank) throw new RangeError(`${walk.op}: the padded shape${at(path)} [${shapes.join(', ')}] has rank ${shapes.length}, the values have rank ${rank}`);
    for (let d = 0; d < rank; d++) {
      const want = shapes[d];
      if (want === null || want < 0) continue;
      if (target[d] > want) throw new RangeError(`${walk.op}: a value${at(path)} has length ${target[d]} in dimension ${d}, over the padded shape's ${want}`);
      target[d] = want;
    }
  }
  const size = target.reduce((a, b) => a * b, 1);
  const out = new Ctor(arrays.length * size);
  if (pad !== 0) {
    out.fill(pad);
    if (out.length > 0 && out[0] !== pad) throw new RangeError(`${walk.op}: padValue ${pad}${at(path)} does not fit the values' ${Ctor.name}`);
  }
  // Row-major strides of the padded target; copy each element's innermost runs into place.
  const strides = target.map((_, d) => target.slice(d + 1).reduce((a, b) => a * b, 1));
  for (const [i, a] of arrays.entries()) copyPadded(a, out, i * size, strides);
  return { data: out, shape: [arrays.length, ...target] };
}

function copyPadded(src: NDArray, out: TypedArray, base: number, strides: number[]): void {
  const { shape, data } = src;
  const rank = shape.length;
  if (rank === 0) {
    out[base] = data[0];
    return;
  }
  const inner = shape[rank - 1];
  if (inner === 0) return;
  const rows = data.length / inner;
  const index = new Array<number>(rank - 1).fill(0);
  for (let r = 0; r < rows; r++) {
    let offset = base;
    for (let d = 0; d < rank - 1; d++) offset += index[d] * strides[d];
    out.set(data.subarray(r * inner, (r + 1) * inner), offset);
    for (let d = rank - 2; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
}
