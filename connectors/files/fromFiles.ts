/** `fromFiles`: records of many files (lines, CSV, JSON lines, TFRecord, fixed-length binary, Parquet, Arrow IPC, Avro), streamed and interleaved. */
import { Observable } from 'rxjs';
import { RecordError, type OnError } from '../../src/errors.js';
import { withSignal } from '../../src/abort.js';
import { scoped } from '../../src/flow.js';
import type { StageStats } from '../../src/stats.js';
import { interleave } from '../../operators/interleave.js';
import { fixedRecords, type FixedRecord, type FixedRecordOptions } from './binary.js';
import { withFileCardinality } from './cardinality.js';
import { csvRows, type CsvOptions, type CsvRow, type CsvTrack, type LabelledRow } from './csv.js';
import { Readable } from 'node:stream';
import { numericCsv, numericCsvRows } from './csvFast.js';
import type { FeatureSpec, ParsedExample } from './example.js';
import { exampleParser } from './exampleBatch.js';
import { MAX_LINE_BYTES, splitLines, type Line } from './lines.js';
import { listFiles, type FileShard, type FollowSymlinks } from './listFiles.js';
import { CHUNK_BYTES, ioError, isGzip, openBytes, pullBatches, reusedChunks, type ByteSource, type Compression } from './source.js';
import { FrameError, tfRecordFrames, type FramedRecord } from './tfrecord.js';
import { parquetRecords, type ParquetOptions } from './parquet.js';
import { arrowRecords, type ArrowOptions } from './arrow.js';
import { avroRecords, type AvroOptions, type AvroTrack } from './avro.js';
import type { ColumnBatch } from './columnar.js';
import { CheckpointError } from '../../src/state/registry.js';
import type { InnerCursor } from '../../src/state/sources.js';
import { readRange, seekStart, skipStart } from './position.js';

/** Options every format takes. */
export interface FileSourceOptions {
  /** Only this worker's share of the sorted file list (`{ count: workers, index: rank }`). */
  readonly shard?: FileShard;
  /** Symbolic links met below a directory or glob: `'within'` (default) follows only those leading inside it, `true` all, `false` none; loops are never followed. */
  readonly followSymlinks?: FollowSymlinks;
  /** Files read at once. Default 1 (one file after another, in sorted order). */
  readonly cycleLength?: number;
  /** Records taken from one file before moving to the next in the cycle. Default 1. */
  readonly blockLength?: number;
  /** See `interleave`: `false` lets a file with a record ready take a slow file's turn. Default true. */
  readonly deterministic?: boolean;
  /** `'fail'` (default): a bad record errors with its file and line or byte offset. `'skip'`: skip and count it. */
  readonly onError?: OnError;
  /** `'auto'` (default): gzip when the name ends in `.gz`. */
  readonly compression?: Compression;
  /** The source's name in pipeline statistics. Default `fromFiles`. */
  readonly name?: string;
  /** Aborting fails the source with an `AbortError` naming it and closes every open file (as an unsubscribe does). */
  readonly signal?: AbortSignal;
}

/** Options of the line-based formats (lines, JSON lines, CSV). */
export interface TextFormatOptions {
  /**
   * Longest line accepted, in UTF-8 bytes (a CSV record's physical line). A longer line is a
   * RecordError naming `file:line`, or with `onError: 'skip'` skipped and counted; it is read
   * past, never held whole. Default 16 MiB.
   */
  readonly maxLineBytes?: number;
}

