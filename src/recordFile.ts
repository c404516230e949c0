/**
 * A file of length-prefixed records of plain data (V8's structured serialisation: objects,
 * arrays, typed arrays, strings, numbers). Used by `cache` to spill to disk and by `snapshot`.
 * Writes are buffered; reads stream in chunks, so neither holds the file in memory.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { deserialize, serialize } from 'node:v8';
import { RecordError } from './errors.js';

/** Appends records to a file with synchronous, buffered writes (callers run in `next`). */
export class RecordFileWriter {
  private fd: number | undefined;
  private chunks: Buffer[] = [];
  private pendingBytes = 0;
  bytes = 0;
  count = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }

  write(value: unknown): void {
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
    if (this.fd === undefined || this.chunks.length === 0) return;
    const data = Buffer.concat(this.chunks, this.pendingBytes);
    this.chunks = [];
    this.pendingBytes = 0;
    let written = 0;
    while (written < data.length) written += writeSync(this.fd, data, written);
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }
}

/** Streams the records of a file written by {@link RecordFileWriter}; the handle closes on return. */
export async function* readRecordFile<T>(path: string, chunkSize = 1 << 20): AsyncGenerator<T> {
  const handle = await open(path, 'r');
  try {
    let carry = Buffer.alloc(0);
    let position = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(chunkSize);
      const { bytesRead } = await handle.read(chunk, 0, chunkSize, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      let buffer = carry.length ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      let offset = 0;
      while (buffer.length - offset >= 4) {
        const length = buffer.readUInt32LE(offset);
        if (buffer.length - offset - 4 < length) break;
        yield deserialize(buffer.subarray(offset + 4, offset + 4 + length)) as T;
        offset += 4 + length;
      }
      buffer = buffer.subarray(offset);
      carry = Buffer.from(buffer);
    }
    if (carry.length > 0) throw new RecordError(`truncated record file: ${carry.length} bytes left over`, `${path} byte ${position - carry.length}`);
  } finally {
    await handle.close();
  }
}
