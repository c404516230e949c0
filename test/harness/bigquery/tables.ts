/**
 * The tables the local BigQuery servers serve, and their two wire encodings: REST JSON rows
 * (`{ f: [{ v }] }`) and Arrow IPC messages (the Storage Read API's schema + record batches).
 *
 * A table holds its rows as the values rxdata should hand out (its type mapping), except
 * INT64, kept as bigint where a number would not hold it, and NUMERIC, kept as decimal text.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as arrow from 'apache-arrow';
import type { BigQueryField } from '../../../connectors/bigquery/index.js';

export type Cell = number | bigint | boolean | string | Uint8Array | null | Cell[] | { [k: string]: Cell };
export type Row = Record<string, Cell>;

export interface TableModel {
  readonly fields: BigQueryField[];
  readonly rowCount: number;
  /** Row `r` (0-based), generated on demand so that big tables cost no memory. */
  row(r: number): Row;
}

const csvPath = fileURLToPath(new URL('../../../examples/data/occupancy/datatraining.csv', import.meta.url));

/** The occupancy data set: `"1","2015-02-04 17:51:00",23.18,27.272,426,721.25,0.0047…,1`. */
export function loadOccupancy(): Row[] {
  const lines = readFileSync(csvPath, 'utf8').split(/\r?\n/).slice(1).filter((l) => l.trim() !== '');
  return lines.map((line) => {
    const cells = line.split(',').map((c) => c.replace(/^"|"$/g, ''));
    return {
      id: Number(cells[0]),
      date: Date.parse(cells[1].replace(' ', 'T') + 'Z'),
      Temperature: Number(cells[2]),
      Humidity: Number(cells[3]),
      Light: Number(cells[4]),
      CO2: Number(cells[5]),
      HumidityRatio: Number(cells[6]),
      Occupancy: Number(cells[7]),
    };
  });
}

export const occupancyFields: BigQueryField[] = [
  { name: 'id', type: 'INT64', mode: 'REQUIRED' },
  { name: 'date', type: 'TIMESTAMP', mode: 'NULLABLE' },
  { name: 'Temperature', type: 'FLOAT64', mode: 'NULLABLE' },
  { name: 'Humidity', type: 'FLOAT64', mode: 'NULLABLE' },
  { name: 'Light', type: 'FLOAT64', mode: 'NULLABLE' },
  { name: 'CO2', type: 'FLOAT64', mode: 'NULLABLE' },
  { name: 'HumidityRatio', type: 'FLOAT64', mode: 'NULLABLE' },
  { name: 'Occupancy', type: 'INT64', mode: 'NULLABLE' },
];

export function occupancyTable(rows = loadOccupancy()): TableModel {
  return { fields: occupancyFields, rowCount: rows.length, row: (r) => rows[r] };
}

/** The occupancy rows repeated `times` over, with fresh ids: a table too big to send at once. */
export function bigTable(times: number, rows = loadOccupancy()): TableModel {
  return { fields: occupancyFields, rowCount: rows.length * times, row: (r) => ({ ...rows[r % rows.length], id: r + 1 }) };
}

/** One column of every type the connector maps, with nulls, empties and edge values. */
export const typesFields: BigQueryField[] = [
  { name: 'i', type: 'INT64', mode: 'NULLABLE' },
  { name: 'f', type: 'FLOAT64', mode: 'NULLABLE' },
  { name: 'n', type: 'NUMERIC', mode: 'NULLABLE' },
  { name: 'b', type: 'BOOL', mode: 'NULLABLE' },
  { name: 's', type: 'STRING', mode: 'NULLABLE' },
  { name: 'by', type: 'BYTES', mode: 'NULLABLE' },
  { name: 'd', type: 'DATE', mode: 'NULLABLE' },
  { name: 'ts', type: 'TIMESTAMP', mode: 'NULLABLE' },
  { name: 'arr', type: 'INT64', mode: 'REPEATED' },
  {
    name: 'rec',
    type: 'RECORD',
    mode: 'NULLABLE',
    fields: [
      { name: 'x', type: 'FLOAT64', mode: 'NULLABLE' },
      { name: 'tags', type: 'STRING', mode: 'REPEATED' },
    ],
  },
];

