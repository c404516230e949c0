/**
 * The BigQuery → JavaScript type mapping, one for both read paths: REST rows of a query
 * (`{ f: [{ v }] }` JSON) and Arrow record batches of the Storage Read API.
 *
 * | BigQuery                  | record value                      | column batch (`output: 'columns'`)      |
 * |---------------------------|-----------------------------------|-----------------------------------------|
 * | INT64                     | number (error past ±2^53)         | NDArray<Float64Array> [n], null → NaN   |
 * | FLOAT64                   | number                            | NDArray<Float64Array> [n], null → NaN   |
 * | NUMERIC, BIGNUMERIC       | number (nearest double)           | NDArray<Float64Array> [n], null → NaN   |
 * | BOOL                      | boolean                           | NDArray<Uint8Array> [n], null → 0       |
 * | TIMESTAMP                 | number: ms since epoch (µs frac.) | NDArray<Float64Array> [n], null → NaN   |
 * | STRING, JSON, GEOGRAPHY   | string                            | string[]                                |
 * | BYTES                     | Uint8Array                        | Uint8Array[]                            |
 * | DATE                      | string 'YYYY-MM-DD'               | string[]                                |
 * | DATETIME                  | string 'YYYY-MM-DDTHH:MM:SS[.ffffff]' | string[]                            |
 * | TIME                      | string 'HH:MM:SS[.ffffff]'        | string[]                                |
 * | REPEATED x                | array of x's values               | array of arrays                         |
 * | RECORD / STRUCT           | object of its fields' values      | array of objects                        |
 * | NULL (NULLABLE column)    | null                              | as noted above                          |
 */
import * as arrow from 'apache-arrow';
import { RecordError } from '../../src/errors.js';
import type { NDArray } from '../../src/types.js';

/** A value of a row as this connector hands it out (see the mapping above). */
export type BigQueryValue =
  | number
  | boolean
  | string
  | Uint8Array
  | null
  | readonly BigQueryValue[]
  | { readonly [field: string]: BigQueryValue };

/** One row: column name → value. */
export type BigQueryRow = Record<string, BigQueryValue>;

/** One Arrow record batch as columns: numeric columns as NDArrays, the others as arrays of values. */
export type BigQueryColumns = Record<string, NDArray<Float64Array> | NDArray<Uint8Array> | BigQueryValue[]>;

/** A field of a BigQuery table schema (REST `TableFieldSchema`). */
export interface BigQueryField {
  name: string;
  type: string;
  mode?: 'NULLABLE' | 'REQUIRED' | 'REPEATED' | string;
  fields?: BigQueryField[];
}

/** Where a value sits, for errors: `table t stream 2 row 17 column "n"`. */
type Where = () => string;

function unsafe(value: string | bigint, type: string, where: Where): RecordError {
  const message = `value ${String(value)} does not fit ${type} (beyond ±2^53, the exact range of a JavaScript number)`;
  return new RecordError(message, where());
}

/** Days since the epoch → 'YYYY-MM-DD'. */
const isoDate = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** Microseconds since the epoch (bigint) → ms as a number, keeping the µs as a fraction. */
const microsToMs = (us: bigint): number => Number(us / 1000n) + Number(us % 1000n) / 1000;

// ---------------------------------------------------------------------------------------------
// REST (query results)

type RestCell = { v?: unknown } | null | undefined;