export interface LinesFormat extends FileSourceOptions, TextFormatOptions {
  readonly format: 'lines';
  /** Skip empty lines. Default false. */
  readonly skipEmpty?: boolean;
}
export interface JsonLinesFormat extends FileSourceOptions, TextFormatOptions {
  readonly format: 'jsonl';
}
export interface CsvFormat extends FileSourceOptions, CsvOptions, TextFormatOptions {
  readonly format: 'csv';
}
export interface TFRecordFormat extends FileSourceOptions {
  readonly format: 'tfrecord';
  /** Check both CRCs of every record. Default true. */
  readonly verifyCrc?: boolean;
  /**
   * Largest record accepted (bytes). A frame whose header claims more is a RecordError naming
   * the file and byte offset, raised before anything is allocated; `onError: 'skip'` reads past
   * it. Default 64 MiB.
   */
  readonly maxRecordBytes?: number;
  /** Decode each record as a `tf.train.Example` with this spec (see `parseExample`); errors then name the file and offset. */
  readonly example?: FeatureSpec;
}
/**
 * Fixed-length records, e.g. CIFAR-10's binary batches (`recordBytes: 3073`: a label byte, then
 * 1024 red, 1024 green and 1024 blue bytes of a 32×32 image). To `{ image, label }`:
 * `map((r) => ({ label: r[0], image: { data: chwToHwc(r.subarray(1), 32, 32, 3), shape: [32, 32, 3] } }))`
 * with a planar-to-interleaved copy (see docs/files.md).
 */
export interface BinaryFormat extends FileSourceOptions, FixedRecordOptions {
  readonly format: 'binary';
}
/** Parquet, a row group at a time (see `ParquetOptions`: `select`, `where`, `output`, `rowGroupShard`). */
export interface ParquetFormat extends Omit<FileSourceOptions, 'compression'>, ParquetOptions {
  readonly format: 'parquet';
}
/** Arrow IPC files (Feather v2) and streams, a record batch at a time. */
export interface ArrowFormat extends Omit<FileSourceOptions, 'compression'>, ArrowOptions {
  readonly format: 'arrow';
}
/** Avro object container files, a block at a time (`readerSchema` for schema evolution). */
export interface AvroFormat extends FileSourceOptions, AvroOptions {
  readonly format: 'avro';
}
export type FromFilesOptions = LinesFormat | JsonLinesFormat | CsvFormat | TFRecordFormat | BinaryFormat | ParquetFormat | ArrowFormat | AvroFormat;

/**
 * Reads the records of many files as one cold Observable, pulling from disk only as the stages
 * below ask.
 *
 * ```
 * patterns ─listFiles─▶ a.csv b.csv c.csv ─shard─▶ (this worker's files)
 *   ─interleave(cycleLength, blockLength)─▶ records: a1 a2 b1 b2 a3 …   (read only on demand)
 * ```
 *
 * `patterns`: file paths, directories and glob patterns, listed in sorted order and sharded by
 * file. Formats: `'lines'` → string, `'jsonl'` → parsed JSON, `'csv'` → a row object (or
 * `{ xs, ys }` with `labels`), `'tfrecord'` → the record's bytes (or the parsed Example with
 * `example`), `'binary'` → each fixed-length record's bytes, `'parquet'` and `'arrow'` → row
 * objects (or column batches with `output: 'columns'`), `'avro'` → decoded records. Every file streams in 64 KiB reads,
 * gzip by `.gz` (or `compression: 'gzip'`); its handle closes when it ends, fails, or when the
 * subscriber unsubscribes. Each subscription re-reads the files (epochs).
 *
 * @example
 * ```ts
 * fromFiles('data/train-*.tfrecord.gz', { format: 'tfrecord', cycleLength: 4, blockLength: 16,
 *   example: { x: { type: 'float', shape: [64] }, y: { type: 'int64', shape: [] } } })
 *   .pipe(shuffle(1000), batch(32));
 * ```
 */
