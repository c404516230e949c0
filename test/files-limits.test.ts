/** Limits on what one file may make the reader hold: record size (TFRecord), line length, image pixels. */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PipelineStats, RecordError, consume, frameRecord, fromFiles, maskedCrc32c, type FromFilesOptions } from '../src/index.js';
import type { Observable } from 'rxjs';
import { collect } from './helpers.js';

/** fromFiles with the format chosen at run time. */
const anyFormat = fromFiles as (patterns: string, options: FromFilesOptions) => Observable<unknown>;

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

/** A file of short lines around one line of `size` bytes (line 3). */
function longLineFile(name: string, size: number, make: (i: number) => string, long: string): string {
  const path = join(dir, name);
  const lines = [make(1), make(2), long.repeat(Math.ceil(size / long.length)).slice(0, size), make(4), make(5)];
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

for (const format of ['lines', 'jsonl', 'csv'] as const) {
  test(`${format}: a line over maxLineBytes is a RecordError at its line, or skipped and counted, and never held whole`, async (t) => {
    const make = (i: number): string => (format === 'jsonl' ? JSON.stringify({ a: i, b: i * 2 }) : `${i},${i * 2}`);
    // 3 MiB line, limit 1 MiB: the reader must not gather the line (held ≤ limit + a chunk).
    const path = longLineFile(`long.${format}`, 3 << 20, make, format === 'jsonl' ? '{"x":"yyyyyyyyyy' : 'q,');
    const options = { maxLineBytes: 1 << 20, ...(format === 'csv' ? { header: false, columnNames: ['a', 'b'], columns: { a: { type: 'int' }, b: { type: 'int' } } } : {}) } as const;
    const error = await t.throwsAsync(collect(anyFormat(path, { format, ...options } as FromFilesOptions)), { instanceOf: RecordError });
    t.regex(error.message, new RegExp(`line longer than maxLineBytes=1048576 \\(at ${path}:3\\)`));
    const stats = new PipelineStats();
    const got = await collect(anyFormat(path, { format, ...options, onError: 'skip' } as FromFilesOptions).pipe(consume((r) => r, { stats })));
    const expected = [1, 2, 4, 5].map((i) => (format === 'lines' ? make(i) : format === 'jsonl' ? { a: i, b: i * 2 } : { a: i, b: i * 2 }));
    t.deepEqual(got, expected);
    t.is(stats.get('fromFiles')?.skipped, 1);
    // The default (16 MiB) lets the 3 MiB line through.
    if (format === 'lines') t.is((await collect(fromFiles(path, { format: 'lines' })))[2].length, 3 << 20);
  });
}

test('lines: the limit counts UTF-8 bytes, and a line exactly at it passes; \\r\\n and lone \\r count as one break', async (t) => {
  const path = join(dir, 'utf8.txt');
  // 'é' is 2 bytes: 6 of them are 12 bytes in 6 characters.
  writeFileSync(path, `éééééé\r\n${'a'.repeat(12)}\r${'b'.repeat(13)}\nlast`);
  const stats = new PipelineStats();
  const got = await collect(fromFiles(path, { format: 'lines', maxLineBytes: 12, onError: 'skip' }).pipe(consume((r) => r, { stats })));
  t.deepEqual(got, ['éééééé', 'a'.repeat(12), 'last']);
  t.is(stats.get('fromFiles')?.skipped, 1);
  const error = await t.throwsAsync(collect(fromFiles(path, { format: 'lines', maxLineBytes: 11 })), { instanceOf: RecordError });
  t.regex(error.message, /utf8\.txt:1\)/);
});

test('lines: a line over the limit split across many read chunks and at the very end of the file', async (t) => {
  const path = join(dir, 'tail.txt');
  writeFileSync(path, `ok\n${'z'.repeat(300_000)}`);
  const stats = new PipelineStats();
  t.deepEqual(await collect(fromFiles(path, { format: 'lines', maxLineBytes: 100_000, onError: 'skip' }).pipe(consume((r) => r, { stats }))), ['ok']);
  t.is(stats.get('fromFiles')?.skipped, 1);
  const csvPath = join(dir, 'tail.csv');
  writeFileSync(csvPath, `a,b\n1,2\n${'z'.repeat(300_000)},1\r\n3,4`);
  const rows = await collect(fromFiles(csvPath, { format: 'csv', maxLineBytes: 100_000, onError: 'skip' }));
  t.deepEqual(rows, [
    { a: '1', b: '2' },
    { a: '3', b: '4' },
  ]);
  const error = await t.throwsAsync(collect(fromFiles(csvPath, { format: 'csv', maxLineBytes: 100_000 })), { instanceOf: RecordError });
  t.regex(error.message, /tail\.csv:3\)/);
});

test('csv: a quoted record of many short lines over maxLineBytes ends the file with a RecordError (csv-parse cannot resume after it)', async (t) => {
  const path = join(dir, 'quoted.csv');
  writeFileSync(path, `a,b\n1,2\n"${`${'x'.repeat(50)}\n`.repeat(100)}",1\n3,4\n`);
  const error = await t.throwsAsync(collect(fromFiles(path, { format: 'csv', maxLineBytes: 1000 })), { instanceOf: RecordError });
  t.regex(error.message, /maxLineBytes=1000.*quoted\.csv:\d+\)/);
  const stats = new PipelineStats();
  t.deepEqual(await collect(fromFiles(path, { format: 'csv', maxLineBytes: 1000, onError: 'skip' }).pipe(consume((r) => r, { stats }))), [{ a: '1', b: '2' }]);
  t.is(stats.get('fromFiles')?.skipped, 1);
  // Under the default limit the record is data.
  t.is((await collect(fromFiles(path, { format: 'csv' }))).length, 3);
});
