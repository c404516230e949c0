/**
 * Shared by the columnar file readers (Parquet, Arrow): a decoded column as an NDArray where its
 * values allow it, rows out of columns, and the `where` predicate (row-group pruning and row filter).
 */
import type { NDArray, TypedArray } from '../../src/types.js';

/** Row objects handed to the pipeline per hand-off (a row group or record batch is cut into slices of this many). */
export const ROWS_PER_BATCH = 1024;

/** Element type of a numeric column: keeps float32 as float32 and int32 as int32; int64 becomes float64. */
export type NumericKind = 'float32' | 'float64' | 'int32' | 'uint8';

/** One batch of rows as columns: numeric columns (and fixed-length numeric lists) as NDArrays, the rest as arrays of values. */
export type ColumnBatch = Record<string, NDArray | unknown[]>;

const makers: Record<NumericKind, (n: number) => TypedArray> = {
  float32: (n) => new Float32Array(n),
  float64: (n) => new Float64Array(n),
  int32: (n) => new Int32Array(n),
  uint8: (n) => new Uint8Array(n),
};

/** Converts bigint (INT64) values to numbers, inside lists and structs too (precise up to 2^53). */
export function int64ToNumber(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(int64ToNumber);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = int64ToNumber(v);
    return out;
  }
  return value;
}

/**
 * A column as an NDArray when every value is a number (shape `[n]`), a boolean (Uint8Array), or a
 * list of numbers of one common length `L` (shape `[n, L]`); otherwise (nulls, strings, structs,
 * ragged lists) the plain array. `kind` picks the typed array for numbers (default float64).
 */
export function toColumn(values: ArrayLike<unknown>, kind: NumericKind = 'float64'): NDArray | unknown[] {
  const n = values.length;
  if (ArrayBuffer.isView(values)) {
    if (values instanceof BigInt64Array || values instanceof BigUint64Array) return { data: Float64Array.from(values, Number), shape: [n] };
    return { data: values as unknown as TypedArray, shape: [n] };
  }
  const list = values as readonly unknown[];
  if (n === 0) return { data: makers[kind](0), shape: [0] };
  const first = list[0];
  if (typeof first === 'number' || typeof first === 'bigint') {
    const data = makers[kind](n);
    for (let i = 0; i < n; i++) {
      const v = list[i];
      if (typeof v === 'number') data[i] = v;
      else if (typeof v === 'bigint') data[i] = Number(v);
      else return Array.from(list);
    }
    return { data, shape: [n] };
  }
  if (typeof first === 'boolean') {
    const data = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const v = list[i];
      if (typeof v !== 'boolean') return Array.from(list);
      data[i] = v ? 1 : 0;
    }
    return { data, shape: [n] };
  }
  if (isNumberList(first)) {
    const width = first.length;
    const data = makers[kind](n * width);
    for (let i = 0; i < n; i++) {
      const row = list[i];
      if (!isNumberList(row) || row.length !== width) return Array.from(list);
      for (let j = 0; j < width; j++) {
        const v = row[j];
        if (typeof v === 'number') data[i * width + j] = v;
        else if (typeof v === 'bigint') data[i * width + j] = Number(v);
        else return Array.from(list);
      }
    }
    return { data, shape: [n, width] };
  }
  return Array.from(list);
}

function isNumberList(x: unknown): x is ArrayLike<unknown> {
  if (ArrayBuffer.isView(x)) return !(x instanceof DataView);
  return Array.isArray(x) && (x.length === 0 || typeof x[0] === 'number' || typeof x[0] === 'bigint');
}

// ---------------------------------------------------------------------------------------------
// Predicates

/** A value a predicate compares with. */
export type Comparable = number | bigint | string | boolean | Date;

/** Conditions on one column, all of which must hold. A null value satisfies none of them. */
export interface ColumnCondition {
  readonly eq?: Comparable;
  readonly gt?: Comparable;
  readonly gte?: Comparable;
  readonly lt?: Comparable;
  readonly lte?: Comparable;
  readonly in?: readonly Comparable[];
}

/** Column name → conditions; a row must satisfy all of them. */
export type WhereConditions = Readonly<Record<string, ColumnCondition>>;

