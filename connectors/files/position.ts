/**
 * A file's position in a pipeline checkpoint, and the checks that the file is still the one it
 * was taken from. `interleave` saves one per open file (see `InnerCursor` in src/state/sources.ts);
 * a restored reader seeks to it instead of reading the file's prefix again.
 *
 * ```
 * checkpoint:  { mode: 'seek', path, offset: 81920, record: 1432, size, mtimeMs, crc, headerEnd }
 * restore:     stat (size must match) ─▶ CRC-32C of the ≤ 64 bytes before `offset` must match
 *              ─▶ read [0, headerEnd) (a CSV header) ─▶ read from `offset` on, line numbers from `record`
 * ```
 *
 * Modes: `'seek'` (a byte offset: text, CSV, TFRecord, fixed binary, Avro blocks), `'rowGroup'`
 * (Parquet: a row group and the rows of it already emitted), `'recordBatch'` (Arrow, likewise),
 * `'skip'` (gzip: no offset to seek to; the slot's count of records taken is read past, as
 * before). `fromImageFolder` saves its own (`'fileIndex'`, images.ts).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { CheckpointError } from '../../src/state/registry.js';
import type { InnerCursor } from '../../src/state/sources.js';
import { crc32c } from './crc32c.js';

/** Bytes before the offset whose CRC identifies the data a position was taken in. */
const CRC_BYTES = 64;

/** A byte offset to seek to. */
export interface SeekPosition {
  readonly mode: 'seek';
  readonly path: string;
  /** File offset where the next record starts. */
  readonly offset: number;
  /**
   * The next record's number: for text formats (lines, JSON lines, CSV) the 1-based line it
   * starts on; for TFRecord and fixed binary records, its 0-based index in the file.
   */
  readonly record: number;
  /** The file as it was read: a restore refuses a file of another size (see docs/resume.md). */
  readonly size: number;
  readonly mtimeMs: number;
  /** CRC-32C of the (at most 64) bytes before `offset`. */
  readonly crc: number;
  /** CSV with a header: the header's bytes `[0, headerEnd)` are read again, then the file from `offset`. */
  readonly headerEnd: number;
}

/** A Parquet row group (an Arrow record batch) and the elements of it already emitted (rows, after `where`; 1 with `output: 'columns'` is the next group). */
export interface RowGroupPosition {
  readonly mode: 'rowGroup' | 'recordBatch';
  readonly path: string;
  readonly group: number;
  readonly row: number;
  readonly size: number;
  readonly mtimeMs: number;
  /** CRC-32C of the file's last 64 bytes (the end of the footer). */
  readonly crc: number;
}

/** A file that cannot seek (gzip): resumed by reading past the records taken. */
export interface SkipPosition {
  readonly mode: 'skip';
  readonly path: string;
}

export type FilePosition = SeekPosition | RowGroupPosition | SkipPosition;

/** Where a reader starts: the file offset, the record (line) number there, and the CSV header's end. */
export interface Start {
  readonly offset: number;
  readonly record: number;
  readonly headerEnd: number;
}