export const typesRows: Row[] = [
  {
    i: 42,
    f: 3.5,
    n: '123.456789012',
    b: true,
    s: 'héllo, wörld',
    by: new Uint8Array([0, 1, 2, 255]),
    d: '2024-02-29',
    ts: Date.UTC(2024, 1, 29, 12, 30, 45, 123),
    arr: [1, 2, 3],
    rec: { x: 1.25, tags: ['a', 'b'] },
  },
  {
    i: -9007199254740991,
    f: -1e-10,
    n: '-42.5',
    b: false,
    s: '',
    by: new Uint8Array(0),
    d: '1970-01-01',
    ts: 0,
    arr: [],
    rec: { x: null, tags: [] },
  },
  { i: null, f: null, n: null, b: null, s: null, by: null, d: null, ts: null, arr: [], rec: null },
];

export function typesTable(): TableModel {
  return { fields: typesFields, rowCount: typesRows.length, row: (r) => typesRows[r] };
}

/** An INT64 value past 2^53 in row 1: rxdata must name row and column. */
export function overflowTable(): TableModel {
  const rows: Row[] = [
    { id: 0, big: 1n },
    { id: 1, big: 2n ** 60n },
    { id: 2, big: 3n },
  ];
  return {
    fields: [
      { name: 'id', type: 'INT64', mode: 'REQUIRED' },
      { name: 'big', type: 'INT64', mode: 'NULLABLE' },
    ],
    rowCount: rows.length,
    row: (r) => rows[r],
  };
}

// ---------------------------------------------------------------------------------------------
// REST encoding

/** A value as the REST API writes it in a cell's `v` (TIMESTAMP as int64 µs when asked). */
export function restValue(field: BigQueryField, value: Cell, int64Timestamp: boolean): unknown {
  if (field.mode === 'REPEATED') {
    const element = { ...field, mode: 'NULLABLE' };
    return ((value as Cell[] | null) ?? []).map((v) => ({ v: restValue(element, v, int64Timestamp) }));
  }
  if (value === null) return null;
  switch (field.type) {
    case 'RECORD':
      return { f: (field.fields ?? []).map((sub) => ({ v: restValue(sub, (value as Record<string, Cell>)[sub.name] ?? null, int64Timestamp) })) };
    case 'BOOL':
      return value ? 'true' : 'false';
    case 'BYTES':
      return Buffer.from(value as Uint8Array).toString('base64');
    case 'TIMESTAMP':
      return int64Timestamp ? String(BigInt(Math.round((value as number) * 1000))) : String((value as number) / 1000);
    default:
      return String(value);
  }
}

export function restRow(fields: readonly BigQueryField[], row: Row, int64Timestamp: boolean): { f: { v: unknown }[] } {
  return { f: fields.map((field) => ({ v: restValue(field, row[field.name] ?? null, int64Timestamp) })) };
}

// ---------------------------------------------------------------------------------------------
// Arrow encoding (the types BigQuery's Storage Read API documents for each column type)

function arrowType(field: BigQueryField): arrow.DataType {
  const base = ((): arrow.DataType => {
    switch (field.type) {
      case 'INT64':
        return new arrow.Int64();
      case 'FLOAT64':
        return new arrow.Float64();
      case 'NUMERIC':
        return new arrow.Decimal(9, 38, 128);
      case 'BOOL':
        return new arrow.Bool();
      case 'BYTES':
        return new arrow.Binary();
      case 'DATE':
        return new arrow.DateDay();
      case 'TIMESTAMP':
        return new arrow.TimestampMicrosecond('UTC');
      case 'RECORD':
        return new arrow.Struct((field.fields ?? []).map(arrowField));
      default:
        return new arrow.Utf8();
    }
  })();
  return field.mode === 'REPEATED' ? new arrow.List(new arrow.Field('item', base, true)) : base;
}

