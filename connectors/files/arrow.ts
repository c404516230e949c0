/**
 * Arrow IPC files (Feather v2) and streams, one record batch at a time through a file handle
 * (apache-arrow's async reader: positional reads for the file format, sequential for streams).
 *
 * In flight per open file: one record batch and up to {@link ROWS_PER_BATCH} row objects made from it.
 */
import { createRequire } from 'node:module';
import { open, type FileHandle } from 'node:fs/promises';
import * as arrow from 'apache-arrow';
import { decompressZstd } from 'hyparquet-compressors';
import { RecordError, messageOf } from '../../src/errors.js';
import type { StageStats } from '../../src/stats.js';
import type { InnerCursor } from '../../src/state/sources.js';
import { groupStart } from './position.js';
import { markRows } from './parquet.js';
import { ROWS_PER_BATCH, int64ToNumber, matchingRows, pick, rowsOf, toColumn, type NumericKind, type WhereConditions } from './columnar.js';

/** Options of `fromFiles(..., { format: 'arrow' })`. */
export interface ArrowOptions {
  /** Top-level columns to hand out. Default: all. */
  readonly select?: readonly string[];
  /** Keep only the rows that satisfy these conditions (see the Parquet `where`; no statistics to prune by here). */
  readonly where?: WhereConditions;
  /** `'rows'` (default) or `'columns'`: one object per record batch, as for Parquet. */
  readonly output?: 'rows' | 'columns';
  /** Int64 values as `'number'` (default) or `'bigint'` (rows only). */
  readonly int64?: 'number' | 'bigint';
}

/** lz4js (pure JS, no types shipped): LZ4 frame decompression. */
const lz4 = createRequire(import.meta.url)('lz4js') as { decompress(src: Uint8Array, maxSize?: number): Uint8Array };

// Feather v2 and IPC files written compressed (pyarrow's Feather default is LZ4 frames; zstd on
// request) need codecs apache-arrow does not ship; a codec the user registered first is kept.
if (!arrow.compressionRegistry.get(arrow.CompressionType.LZ4_FRAME)) {
  arrow.compressionRegistry.set(arrow.CompressionType.LZ4_FRAME, {
    decode: (data) => {
      const out = lz4.decompress(data);
      // Arrow views buffers as typed arrays: they must start 8-byte aligned.
      return out.byteOffset % 8 === 0 ? out : out.slice();
    },
  });
}
if (!arrow.compressionRegistry.get(arrow.CompressionType.ZSTD)) {
  arrow.compressionRegistry.set(arrow.CompressionType.ZSTD, {
    decode: (data) => {
      const out = decompressZstd(data);
      // Arrow views buffers as typed arrays: they must start 8-byte aligned.
      return out.byteOffset % 8 === 0 ? out : out.slice();
    },
  });
}

/** A value of an Arrow vector as plain JavaScript: structs as objects, lists as arrays. */
function plain(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof arrow.Vector) return Array.from(value as Iterable<unknown>, plain);
  if (ArrayBuffer.isView(value) || value instanceof Date) return value;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    const json = (value as { toJSON(): Record<string, unknown> }).toJSON();
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(json)) out[k] = plain(v);
    return out;
  }
  return value;
}

const primitive = (type: arrow.DataType): boolean => arrow.DataType.isInt(type) || arrow.DataType.isFloat(type);

