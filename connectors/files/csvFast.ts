/**
 * Numeric CSV on bytes: rows of number cells parsed straight from the read chunks into
 * `Float32Array`s, without a string per line or per cell. The fast path of `fromFiles(…,
 * { format: 'csv', labels })`; its rows, line numbers and errors are the general parser's
 * (`csv.ts`, csv-parse), and a file whose bytes hold a quote character goes on through the
 * general parser from that point (quoted fields are its job).
 */
import { MAX_LINE_BYTES } from './lines.js';
import { Readable } from 'node:stream';
import { RecordError, type OnError } from '../../src/errors.js';
import type { StageStats } from '../../src/stats.js';
import { convert, csvRows, headerNames, withRowNames, type CsvColumn, type CsvInternals, type CsvOptions, type CsvTrack, type LabelledRow } from './csv.js';
import { FloatSlab } from './slab.js';
import { ioError } from './source.js';

const FLOAT: CsvColumn = { type: 'float' };
const LF = 10;
const CR = 13;
const SPACE = 32;
const TAB = 9;

/**
 * Whether `numericCsvRows` can read files with these options: labelled rows (every kept column a
 * number), typed columns only `float`/`int`, a one-byte delimiter and quote.
 */
export function numericCsv(options: CsvOptions): boolean {
  const { delimiter = ',', quote = '"', columns = {}, labels } = options;
  if (!labels) return false;
  if (!oneByte(delimiter) || delimiter === '\n' || delimiter === '\r' || (quote !== false && !oneByte(quote))) return false;
  return Object.values(columns).every((c) => c.type === 'float' || c.type === 'int');
}

const oneByte = (s: string): boolean => s.length === 1 && s.charCodeAt(0) < 0x80;

/** Powers of ten a double holds exactly: a decimal of up to 15 digits scaled by one of them rounds once, as `Number()` does. */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);

/** Where a number cell's parse ended (`cellEnd`), shared by `number` and its callers (the parse is synchronous). */
let cellEnd = 0;
/** The last `number` had 16 to 19 significant digits: its value may be a few ulps off `Number(text)`. */
let approximate = false;

/**
 * Parses the cell starting at `b[s]` (up to the delimiter `d`, a line break or `end`) as
 * `Number(text.trim())` would, and sets `cellEnd` to the byte that ended it. NaN means "not a
 * plain decimal": the caller then converts the cell's text the general way (hex, Infinity,
 * more than 19 digits, non-ASCII, an error). Up to 15 significant digits and a power of ten up
 * to 22 the result is exact (one rounding, as `Number`); 16 to 19 digits (a float32 printed as a
 * double: 17) set `approximate`.
 */