/** Statistics of one column in one row group (from the file footer), as far as the writer recorded them. */
export interface ColumnStats {
  readonly min?: Comparable;
  readonly max?: Comparable;
  readonly nullCount?: number;
}

/** One row group as a `where` function sees it, before any of its data is read. */
export interface RowGroupStats {
  /** Index of the row group in its file. */
  readonly index: number;
  readonly rows: number;
  /** Statistics of the top-level primitive columns that have them. */
  readonly columns: Readonly<Record<string, ColumnStats>>;
}

/** Comparable form: bigint → number when the other side is a number, Date → ms. */
function norm(v: Comparable, other: Comparable): number | bigint | string | boolean {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'bigint' && (typeof other === 'number' || other instanceof Date)) return Number(v);
  return v;
}
function cmp(a: Comparable, b: Comparable): number {
  const x = norm(a, b);
  const y = norm(b, a);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Whether a row group can hold a matching row, judged from its min/max (true when unknown). */
export function groupMayMatch(where: WhereConditions, stats: RowGroupStats): boolean {
  for (const [column, c] of Object.entries(where)) {
    const s = stats.columns[column];
    if (!s || s.min === undefined || s.max === undefined) continue;
    const { min, max } = s;
    if (c.eq !== undefined && (cmp(c.eq, min) < 0 || cmp(c.eq, max) > 0)) return false;
    if (c.gt !== undefined && cmp(max, c.gt) <= 0) return false;
    if (c.gte !== undefined && cmp(max, c.gte) < 0) return false;
    if (c.lt !== undefined && cmp(min, c.lt) >= 0) return false;
    if (c.lte !== undefined && cmp(min, c.lte) > 0) return false;
    if (c.in !== undefined && c.in.every((v) => cmp(v, min) < 0 || cmp(v, max) > 0)) return false;
  }
  return true;
}

/** Whether one value satisfies a condition. */
export function valueMatches(value: unknown, c: ColumnCondition): boolean {
  if (value === null || value === undefined) return false;
  if (!(typeof value === 'number' || typeof value === 'bigint' || typeof value === 'string' || typeof value === 'boolean' || value instanceof Date)) return false;
  if (c.eq !== undefined && cmp(value, c.eq) !== 0) return false;
  if (c.gt !== undefined && cmp(value, c.gt) <= 0) return false;
  if (c.gte !== undefined && cmp(value, c.gte) < 0) return false;
  if (c.lt !== undefined && cmp(value, c.lt) >= 0) return false;
  if (c.lte !== undefined && cmp(value, c.lte) > 0) return false;
  if (c.in !== undefined && !c.in.some((v) => cmp(value, v) === 0)) return false;
  return true;
}

/** Indices of the rows (of `n`) whose columns satisfy `where`; `undefined` when all do. */
export function matchingRows(where: WhereConditions, columns: Readonly<Record<string, ArrayLike<unknown>>>, n: number): number[] | undefined {
  const entries = Object.entries(where);
  if (entries.length === 0) return undefined;
  const keep: number[] = [];
  for (let i = 0; i < n; i++) {
    let ok = true;
    for (const [column, c] of entries) {
      if (!valueMatches(columns[column]?.[i], c)) {
        ok = false;
        break;
      }
    }
    if (ok) keep.push(i);
  }
  return keep.length === n ? undefined : keep;
}

/** The rows `keep` of a column (a typed array stays typed). */
export function pick<A extends ArrayLike<unknown>>(values: A, keep: readonly number[]): A {
  if (ArrayBuffer.isView(values)) {
    const typed = values as unknown as TypedArray;
    const out = new (typed.constructor as new (n: number) => TypedArray)(keep.length);
    for (let i = 0; i < keep.length; i++) out[i] = typed[keep[i]];
    return out as unknown as A;
  }
  return keep.map((i) => (values as ArrayLike<unknown>)[i]) as unknown as A;
}

/** Rows `[from, to)` of the columns as objects. */
export function rowsOf(names: readonly string[], columns: readonly ArrayLike<unknown>[], from: number, to: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = new Array(Math.max(0, to - from));
  for (let i = from; i < to; i++) {
    const row: Record<string, unknown> = {};
    for (let k = 0; k < names.length; k++) row[names[k]] = columns[k][i];
    out[i - from] = row;
  }
  return out;
}