export function fromFiles(patterns: string | readonly string[], options: LinesFormat): Observable<string>;
export function fromFiles<T = unknown>(patterns: string | readonly string[], options: JsonLinesFormat): Observable<T>;
export function fromFiles(patterns: string | readonly string[], options: CsvFormat & { readonly labels: readonly string[] }): Observable<LabelledRow>;
export function fromFiles(patterns: string | readonly string[], options: CsvFormat): Observable<CsvRow>;
export function fromFiles<const S extends FeatureSpec>(patterns: string | readonly string[], options: TFRecordFormat & { readonly example: S }): Observable<ParsedExample<S>>;
export function fromFiles(patterns: string | readonly string[], options: TFRecordFormat): Observable<Uint8Array>;
export function fromFiles(patterns: string | readonly string[], options: BinaryFormat): Observable<Uint8Array>;
export function fromFiles(patterns: string | readonly string[], options: (ParquetFormat | ArrowFormat) & { readonly output: 'columns' }): Observable<ColumnBatch>;
export function fromFiles<T = Record<string, unknown>>(patterns: string | readonly string[], options: ParquetFormat | ArrowFormat | AvroFormat): Observable<T>;
export function fromFiles(patterns: string | readonly string[], options: FromFilesOptions): Observable<unknown> {
  const name = options.name ?? 'fromFiles';
  const reader = recordReader(options);
  const { shard, cycleLength = 1, blockLength = 1, deterministic = true } = options;
  const key = {};
  const files = (): Observable<string> =>
    scoped<string>((subscriber) => {
      // The list is small (paths): emitted at once, buffered by interleave.
      listFiles(patterns, { shard, followSymlinks: options.followSymlinks }).then(
        (list) => {
          for (const file of list) {
            if (subscriber.closed) return;
            subscriber.next(file);
          }
          subscriber.complete();
        },
        (error: unknown) => subscriber.error(error),
      );
    });
  const records = files().pipe(
    interleave((path: string) => pullBatches(key, name, (stage, cursor) => guarded(path, stage, options.onError ?? 'fail', reader, cursor)), {
      cycleLength,
      blockLength,
      deterministic,
      name: `${name}.interleave`,
    }),
  );
  const origin = `${name}(${typeof patterns === 'string' ? patterns : patterns.join(', ')})`;
  return withSignal(withFileCardinality(patterns, options, records), options.signal, origin);
}

/**
 * A file's reader: yields its records in batches (one per read chunk), so the hand-off costs one
 * await per chunk. With a `cursor` (inside a resumable pipeline) it also writes, per batch, where
 * each record ends (`cursor.ends`/`lines`), sets `cursor.describe`, and starts at
 * `cursor.restored` when there is one (see position.ts).
 */
type Reader = (path: string, stage: StageStats, onError: OnError, cursor: InnerCursor | undefined) => AsyncGenerator<unknown[]>;

/**
 * Runs one file's reader: an error that ends the file (an I/O error, a truncated file, a lost
 * frame) fails the pipeline, or with `'skip'` is counted and ends only this file.
 */
async function* guarded(path: string, stage: StageStats, onError: OnError, reader: Reader, cursor: InnerCursor | undefined): AsyncGenerator<unknown[]> {
  stage.extra.files = (stage.extra.files ?? 0) + 1;
  try {
    yield* reader(path, stage, onError, cursor);
  } catch (error) {
    // A restore into changed data is no bad record: never skipped.
    if (error instanceof CheckpointError) throw error;
    const failure = ioError(error, path);
    if (onError === 'skip') {
      stage.skip(failure);
      return;
    }
    throw failure;
  }
}

/** Counts bytes read from disk into the stage. */
const countRead = (stage: StageStats, bytes: number): void => {
  stage.extra.bytesRead = (stage.extra.bytesRead ?? 0) + bytes;
};

/**
 * The chunks of an open file, counting bytes read from disk into the stage; closes it at the end.
 * A failure is named here, where the position in the file (the compressed offset, for gzip) is
 * known, unless `name` is false: then the reader names it, adding the line it reached.
 */
async function* chunksOf(source: ByteSource, stage: StageStats, name = true): AsyncGenerator<Buffer> {
  let counted = 0;
  try {
    for await (const chunk of source.stream) {
      const read = source.bytesRead();
      countRead(stage, read - counted);
      counted = read;
      yield chunk as Buffer;
    }
  } catch (error) {
    throw name ? source.failure(error) : error;
  } finally {
    source.close();
  }
}