/** Parses one REST value of `field` (the `v` of a cell); `where` names it in errors. */
export function parseRestValue(field: BigQueryField, v: unknown, where: Where): BigQueryValue {
  if (field.mode === 'REPEATED') {
    if (v === null || v === undefined) return [];
    if (!Array.isArray(v)) throw new RecordError(`value does not fit REPEATED ${field.type}: not an array`, where());
    const element: BigQueryField = { ...field, mode: 'NULLABLE' };
    return v.map((cell: RestCell, i) => parseRestValue(element, cell?.v, () => `${where()}[${i}]`));
  }
  if (v === null || v === undefined) return null;
  const type = field.type.toUpperCase();
  if (type === 'RECORD' || type === 'STRUCT') {
    const cells = (v as { f?: RestCell[] }).f;
    if (!Array.isArray(cells)) throw new RecordError(`value does not fit RECORD: no fields`, where());
    const out: Record<string, BigQueryValue> = {};
    (field.fields ?? []).forEach((sub, i) => {
      out[sub.name] = parseRestValue(sub, cells[i]?.v, () => `${where()}.${sub.name}`);
    });
    return out;
  }
  if (typeof v !== 'string') throw new RecordError(`value ${JSON.stringify(v)} does not fit ${type}`, where());
  switch (type) {
    case 'INT64':
    case 'INTEGER': {
      if (!/^-?\d+$/.test(v)) throw new RecordError(`value "${v}" does not fit INT64`, where());
      const n = Number(v);
      if (!Number.isSafeInteger(n)) throw unsafe(v, 'INT64', where);
      return n;
    }
    case 'FLOAT64':
    case 'FLOAT':
    case 'NUMERIC':
    case 'BIGNUMERIC':
    case 'DECIMAL':
    case 'BIGDECIMAL': {
      const n = Number(v);
      if (Number.isNaN(n) && v !== 'NaN') throw new RecordError(`value "${v}" does not fit ${type}`, where());
      return n;
    }
    case 'BOOL':
    case 'BOOLEAN':
      if (v === 'true') return true;
      if (v === 'false') return false;
      throw new RecordError(`value "${v}" does not fit BOOL`, where());
    case 'TIMESTAMP': {
      // The client asks for formatOptions.useInt64Timestamp: µs since the epoch as an integer.
      if (/^-?\d+$/.test(v)) return microsToMs(BigInt(v));
      // Older servers answer seconds as a float ("1.7e9").
      const seconds = Number(v);
      if (Number.isNaN(seconds)) throw new RecordError(`value "${v}" does not fit TIMESTAMP`, where());
      return seconds * 1000;
    }
    case 'BYTES':
      return new Uint8Array(Buffer.from(v, 'base64'));
    case 'DATE':
      if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) throw new RecordError(`value "${v}" does not fit DATE`, where());
      return v;
    default:
      // STRING, JSON, GEOGRAPHY, DATETIME, TIME, INTERVAL: text as BigQuery writes it.
      return v;
  }
}

/** Converts the REST rows of one page (`{ f: [{ v }] }`) into records. */
export function parseRestRow(
  fields: readonly BigQueryField[],
  row: { f?: RestCell[] },
  where: (column: string) => string,
): BigQueryRow {
  const out: BigQueryRow = {};
  const cells = row.f ?? [];
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i];
    out[field.name] = parseRestValue(field, cells[i]?.v, () => where(field.name));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Arrow (Storage Read API)

