/**
 * `writeParquet`: a pipeline's row objects into a Parquet file, a row group at a time
 * (hyparquet-writer encodes; the bytes go to disk through a `FileSink` at the disk's pace).
 */
import { gzipSync, brotliCompressSync } from 'node:zlib';
import { Observable, type OperatorFunction } from 'rxjs';
import { ByteWriter, ParquetWriter, autoSchemaElement, type ColumnSource, type SchemaElement, type Writer } from 'hyparquet-writer';
import { consume } from '../../operators/consume.js';
import { isNDArray } from '../../src/types.js';
import { FileSink, type WriteProgress, type WriterOptions } from './sink.js';

/** A column's Parquet type when it should not be inferred from the first row group. */
export type ParquetColumnType = 'BOOLEAN' | 'INT32' | 'INT64' | 'FLOAT' | 'DOUBLE' | 'STRING' | 'BYTE_ARRAY' | 'TIMESTAMP' | 'JSON';

export interface WriteParquetOptions extends WriterOptions {
  /** Rows per row group (the writer holds one row group of rows in memory). Default 10,000. */
  readonly rowGroupSize?: number;
  /** `'snappy'` (default), `'gzip'`, `'brotli'` or `'none'`. */
  readonly codec?: 'snappy' | 'gzip' | 'brotli' | 'none';
  /** Types of top-level primitive columns where the inferred one is not what you want (numbers are DOUBLE: say `'FLOAT'` or `'INT32'`). */
  readonly types?: Readonly<Record<string, ParquetColumnType>>;
  /** Min/max statistics per column chunk (what `where` prunes by). Default true. */
  readonly statistics?: boolean;
}

const codecs = { snappy: 'SNAPPY', gzip: 'GZIP', brotli: 'BROTLI', none: 'UNCOMPRESSED' } as const;

/** Typed arrays and NDArrays as plain arrays of numbers (Parquet lists). */
function plainValue(v: unknown): unknown {
  if (isNDArray(v)) return Array.from(v.data as ArrayLike<number>);
  if (ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof Uint8Array)) return Array.from(v as unknown as ArrayLike<number>);
  return v;
}

/** Element type of a list column, from the typed array it was made of when it was one. */
function listElementType(sample: unknown): SchemaElement['type'] | undefined {
  const data = isNDArray(sample) ? sample.data : sample;
  if (data instanceof Float32Array) return 'FLOAT';
  if (data instanceof Float64Array) return 'DOUBLE';
  if (data instanceof Int32Array || data instanceof Int16Array || data instanceof Int8Array || data instanceof Uint16Array || data instanceof Uint8ClampedArray) return 'INT32';
  return undefined;
}

