/**
 * Avro object container files, block by block: the framing (header, blocks, sync markers) is read
 * here from the file's 64 KiB chunks, so a truncated file or a bad block names its byte offset and
 * a bad block can be skipped; schemas, values and schema evolution (a reader schema resolved
 * against the writer's) are avsc's. Codecs: null, deflate, snappy, zstandard, or your own.
 *
 * In flight per open file: one block (at most `maxBlockBytes`) and its decoded records.
 */
import { inflateRawSync } from 'node:zlib';
import avro from 'avsc';
import { decompressSnappy, decompressZstd } from 'hyparquet-compressors';
import { RecordError, messageOf, type OnError } from '../../src/errors.js';
import type { StageStats } from '../../src/stats.js';
import type { InnerCursor } from '../../src/state/sources.js';

/** An Avro schema: parsed JSON, or JSON text. */
export type AvroSchema = avro.Schema | string;

/** Decompresses one block's data. */
export type AvroCodec = (data: Buffer) => Buffer | Uint8Array;

/** Options of `fromFiles(..., { format: 'avro' })`. */
export interface AvroOptions {
  /**
   * Schema evolution: records are decoded into this schema, resolved against each file's writer
   * schema by Avro's rules (added fields take their defaults, removed fields are dropped, int →
   * long → float → double promotions, aliases). Default: the writer schema.
   */
  readonly readerSchema?: AvroSchema;
  /** Codecs beyond null, deflate, snappy and zstandard, by the name in the file header. */
  readonly codecs?: Readonly<Record<string, AvroCodec>>;
  /** Largest header or (compressed) block read into memory. Default 64 MiB. */
  readonly maxBlockBytes?: number;
}

const MAGIC = Buffer.from([0x4f, 0x62, 0x6a, 0x01]); // 'Obj' 1
const HEADER = avro.Type.forSchema({
  type: 'record',
  name: 'org.apache.avro.file.Header',
  fields: [
    { name: 'magic', type: { type: 'fixed', name: 'Magic', size: 4 } },
    { name: 'meta', type: { type: 'map', values: 'bytes' } },
    { name: 'sync', type: { type: 'fixed', name: 'Sync', size: 16 } },
  ],
});
const LONG = avro.Type.forSchema('long');

/** The length of a snappy block is its first varint. */
function snappyLength(data: Uint8Array): number {
  let length = 0;
  for (let i = 0, shift = 0; i < 5 && i < data.length; i++, shift += 7) {
    length += (data[i] & 0x7f) * 2 ** shift;
    if ((data[i] & 0x80) === 0) return length;
  }
  throw new Error('bad snappy length');
}

const builtinCodecs: Record<string, AvroCodec> = {
  null: (data) => data,
  deflate: (data) => inflateRawSync(data),
  // Avro's snappy blocks end in a 4-byte CRC32 of the uncompressed data (not checked here).
  snappy: (data) => {
    const body = data.subarray(0, data.length - 4);
    return decompressSnappy(body, snappyLength(body));
  },
  zstandard: (data) => decompressZstd(data),
};

function parseSchema(schema: AvroSchema): avro.Type {
  return avro.Type.forSchema(typeof schema === 'string' ? (JSON.parse(schema) as avro.Schema) : schema);
}

/**
 * The records of one Avro container file in hand-off batches (one per block). A block that
 * cannot be decompressed or decoded is a RecordError naming the file and the block's byte
 * offset; with `onError: 'skip'` it is counted and the next block is read (its sync marker says
 * where it ends). A bad header, a lost sync marker or a truncated file end the file.
 */
/**
 * Internal: positions for a resumable pipeline. The position is a block's file offset and the
 * records of that block already emitted (`record`); after a block's last record, the next
 * block's offset and 0. A restore's chunks are the header's bytes `[0, headerBytes)`, then the
 * file from `offset` (a block's start).
 */
export interface AvroTrack {
  readonly cursor: InnerCursor;
  readonly offset: number;
  readonly headerBytes: number;
  readonly record: number;
  /** Written: the file offset just past the header. */
  headerEnd: number;
}