/** CRC-32C of `path`'s bytes `[max(0, end - 64), end)`, read synchronously (a checkpoint is taken synchronously; a few syscalls per open file). */
function crcBefore(path: string, end: number): number {
  const from = Math.max(0, end - CRC_BYTES);
  const bytes = new Uint8Array(end - from);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new CheckpointError(`${path}: cannot read the file to identify its position (${(error as Error).message})`);
  }
  try {
    let done = 0;
    while (done < bytes.length) {
      const n = readSync(fd, bytes, done, bytes.length - done, from + done);
      if (n === 0) throw new CheckpointError(`${path}: the file is shorter (${from + done} bytes) than the position ${end} being saved`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return crc32c(bytes);
}

/** Reads `path`'s bytes `[start, end)` (short only at the end of the file). */
export async function readRange(path: string, start: number, end: number): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const bytes = new Uint8Array(Math.max(0, end - start));
    let done = 0;
    while (done < bytes.length) {
      const { bytesRead } = await handle.read(bytes, done, bytes.length - done, start + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === bytes.length ? bytes : bytes.subarray(0, done);
  } finally {
    await handle.close();
  }
}

const modeOf = (saved: unknown): string | undefined => (typeof saved === 'object' && saved !== null ? String((saved as { mode?: unknown }).mode) : undefined);

/** The file changed since the checkpoint: a CheckpointError naming it, with the sizes. */
const changed = (path: string, saved: { size: number; mtimeMs: number }, size: number, mtimeMs: number, what: string): CheckpointError =>
  new CheckpointError(
    `restore: ${path} changed since the checkpoint (${what}): saved size ${saved.size} bytes, mtime ${new Date(saved.mtimeMs).toISOString()}; found ${size} bytes, mtime ${new Date(mtimeMs).toISOString()}`,
  );

/** Checks a restored position was saved for this file in the mode the reader resumes in. */
function expect<P extends FilePosition>(path: string, saved: unknown, mode: P['mode']): P {
  // (For RowGroupPosition, `mode` is one of its two.)
  const found = modeOf(saved);
  if (found !== mode) {
    throw new CheckpointError(`restore: ${path} was saved in mode '${found}', this reader resumes in mode '${mode}' (the format or compression options changed)`);
  }
  const p = saved as P;
  if (p.path !== path) throw new CheckpointError(`restore: the position saved for ${p.path} is applied to ${path} (the inputs changed)`);
  return p;
}

/**
 * Gives a byte-offset reader its start, and sets `cursor.describe`. Without a cursor (a plain
 * run) the start of the file. Restoring: the file must have the saved size, and the bytes before
 * the offset the saved CRC (an appended or rewritten file is refused: the resumed epoch would
 * not be the interrupted one); a line break split as `\r` | `\n` by the saved offset is passed
 * over (text formats), so no empty line appears. `headerEnd()` gives the CSV header's end once
 * the reader knows it.
 */
export async function seekStart(path: string, cursor: InnerCursor | undefined, firstRecord: number, options: { text?: boolean; headerEnd?: () => number } = {}): Promise<Start> {
  if (!cursor) return { offset: 0, record: firstRecord, headerEnd: 0 };
  const { size, mtimeMs } = await stat(path);
  let start: Start = { offset: 0, record: firstRecord, headerEnd: 0 };
  const saved = cursor.restored;
  if (saved !== undefined) {
    const p = expect<SeekPosition>(path, saved, 'seek');
    if (size !== p.size) throw changed(path, p, size, mtimeMs, size < p.size ? 'shorter' : 'longer: appended files are refused');
    const from = Math.max(0, p.offset - CRC_BYTES);
    const before = await readRange(path, from, p.offset + 1);
    if (before.length < p.offset - from || crc32c(before.subarray(0, p.offset - from)) !== p.crc) {
      throw changed(path, p, size, mtimeMs, `the ${p.offset - from} bytes before offset ${p.offset} differ`);
    }
    let offset = p.offset;
    // '\r' | '\n': the break began before the offset (a chunk ended on the '\r').
    if (options.text && offset > 0 && before[offset - from - 1] === 13 && before[offset - from] === 10) offset++;
    start = { offset, record: p.record, headerEnd: p.headerEnd };
  }
  const headerEnd = options.headerEnd ?? ((): number => start.headerEnd);
  cursor.describe = (offset, record): SeekPosition => ({ mode: 'seek', path, offset, record, size, mtimeMs, crc: crcBefore(path, offset), headerEnd: headerEnd() });
  return start;
}

/** A reader that cannot seek (gzip): marks the cursor so, and refuses a position saved to seek. */
export function skipStart(path: string, cursor: InnerCursor | undefined): void {
  if (!cursor) return;
  if (cursor.restored !== undefined) expect<SkipPosition>(path, cursor.restored, 'skip');
  cursor.describe = (): SkipPosition => ({ mode: 'skip', path });
}

/**
 * Parquet (`'rowGroup'`) and Arrow (`'recordBatch'`): the group and row to resume at (0, 0
 * fresh), with the file checked as for a seek (size, and its last 64 bytes: the footer).
 */
export async function groupStart(path: string, cursor: InnerCursor | undefined, mode: RowGroupPosition['mode']): Promise<{ group: number; row: number }> {
  if (!cursor) return { group: 0, row: 0 };
  const { size, mtimeMs } = await stat(path);
  let start = { group: 0, row: 0 };
  if (cursor.restored !== undefined) {
    const p = expect<RowGroupPosition>(path, cursor.restored, mode);
    if (size !== p.size) throw changed(path, p, size, mtimeMs, size < p.size ? 'shorter' : 'longer: appended files are refused');
    const tail = await readRange(path, Math.max(0, size - CRC_BYTES), size);
    if (crc32c(tail) !== p.crc) throw changed(path, p, size, mtimeMs, `its last ${tail.length} bytes differ`);
    start = { group: p.group, row: p.row };
  }
  const crc = crc32c(await readRange(path, Math.max(0, size - CRC_BYTES), size));
  cursor.describe = (group, row): RowGroupPosition => ({ mode, path, group, row, size, mtimeMs, crc });
  return start;
}