/** The schema elements (depth first) of one column, inferred from its values. */
function columnSchema(name: string, values: readonly unknown[], raw: readonly unknown[], type?: ParquetColumnType): SchemaElement[] {
  if (type) return [typed(name, type)];
  const i = values.findIndex((v) => v !== null && v !== undefined);
  const sample = i < 0 ? undefined : values[i];
  if (Array.isArray(sample)) {
    const items = (values as unknown[][]).flatMap((v) => (Array.isArray(v) ? v : []));
    const element = listElementType(raw[i]);
    return [
      { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      ...(element ? [{ name: 'element', type: element, repetition_type: 'OPTIONAL' } as SchemaElement] : columnSchema('element', items, items)),
    ];
  }
  if (sample !== null && typeof sample === 'object' && Object.getPrototypeOf(sample) === Object.prototype) {
    const keys = Object.keys(sample);
    const children = keys.flatMap((k) => {
      const sub = values.map((v) => (v as Record<string, unknown> | null)?.[k] ?? null).map(plainValue);
      return columnSchema(k, sub, sub);
    });
    return [{ name, repetition_type: 'OPTIONAL', num_children: keys.length }, ...children];
  }
  // Integers of the first row group may be followed by fractions: numbers are DOUBLE unless typed.
  if (typeof sample === 'number') return [{ name, type: 'DOUBLE', repetition_type: 'OPTIONAL' }];
  const element = autoSchemaElement(name, values.length && i >= 0 ? (values as never) : ([null] as never));
  return [{ ...element, repetition_type: 'OPTIONAL' }];
}

function typed(name: string, type: ParquetColumnType): SchemaElement {
  switch (type) {
    case 'STRING':
      return { name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' };
    case 'JSON':
      return { name, type: 'BYTE_ARRAY', converted_type: 'JSON', repetition_type: 'OPTIONAL' };
    case 'TIMESTAMP':
      return { name, type: 'INT64', converted_type: 'TIMESTAMP_MILLIS', repetition_type: 'OPTIONAL' };
    default:
      return { name, type, repetition_type: 'OPTIONAL' };
  }
}

/**
 * Writes row objects to a Parquet file and emits progress after each row; completes when the
 * footer is written and the file closed.
 *
 * ```
 * source:  -r1-r2-r3-r4-r5-|                (rowGroupSize 2)
 * file:    [group r1 r2][group r3 r4][group r5][footer]
 * output:  -p1-p2-p3-p4-p5-|                ({ records, bytes, path })
 * ```
 *
 * The schema comes from the first row group: numbers (DOUBLE, or as `types` says), strings, booleans, bigints (INT64), Dates (TIMESTAMP), typed arrays and NDArrays
 * (lists of FLOAT / DOUBLE / INT32, flattened), arrays (lists) and plain objects (structs); every
 * column is nullable. Holds at most `rowGroupSize` rows and one encoded row group. A `consume`:
 * the pipeline runs at the disk's pace. The file appears under `path` only when the pass
 * completes; on error or unsubscribe it is removed.
 *
 * @example
 * ```ts
 * await lastValueFrom(rows$.pipe(writeParquet('out/train.parquet', { rowGroupSize: 50_000, types: { x: 'FLOAT' } })));
 * ```
 */
export function writeParquet<T extends Record<string, unknown>>(path: string, options: WriteParquetOptions = {}): OperatorFunction<T, WriteProgress> {
  const { rowGroupSize = 10_000, codec = 'snappy', statistics = true } = options;
  if (!(Number.isInteger(rowGroupSize) && rowGroupSize >= 1)) throw new RangeError(`writeParquet: rowGroupSize must be an integer >= 1, got ${rowGroupSize}`);
  return (source) =>
    new Observable<WriteProgress>((subscriber) => {
      let sink: FileSink;
      try {
        sink = new FileSink(path, false);
      } catch (error) {
        subscriber.error(error);
        return;
      }
      /** Rows of the row group being collected. */
      let rows: T[] = [];
      let names: string[] | undefined;
      let writer: ParquetWriter | undefined;
      const bytes: ByteWriter & Pick<Writer, 'flush'> = new ByteWriter();
      /** Moves what hyparquet-writer encoded so far to the file. */
      const drain = async (signal?: AbortSignal): Promise<void> => {
        if (bytes.index === 0) return;
        const chunk = new Uint8Array(bytes.buffer, 0, bytes.index).slice();
        bytes.index = 0;
        await sink.write(chunk, signal);
      };
      bytes.flush = () => drain();
      let records = 0;
      let finished = false;
      const writeGroup = async (): Promise<void> => {
        if (rows.length === 0) return;
        const group = rows;
        rows = [];
        names ??= Object.keys(group[0]);
        const columnData: ColumnSource[] = names.map((name) => {
          const raw = group.map((r) => r[name] ?? null);
          return { name, data: raw.map(plainValue) };
        });
        if (!writer) {
          const schema: SchemaElement[] = [{ name: 'root', num_children: names.length }];
          for (let k = 0; k < names.length; k++) {
            const raw = group.map((r) => r[names![k]] ?? null);
            schema.push(...columnSchema(names[k], columnData[k].data as unknown[], raw, options.types?.[names[k]]));
          }
          writer = new ParquetWriter({
            writer: bytes,
            schema,
            codec: codecs[codec],
            compressors: { GZIP: (input: Uint8Array) => gzipSync(input), BROTLI: (input: Uint8Array) => brotliCompressSync(input) },
            statistics,
          });
        }
        await writer.write({ columnData, rowGroupSize: group.length });
        await drain();
      };
      const subscription = source
        .pipe(
          consume(
            async (row: T): Promise<WriteProgress> => {
              rows.push(row);
              records++;
              if (rows.length >= rowGroupSize) await writeGroup();
              return { records, bytes: bytes.offset, path };
            },
            { stats: options.stats, name: options.name ?? 'writeParquet' },
          ),
        )
        .subscribe({
          next: (progress) => subscriber.next(progress),
          error(error) {
            finished = true;
            sink.abort();
            subscriber.error(error);
          },
          complete() {
            finished = true;
            (async () => {
              if (rows.length > 0 || !writer) {
                if (rows.length === 0) throw new Error('writeParquet: no rows to write (a Parquet file needs a schema)');
                await writeGroup();
              }
              await writer!.finish();
              await drain();
              await sink.finish();
            })().then(
              () => subscriber.complete(),
              (error: unknown) => {
                sink.abort();
                subscriber.error(error);
              },
            );
          },
        });
      return () => {
        subscription.unsubscribe();
        if (!finished) sink.abort();
      };
    });
}
