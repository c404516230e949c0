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

/** A frame's length field, little-endian u64, read as two halves: no BigInt per record. */
const lengthAt = (bytes: Buffer, at: number): number => bytes.readUInt32LE(at) + bytes.readUInt32LE(at + 4) * 2 ** 32;

/** A record's payload, the byte offset (in the uncompressed stream) of its frame, and (when `start` was given: a resumable read) its 0-based index in the file. */
export interface FramedRecord {
  readonly data: Uint8Array;
  readonly offset: number;
  readonly index?: number;
}

/** Default {@link TFRecordFrameOptions.maxRecordBytes}: 64 MiB, far above any Example of features, well below what hurts. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

export interface TFRecordFrameOptions {
  /** Check both CRCs of every record. Default true. */
  readonly verify?: boolean;
  /** Largest record accepted, in bytes; a header claiming more is refused before anything is allocated. Default 64 MiB. */
  readonly maxRecordBytes?: number;
  /** A restored position: the file offset of the first chunk's first byte (a frame's start) and that frame's index. Default 0, 0. */
  readonly start?: { readonly offset: number; readonly index: number };
}

/** A frame that spans read chunks: its header, then its data, then its data CRC, filled as bytes come. */
interface Partial {
  /** Stream offset of the frame. */
  readonly offset: number;
  /** The 12 header bytes (length and its CRC), while they are incomplete. */
  readonly header: Buffer;
  headerFilled: number;
  /** The record's length, once the header is complete; -1 before. */
  length: number;
  /** The record's bytes (preallocated once, at its final size), or undefined while skipping an oversized record. */
  data: Uint8Array | undefined;
  /** Bytes of data (or of a skipped record) received so far. */
  dataFilled: number;
  readonly crc: Buffer;
  crcFilled: number;
}

/**
 * Reads TFRecord frames out of a stream of chunks, verifying both CRCs (unless `verify` is
 * false). A bad length CRC is fatal for the rest of the file (the frame boundaries are lost); a
 * bad data CRC, or a record over `maxRecordBytes`, is a {@link FrameError} in the output: the
 * reader may skip it and go on (an oversized record's bytes are then read past, never held).
 * Yields each chunk's records together; the records before a fatal error are yielded before it.
 *
 * A record spanning chunks is copied once into a buffer of its final size, so reading is linear
 * in the record's size (gathering with a concat per chunk would be quadratic).
 */
