/**
 * Nested JS arrays read as tensors: their shape and leaf kind (`nestedInfo`), and their values
 * written flat into a typed array (`flattenInto`, `asNDArray`).
 */
import { isMarkedTuple, isNDArray, isTypedArray, type DType, type DTypeSpec, type NDArray, type TypedArray } from '../types.js';
import { CTOR_BY_DTYPE, checkStored, leafDType } from './dtype.js';
import { at, describe, raggedError, sameShape, type Walk } from './walk.js';

/** A JS array read as a tensor: its shape, and whether its leaves are booleans. `ragged`: rows differ in length. */
export interface NestedInfo {
  readonly shape: number[];
  readonly bool: boolean;
  readonly ragged: boolean;
}

/**
 * `x` as a nested numeric (or boolean) array, or undefined when it is not one (a tuple): every
 * item a number, or every item a boolean, or every item such an array of the same rank. Items of
 * different lengths at one depth make it ragged. An empty array is a float tensor of shape [0].
 */
export function nestedInfo(x: readonly unknown[]): NestedInfo | undefined {
  if (isMarkedTuple(x)) return undefined;
  const n = x.length;
  if (n === 0) return { shape: [0], bool: false, ragged: false };
  const first = x[0];
  if (typeof first === 'number' || typeof first === 'boolean') {
    const kind = typeof first;
    for (let i = 1; i < n; i++) if (typeof x[i] !== kind) return undefined;
    return { shape: [n], bool: kind === 'boolean', ragged: false };
  }
  if (!Array.isArray(first)) return undefined;
  const inner = nestedInfo(first);
  if (!inner) return undefined;
  let ragged = inner.ragged;
  // Empty rows say nothing about the leaf kind; the first non-empty row decides it.
  let bool = inner.shape.includes(0) ? undefined : inner.bool;
  for (let i = 1; i < n; i++) {
    const item = x[i];
    if (!Array.isArray(item)) return undefined;
    const info = nestedInfo(item);
    if (!info || info.shape.length !== inner.shape.length) return undefined;
    if (!info.shape.includes(0)) {
      if (bool === undefined) bool = info.bool;
      else if (bool !== info.bool) return undefined;
    }
    if (info.ragged || !sameShape(info.shape, inner.shape)) ragged = true;
  }
  return { shape: [n, ...inner.shape], bool: bool ?? false, ragged };
}

/** True for a value `batch` reads as a tensor (or a tensor's scalar). */
export function isTensorLike(x: unknown): boolean {
  if (typeof x === 'number' || typeof x === 'boolean' || isTypedArray(x) || isNDArray(x)) return true;
  return Array.isArray(x) && nestedInfo(x) !== undefined;
}

/** Writes a nested array of `shape` into `out` at `offset`; returns the next offset, or -1 when it is not of that shape and kind. */
export function flattenInto(walk: Walk, x: unknown, shape: readonly number[], depth: number, bool: boolean, out: TypedArray, offset: number, dtype: DType, path: string, index: number): number {
  if (depth === shape.length) {
    if (bool) {
      if (typeof x !== 'boolean') return -1;
      out[offset] = x ? 1 : 0;
      return offset + 1;
    }
    if (typeof x !== 'number') return -1;
    out[offset] = x;
    if (out[offset] !== x) checkStored(walk, x, dtype, path, index);
    return offset + 1;
  }
  if (!Array.isArray(x) || x.length !== shape[depth]) return -1;
  let o = offset;
  for (let k = 0; k < x.length; k++) {
    o = flattenInto(walk, x[k], shape, depth + 1, bool, out, o, dtype, path, index);
    if (o < 0) return -1;
  }
  return o;
}

/** A tensor element as an NDArray: a typed array, an NDArray or a dense nested array (in `dtype`). */
export function asNDArray(walk: Walk, x: unknown, path: string, index: number, dtype: DTypeSpec | undefined): NDArray {
  if (isTypedArray(x)) return { data: x, shape: [x.length] };
  if (isNDArray(x)) return x;
  const info = Array.isArray(x) ? nestedInfo(x) : undefined;
  if (info?.ragged) throw raggedError(walk, path, index);
  if (info) {
    const type = info.bool ? 'uint8' : leafDType(walk, dtype, path);
    const data = new CTOR_BY_DTYPE[type](info.shape.reduce((a, b) => a * b, 1));
    flattenInto(walk, x, info.shape, 0, info.bool, data, 0, type, path, index);
    return { data, shape: info.shape };
  }
  throw new TypeError(`${walk.op}: element #${index}${at(path)} is ${describe(x)}, not a tensor (a typed array, NDArray or nested number array) like the first`);
}
