/**
 * Parquet files, one row group at a time: the footer is read first, then each row group's column
 * chunks by byte range through a file handle, only when the pipeline asks for more. Decoding by
 * hyparquet (pure JS, no native code); snappy, zstd and the others from hyparquet-compressors,
 * gzip and brotli by Node's zlib.
 *
 * In flight per open file: one row group's selected column chunks (compressed and decoded), and
 * up to {@link ROWS_PER_BATCH} row objects made from it.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { parquetMetadataAsync, parquetRead, parquetSchema, type AsyncBuffer, type ColumnData, type Compressors, type FileMetaData, type SchemaTree } from 'hyparquet';
import { compressors as pureCompressors } from 'hyparquet-compressors';
import { RecordError, messageOf, type OnError } from '../../src/errors.js';
import type { StageStats } from '../../src/stats.js';
import type { InnerCursor } from '../../src/state/sources.js';
import { groupStart } from './position.js';
import {
  ROWS_PER_BATCH,
  groupMayMatch,
  int64ToNumber,
  matchingRows,
  pick,
  rowsOf,
  toColumn,
  type ColumnStats,
  type Comparable,
  type NumericKind,
  type RowGroupStats,
  type WhereConditions,
} from './columnar.js';

/** Options of `fromFiles(..., { format: 'parquet' })`. */
export interface ParquetOptions {
  /** Top-level columns to read (others are never fetched from disk). Default: all. */
  readonly select?: readonly string[];
  /**
   * Predicate push-down. Conditions (`{ label: { in: [3, 5] }, x: { gte: 0, lt: 10 } }`) skip
   * the row groups whose min/max statistics rule them out, unread, and then keep only the rows that
   * satisfy them (null satisfies nothing). A function sees each row group's statistics and says
   * whether to read it (no row filter then).
   */
  readonly where?: WhereConditions | ((group: RowGroupStats) => boolean);
  /**
   * `'rows'` (default): one object per row. `'columns'`: one object per row group, column name →
   * NDArray for numeric columns (float stays float32, int32 stays int32, int64 becomes float64,
   * booleans Uint8Array, fixed-length numeric lists `[n, L]`), plain arrays for the rest.
   */
  readonly output?: 'rows' | 'columns';
  /** INT64 values as `'number'` (default; exact to 2^53) or `'bigint'` (rows only). */
  readonly int64?: 'number' | 'bigint';
  /** Only this worker's share of every file's row groups: group `g` when `g % count === index`. */
  readonly rowGroupShard?: { readonly count: number; readonly index: number };
  /** Largest row group (uncompressed bytes of the selected columns) read into memory. Default 1 GiB. */
  readonly maxRowGroupBytes?: number;
}

/** Footer bytes fetched first (hyparquet reads the rest if the metadata is longer). */
const FOOTER_FETCH = 16 * 1024;

const compressors: Compressors = {
  ...pureCompressors,
  // Native zlib is several times faster than a JS inflate.
  GZIP: (input: Uint8Array) => gunzipSync(input),
  BROTLI: (input: Uint8Array) => brotliDecompressSync(input),
};

/** A file as hyparquet's AsyncBuffer: positional reads through one handle, bounds checked. */
interface ParquetFile {
  readonly buffer: AsyncBuffer;
  close(): Promise<void>;
}

async function openParquet(path: string, stage: StageStats): Promise<ParquetFile> {
  const handle: FileHandle = await open(path, 'r');
  let size: number;
  try {
    size = (await handle.stat()).size;
  } catch (error) {
    await handle.close();
    throw error;
  }
  const buffer: AsyncBuffer = {
    byteLength: size,
    async slice(start: number, end = size): Promise<ArrayBuffer> {
      // A corrupt footer can point anywhere: never read (or allocate) outside the file.
      if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && start <= end && end <= size)) {
        throw new RecordError(`corrupt Parquet: byte range [${start}, ${end}) outside the ${size}-byte file`, path);
      }
      const bytes = new Uint8Array(end - start);
      let done = 0;
      while (done < bytes.length) {
        const { bytesRead } = await handle.read(bytes, done, bytes.length - done, start + done);
        if (bytesRead === 0) throw new RecordError(`file shrank while reading byte ${start + done}`, path);
        done += bytesRead;
      }
      stage.extra.bytesRead = (stage.extra.bytesRead ?? 0) + bytes.length;
      return bytes.buffer;
    },
  };
  return { buffer, close: () => handle.close() };
}