/** A file's lines; a failure of its bytes names the line reached (and, for gzip, the offset). */
function lineBatches(path: string, compression: Compression, stage: StageStats, maxLineBytes: number, cursor: InnerCursor | undefined): AsyncGenerator<Line[]> {
  if (!cursor || isGzip(path, compression)) {
    skipStart(path, cursor);
    const source = openBytes(path, compression);
    return splitLines(chunksOf(source, stage, false), maxLineBytes, (error, line) => source.failure(error, line));
  }
  return (async function* () {
    const start = await seekStart(path, cursor, 1, { text: true });
    const source = openBytes(path, compression, CHUNK_BYTES, start.offset);
    yield* splitLines(chunksOf(source, stage, false), maxLineBytes, (error, line) => source.failure(error, line), { offset: start.offset, line: start.record });
  })();
}

/** Where a reader's item ends, and the number of the record after it (see `SeekPosition.record`): written into the cursor per record kept. */
interface Marker<I> {
  end(item: I): number;
  next(item: I): number;
}
const lineMarker: Marker<Line> = { end: (l) => l.end!, next: (l) => l.line + 1 };
const frameMarker: Marker<FramedRecord> = { end: (f) => f.offset + 16 + f.data.length, next: (f) => f.index! + 1 };

/** Marks an item `decode` dropped (a skipped bad record). */
const SKIP: unique symbol = Symbol('skip');

/**
 * Decodes a batch item by item. A bad record (a RecordError) is counted with `'skip'`; otherwise
 * the records decoded before it are yielded and then the error is thrown, so nothing good is lost.
 */
async function* decodeBatches<I, O>(
  batches: AsyncIterable<I[]>,
  decode: (item: I) => O | typeof SKIP,
  stage: StageStats,
  onError: OnError,
  cursor?: InnerCursor,
  marker?: Marker<I>,
): AsyncGenerator<O[]> {
  // Positions per record only inside a resumable pipeline: a plain run pays one test per record.
  const marks = cursor && marker ? { ends: cursor.ends, lines: cursor.lines, marker } : undefined;
  for await (const items of batches) {
    const out: O[] = [];
    for (const item of items) {
      let value: O | typeof SKIP;
      try {
        value = decode(item);
      } catch (error) {
        if (!(error instanceof RecordError)) throw error;
        if (onError === 'skip') {
          stage.skip(error);
          continue;
        }
        if (out.length > 0) yield out;
        throw error;
      }
      if (value !== SKIP) {
        if (marks) {
          marks.ends[out.length] = marks.marker.end(item);
          marks.lines[out.length] = marks.marker.next(item);
        }
        out.push(value);
      }
    }
    if (out.length > 0) yield out;
  }
}

/** A line over the limit, as a bad record at its line. */
/** The CSV fast path reads whole chunks of lines: it needs a line limit above a chunk. */
const FAST_CSV_MIN_LINE_BYTES = 1 << 20;
/**
 * Its reads (uncompressed files): 256 KiB into two reused buffers. Each read hands work to libuv's
 * thread pool, which costs the JS thread far more than the copy on a busy machine (measured here,
 * load ~10 on 2 cores: 50–200 µs a call, about 1 µs of it a 1.2 KB CSV row at 64 KiB reads).
 */
const FAST_CSV_READ_BYTES = 256 * 1024;
const tooLong = (path: string, line: number, max: number): RecordError => new RecordError(`line longer than maxLineBytes=${max}`, `${path}:${line}`);

