/** CSV rows out of a byte stream through csv-parse's streaming parser, with typed columns and labels. */
import { parse, type CsvError } from 'csv-parse';
import type { Readable } from 'node:stream';
import { RecordError, messageOf, type OnError } from '../../src/errors.js';
import type { StageStats } from '../../src/stats.js';
import { LineStarts, lineGuard } from './lineGuard.js';
import type { InnerCursor } from '../../src/state/sources.js';
import { MAX_LINE_BYTES } from './lines.js';

/** How a CSV column is converted: `float`/`int` → number, `bool` → boolean, `string` as is. */
export type CsvColumnType = 'float' | 'int' | 'bool' | 'string';

export interface CsvColumn {
  readonly type: CsvColumnType;
  /** Used for an empty cell; without it an empty typed cell is a RecordError. */
  readonly default?: number | string | boolean;
}

export interface CsvOptions {
  /** Default `','`. */
  readonly delimiter?: string;
  /** Default `'"'`; `false` turns quoting off. */
  readonly quote?: string | false;
  /** The first row is a header (names the columns unless `columnNames` is given; then it is skipped). Default true unless `columnNames` is given. */
  readonly header?: boolean;
  /** Column names for files without a header (or to rename a header's). */
  readonly columnNames?: readonly string[];
  /** Typed columns (others stay strings, or floats under `labels`). */
  readonly columns?: { readonly [name: string]: CsvColumn };
  /** Keep only these columns (in this order). */
  readonly select?: readonly string[];
  /** Turn rows into `{ xs: Float32Array, ys }`: these columns are the label(s), the others the features. */
  readonly labels?: readonly string[];
}

/**
 * Internal options: names the fast path (csvFast.ts) read from the file's header before handing
 * the file over, still open to the row-name rule (see {@link withRowNames}).
 */
export interface CsvInternals {
  readonly headerNames?: readonly string[];
}

/**
 * Internal: positions for a resumable pipeline (see position.ts). The parser writes, per row of
 * each batch it yields, the file offset where the next record starts and that record's line
 * (`cursor.ends`/`lines`), and the header's end into `headerEnd`.
 */
export interface CsvTrack {
  readonly cursor: InnerCursor;
  /**
   * The file offset of the stream's first byte; or, when `headerBytes` > 0 (a restore), the
   * stream is the header's bytes `[0, headerBytes)` followed by the file from `offset`.
   */
  offset: number;
  headerBytes: number;
  /** With `headerBytes`: the line number of the first line after the header (the restored record's). */
  readonly line: number;
  /** Written by the parser: the file offset just past the header (0 without one). */
  headerEnd: number;
}

/** The name a header cell that is empty gets, after its position: pandas' `Unnamed: 0`. */
export const unnamedColumn = (index: number): string => `Unnamed: ${index}`;

/** Column names from a header's cells: trimmed, and an empty one named by its position (`Unnamed: 0`). */
export function headerNames(cells: readonly string[]): string[] {
  return cells.map((cell, i) => cell.trim() || unnamedColumn(i));
}

/**
 * The header's names for rows `width` cells wide: a header one cell short of its rows (R's
 * `write.csv`, whose rows begin with an unnamed row name) gets that first column as `Unnamed: 0`,
 * as if its header began with an empty cell (pandas' `to_csv` with the index). Any other width is
 * left to the row's own column-count check.
 */
export function withRowNames(names: readonly string[], width: number): string[] {
  return width === names.length + 1 ? [unnamedColumn(0), ...names] : [...names];
}

/** A CSV row as named cells. */
export type CsvRow = { [column: string]: string | number | boolean };

/** A CSV row split into features and label(s): `ys` is a number for one label column (a type alias so `batch` stacks it). */
export type LabelledRow = {
  xs: Float32Array;
  ys: number | Float32Array;
};

const FLOAT: CsvColumn = { type: 'float' };
const TRUE = new Set(['true', '1', 'yes', 't', 'y']);
const FALSE = new Set(['false', '0', 'no', 'f', 'n']);