/** The element type a top-level column's numbers get in `'columns'` output, from its leaf type. */
function kindOf(tree: SchemaTree): NumericKind {
  let leaf = tree;
  while (leaf.children.length === 1) leaf = leaf.children[0];
  if (leaf.children.length > 0) return 'float64';
  switch (leaf.element.type) {
    case 'FLOAT':
      return 'float32';
    case 'INT32':
      return leaf.element.converted_type === 'DECIMAL' || leaf.element.logical_type?.type === 'DECIMAL' ? 'float64' : 'int32';
    case 'BOOLEAN':
      return 'uint8';
    default:
      return 'float64';
  }
}

function hasInt64(tree: SchemaTree): boolean {
  return tree.element.type === 'INT64' || tree.children.some(hasInt64);
}

function isComparable(v: unknown): v is Comparable {
  return typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string' || typeof v === 'boolean' || v instanceof Date;
}

/** Statistics of the top-level primitive columns of row group `g`. */
function groupStats(metadata: FileMetaData, g: number): RowGroupStats {
  const group = metadata.row_groups[g];
  const columns: Record<string, ColumnStats> = {};
  for (const chunk of group.columns) {
    const meta = chunk.meta_data;
    if (!meta || meta.path_in_schema.length !== 1 || !meta.statistics) continue;
    const s = meta.statistics;
    const min = s.min_value ?? s.min;
    const max = s.max_value ?? s.max;
    columns[meta.path_in_schema[0]] = {
      min: isComparable(min) ? min : undefined,
      max: isComparable(max) ? max : undefined,
      nullCount: s.null_count === undefined ? undefined : Number(s.null_count),
    };
  }
  return { index: g, rows: Number(group.num_rows), columns };
}

/** Joins a column's decoded chunks (pages) in row order. */
function joinChunks(chunks: ColumnData[], rows: number, groupStart: number): ArrayLike<unknown> {
  chunks.sort((a, b) => a.rowStart - b.rowStart);
  if (chunks.length === 1 && chunks[0].rowStart === groupStart && chunks[0].columnData.length === rows) return chunks[0].columnData;
  const out: unknown[] = new Array(rows);
  for (const { columnData, rowStart } of chunks) {
    for (let i = 0; i < columnData.length; i++) {
      const at = rowStart - groupStart + i;
      if (at >= 0 && at < rows) out[at] = columnData[i];
    }
  }
  return out;
}

/**
 * The records of one Parquet file, a row group at a time, in hand-off batches. A row group that
 * cannot be read is a RecordError naming the file and group; with `onError: 'skip'` it is counted
 * and the next group is read.
 */