function arrowField(field: BigQueryField): arrow.Field {
  return new arrow.Field(field.name, arrowType(field), field.mode !== 'REQUIRED' && field.mode !== 'REPEATED');
}

export function arrowSchema(fields: readonly BigQueryField[]): arrow.Schema {
  return new arrow.Schema(fields.map(arrowField));
}

/** A cell as arrow's builders take it. */
function builderValue(field: BigQueryField, value: Cell): unknown {
  if (field.mode === 'REPEATED') {
    const element = { ...field, mode: 'NULLABLE' };
    return ((value as Cell[] | null) ?? []).map((v) => builderValue(element, v));
  }
  if (value === null) return null;
  switch (field.type) {
    case 'INT64':
      return BigInt(value as number | bigint);
    case 'DATE':
      return new Date(Date.parse(value as string));
    case 'RECORD': {
      const out: Record<string, unknown> = {};
      for (const sub of field.fields ?? []) out[sub.name] = builderValue(sub, (value as Record<string, Cell>)[sub.name] ?? null);
      return out;
    }
    default:
      return value;
  }
}

/** NUMERIC column: 128-bit two's complement little-endian, scale 9. */
function decimalData(values: readonly (string | null)[]): arrow.Data {
  const words = new Uint32Array(values.length * 4);
  const nulls = new Uint8Array(Math.ceil(values.length / 8));
  let nullCount = 0;
  values.forEach((text, i) => {
    if (text === null) {
      nullCount++;
      return;
    }
    nulls[i >> 3] |= 1 << (i & 7);
    const [whole, frac = ''] = text.replace('-', '').split('.');
    let scaled = BigInt(whole + frac.padEnd(9, '0').slice(0, 9));
    if (text.startsWith('-')) scaled = (1n << 128n) - scaled;
    for (let w = 0; w < 4; w++) words[i * 4 + w] = Number((scaled >> BigInt(32 * w)) & 0xffffffffn);
  });
  return arrow.makeData({ type: new arrow.Decimal(9, 38, 128), length: values.length, nullCount, nullBitmap: nullCount > 0 ? nulls : undefined, data: words });
}

/** Rows `[start, end)` as one Arrow record batch. */
export function arrowBatch(schema: arrow.Schema, fields: readonly BigQueryField[], rows: readonly Row[]): arrow.RecordBatch {
  const children = fields.map((field, k) => {
    const values = rows.map((r) => r[field.name] ?? null);
    if (field.type === 'NUMERIC' && field.mode !== 'REPEATED') return decimalData(values as (string | null)[]);
    return arrow.vectorFromArray(values.map((v) => builderValue(field, v)) as never[], schema.fields[k].type).data[0];
  });
  return new arrow.RecordBatch(schema, arrow.makeData({ type: new arrow.Struct(schema.fields), length: rows.length, nullCount: 0, children }));
}

/** Splits an IPC stream into its schema message and the rest (without the end-of-stream marker). */
function splitStream(bytes: Uint8Array): { schema: Uint8Array; rest: Uint8Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Encapsulated message: 0xFFFFFFFF, int32 metadata length, metadata; a schema has no body.
  const schemaLength = 8 + view.getInt32(4, true);
  return { schema: bytes.slice(0, schemaLength), rest: bytes.slice(schemaLength, bytes.length - 8) };
}

/** `ReadSession.arrow_schema.serialized_schema`. */
export function serializedSchema(schema: arrow.Schema, fields: readonly BigQueryField[]): Uint8Array {
  return splitStream(arrow.tableToIPC(new arrow.Table([arrowBatch(schema, fields, [])]), 'stream')).schema;
}

/** `ReadRowsResponse.arrow_record_batch.serialized_record_batch`. */
export function serializedBatch(schema: arrow.Schema, fields: readonly BigQueryField[], rows: readonly Row[]): Uint8Array {
  return splitStream(arrow.tableToIPC(new arrow.Table([arrowBatch(schema, fields, rows)]), 'stream')).rest;
}