function number(b: Uint8Array, s: number, end: number, d: number): number {
  let i = s;
  while (i < end && (b[i] === SPACE || b[i] === TAB)) i++;
  let negative = false;
  if (i < end && (b[i] === 0x2d || b[i] === 0x2b)) negative = b[i++] === 0x2d;
  // Leading zeros are no significant digits: skipped first, so the digit loops only accumulate.
  const start = i;
  while (i < end && b[i] === 0x30) i++;
  let mantissa = 0;
  let c = 0;
  let from = i;
  for (; i < end; i++) {
    c = b[i] - 0x30;
    if (c < 0 || c > 9) break;
    mantissa = mantissa * 10 + c;
  }
  let significant = i - from;
  let digits = i - start;
  let scale = 0;
  if (i < end && b[i] === 0x2e) {
    i++;
    const point = i;
    // 0.000123: zeros after the point are significant only after a non-zero digit.
    if (significant === 0) while (i < end && b[i] === 0x30) i++;
    from = i;
    for (; i < end; i++) {
      c = b[i] - 0x30;
      if (c < 0 || c > 9) break;
      mantissa = mantissa * 10 + c;
    }
    significant += i - from;
    digits += i - point;
    scale = i - point;
  }
  let exponent = 0;
  let bad = digits === 0 || significant > 19;
  approximate = significant > 15;
  if (i < end && (b[i] === 0x65 || b[i] === 0x45)) {
    i++;
    let negExp = false;
    if (i < end && (b[i] === 0x2d || b[i] === 0x2b)) negExp = b[i++] === 0x2d;
    const at = i;
    for (; i < end; i++) {
      c = b[i] - 0x30;
      if (c < 0 || c > 9) break;
      if (exponent < 1000) exponent = exponent * 10 + c;
    }
    if (i === at) bad = true;
    if (negExp) exponent = -exponent;
  }
  if (i < end) {
    c = b[i];
    if (c !== d && c !== LF && c !== CR) {
      while (i < end && (b[i] === SPACE || b[i] === TAB)) i++;
      if (i < end && b[i] !== d && b[i] !== LF && b[i] !== CR) {
        // Something else in the cell: find its end, the general conversion will judge it.
        while (i < end && b[i] !== d && b[i] !== LF && b[i] !== CR) i++;
        bad = true;
      }
    }
  }
  cellEnd = i;
  if (bad) return NaN;
  const k = exponent - scale;
  let value: number;
  if (k === 0) value = mantissa;
  else if (k > 0 && k <= 22) value = mantissa * POW10[k];
  else if (k < 0 && k >= -22) value = mantissa / POW10[-k];
  else return NaN;
  return negative ? -value : value;
}

/**
 * Whether a value a few ulps off the exact decimal still gives the float32 `Number(text)` gives:
 * true when everything within 2^-45 of it (hundreds of ulps) rounds to the same float32
 * (rounding is monotonic), false near a float32 rounding boundary, rare.
 */