export async function* avroRecords(chunks: AsyncIterable<Buffer>, path: string, stage: StageStats, onError: OnError, options: AvroOptions, track?: AvroTrack): AsyncGenerator<unknown[]> {
  const maxBlockBytes = options.maxBlockBytes ?? 64 * 2 ** 20;
  const reader = options.readerSchema === undefined ? undefined : parseSchema(options.readerSchema);
  let pending: Buffer = Buffer.alloc(0);
  /** File offset of `pending[0]`. */
  let offset = 0;
  let header: { type: avro.Type; resolver?: avro.Resolver; codec: AvroCodec; sync: Buffer } | undefined;
  /** A restore: records of the first block read to drop (emitted before the checkpoint). */
  let drop = track && track.headerBytes > 0 ? track.record : 0;
  const where = (at: number): string => `${path} byte ${offset + at}`;
  for await (const chunk of chunks) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let at = 0;
    if (!header) {
      if (pending.length >= 4 && !pending.subarray(0, 4).equals(MAGIC)) throw new RecordError('not an Avro container file (bad magic bytes)', where(0));
      let decoded: { value: { meta: Record<string, Buffer>; sync: Buffer }; offset: number };
      try {
        decoded = HEADER.decode(pending, 0) as typeof decoded;
      } catch (error) {
        throw new RecordError(`corrupt Avro header: ${messageOf(error)}`, where(0), { cause: error });
      }
      if (decoded.offset < 0) {
        if (pending.length > maxBlockBytes) throw new RecordError(`Avro header over maxBlockBytes ${maxBlockBytes}`, where(0));
        continue;
      }
      const meta = decoded.value.meta;
      const codecName = meta['avro.codec']?.toString() ?? 'null';
      const codec = options.codecs?.[codecName] ?? builtinCodecs[codecName];
      if (!codec) throw new RecordError(`unknown Avro codec '${codecName}' (pass it in codecs)`, path);
      let type: avro.Type;
      let resolver: avro.Resolver | undefined;
      try {
        type = parseSchema(meta['avro.schema']?.toString() ?? '');
      } catch (error) {
        throw new RecordError(`bad Avro writer schema: ${messageOf(error)}`, path, { cause: error });
      }
      if (reader) {
        try {
          resolver = reader.createResolver(type);
        } catch (error) {
          throw new RecordError(`reader schema cannot read this file's writer schema: ${messageOf(error)}`, path, { cause: error });
        }
      }
      header = { type: reader ?? type, resolver, codec, sync: Buffer.from(decoded.value.sync) };
      at = decoded.offset;
      if (track && track.headerBytes === 0) track.headerEnd = decoded.offset;
    }
    const out: unknown[] = [];
    for (;;) {
      const blockAt = at;
      let count: { value: number; offset: number };
      let size: { value: number; offset: number };
      try {
        count = LONG.decode(pending, at) as typeof count;
        size = count.offset < 0 ? count : (LONG.decode(pending, count.offset) as typeof size);
      } catch (error) {
        throw new RecordError(`corrupt Avro block header: ${messageOf(error)}`, where(blockAt), { cause: error });
      }
      if (size.offset < 0) break;
      if (count.value < 0 || size.value < 0 || size.value > maxBlockBytes) {
        throw new RecordError(`corrupt Avro block: ${count.value} records in ${size.value} bytes (maxBlockBytes ${maxBlockBytes})`, where(blockAt));
      }
      const end = size.offset + size.value;
      if (pending.length < end + 16) break;
      if (!pending.subarray(end, end + 16).equals(header.sync)) throw new RecordError('corrupt Avro file: sync marker not found after block', where(end));
      at = end + 16;
      try {
        const data = Buffer.from(header.codec(pending.subarray(size.offset, end)));
        let pos = 0;
        const records: unknown[] = [];
        for (let i = 0; i < count.value; i++) {
          const next = header.type.decode(data, pos, header.resolver) as { value: unknown; offset: number };
          if (next.offset < 0) throw new Error(`record ${i} of ${count.value} runs past the block's end`);
          records.push(next.value);
          pos = next.offset;
        }
        const first = drop;
        drop = 0;
        for (let i = first; i < records.length; i++) {
          if (track) {
            const last = i + 1 === records.length;
            track.cursor.ends[out.length] = offset + (last ? at : blockAt);
            track.cursor.lines[out.length] = last ? 0 : i + 1;
          }
          out.push(records[i]);
        }
        stage.extra.blocks = (stage.extra.blocks ?? 0) + 1;
      } catch (cause) {
        const error = new RecordError(`bad Avro block (${count.value} records): ${messageOf(cause)}`, where(blockAt), { cause });
        if (onError !== 'skip') {
          if (out.length > 0) yield out.splice(0);
          throw error;
        }
        stage.skip(error);
      }
    }
    offset += at;
    pending = pending.subarray(at);
    if (track && track.headerBytes > 0 && offset === track.headerBytes && header) {
      // A restore: the header is read; the file goes on at the saved block.
      offset = track.offset;
      track.headerEnd = track.headerBytes;
    }
    if (out.length > 0) yield out;
  }
  if (!header) throw new RecordError(pending.length === 0 ? 'empty file, not an Avro container' : 'truncated Avro header', where(0));
  if (pending.length > 0) throw new RecordError(`truncated Avro file: ${pending.length} bytes after the last complete block`, where(0));
}