/** Converts the value at `index` of an Arrow vector into its record value. */
function arrowValue(vector: arrow.Vector, index: number, where: Where): BigQueryValue {
  const type = vector.type as arrow.DataType;
  if (arrow.DataType.isList(type)) {
    const list = vector.get(index) as arrow.Vector | null;
    if (list === null) return [];
    const out: BigQueryValue[] = new Array(list.length);
    for (let i = 0; i < list.length; i++) out[i] = arrowValue(list, i, () => `${where()}[${i}]`);
    return out;
  }
  if (!vector.isValid(index)) return null;
  if (arrow.DataType.isStruct(type)) {
    const out: Record<string, BigQueryValue> = {};
    for (const [k, field] of type.children.entries()) {
      const child = (vector as arrow.Vector<arrow.Struct>).getChildAt(k)!;
      out[field.name] = arrowValue(child, index, () => `${where()}.${field.name}`);
    }
    return out;
  }
  if (arrow.DataType.isInt(type)) {
    const v = vector.get(index) as number | bigint;
    if (typeof v === 'bigint') {
      const n = Number(v);
      if (!Number.isSafeInteger(n)) throw unsafe(v, 'INT64', where);
      return n;
    }
    return v;
  }
  if (arrow.DataType.isDecimal(type)) {
    return arrow.util.bigNumToNumber(vector.get(index) as never, type.scale);
  }
  if (arrow.DataType.isTimestamp(type)) {
    const us = timestampMicros(vector, index, type);
    // BigQuery TIMESTAMP carries a time zone (UTC); a zoneless timestamp is a DATETIME.
    return type.timezone ? microsToMs(us) : datetimeString(us);
  }
  if (arrow.DataType.isDate(type)) return isoDate(vector.get(index) as number);
  if (arrow.DataType.isTime(type)) {
    const v = vector.get(index) as number | bigint;
    return timeString(BigInt(v), type.unit);
  }
  if (arrow.DataType.isBinary(type) || arrow.DataType.isFixedSizeBinary(type)) {
    // A copy: a view would keep the whole record batch's buffer alive.
    return (vector.get(index) as Uint8Array).slice();
  }
  return vector.get(index) as BigQueryValue;
}

/** Raw timestamp value in µs, from whatever unit the schema declares. */
function timestampMicros(vector: arrow.Vector, index: number, type: arrow.Timestamp): bigint {
  const data = vector.data.length === 1 ? vector.data[0] : undefined;
  let raw: bigint;
  if (data && data.values instanceof BigInt64Array) {
    raw = data.values[index];
  } else {
    // Several chunks (not produced by BigQuery): the ms value is exact enough.
    return BigInt(Math.round((vector.get(index) as number) * 1000));
  }
  switch (type.unit) {
    case arrow.TimeUnit.SECOND:
      return raw * 1_000_000n;
    case arrow.TimeUnit.MILLISECOND:
      return raw * 1000n;
    case arrow.TimeUnit.NANOSECOND:
      return raw / 1000n;
    default:
      return raw;
  }
}

function fractionOf(us: bigint): string {
  return us === 0n ? '' : `.${String(us).padStart(6, '0')}`;
}

function datetimeString(us: bigint): string {
  const ms = Number(us / 1000n);
  const micros = ((us % 1_000_000n) + 1_000_000n) % 1_000_000n;
  return new Date(ms).toISOString().slice(0, 19) + fractionOf(micros);
}

function timeString(value: bigint, unit: arrow.TimeUnit): string {
  const us =
    unit === arrow.TimeUnit.NANOSECOND
      ? value / 1000n
      : unit === arrow.TimeUnit.MILLISECOND
        ? value * 1000n
        : unit === arrow.TimeUnit.SECOND
          ? value * 1_000_000n
          : value;
  const seconds = Number(us / 1_000_000n);
  const hh = String(Math.floor(seconds / 3600)).padStart(2, '0');
  const mm = String(Math.floor((seconds % 3600) / 60)).padStart(2, '0');
  const ss = String(seconds % 60).padStart(2, '0');
  return `${hh}:${mm}:${ss}${fractionOf(us % 1_000_000n)}`;
}

/** Where a row of a record batch sits, for errors: the caller knows the stream and its offset. */
export type RowWhere = (row: number, column: string) => string;

/** Decodes an Arrow record batch into records. */
export function arrowRows(
  batch: arrow.RecordBatch,
  where: RowWhere,
  onBadRow?: (error: unknown) => void,
): BigQueryRow[] {
  const n = batch.numRows;
  const fields = batch.schema.fields;
  const columns = fields.map((_, k) => batch.getChildAt(k)!);
  const rows: BigQueryRow[] = [];
  for (let i = 0; i < n; i++) {
    const row: BigQueryRow = {};
    try {
      for (let k = 0; k < fields.length; k++) {
        const name = fields[k].name;
        row[name] = arrowValue(columns[k], i, () => where(i, name));
      }
    } catch (error) {
      // 'skip' drops the row and counts it; 'fail' (no handler) ends the read.
      if (!onBadRow) throw error;
      onBadRow(error);
      continue;
    }
    rows.push(row);
  }
  return rows;
}

