/**
 * TFRecord framing: each record is
 *
 * ```
 * uint64 length (LE) │ uint32 masked CRC32C of the length bytes │ data │ uint32 masked CRC32C of data
 * ```
 */
import { RecordError } from '../../src/errors.js';
import { maskedCrc32c } from './crc32c.js';
import { Slab } from './slab.js';

/** A record's payload and the byte offset (in the uncompressed stream) of its frame. */
export interface FramedRecord {
  readonly data: Uint8Array;
  readonly offset: number;
}

/** Records over 2 GiB cannot be a JS typed array worth allocating: treat the length as corrupt. */
const MAX_RECORD_BYTES = 2 ** 31 - 1;

/**
 * Reads TFRecord frames out of a stream of chunks, verifying both CRCs (unless `verify` is
 * false). A bad length CRC is fatal for the rest of the file (the frame boundaries are lost); a
 * bad data CRC is a {@link FrameError} in the output: the reader may skip it and go on. Yields
 * each chunk's records together; the records before a fatal error are yielded before it.
 */
export async function* tfRecordFrames(chunks: AsyncIterable<Buffer>, path: string, verify = true): AsyncGenerator<(FramedRecord | FrameError)[]> {
  let pending: Buffer = Buffer.alloc(0);
  /** Stream offset of `pending[0]`. */
  let offset = 0;
  const slab = new Slab();
  for await (const chunk of chunks) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    const out: (FramedRecord | FrameError)[] = [];
    let at = 0;
    while (pending.length - at >= 12) {
      // Two halves rather than readBigUInt64LE: no BigInt per record.
      const length = pending.readUInt32LE(at) + pending.readUInt32LE(at + 4) * 2 ** 32;
      let fatal: RecordError | undefined;
      if (verify && maskedCrc32c(pending, at, at + 8) !== pending.readUInt32LE(at + 8)) {
        fatal = new RecordError('corrupt TFRecord: length CRC mismatch', `${path} byte ${offset + at}`);
      } else if (length > MAX_RECORD_BYTES) {
        fatal = new RecordError(`corrupt TFRecord: record length ${length}`, `${path} byte ${offset + at}`);
      }
      if (fatal) {
        if (out.length > 0) yield out;
        throw fatal;
      }
      if (pending.length - at < 16 + length) break;
      // A copy in a plain Uint8Array: holding a record must not pin the read chunk (a slab of 4 KiB at most).
      const data = slab.copy(pending, at + 12, length);
      if (verify && maskedCrc32c(data) !== pending.readUInt32LE(at + 12 + length)) {
        out.push(new FrameError('corrupt TFRecord: data CRC mismatch', `${path} byte ${offset + at}`));
      } else {
        out.push({ data, offset: offset + at });
      }
      at += 16 + length;
    }
    offset += at;
    pending = pending.subarray(at);
    if (out.length > 0) yield out;
  }
  if (pending.length > 0) throw new RecordError(`truncated TFRecord: ${pending.length} bytes after the last complete record`, `${path} byte ${offset}`);
}

/** A bad record after which the frame boundaries are still known: the reader may skip it. */
export class FrameError extends RecordError {
  override name = 'RecordError';
}

/** One record framed for a TFRecord file. */
export function frameRecord(data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(16 + data.length);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}
