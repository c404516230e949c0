/** Limits on what one file may make the reader hold: record size (TFRecord), line length, image pixels. */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PipelineStats, RecordError, consume, frameRecord, fromFiles, maskedCrc32c } from '../src/index.js';
import { collect } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rxdata-limits-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** A TFRecord header claiming `length` bytes, with a valid length CRC. */
function header(length: number): Buffer {
  const out = Buffer.alloc(12);
  out.writeBigUInt64LE(BigInt(length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  return out;
}

test('tfrecord: a header claiming 2^31-2 bytes (valid CRC) fails at once, naming file and offset', async (t) => {
  const good = frameRecord(new Uint8Array([1, 2, 3]));
  const path = join(dir, 'hostile.tfrecord');
  // 8 MiB of "payload" after the lying header: the reader must not gather it before refusing.
  writeFileSync(path, Buffer.concat([good, header(2 ** 31 - 2), Buffer.alloc(8 << 20)]));
  const error = await t.throwsAsync(collect(fromFiles(path, { format: 'tfrecord' })), { instanceOf: RecordError });
  t.regex(error.message, /record of 2147483646 bytes exceeds maxRecordBytes=67108864.*hostile\.tfrecord byte 19/);
  // Skip: counted, the rest of the (truncated) file is read past without holding it.
  const stats = new PipelineStats();
  const got = await collect(fromFiles(path, { format: 'tfrecord', onError: 'skip' }).pipe(consume((r) => r, { stats })));
  t.deepEqual(got, [new Uint8Array([1, 2, 3])]);
  t.is(stats.get('fromFiles')?.skipped, 2, 'the oversized record, then the truncated tail');
});

test('tfrecord: an oversized record in the middle is skipped whole under skip, and the records after it are read', async (t) => {
  const records = [new Uint8Array(10).fill(1), new Uint8Array(200_000).fill(2), new Uint8Array(10).fill(3)];
  const path = join(dir, 'big-middle.tfrecord');
  writeFileSync(path, Buffer.concat(records.map((r) => frameRecord(r))));
  const error = await t.throwsAsync(collect(fromFiles(path, { format: 'tfrecord', maxRecordBytes: 1000 })), { instanceOf: RecordError });
  t.regex(error.message, /record of 200000 bytes exceeds maxRecordBytes=1000.*big-middle\.tfrecord byte 26/);
  const stats = new PipelineStats();
  const got = await collect(fromFiles(path, { format: 'tfrecord', maxRecordBytes: 1000, onError: 'skip' }).pipe(consume((r) => r, { stats })));
  t.deepEqual(got, [records[0], records[2]]);
  t.is(stats.get('fromFiles')?.skipped, 1);
});

test('tfrecord: a 20 MiB honest record, and records split across read chunks at every part of the frame, read back exactly', async (t) => {
  const big = new Uint8Array(20 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  // Small records sized so that frame boundaries fall in headers, data and CRCs of 64 KiB chunks.
  const small = Array.from({ length: 40 }, (_, i) => new Uint8Array(65536 / 4 - 13 + i).fill(i));
  const records = [new Uint8Array([7]), big, ...small, big.subarray(0, 70_000)];
  const path = join(dir, 'big.tfrecord');
  writeFileSync(path, Buffer.concat(records.map((r) => frameRecord(r))));
  const got = await collect(fromFiles(path, { format: 'tfrecord' }));
  t.is(got.length, records.length);
  for (let i = 0; i < records.length; i++) t.true(Buffer.from(got[i]).equals(Buffer.from(records[i])), `record ${i}`);
  // Gzip changes the chunking: the same records.
  const { gzipSync } = await import('node:zlib');
  writeFileSync(`${path}.gz`, gzipSync(Buffer.concat(records.slice(2).map((r) => frameRecord(r)))));
  const gz = await collect(fromFiles(`${path}.gz`, { format: 'tfrecord' }));
  t.deepEqual(gz.map((r) => r.length), records.slice(2).map((r) => r.length));
});