/**
 * Decodes an Arrow record batch into columns: numbers straight into one Float64Array per column
 * (a view of the batch's memory for a FLOAT64 column without nulls, else one copy), BOOL into a
 * Uint8Array, the rest into arrays of record values. With `onBadValue` ('skip'), a value that
 * does not fit (INT64 past 2^53) becomes NaN and is reported instead of failing the read.
 */
export function arrowColumns(
  batch: arrow.RecordBatch,
  where: RowWhere,
  onBadValue?: (error: unknown) => void,
): BigQueryColumns {
  const n = batch.numRows;
  const out: BigQueryColumns = {};
  batch.schema.fields.forEach((field, k) => {
    const vector = batch.getChildAt(k)!;
    const type = vector.type as arrow.DataType;
    const numeric =
      arrow.DataType.isInt(type) ||
      arrow.DataType.isFloat(type) ||
      arrow.DataType.isDecimal(type) ||
      (arrow.DataType.isTimestamp(type) && type.timezone);
    if (numeric) {
      const data = vector.data.length === 1 ? vector.data[0] : undefined;
      if (data && data.values instanceof Float64Array) {
        if (vector.nullCount === 0) {
          out[field.name] = { data: data.values.subarray(0, n), shape: [n] };
          return;
        }
        const values = data.values.slice(0, n);
        for (let i = 0; i < n; i++) if (!vector.isValid(i)) values[i] = NaN;
        out[field.name] = { data: values, shape: [n] };
        return;
      }
      const values = new Float64Array(n);
      if (data && data.values instanceof BigInt64Array && arrow.DataType.isInt(type)) {
        // INT64 without a trip through BigQueryValue: one Number() and one range check a value.
        const raw = data.values;
        for (let i = 0; i < n; i++) {
          if (vector.nullCount > 0 && !vector.isValid(i)) {
            values[i] = NaN;
            continue;
          }
          const v = Number(raw[i]);
          if (!Number.isSafeInteger(v)) {
            const error = unsafe(raw[i], 'INT64', () => where(i, field.name));
            if (!onBadValue) throw error;
            onBadValue(error);
            values[i] = NaN;
            continue;
          }
          values[i] = v;
        }
        out[field.name] = { data: values, shape: [n] };
        return;
      }
      for (let i = 0; i < n; i++) {
        let v: BigQueryValue;
        try {
          v = arrowValue(vector, i, () => where(i, field.name));
        } catch (error) {
          if (!onBadValue) throw error;
          onBadValue(error);
          v = null;
        }
        values[i] = v === null ? NaN : (v as number);
      }
      out[field.name] = { data: values, shape: [n] };
    } else if (arrow.DataType.isBool(type)) {
      const values = new Uint8Array(n);
      for (let i = 0; i < n; i++) values[i] = vector.get(i) ? 1 : 0;
      out[field.name] = { data: values, shape: [n] };
    } else {
      const values: BigQueryValue[] = new Array(n);
      for (let i = 0; i < n; i++) values[i] = arrowValue(vector, i, () => where(i, field.name));
      out[field.name] = values;
    }
  });
  return out;
}

/**
 * Decodes one `ReadRowsResponse.arrow_record_batch.serialized_record_batch` with the session's
 * `arrow_schema.serialized_schema`: the two IPC messages make a stream Arrow can read.
 */
export function decodeArrowBatch(schema: Uint8Array, batch: Uint8Array): arrow.RecordBatch[] {
  const bytes = new Uint8Array(schema.length + batch.length);
  bytes.set(schema, 0);
  bytes.set(batch, schema.length);
  return arrow.RecordBatchReader.from(bytes).readAll();
}