export async function* parquetRecords(path: string, stage: StageStats, onError: OnError, options: ParquetOptions, cursor?: InnerCursor): AsyncGenerator<unknown[]> {
  const { output = 'rows', int64 = 'number', where, rowGroupShard, maxRowGroupBytes = 2 ** 30 } = options;
  // In a resumable pipeline: the position is a row group and the elements of it emitted; a
  // restore passes over the groups before it unread, and drops the rows of it already emitted.
  const resumeAt = await groupStart(path, cursor, 'rowGroup');
  const file = await openParquet(path, stage);
  try {
    let metadata: FileMetaData;
    try {
      metadata = await parquetMetadataAsync(file.buffer, { initialFetchSize: FOOTER_FETCH });
    } catch (error) {
      throw corrupt(error, path);
    }
    let tree: SchemaTree;
    try {
      tree = parquetSchema(metadata);
    } catch (error) {
      throw corrupt(error, path);
    }
    const byName = new Map(tree.children.map((c) => [c.element.name, c]));
    const select = options.select ?? [...byName.keys()];
    const conditions = typeof where === 'object' ? where : undefined;
    for (const name of [...select, ...Object.keys(conditions ?? {})]) {
      if (!byName.has(name)) throw new RecordError(`no column '${name}' in this Parquet file (columns: ${[...byName.keys()].join(', ')})`, path);
    }
    const read = [...new Set([...select, ...Object.keys(conditions ?? {})])];
    const bigints = new Set(read.filter((name) => hasInt64(byName.get(name)!)));
    let groupStart = 0;
    for (let g = 0; g < metadata.row_groups.length; g++) {
      const group = metadata.row_groups[g];
      const rows = Number(group.num_rows);
      const start = groupStart;
      groupStart += rows;
      if (g < resumeAt.group) continue;
      if (rowGroupShard && g % rowGroupShard.count !== rowGroupShard.index) continue;
      const stats = groupStats(metadata, g);
      if (where && !(typeof where === 'function' ? where(stats) : groupMayMatch(where, stats))) {
        stage.extra.rowGroupsPruned = (stage.extra.rowGroupsPruned ?? 0) + 1;
        continue;
      }
      let columns: Record<string, ArrayLike<unknown>>;
      try {
        columns = await readGroup(file.buffer, metadata, g, start, rows, read, maxRowGroupBytes);
      } catch (error) {
        const failure = corrupt(error, `${path} row group ${g}`);
        if (onError !== 'skip') throw failure;
        stage.skip(failure);
        continue;
      }
      stage.extra.rowGroups = (stage.extra.rowGroups ?? 0) + 1;
      let n = rows;
      if (conditions) {
        const keep = matchingRows(conditions, columns, rows);
        if (keep) {
          for (const name of select) columns[name] = pick(columns[name], keep);
          n = keep.length;
        }
      }
      /** Elements of this group emitted before a restore. */
      const done = g === resumeAt.group ? resumeAt.row : 0;
      if (n === 0 || done >= (output === 'columns' ? 1 : n)) continue;
      if (output === 'columns') {
        const batch: Record<string, unknown> = {};
        for (const name of select) batch[name] = toColumn(columns[name], kindOf(byName.get(name)!));
        if (cursor) markRows(cursor, g, 0, 1, 1);
        yield [batch];
        continue;
      }
      const values = select.map((name) => {
        const column = columns[name];
        if (int64 !== 'number' || !bigints.has(name)) return column;
        return column instanceof BigInt64Array ? Array.from(column, Number) : Array.from(column, int64ToNumber);
      });
      for (let from = done; from < n; from += ROWS_PER_BATCH) {
        const to = Math.min(n, from + ROWS_PER_BATCH);
        if (cursor) markRows(cursor, g, from, to, n);
        yield rowsOf(select, values, from, to);
      }
    }
  } finally {
    await file.close();
  }
}

/** Reads the selected columns of one row group (byte ranges of its column chunks only). */
async function readGroup(
  file: AsyncBuffer,
  metadata: FileMetaData,
  g: number,
  start: number,
  rows: number,
  columns: readonly string[],
  maxBytes: number,
): Promise<Record<string, ArrayLike<unknown>>> {
  const wanted = new Set(columns);
  let bytes = 0;
  for (const chunk of metadata.row_groups[g].columns) {
    const meta = chunk.meta_data;
    if (meta && wanted.has(meta.path_in_schema[0])) bytes += Number(meta.total_uncompressed_size) + Number(meta.total_compressed_size);
  }
  if (bytes > maxBytes) throw new RecordError(`row group needs ${bytes} bytes, over maxRowGroupBytes ${maxBytes}`);
  const chunks = new Map<string, ColumnData[]>(columns.map((c) => [c, []]));
  await parquetRead({
    file,
    metadata,
    columns: [...columns],
    rowStart: start,
    rowEnd: start + rows,
    compressors,
    onChunk: (chunk) => chunks.get(chunk.columnName)?.push(chunk),
  });
  const out: Record<string, ArrayLike<unknown>> = {};
  for (const [name, list] of chunks) {
    const column = joinChunks(list, rows, start);
    if (column.length !== rows) throw new RecordError(`column '${name}' has ${column.length} values, the row group ${rows} rows`);
    out[name] = column;
  }
  return out;
}

function corrupt(error: unknown, where: string): RecordError {
  if (error instanceof RecordError) return error.origin ? error : new RecordError(error.message, where, { cause: error });
  return new RecordError(`corrupt Parquet: ${messageOf(error)}`, where, { cause: error });
}

/** Positions of rows `[from, to)` of group `g` (of `n`): after row i, `(g, i + 1)`; after the group's last, `(g + 1, 0)`. */
export function markRows(cursor: InnerCursor, g: number, from: number, to: number, n: number): void {
  for (let i = from; i < to; i++) {
    const k = i - from;
    if (i + 1 < n) {
      cursor.ends[k] = g;
      cursor.lines[k] = i + 1;
    } else {
      cursor.ends[k] = g + 1;
      cursor.lines[k] = 0;
    }
  }
}
