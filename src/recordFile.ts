/**
 * A file of length-prefixed records of plain data (V8's structured serialisation: objects,
 * arrays, typed arrays, strings, numbers). Used by `cache` to spill to disk and by `snapshot`.
 * Writes are buffered; reads stream in chunks, so neither holds the file in memory.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { deserialize, serialize } from 'node:v8';
import { RecordError, WriteError, messageOf } from './errors.js';

/** A failure to open, write or close `path` as a {@link WriteError} naming it (ENOSPC, ENOTDIR, EISDIR…). */
function writeFailure(error: unknown, path: string): WriteError {
  return error instanceof WriteError ? error : new WriteError(`cannot write file: ${messageOf(error)}`, path, { cause: error });
}

/**
 * Appends records to a file with synchronous, buffered writes (callers run in `next`). Every
 * failure is a {@link WriteError} naming the file; after one, the descriptor is closed.
 */
export class RecordFileWriter {
  private fd: number | undefined;
  private chunks: Buffer[] = [];
  private pendingBytes = 0;
  /** The first failure: every later call rethrows it (nothing is dropped silently). */
  private failure: WriteError | undefined;
  bytes = 0;
  count = 0;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'w');
    } catch (error) {
      throw writeFailure(error, path);
    }
  }

  write(value: unknown): void {
    if (this.failure) throw this.failure;
    const body = serialize(value);
    const header = Buffer.allocUnsafe(4);
    header.writeUInt32LE(body.length, 0);
    this.chunks.push(header, body);
    this.pendingBytes += 4 + body.length;
    this.bytes += 4 + body.length;
    this.count++;
    if (this.pendingBytes >= 1 << 20) this.flush();
  }

  flush(): void {
    if (this.failure) throw this.failure;
    if (this.fd === undefined || this.chunks.length === 0) return;
    const data = Buffer.concat(this.chunks, this.pendingBytes);
    this.chunks = [];
    this.pendingBytes = 0;
    let written = 0;
    try {
      while (written < data.length) written += writeSync(this.fd, data, written);
    } catch (error) {
      this.fail(error);
    }
  }

  /** Flushes and closes; a failure to do either is a WriteError naming the file. */
  close(): void {
    if (this.fd === undefined) {
      if (this.failure) throw this.failure;
      return;
    }
    this.flush();
    const fd = this.fd;
    this.fd = undefined;
    try {
      closeSync(fd);
    } catch (error) {
      this.fail(error);
    }
  }

  /** Drops what is buffered and closes the descriptor without throwing (the caller removes the file). */
  abort(): void {
    this.chunks = [];
    this.pendingBytes = 0;
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // Being discarded: nothing to report.
    }
    this.fd = undefined;
  }

  /** Closes the descriptor (quietly: the first error is the one to report) and throws `error` as a WriteError. */
  private fail(error: unknown): never {
    this.failure = writeFailure(error, this.path);
    this.chunks = [];
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // Reported: the first error.
      }
      this.fd = undefined;
    }
    throw this.failure;
  }
}

/**
 * Streams the records of a file written by {@link RecordFileWriter}; the handle closes on return.
 * A record larger than a read chunk is read straight into a buffer of its size (one copy, not a
 * concat per chunk). A damaged file (a length running past its end, bytes V8 cannot deserialise)
 * is a RecordError naming the file and the record's byte offset; nothing is allocated past the
 * file's size.
 */
export async function* readRecordFile<T>(path: string, chunkSize = 1 << 20): AsyncGenerator<T> {
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    /** Bytes read and not yet decoded: `buffer[offset…]`, which starts at file offset `at`. */
    let buffer = Buffer.alloc(0);
    let offset = 0;
    let at = 0;
    /** File offset of the next read. */
    let position = 0;
    /** Makes `need` bytes available at `buffer[offset]`, reading at least a chunk; false at the end of the file. */
    const fill = async (need: number): Promise<boolean> => {
      const have = buffer.length - offset;
      if (have >= need) return true;
      const next = Buffer.allocUnsafe(Math.max(need, Math.min(chunkSize, size - position + have)));
      buffer.copy(next, 0, offset);
      let filled = have;
      while (filled < need) {
        const { bytesRead } = await handle.read(next, filled, next.length - filled, position);
        if (bytesRead === 0) break;
        filled += bytesRead;
        position += bytesRead;
      }
      buffer = next.subarray(0, filled);
      offset = 0;
      return filled >= need;
    };
    for (;;) {
      if (!(await fill(4))) break;
      const length = buffer.readUInt32LE(offset);
      if (at + 4 + length > size) throw new RecordError(`truncated record file: a record of ${length} bytes runs past the end (${size} bytes)`, `${path} byte ${at}`);
      await fill(4 + length);
      let value: T;
      try {
        value = deserialize(buffer.subarray(offset + 4, offset + 4 + length)) as T;
      } catch (error) {
        throw new RecordError(`corrupt record file: ${messageOf(error)}`, `${path} byte ${at}`, { cause: error });
      }
      offset += 4 + length;
      at += 4 + length;
      yield value;
    }
    if (buffer.length - offset > 0) throw new RecordError(`truncated record file: ${buffer.length - offset} bytes left over`, `${path} byte ${at}`);
  } finally {
    await handle.close();
  }
}