/** One cell to its column's type; exported for the numeric fast path (csvFast.ts), whose slow cells go through it. */
export function convert(cell: string, name: string, column: CsvColumn | undefined, at: string): string | number | boolean {
  if (!column || column.type === 'string') return cell === '' && column?.default !== undefined ? column.default : cell;
  const text = cell.trim();
  if (text === '') {
    if (column.default !== undefined) return column.default;
    throw new RecordError(`column '${name}': empty cell and no default`, at);
  }
  if (column.type === 'bool') {
    const lower = text.toLowerCase();
    if (TRUE.has(lower)) return true;
    if (FALSE.has(lower)) return false;
    throw new RecordError(`column '${name}': '${text}' is not a boolean`, at);
  }
  const value = Number(text);
  if (Number.isNaN(value)) throw new RecordError(`column '${name}': '${text}' is not a number`, at);
  if (column.type === 'int' && !Number.isInteger(value)) throw new RecordError(`column '${name}': '${text}' is not an integer`, at);
  return value;
}

/** csv-parse quotes the whole offending field in its messages: up to a line's worth of data in an error. */
const brief = (message: string): string => (message.length > 300 ? `${message.slice(0, 300)}…` : message);

/** An opening quote that runs to the end of the file, named at the line where its record starts. */
const quoteNotClosed = (error: CsvError, at: string): RecordError =>
  new RecordError('malformed CSV: quote not closed: the record starting here runs to the end of the file', at, { cause: error });

/** Line breaks inside a quoted field: each moves the next record's first line down. */
const BREAKS = /\r\n|\r|\n/g;

/**
 * Reads a stream's buffered objects in batches: one await per batch rather than per object.
 * Ends when the stream ends or is destroyed; rethrows its error.
 */
async function* readBatches<T>(stream: Readable): AsyncGenerator<T[]> {
  for (;;) {
    const batch: T[] = [];
    for (let item = stream.read() as T | null; item !== null; item = stream.read() as T | null) batch.push(item);
    if (batch.length > 0) {
      yield batch;
      continue;
    }
    if (stream.errored) throw stream.errored;
    if (stream.readableEnded || stream.destroyed) return;
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        cleanup();
        resolve();
      };
      const fail = (error: unknown): void => {
        cleanup();
        reject(error);
      };
      const cleanup = (): void => {
        stream.off('readable', done);
        stream.off('end', done);
        stream.off('close', done);
        stream.off('error', fail);
      };
      stream.on('readable', done);
      stream.on('end', done);
      stream.on('close', done);
      stream.on('error', fail);
    });
  }
}

/**
 * Parses the CSV rows of `stream` (csv-parse's streaming API, read as the pipeline asks, so that
 * a paused pipeline pauses the parser and the file read). Errors name `path:line`; with
 * `onError: 'skip'` a bad row is skipped and counted (after a quoting error csv-parse resumes at
 * the next record it can find, and every piece it drops is counted). Yields rows in batches.
 */
