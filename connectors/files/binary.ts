/** Fixed-length binary records (the CIFAR-10 binary layout) out of a stream of byte chunks. */
import { RecordError } from '../../src/errors.js';

export interface FixedRecordOptions {
  /** Bytes per record (CIFAR-10: 1 label byte + 3072 pixel bytes = 3073). */
  recordBytes: number;
  /** Bytes skipped at the start of each file. Default 0. */
  headerBytes?: number;
  /** Bytes ignored at the end of each file. Default 0. */
  footerBytes?: number;
}

/** Where `fixedRecords` starts: a restored position (a record's file offset, past the header). Default 0. */
export interface FixedStart {
  readonly offset: number;
}

/** A record and the byte offset it starts at. */
export interface FixedRecord {
  readonly data: Uint8Array;
  readonly offset: number;
}

/**
 * Cuts the chunks into records of `recordBytes`, after `headerBytes` and before `footerBytes`.
 * A tail shorter than a record (and longer than the footer) is a {@link RecordError}.
 * Each record is a copy, so holding it does not pin a whole read chunk. Yields each chunk's records together.
 */
export async function* fixedRecords(chunks: AsyncIterable<Buffer>, path: string, options: FixedRecordOptions, start?: FixedStart): AsyncGenerator<FixedRecord[]> {
  const { recordBytes, headerBytes = 0, footerBytes = 0 } = options;
  /** Bytes received and not yet cut into records (at most a record plus the footer plus a chunk). */
  let pending: Buffer = Buffer.alloc(0);
  /** File offset of `pending[0]`. */
  let offset = start?.offset ?? 0;
  let skip = Math.max(0, headerBytes - offset);
  for await (const chunk of chunks) {
    let data = chunk;
    if (skip > 0) {
      const n = Math.min(skip, data.length);
      skip -= n;
      offset += n;
      data = data.subarray(n);
    }
    pending = pending.length ? Buffer.concat([pending, data]) : data;
    const out: FixedRecord[] = [];
    let at = 0;
    // Keep `footerBytes` back: they may be the footer if the file ends here.
    while (pending.length - at >= recordBytes + footerBytes) {
      const data = new Uint8Array(recordBytes);
      data.set(pending.subarray(at, at + recordBytes));
      out.push({ data, offset: offset + at });
      at += recordBytes;
    }
    offset += at;
    pending = pending.subarray(at);
    if (out.length > 0) yield out;
  }
  if (skip > 0) throw new RecordError(`file shorter than its ${headerBytes}-byte header`, `${path} byte ${offset}`);
  if (pending.length > footerBytes) {
    throw new RecordError(`truncated record: ${pending.length - footerBytes} bytes left over, records are ${recordBytes} bytes`, `${path} byte ${offset}`);
  }
  if (pending.length < footerBytes) throw new RecordError(`file shorter than its ${footerBytes}-byte footer`, `${path} byte ${offset}`);
}