function recordReader(options: FromFilesOptions): Reader {
  const compression = ('compression' in options ? options.compression : undefined) ?? 'auto';
  const { maxLineBytes = MAX_LINE_BYTES } = options as TextFormatOptions;
  if (!(maxLineBytes > 0)) throw new RangeError(`fromFiles: maxLineBytes must be > 0, got ${maxLineBytes}`);
  switch (options.format) {
    case 'lines': {
      const { skipEmpty = false } = options;
      return (path, stage, onError, cursor) =>
        decodeBatches(
          lineBatches(path, compression, stage, maxLineBytes, cursor),
          (line) => {
            if (line.tooLong) throw tooLong(path, line.line, maxLineBytes);
            return skipEmpty && line.text === '' ? SKIP : line.text;
          },
          stage,
          onError,
          cursor,
          lineMarker,
        );
    }
    case 'jsonl':
      return (path, stage, onError, cursor) =>
        decodeBatches(
          lineBatches(path, compression, stage, maxLineBytes, cursor),
          ({ text, line, tooLong: over }): unknown => {
            if (over) throw tooLong(path, line, maxLineBytes);
            if (text.trim() === '') return SKIP;
            try {
              return JSON.parse(text) as unknown;
            } catch (error) {
              throw new RecordError(`malformed JSON: ${(error as Error).message}`, `${path}:${line}`, { cause: error });
            }
          },
          stage,
          onError,
          cursor,
          lineMarker,
        );
    case 'csv': {
      const csv = options;
      // Labelled numeric rows: parsed on bytes (csvFast.ts), same rows and errors; a line that
      // grows past maxLineBytes is handed to the general parser, which refuses or skips it.
      if (numericCsv(csv) && maxLineBytes >= FAST_CSV_MIN_LINE_BYTES) {
        return (path, stage, onError, cursor) => {
          const options = { ...csv, maxLineBytes };
          const onRead = (bytes: number): void => countRead(stage, bytes);
          if (isGzip(path, compression)) {
            skipStart(path, cursor);
            const source = openBytes(path, compression);
            return numericCsvRows(chunksOf(source, stage, false), path, options, onError, stage, source.failure);
          }
          if (!cursor) return numericCsvRows(reusedChunks(path, onRead, FAST_CSV_READ_BYTES), path, options, onError, stage);
          return (async function* () {
            const track = await csvTrack(path, cursor);
            const rest = reusedChunks(path, onRead, FAST_CSV_READ_BYTES, track.offset);
            // A restore past a header: the header's bytes first (the names come from them), then the file from the position.
            const chunks = track.headerBytes > 0 ? prefixed(await readRange(path, 0, track.headerBytes), rest) : rest;
            yield* numericCsvRows(chunks, path, options, onError, stage, undefined, track);
          })();
        };
      }
      return (path, stage, onError, cursor) => {
        if (!cursor || isGzip(path, compression)) {
          skipStart(path, cursor);
          const source = openBytes(path, compression);
          return csvRows(chunkCounter(source, stage), path, { ...csv, maxLineBytes }, onError, stage, source.failure);
        }
        return (async function* () {
          const track = await csvTrack(path, cursor);
          const source = openBytes(path, compression, CHUNK_BYTES, track.offset);
          // Pulled (not flowing) when prefixed: the header goes first.
          const stream =
            track.headerBytes > 0
              ? Readable.from(prefixed(await readRange(path, 0, track.headerBytes), chunksOf(source, stage, false)), { objectMode: false })
              : chunkCounter(source, stage);
          yield* csvRows(stream, path, { ...csv, maxLineBytes }, onError, stage, source.failure, track.headerBytes > 0 ? 1 : track.line, track);
        })();
      };
    }
    case 'tfrecord': {
      const { verifyCrc = true, example, maxRecordBytes } = options;
      if (maxRecordBytes !== undefined && !(Number.isInteger(maxRecordBytes) && maxRecordBytes >= 0)) throw new RangeError(`fromFiles: maxRecordBytes must be an integer >= 0, got ${maxRecordBytes}`);
      const parse = example ? exampleParser(example) : undefined;
      const decode = (path: string) => (frame: FramedRecord | FrameError): unknown => {
        if (frame instanceof FrameError) throw frame;
        return parse ? parse(frame.data, `${path} byte ${frame.offset}`) : frame.data;
      };
      return (path, stage, onError, cursor) => {
        if (!cursor || isGzip(path, compression)) {
          skipStart(path, cursor);
          return decodeBatches(tfRecordFrames(chunksOf(openBytes(path, compression), stage), path, { verify: verifyCrc, maxRecordBytes }), decode(path), stage, onError, cursor, frameMarker);
        }
        return (async function* () {
          const start = await seekStart(path, cursor, 0);
          const frames = tfRecordFrames(chunksOf(openBytes(path, compression, CHUNK_BYTES, start.offset), stage), path, {
            verify: verifyCrc,
            maxRecordBytes,
            start: { offset: start.offset, index: start.record },
          });
          yield* decodeBatches(frames, decode(path), stage, onError, cursor, frameMarker);
        })();
      };
    }
    case 'binary': {
      const { recordBytes, headerBytes = 0, footerBytes = 0 } = options;
      if (!(Number.isInteger(recordBytes) && recordBytes >= 1)) throw new RangeError(`fromFiles: recordBytes must be an integer >= 1, got ${recordBytes}`);
      const fixed = { recordBytes, headerBytes, footerBytes };
      const marker: Marker<FixedRecord> = { end: (r) => r.offset + recordBytes, next: (r) => (r.offset - headerBytes) / recordBytes + 1 };
      return (path, stage, onError, cursor) => {
        if (!cursor || isGzip(path, compression)) {
          skipStart(path, cursor);
          return decodeBatches(fixedRecords(chunksOf(openBytes(path, compression), stage), path, fixed), (r) => r.data, stage, onError, cursor, marker);
        }
        return (async function* () {
          const start = await seekStart(path, cursor, 0);
          const records = fixedRecords(chunksOf(openBytes(path, compression, CHUNK_BYTES, start.offset), stage), path, fixed, { offset: start.offset });
          yield* decodeBatches(records, (r) => r.data, stage, onError, cursor, marker);
        })();
      };
    }
    case 'parquet': {
      const { rowGroupShard: s } = options;
      if (s && !(Number.isInteger(s.count) && s.count >= 1 && Number.isInteger(s.index) && s.index >= 0 && s.index < s.count)) {
        throw new RangeError(`fromFiles: rowGroupShard needs integers 0 <= index < count, got ${JSON.stringify(s)}`);
      }
      return (path, stage, onError, cursor) => parquetRecords(path, stage, onError, options, cursor);
    }
    case 'arrow':
      return (path, stage, _onError, cursor) => arrowRecords(path, stage, options, cursor);
    case 'avro':
      return (path, stage, onError, cursor) => {
        if (!cursor || isGzip(path, compression)) {
          skipStart(path, cursor);
          return avroRecords(chunksOf(openBytes(path, compression), stage), path, stage, onError, options);
        }
        return (async function* () {
          const box: { track?: AvroTrack } = {};
          const start = await seekStart(path, cursor, 0, { headerEnd: () => box.track?.headerEnd ?? 0 });
          const track: AvroTrack = { cursor, offset: start.offset, headerBytes: start.offset > 0 ? start.headerEnd : 0, record: start.record, headerEnd: start.headerEnd };
          box.track = track;
          const rest = chunksOf(openBytes(path, compression, CHUNK_BYTES, start.offset), stage);
          const chunks = track.headerBytes > 0 ? prefixed(Buffer.from(await readRange(path, 0, track.headerBytes)), rest) : rest;
          yield* avroRecords(chunks as AsyncIterable<Buffer>, path, stage, onError, options, track);
        })();
      };
    default:
      throw new TypeError(`fromFiles: unknown format '${(options as { format: string }).format}'`);
  }
}

/** For csv-parse, which reads a stream: counts bytes read into the stage as the parser pulls. */
function chunkCounter(source: ByteSource, stage: StageStats): ByteSource['stream'] {
  let counted = 0;
  source.stream.on('data', () => {
    const read = source.bytesRead();
    stage.extra.bytesRead = (stage.extra.bytesRead ?? 0) + read - counted;
    counted = read;
  });
  source.stream.on('close', () => source.close());
  return source.stream;
}

/** A CSV file's start in a resumable pipeline (see CsvTrack): fresh, or a restored position, whose header is read again from the file's start. */
async function csvTrack(path: string, cursor: InnerCursor): Promise<CsvTrack> {
  const box: { track?: CsvTrack } = {};
  const start = await seekStart(path, cursor, 1, { text: true, headerEnd: () => box.track?.headerEnd ?? 0 });
  box.track = { cursor, offset: start.offset, headerBytes: start.offset > 0 ? start.headerEnd : 0, line: start.record, headerEnd: start.headerEnd };
  return box.track;
}

/** `head`, then the chunks of `rest` (closed with it when the consumer stops). */
async function* prefixed(head: Uint8Array, rest: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield head;
  yield* rest;
}