export async function* csvRows(
  stream: Readable,
  path: string,
  options: CsvOptions & CsvInternals & { readonly maxLineBytes?: number },
  onError: OnError,
  stage: StageStats,
  failure: (error: unknown, line?: number) => RecordError = (error) =>
    new RecordError(`cannot read file: ${messageOf(error)}`, path, { cause: error }),
  firstLine = 1,
  track?: CsvTrack,
): AsyncGenerator<(CsvRow | LabelledRow)[]> {
  const { delimiter = ',', quote = '"', labels, select, maxLineBytes = MAX_LINE_BYTES } = options;
  const given = options.columns ?? {};
  /** A column's type, from the user's own keys only (a header cell named `__proto__` or `constructor` must not find Object.prototype's). */
  const columnOf = (name: string): CsvColumn | undefined => (Object.hasOwn(given, name) ? given[name] : undefined);
  const header = options.header ?? options.columnNames === undefined;
  /** The line the next record starts on. Counted here: csv-parse's per-record `info` costs 4x its parsing. */
  let line = firstLine;
  /**
   * csv-parse's and the guard's line numbers count from the stream's start: the file's line is
   * theirs plus `shift` (a restore moves it once the header is read: the lines between the
   * header and the position were never read).
   */
  let shift = firstLine - 1;
  /** Tracking: where each line of the stream starts (the guard records them), and the stream's offsets as file offsets. */
  const starts = track ? new LineStarts() : undefined;
  const fileOffset = (at: number): number =>
    track!.headerBytes > 0 ? (at < track!.headerBytes ? at : at - track!.headerBytes + track!.offset) : at + track!.offset;
  const parser = parse({
    delimiter,
    quote: quote === false ? null : quote,
    // Explicit: csv-parse would guess one ending from the first row, and files mix them (optdigits' header ends in \r\n, its rows in \n).
    record_delimiter: ['\r\n', '\n', '\r'],
    bom: true,
    relax_column_count: true,
    // Empty lines come through as [''] so that the line count stays exact; they are dropped below.
    skip_empty_lines: false,
    skip_records_with_error: onError === 'skip',
    // A backstop for records of many short quoted lines (the guard below bounds physical lines);
    // csv-parse cannot resume after it, so it ends the file even under 'skip'.
    max_record_size: maxLineBytes,
    on_skip: (error: CsvError | undefined) => {
      if (error?.code === 'CSV_MAX_RECORD_SIZE' && !fatal) {
        // Stop feeding the parser: the rows it has parsed still go out, then this error ends the file.
        fatal = new RecordError(`CSV record longer than maxLineBytes=${maxLineBytes}`, `${path}:${typeof error.lines === 'number' ? error.lines + shift : '?'}`, { cause: error });
        guard.unpipe(parser);
        parser.end();
      }
      // After the fatal error, what the parser says about the cut-off input is a consequence, not a record.
      if (fatal) return undefined;
      if (error?.code === 'CSV_QUOTE_NOT_CLOSED') {
        // Found at the end of the file; reported once the rows before it are counted, at the line
        // where its record starts.
        unclosed = error;
        return undefined;
      }
      stage.skip(new RecordError(`malformed CSV: ${error ? brief(messageOf(error)) : 'unknown error'}`, `${path}:${typeof error?.lines === 'number' ? error.lines + shift : '?'}`, { cause: error }));
      // Resynchronise the count where csv-parse found the error.
      if (typeof error?.lines === 'number') line = error.lines + shift + 1;
      return undefined;
    },
  });
  /** A record over the limit under 'skip': csv-parse cannot resume after it, so it ends the file once the rows before it are out. */
  let fatal: RecordError | undefined;
  /** An opening quote never closed, skipped under 'skip' (it runs to the end of the file). */
  let unclosed: CsvError | undefined;
  // Over-long lines never reach the parser: an error at their line, or dropped and counted.
  const guard = lineGuard(maxLineBytes, (line) => {
    const error = new RecordError(`line longer than maxLineBytes=${maxLineBytes}`, `${path}:${line + shift}`);
    if (onError === 'fail') return error;
    stage.skip(error);
    return undefined;
  }, starts);
  // The line the parser had reached when the bytes failed (a corrupt gzip stream).
  stream.on('error', (error) => parser.destroy(failure(error, parser.info.lines + shift)));
  // readBatches reads the parser's error from `errored`: an error emitted between its waits must not be uncaught.
  parser.on('error', () => undefined);
  guard.on('error', (error) => parser.destroy(error));
  stream.pipe(guard).pipe(parser);
  let names: string[] | undefined = options.columnNames ? [...options.columnNames] : options.headerNames ? [...options.headerNames] : undefined;
  /** The names came from the file's header (so a header one cell short gets a row-name column). */
  let namesFromHeader = !options.columnNames && !!options.headerNames;
  /** Per output position: the source column index (resolved once the names are known). */
  let picks: number[] = [];
  let labelPicks: number[] = [];
  let headerSeen = false;
  /** Column picks computed (once the names are known). */
  let resolved = false;
  const resolve = (all: string[]): void => {
    const index = (name: string): number => {
      const i = all.indexOf(name);
      if (i < 0) throw new RecordError(`no column named '${name}' (columns: ${all.join(', ')})`, `${path}:1`);
      return i;
    };
    for (const name of Object.keys(given)) index(name);
    labelPicks = (labels ?? []).map(index);
    const kept = select ? select.map(index) : all.map((_, i) => i);
    picks = labels ? kept.filter((i) => !labelPicks.includes(i)) : kept;
  };
  const convertRow = (record: string[], names: string[], at: string): CsvRow | LabelledRow => {
    if (record.length !== names.length) throw new RecordError(`expected ${names.length} columns, got ${record.length}`, at);
    if (labels) {
      const xs = new Float32Array(picks.length);
      for (let k = 0; k < picks.length; k++) xs[k] = Number(convert(record[picks[k]], names[picks[k]], columnOf(names[picks[k]]) ?? FLOAT, at));
      const ys = labelPicks.map((c) => Number(convert(record[c], names[c], columnOf(names[c]) ?? FLOAT, at)));
      return { xs, ys: ys.length === 1 ? ys[0] : Float32Array.from(ys) };
    }
    const row: CsvRow = {};
    for (const c of picks) {
      const name = names[c];
      const value = convert(record[c], name, columnOf(name), at);
      // `row.__proto__ = v` would set (or silently ignore) the prototype: a header cell named so is an own column like any other.
      if (name === '__proto__') Object.defineProperty(row, name, { value, enumerable: true, writable: true, configurable: true });
      else row[name] = value;
    }
    return row;
  };
  try {
    for await (const records of readBatches<string[]>(parser)) {
      const out: (CsvRow | LabelledRow)[] = [];
      // Lines before the current one are never asked for again.
      starts?.release(line - shift);
      for (const record of records) {
        const at = `${path}:${line}`;
        for (const field of record) if (field.includes('\n') || field.includes('\r')) line += field.match(BREAKS)!.length;
        line++;
        if (record.length === 1 && record[0] === '') continue;
        if (header && !headerSeen) {
          headerSeen = true;
          if (track) {
            if (track.headerBytes > 0) {
              // A restore: the file goes on at the saved position, whose line is the saved one.
              track.headerEnd = track.headerBytes;
              shift += track.line - line;
              line = track.line;
            } else {
              track.headerEnd = fileOffset(starts!.get(line - shift));
            }
          }
          // Given names win over the header's (files whose header lacks the row-name column).
          if (names === undefined) {
            names = headerNames(record);
            namesFromHeader = true;
          }
          continue;
        }
        if (names === undefined) names = record.map((_, i) => String(i));
        if (!resolved) {
          if (namesFromHeader) names = withRowNames(names, record.length);
          resolve(names);
          resolved = true;
        }
        try {
          const row = convertRow(record, names, at);
          if (track) {
            track.cursor.ends[out.length] = fileOffset(starts!.get(line - shift));
            track.cursor.lines[out.length] = line;
          }
          out.push(row);
        } catch (error) {
          if (onError === 'skip' && error instanceof RecordError) {
            stage.skip(error);
            continue;
          }
          // The rows before the bad one go out first.
          if (out.length > 0) yield out;
          throw error;
        }
      }
      if (out.length > 0) yield out;
    }
    if (fatal) throw fatal;
    // `line` is now where the unclosed record starts: every record before it was counted.
    if (unclosed) stage.skip(quoteNotClosed(unclosed, `${path}:${line}`));
  } catch (error) {
    if (error instanceof RecordError) throw error;
    if ((error as { code?: string }).code === 'CSV_QUOTE_NOT_CLOSED') throw quoteNotClosed(error as CsvError, `${path}:${line}`);
    const lines = (error as { lines?: number }).lines;
    if ((error as { code?: string }).code === 'CSV_MAX_RECORD_SIZE') {
      throw new RecordError(`CSV record longer than maxLineBytes=${maxLineBytes}`, `${path}:${lines === undefined ? '?' : lines + shift}`, { cause: error });
    }
    throw new RecordError(`malformed CSV: ${brief(messageOf(error))}`, lines !== undefined ? `${path}:${lines + shift}` : path, { cause: error });
  } finally {
    stream.unpipe(guard);
    guard.unpipe(parser);
    guard.destroy();
    parser.destroy();
    // Closes the file (or the gunzip stream, which closes the file).
    stream.destroy();
  }
}