function sureFloat32(value: number): boolean {
  const f = Math.fround(value);
  return Math.fround(value * (1 + 2 ** -45)) === f && Math.fround(value * (1 - 2 ** -45)) === f;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Not a feature or label column: its cells are passed over unread. */
const UNUSED = 0x7fffffff;

/** Where the last `parseRow` stopped: the line break that ended the row, or the region's end. */
let rowEnd = 0;

/** The index of the first line break in `b[p, e)`, or `e`. */
function lineEnd(b: Uint8Array, p: number, e: number): number {
  while (p < e && b[p] !== LF && b[p] !== CR) p++;
  return p;
}

/** The index just past the line break at `b[stop]` (`\r\n` counts as one), or `e`. */
const pastBreak = (b: Uint8Array, stop: number, e: number): number =>
  stop >= e ? e : stop + (b[stop] === CR && stop + 1 < e && b[stop + 1] === LF ? 2 : 1);

/** A failure of a file's chunks as the RecordError that names it, with the line reached (gzip adds its offset). */
export type ChunkFailure = (error: unknown, line?: number) => RecordError;

/**
 * Reads labelled rows (`{ xs: Float32Array, ys }`, as `csvRows` with `labels`) from a file's
 * chunks, one batch per chunk. See the module comment; `numericCsv(options)` must hold.
 * A chunk is read only until the next is asked for (the reader may reuse its memory): whatever
 * outlives it (a line's start, a hand-over) is copied. An error of `chunks` goes through `failure`
 * with the line reached.
 */
export async function* numericCsvRows(
  chunks: AsyncIterable<Uint8Array>,
  path: string,
  options: CsvOptions & { readonly maxLineBytes?: number },
  onError: OnError,
  stage: StageStats,
  failure: ChunkFailure = (error) => ioError(error, path),
  track?: CsvTrack,
): AsyncGenerator<LabelledRow[]> {
  const maxLineBytes = options.maxLineBytes ?? MAX_LINE_BYTES;
  const { delimiter = ',', quote = '"', labels = [], select } = options;
  const columns = options.columns ?? {};
  const columnOf = (name: string): CsvColumn | undefined => (Object.hasOwn(columns, name) ? columns[name] : undefined);
  const header = options.header ?? options.columnNames === undefined;
  const d = delimiter.charCodeAt(0);
  const q = quote === false ? -1 : quote.charCodeAt(0);
  /** The 1-based line the next line break ends (a restore without a header starts at its saved line). */
  let line = track && track.headerBytes === 0 ? track.line : 1;
  let names: string[] | undefined = options.columnNames ? [...options.columnNames] : undefined;
  /** The names came from the file's header (so a header one cell short gets a row-name column). */
  let namesFromHeader = false;
  let headerSeen = !header;
  /** The feature columns and the label columns (source indices), once the names are known. */
  let picks: number[] | undefined;
  let labelPicks: number[] = [];
  /** Per source column: its feature index k, or label k as -(k + 1), or UNUSED. */
  let slot = new Int32Array(0);
  /** Per source column: an `int` column (its values must be integers). */
  let ints = new Uint8Array(0);
  /** The current row's labels. */
  let ys = new Float64Array(0);
  /** Rows' feature arrays come out of 4 KiB slabs (one allocation per slab, not per row). */
  const slab = new FloatSlab();
  /** Tracking (a resumable pipeline): per row of a batch, the file offset after it and the next line (see CsvTrack). */
  const ends = track?.cursor.ends;
  const nexts = track?.cursor.lines;
  /** The file offset of the next raw chunk's first byte (a restore's header chunk first, then the file from the position). */
  let fileAt = track && track.headerBytes === 0 ? track.offset : 0;

  const resolve = (all: string[]): void => {
    const index = (name: string): number => {
      const i = all.indexOf(name);
      if (i < 0) throw new RecordError(`no column named '${name}' (columns: ${all.join(', ')})`, `${path}:1`);
      return i;
    };
    for (const name of Object.keys(columns)) index(name);
    labelPicks = labels.map(index);
    const kept = select ? select.map(index) : all.map((_, i) => i);
    const chosen = kept.filter((i) => !labelPicks.includes(i));
    picks = chosen;
    slot = new Int32Array(all.length).fill(UNUSED);
    chosen.forEach((c, k) => (slot[c] = k));
    labelPicks.forEach((c, k) => (slot[c] = -(k + 1)));
    ints = Uint8Array.from(all, (n) => (columnOf(n)?.type === 'int' ? 1 : 0));
    ys = new Float64Array(labelPicks.length);
  };

  /**
   * A row the general way (csv.ts's conversion, in its order), for a line the fast parse could
   * not take whole: same values, same error.
   */
  const generalRow = (record: string[], at: string): LabelledRow | RecordError => {
    const all = names!;
    if (record.length !== all.length) return new RecordError(`expected ${all.length} columns, got ${record.length}`, at);
    const value = (c: number): number => Number(convert(record[c], all[c], columnOf(all[c]) ?? FLOAT, at));
    try {
      const xs = Float32Array.from(picks!, value);
      const values = labelPicks.map(value);
      return { xs, ys: values.length === 1 ? values[0] : Float32Array.from(values) };
    } catch (error) {
      return error as RecordError;
    }
  };

  /** Cells of one line, as text: the header, and cells the fast number parse left to `convert`. */
  const cellsOf = (b: Uint8Array, s: number, e: number): string[] => utf8.decode(b.subarray(s, e)).split(delimiter);

  /**
   * The header line (or, without one, the first row: its width names the columns) and, at the
   * first row, the column picks. `s` starts a line that is not empty, `stop` is its end.
   */
  const learn = (b: Uint8Array, s: number, stop: number): void => {
    if (!headerSeen) {
      headerSeen = true;
      if (names === undefined) {
        names = headerNames(cellsOf(b, s, stop));
        namesFromHeader = true;
      }
      return;
    }
    let width = 1;
    for (let p = s; p < stop; p++) if (b[p] === d) width++;
    if (names === undefined) names = Array.from({ length: width }, (_, i) => String(i));
    else if (namesFromHeader) names = withRowNames(names, width);
    resolve(names);
  };

  /**
   * Parses one row's cells from `b[s]` up to the line break that ends it (or `e`), and sets
   * `rowEnd` there: one pass over the bytes, no string. Returns the row or the RecordError that
   * names it.
   */
  const parseRow = (b: Uint8Array, s: number, e: number, at: number): LabelledRow | RecordError => {
    const width = names!.length;
    const xs = slab.take(picks!.length);
    let column = 0;
    let p = s;
    for (;;) {
      const where = column < width ? slot[column] : UNUSED;
      if (where === UNUSED) {
        while (p < e && b[p] !== d && b[p] !== LF && b[p] !== CR) p++;
      } else {
        const value = number(b, p, e, d);
        // Not a plain decimal, an int column's fraction, or a long decimal whose float32 is not
        // certain: the line goes the general way.
        if (Number.isNaN(value) || (ints[column] === 1 && !Number.isInteger(value)) || (approximate && !(where >= 0 && sureFloat32(value)))) {
          rowEnd = lineEnd(b, p, e);
          return generalRow(cellsOf(b, s, rowEnd), `${path}:${at}`);
        }
        if (where >= 0) xs[where] = value;
        else ys[-where - 1] = value;
        p = cellEnd;
      }
      column++;
      if (p >= e || b[p] !== d) break;
      p++; // the delimiter
    }
    rowEnd = p;
    if (column !== width) return new RecordError(`expected ${width} columns, got ${column}`, `${path}:${at}`);
    return { xs, ys: ys.length === 1 ? ys[0] : Float32Array.from(ys) };
  };

  /**
   * Parses the complete lines in `b[s, e)` (e just past a line break, or the file's end) into
   * `out`. Returns the bad row's error when it must stop (onError 'fail'), else undefined.
   */
  const parseLines = (b: Uint8Array, s: number, e: number, out: LabelledRow[], base: number): RecordError | undefined => {
    let p = s;
    while (p < e) {
      const at = line++;
      if (b[p] === LF || b[p] === CR) {
        p = pastBreak(b, p, e);
        continue;
      }
      if (picks === undefined) {
        const stop = lineEnd(b, p, e);
        const wasHeader = !headerSeen;
        learn(b, p, stop);
        if (wasHeader) {
          p = pastBreak(b, stop, e);
          if (track && track.headerBytes === 0) track.headerEnd = base + p;
          continue;
        }
      }
      const row = parseRow(b, p, e, at);
      p = pastBreak(b, rowEnd, e);
      if (row instanceof RecordError) {
        if (onError === 'skip') {
          stage.skip(row);
          continue;
        }
        return row;
      }
      if (ends) {
        ends[out.length] = base + p;
        nexts![out.length] = line;
      }
      out.push(row);
    }
    return undefined;
  };

  const it = chunks[Symbol.asyncIterator]();
  /** The bytes of a line begun in an earlier chunk (at most one line), a copy, and the file offset of its first byte. */
  let rest: Uint8Array = new Uint8Array(0);
  let restBase = 0;
  /** The last chunk ended in CR: a LF starting the next one belongs to that break. */
  let pendingCR = false;
  let first = true;
  let handedOver = false;
  try {
    for (;;) {
      let result: IteratorResult<Uint8Array>;
      try {
        result = await it.next();
      } catch (error) {
        throw failure(error, line);
      }
      if (result.done) break;
      const value = result.value;
      // One element kind on the hot path (a Buffer is a Uint8Array of another map).
      let chunk = new Uint8Array(value.buffer, value.byteOffset, value.length);
      /** The file offset of `chunk[0]`. */
      let base = fileAt;
      fileAt += chunk.length;
      if (first) {
        first = false;
        // A UTF-8 byte order mark, as csv-parse's `bom` option drops it (at the file's start only).
        if (base === 0 && chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) {
          chunk = chunk.subarray(3);
          base += 3;
        }
      }
      if (pendingCR && chunk.length > 0 && chunk[0] === LF) {
        chunk = chunk.subarray(1);
        base++;
      }
      pendingCR = false;
      if ((q >= 0 && chunk.indexOf(q) >= 0) || rest.length + chunk.length > maxLineBytes) {
        // Quoted fields, or a line that may grow past maxLineBytes: the general parser takes the
        // file over from the start of this line (it refuses or skips over-long lines).
        handedOver = true;
        yield* handOver(concat(rest, chunk, true), it, rest.length > 0 ? restBase : base);
        return;
      }
      const out: LabelledRow[] = [];
      // The last line break of the chunk: the lines before it are complete.
      let last = chunk.length - 1;
      while (last >= 0 && chunk[last] !== LF && chunk[last] !== CR) last--;
      let error: RecordError | undefined;
      if (last < 0) {
        if (rest.length === 0) restBase = base;
        rest = concat(rest, chunk, true);
      } else {
        let from = 0;
        if (rest.length > 0) {
          // The line begun earlier ends at this chunk's first break.
          const firstBreak = lineEnd(chunk, 0, chunk.length);
          const joined = concat(rest, chunk.subarray(0, firstBreak + 1), false);
          from = pastBreak(chunk, firstBreak, chunk.length);
          error = parseLines(joined, 0, joined.length, out, restBase);
        }
        if (!error) error = parseLines(chunk, from, last + 1, out, base);
        pendingCR = chunk[last] === CR;
        rest = last + 1 < chunk.length ? chunk.slice(last + 1) : new Uint8Array(0);
        restBase = base + last + 1;
      }
      if (track && track.headerBytes > 0 && fileAt === track.headerBytes) {
        // A restore: the header chunk is read; the file goes on at the saved position and line.
        fileAt = track.offset;
        line = track.line;
        pendingCR = false;
        track.headerEnd = track.headerBytes;
      }
      if (out.length > 0) yield out;
      if (error) throw error;
    }
    if (rest.length > 0) {
      const out: LabelledRow[] = [];
      const error = parseLines(rest, 0, rest.length, out, restBase);
      if (out.length > 0) yield out;
      if (error) throw error;
    }
  } finally {
    // After a hand-over the general parser's stream owns the iterator (and closes it).
    if (!handedOver) await it.return?.();
  }

  /** Continues the file through `csvRows` from `head` (the current line on) and the chunks after it. */
  async function* handOver(head: Uint8Array, tail: AsyncIterator<Uint8Array>, headAt: number): AsyncGenerator<LabelledRow[]> {
    async function* bytes(): AsyncGenerator<Uint8Array> {
      try {
        yield head;
        // Copies: the stream below may hold a chunk past the next read.
        for (let r = await tail.next(); !r.done; r = await tail.next()) yield r.value.slice();
      } finally {
        await tail.return?.();
      }
    }
    // Names already read stay: given ones as given, a header's still open to the row-name rule.
    const rest: CsvOptions & CsvInternals = {
      ...options,
      header: !headerSeen,
      columnNames: picks !== undefined || !namesFromHeader ? names : undefined,
      headerNames: picks === undefined && namesFromHeader ? names : undefined,
    };
    const stream = Readable.from(bytes(), { objectMode: false });
    // Tracking goes on from the head's file offset; a hand-over at a restore's header chunk
    // leaves the jump to the saved position to the general parser.
    if (track && !(track.headerBytes > 0 && fileAt <= track.headerBytes)) {
      track.offset = headAt;
      track.headerBytes = 0;
    }
    yield* csvRows(stream, path, rest, onError, stage, failure, line, track) as AsyncGenerator<LabelledRow[]>;
  }
}

/** `a` then `b` in one array; `b` itself when `a` is empty and `own` is false (else a copy). */
function concat(a: Uint8Array, b: Uint8Array, own: boolean): Uint8Array {
  if (a.length === 0) return own ? b.slice() : b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
