/**
 * Walking an element's structure: where in it we are (`xs`, `[1]`, `pixels.r`), how a fault there
 * is named, and the small structural tests every part of the walker shares.
 */
import { isNDArray, isTypedArray } from '../types.js';

/** Where in an element a feature sits, for error messages (`xs`, `[1]`, `pixels.r`). */
export const at = (path: string): string => (path ? ` at '${path}'` : '');
export const fieldPath = (path: string, name: string): string => (path ? `${path}.${name}` : name);
export const itemPath = (path: string, k: number): string => `${path}[${k}]`;

/** What a walk needs besides the elements: the operator's name for errors and the dtype choice. */
export interface Walk {
  readonly op: string;
}

/** An element that differs from the batch's first one, named by its index and path. */
export function mismatch(walk: Walk, path: string, index: number, what: string, expected: string): TypeError {
  return new TypeError(`${walk.op}: element #${index}${at(path)} ${what}; the batch's first element has ${expected}`);
}

/** A nested array whose rows differ in length, where a dense tensor was expected. */
export function raggedError(walk: Walk, path: string, index: number): TypeError {
  return new TypeError(`${walk.op}: element #${index}${at(path)} is a ragged nested array (rows of different lengths); use paddedBatch or raggedBatch`);
}

/** What `x` is, in words, for error messages ("an array", "a Float32Array", "string"). */
export function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (isTypedArray(x)) return `a ${x.constructor.name}`;
  if (isNDArray(x)) return 'an NDArray';
  if (typeof x === 'object') return isPlainObject(x) ? 'an object' : `a ${x.constructor?.name ?? 'object'}`;
  // "a number", "a string"; the old messages said "is string", kept as the type's name.
  return typeof x;
}

/** Two shapes are equal, dimension by dimension. */
export const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** Sets `out[key]` as an own data property, also for `__proto__` (which `=` would treat as the prototype). */
export function setOwn(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

/** A struct: an object literal or `Object.create(null)`, not a class instance, array or typed array. */
export function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}