export async function* tfRecordFrames(chunks: AsyncIterable<Buffer>, path: string, options: TFRecordFrameOptions = {}): AsyncGenerator<(FramedRecord | FrameError)[]> {
  const { verify = true, maxRecordBytes = MAX_RECORD_BYTES } = options;
  /** Stream offset of the current chunk's first byte. */
  let base = options.start?.offset ?? 0;
  /** The index of the next frame (good or bad), counted for a resumable read (`start`). */
  let index = options.start?.index ?? 0;
  const track = options.start !== undefined;
  /** The frame being gathered across chunks, if any. */
  let partial: Partial | undefined;
  /** Where small records are copied to (one allocation per 4 KiB, see slab.ts). */
  const slab = new Slab();
  /** Checks a complete header; returns the record length, an error to emit (oversized), or throws when fatal. */
  const checkHeader = (header: Buffer, at: number, offset: number): number | FrameError => {
    const length = lengthAt(header, at);
    if (verify && maskedCrc32c(header, at, at + 8) !== header.readUInt32LE(at + 8)) {
      throw new RecordError('corrupt TFRecord: length CRC mismatch', `${path} byte ${offset}`);
    }
    if (length > maxRecordBytes) return new FrameError(`TFRecord record of ${length} bytes exceeds maxRecordBytes=${maxRecordBytes}`, `${path} byte ${offset}`);
    return length;
  };
  for await (const chunk of chunks) {
    const out: (FramedRecord | FrameError)[] = [];
    let at = 0;
    try {
      if (partial) at = feed(partial, chunk, 0, out, checkHeader);
      // Whole frames inside this chunk: read in place.
      while (chunk.length - at >= 12) {
        const length = checkHeader(chunk, at, base + at);
        if (typeof length !== 'number') {
          out.push(length);
          index++;
          partial = { offset: base + at, header: Buffer.alloc(0), headerFilled: 12, length: lengthAt(chunk, at), data: undefined, dataFilled: 0, crc: Buffer.alloc(4), crcFilled: 0 };
          at = feed(partial, chunk, at + 12, out, checkHeader);
          continue;
        }
        if (chunk.length - at < 16 + length) {
          partial = { offset: base + at, header: Buffer.alloc(0), headerFilled: 12, length, data: new Uint8Array(length), dataFilled: 0, crc: Buffer.alloc(4), crcFilled: 0 };
          at = feed(partial, chunk, at + 12, out, checkHeader);
          continue;
        }
        // A copy (in a 4 KiB slab, or of its own when large): holding a record must not pin the read chunk.
        const data = slab.copy(chunk, at + 12, length);
        if (verify && maskedCrc32c(data) !== chunk.readUInt32LE(at + 12 + length)) {
          out.push(new FrameError('corrupt TFRecord: data CRC mismatch', `${path} byte ${base + at}`));
          index++;
        } else {
          out.push(track ? { data, offset: base + at, index: index++ } : { data, offset: base + at });
        }
        at += 16 + length;
      }
      if (at < chunk.length) {
        // Fewer than 12 bytes left: the start of the next frame's header.
        partial = { offset: base + at, header: Buffer.alloc(12), headerFilled: 0, length: -1, data: undefined, dataFilled: 0, crc: Buffer.alloc(4), crcFilled: 0 };
        feed(partial, chunk, at, out, checkHeader);
      }
    } catch (error) {
      if (out.length > 0) yield out;
      throw error;
    }
    base += chunk.length;
    if (out.length > 0) yield out;
  }
  if (partial) throw new RecordError(`truncated TFRecord: the last frame is incomplete`, `${path} byte ${partial.offset}`);

  /**
   * Feeds `chunk[at…]` into the partial frame; when the frame completes, pushes its record (or
   * error) and returns the index after it, else returns `chunk.length`.
   */
  function feed(p: Partial, chunk: Buffer, at: number, out: (FramedRecord | FrameError)[], check: typeof checkHeader): number {
    if (p.headerFilled < 12) {
      const n = Math.min(12 - p.headerFilled, chunk.length - at);
      chunk.copy(p.header, p.headerFilled, at, at + n);
      p.headerFilled += n;
      at += n;
      if (p.headerFilled < 12) return chunk.length;
      const length = check(p.header, 0, p.offset);
      if (typeof length === 'number') {
        p.length = length;
        p.data = new Uint8Array(length);
      } else {
        out.push(length);
        index++;
        p.length = lengthAt(p.header, 0);
      }
    }
    if (p.dataFilled < p.length) {
      const n = Math.min(p.length - p.dataFilled, chunk.length - at);
      p.data?.set(chunk.subarray(at, at + n), p.dataFilled);
      p.dataFilled += n;
      at += n;
      if (p.dataFilled < p.length) return chunk.length;
    }
    const n = Math.min(4 - p.crcFilled, chunk.length - at);
    chunk.copy(p.crc, p.crcFilled, at, at + n);
    p.crcFilled += n;
    at += n;
    if (p.crcFilled < 4) return chunk.length;
    if (p.data) {
      if (verify && maskedCrc32c(p.data) !== p.crc.readUInt32LE(0)) {
        out.push(new FrameError('corrupt TFRecord: data CRC mismatch', `${path} byte ${p.offset}`));
        index++;
      } else {
        out.push(track ? { data: p.data, offset: p.offset, index: index++ } : { data: p.data, offset: p.offset });
      }
    }
    partial = undefined;
    return at;
  }
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