/** One column of a batch as an array-like of plain values: typed arrays for primitives without nulls. */
function columnValues(vector: arrow.Vector): ArrayLike<unknown> {
  if (primitive(vector.type as arrow.DataType) && vector.nullCount === 0) return vector.toArray() as ArrayLike<unknown>;
  const n = vector.length;
  const out: unknown[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = plain(vector.get(i));
  return out;
}

function kindOf(type: arrow.DataType): NumericKind {
  let t = type;
  while (arrow.DataType.isList(t) || arrow.DataType.isFixedSizeList(t)) t = (t as arrow.List).children[0].type as arrow.DataType;
  if (arrow.DataType.isFloat(t)) return (t as arrow.Float).precision === arrow.Precision.SINGLE ? 'float32' : 'float64';
  if (arrow.DataType.isInt(t)) return (t as arrow.Int).bitWidth <= 32 && (t as arrow.Int).isSigned ? 'int32' : 'float64';
  if (arrow.DataType.isBool(t)) return 'uint8';
  return 'float64';
}

/**
 * The records of one Arrow IPC file or stream, in hand-off batches. A file that cannot be read
 * (bad magic, truncated, compressed buffers the reader lacks a codec for) is a RecordError naming
 * the file and the record batch.
 */
export async function* arrowRecords(path: string, stage: StageStats, options: ArrowOptions, cursor?: InnerCursor): AsyncGenerator<unknown[]> {
  const { output = 'rows', int64 = 'number', where } = options;
  // In a resumable pipeline: the position is a record batch and the elements of it emitted. A
  // restore reads an IPC file from that batch on (random access); a stream is read past the
  // batches before it (decoded, no rows made).
  const resumeAt = await groupStart(path, cursor, 'recordBatch');
  const handle: FileHandle = await open(path, 'r');
  let reader: arrow.AsyncRecordBatchFileReader | arrow.AsyncRecordBatchStreamReader | undefined;
  let index = 0;
  try {
    let names: string[] | undefined;
    let iterator: AsyncIterator<arrow.RecordBatch>;
    try {
      reader = await arrow.RecordBatchReader.from(handle);
      await reader.open();
      iterator = reader[Symbol.asyncIterator]();
      if (resumeAt.group > 0 && reader.isFile()) {
        const file = reader;
        index = resumeAt.group;
        let next = resumeAt.group;
        iterator = {
          next: async (): Promise<IteratorResult<arrow.RecordBatch>> => {
            const batch = next < file.numRecordBatches ? await file.readRecordBatch(next++) : null;
            return batch ? { done: false, value: batch } : { done: true, value: undefined };
          },
        };
      }
    } catch (error) {
      throw corrupt(error, path);
    }
    for (;;) {
      let result: IteratorResult<arrow.RecordBatch>;
      try {
        result = await iterator.next();
      } catch (error) {
        throw corrupt(error, `${path} record batch ${index}`);
      }
      if (result.done) break;
      const batch = result.value;
      const at = index++;
      if (at < resumeAt.group) continue;
      stage.extra.recordBatches = (stage.extra.recordBatches ?? 0) + 1;
      const fields = batch.schema.fields.map((f) => f.name);
      if (!names) {
        names = options.select ? [...options.select] : fields;
        for (const name of [...names, ...Object.keys(where ?? {})]) {
          if (!fields.includes(name)) throw new RecordError(`no column '${name}' in this Arrow file (columns: ${fields.join(', ')})`, path);
        }
      }
      const columns: Record<string, ArrayLike<unknown>> = {};
      const types: Record<string, arrow.DataType> = {};
      try {
        for (const name of new Set([...names, ...Object.keys(where ?? {})])) {
          const vector = batch.getChild(name);
          if (!vector) throw new Error(`record batch lacks column '${name}'`);
          columns[name] = columnValues(vector);
          types[name] = vector.type as arrow.DataType;
        }
      } catch (error) {
        throw corrupt(error, `${path} record batch ${at}`);
      }
      let n = batch.numRows;
      if (where) {
        const keep = matchingRows(where, columns, n);
        if (keep) {
          for (const name of names) columns[name] = pick(columns[name], keep);
          n = keep.length;
        }
      }
      const done = at === resumeAt.group ? resumeAt.row : 0;
      if (n === 0 || done >= (output === 'columns' ? 1 : n)) continue;
      if (output === 'columns') {
        const out: Record<string, unknown> = {};
        for (const name of names) out[name] = toColumn(columns[name], kindOf(types[name]));
        if (cursor) markRows(cursor, at, 0, 1, 1);
        yield [out];
        continue;
      }
      const values = names.map((name) => {
        const column = columns[name];
        if (int64 !== 'number') return column;
        if (column instanceof BigInt64Array || column instanceof BigUint64Array) return Array.from(column, Number);
        return Array.isArray(column) && column.some((v) => typeof v === 'bigint' || (v !== null && typeof v === 'object')) ? column.map(int64ToNumber) : column;
      });
      for (let from = done; from < n; from += ROWS_PER_BATCH) {
        const to = Math.min(n, from + ROWS_PER_BATCH);
        if (cursor) markRows(cursor, at, from, to, n);
        yield rowsOf(names, values, from, to);
      }
    }
  } finally {
    await reader?.cancel().catch(() => undefined);
    // The reader may have closed the handle already.
    await handle.close().catch(() => undefined);
  }
}

function corrupt(error: unknown, where: string): RecordError {
  if (error instanceof RecordError) return error;
  return new RecordError(`cannot read Arrow IPC data: ${messageOf(error)}`, where, { cause: error });
}
