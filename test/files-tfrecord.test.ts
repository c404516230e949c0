import test from 'ava';
import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { from, lastValueFrom, map, toArray } from 'rxjs';
import {
  PipelineStats,
  RecordError,
  consume,
  crc32c,
  frameRecord,
  fromFiles,
  maskedCrc32c,
  parseExample,
  serializeExample,
  writeTFRecord,
} from '../src/index.js';
import { mulberry32 } from '../src/random.js';
import { collect } from './helpers.js';

const DATA = 'examples/data/tfrecord-regression';
const tmp = (): string => mkdtempSync(join(tmpdir(), 'rxdata-tfrecord-'));

test('CRC32C matches the standard check value and TFRecord masking', (t) => {
  t.is(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  t.is(crc32c(new Uint8Array(32)), 0x8a9136aa);
  // The masked length CRC of TensorFlow's first record in eval.tfrecord (length 32).
  const bytes = readFileSync(join(DATA, 'eval.tfrecord'));
  t.is(maskedCrc32c(bytes.subarray(0, 8)), bytes.readUInt32LE(8));
});

test('CRC32C: the 16-byte slicing equals the bit-at-a-time definition at every length, offset and continuation', (t) => {
  /** The definition: reflected Castagnoli polynomial, one bit at a time. */
  const reference = (bytes: Uint8Array, crc = 0): number => {
    let c = ~crc >>> 0;
    for (const byte of bytes) {
      c ^= byte;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    }
    return ~c >>> 0;
  };
  const random = mulberry32(7);
  const bytes = Uint8Array.from({ length: 300 }, () => Math.floor(random() * 256));
  // Lengths around the 16-byte steps, from unaligned starts (the tail loop and the step loop).
  for (let length = 0; length <= 70; length++) {
    for (const start of [0, 1, 5, 15]) {
      const part = bytes.subarray(start, start + length);
      t.is(crc32c(bytes, 0, start, start + length), reference(part), `length ${length} from ${start}`);
    }
  }
  // Continuing from a previous CRC is the CRC of the concatenation.
  t.is(crc32c(bytes.subarray(37), crc32c(bytes.subarray(0, 37))), reference(bytes));
  t.is(crc32c(bytes), reference(bytes));
});

test('reads the TFRecords TensorFlow wrote: every CSV row exactly once, all CRCs valid', async (t) => {
  const csv = readFileSync(join(DATA, 'train.csv'), 'utf8').trim().split('\n').slice(1);
  const expected = new Map<string, number>();
  const f32 = (s: string): number => Math.fround(Number(s));
  for (const line of csv) {
    const [x, y] = line.split(',');
    const k = `${f32(x)},${f32(y)}`;
    expected.set(k, (expected.get(k) ?? 0) + 1);
  }
  const stats = new PipelineStats();
  const parse = parseExample({ x: { type: 'float', shape: [] }, y: { type: 'float', shape: [] } });
  const rows = await lastValueFrom(
    fromFiles([join(DATA, '*.tfrecord')], { format: 'tfrecord' }).pipe(
      map((r) => parse(r)),
      consume((r) => r, { stats }),
      toArray(),
    ),
  );
  t.is(rows.length, csv.length);
  for (const { x, y } of rows) {
    const k = `${x},${y}`;
    const left = expected.get(k);
    t.truthy(left, `row ${k} not in the CSV or seen too often`);
    expected.set(k, left! - 1);
  }
  t.true([...expected.values()].every((n) => n === 0));
  t.is(stats.get('fromFiles')?.skipped, 0);
  t.is(stats.get('fromFiles')?.extra.files, 3);
});

test('the example option decodes in the source; files come in sorted order', async (t) => {
  const spec = { x: { type: 'float', shape: [1] }, y: { type: 'float' } } as const;
  const rows = await collect(fromFiles(join(DATA, '*.tfrecord'), { format: 'tfrecord', example: spec }));
  const parse = parseExample(spec);
  const evalRows = (await collect(fromFiles(join(DATA, 'eval.tfrecord'), { format: 'tfrecord' }))).map((r) => parse(r));
  // eval < train < validation: the eval file's records come first.
  t.deepEqual(rows.slice(0, evalRows.length), evalRows);
  // A directory also lists train.csv, which is no TFRecord: the error names it.
  const error = await t.throwsAsync(collect(fromFiles(DATA, { format: 'tfrecord' })), { instanceOf: RecordError });
  t.regex(error.message, /train\.csv byte 0/);
});

test('writeTFRecord round trip with shards, read back with fromFiles', async (t) => {
  const dir = tmp();
  const records = Array.from({ length: 25 }, (_, i) => ({ x: new Float32Array([i, i / 2]), label: { int64: [i % 3] }, name: `r${i}` }));
  const progress = await collect(from(records).pipe(writeTFRecord(join(dir, 'out.tfrecord'), { shards: 3 })));
  t.is(progress.length, 25);
  t.is(progress.at(-1)!.records, 25);
  t.deepEqual(readdirSync(dir).sort(), ['out.tfrecord-00000-of-00003', 'out.tfrecord-00001-of-00003', 'out.tfrecord-00002-of-00003']);
  const back = await collect(
    fromFiles(join(dir, 'out.tfrecord-*'), {
      format: 'tfrecord',
      example: { x: { type: 'float', shape: [2] }, label: { type: 'int64', shape: [] }, name: { type: 'string', shape: [] } },
      cycleLength: 3,
    }),
  );
  // Round robin over 3 shards, read back interleaved with cycle 3: the original order.
  t.deepEqual(back.map((r) => r.name), records.map((r) => r.name));
  t.deepEqual(back[7], { x: new Float32Array([7, 3.5]), label: 1, name: 'r7' });
});

test('gzip: by .gz extension and by option, written and read back', async (t) => {
  const dir = tmp();
  const data = Array.from({ length: 300 }, (_, i) => new TextEncoder().encode(`record ${i} `.repeat(i % 7)));
  await collect(from(data).pipe(writeTFRecord(join(dir, 'a.tfrecord.gz'))));
  await collect(from(data).pipe(writeTFRecord(join(dir, 'b.tfr'), { compression: 'gzip' })));
  t.is(readFileSync(join(dir, 'a.tfrecord.gz'))[0], 0x1f);
  t.deepEqual(await collect(fromFiles(join(dir, 'a.tfrecord.gz'), { format: 'tfrecord' })), data);
  t.deepEqual(await collect(fromFiles(join(dir, 'b.tfr'), { format: 'tfrecord', compression: 'gzip' })), data);
  // A TensorFlow file gzipped by another tool reads the same.
  writeFileSync(join(dir, 'eval.tfrecord.gz'), gzipSync(readFileSync(join(DATA, 'eval.tfrecord'))));
  t.deepEqual(await collect(fromFiles(join(dir, 'eval.tfrecord.gz'), { format: 'tfrecord' })), await collect(fromFiles(join(DATA, 'eval.tfrecord'), { format: 'tfrecord' })));
});

function fileOf(records: Uint8Array[]): Buffer {
  return Buffer.concat(records.map((r) => frameRecord(r)));
}

test('a data CRC mismatch names the file and byte offset; skip counts it and goes on', async (t) => {
  const dir = tmp();
  const records = [1, 2, 3].map((n) => new Uint8Array(10).fill(n));
  const bytes = fileOf(records);
  bytes[26 + 12] ^= 0xff; // second record's data (each frame is 26 bytes)
  const path = join(dir, 'bad.tfrecord');
  writeFileSync(path, bytes);
  const error = await t.throwsAsync(collect(fromFiles(path, { format: 'tfrecord' })), { instanceOf: RecordError });
  t.regex(error.message, /data CRC mismatch.*bad\.tfrecord byte 26/);
  const stats = new PipelineStats();
  const got = await collect(fromFiles(path, { format: 'tfrecord', onError: 'skip' }).pipe(consume((r) => r, { stats })));
  t.deepEqual(got, [records[0], records[2]]);
  t.is(stats.get('fromFiles')?.skipped, 1);
});

test('a truncated file is a RecordError at the last frame; skip counts one and ends that file', async (t) => {
  const dir = tmp();
  const records = [1, 2, 3].map((n) => new Uint8Array(10).fill(n));
  const path = join(dir, 'short.tfrecord');
  writeFileSync(path, fileOf(records).subarray(0, 26 * 2 + 20));
  const error = await t.throwsAsync(collect(fromFiles(path, { format: 'tfrecord' })), { instanceOf: RecordError });
  t.regex(error.message, /truncated TFRecord.*short\.tfrecord byte 52/);
  const stats = new PipelineStats();
  const got = await collect(fromFiles(path, { format: 'tfrecord', onError: 'skip' }).pipe(consume((r) => r, { stats })));
  t.deepEqual(got, records.slice(0, 2));
  t.is(stats.get('fromFiles')?.skipped, 1);
});

test('parseExample: defaults, missing feature, wrong kind, wrong count name the feature', (t) => {
  const record = serializeExample({ a: [1, 2], b: { int64: [5] }, s: ['x', 'yz'], raw: new Uint8Array([1, 2, 3]) });
  const parse = parseExample({
    a: { type: 'float', shape: [2] },
    b: { type: 'int64', shape: [] },
    s: { type: 'string' },
    raw: { type: 'bytes', shape: [] },
    missing: { type: 'float', shape: [3], default: 0.5 },
    grid: { type: 'int64', shape: [2, 2], default: 7 },
  });
  const out = parse(record);
  t.deepEqual(out.a, new Float32Array([1, 2]));
  t.is(out.b, 5);
  t.deepEqual(out.s, ['x', 'yz']);
  t.deepEqual(out.raw, new Uint8Array([1, 2, 3]));
  t.deepEqual(out.missing, new Float32Array([0.5, 0.5, 0.5]));
  t.deepEqual(out.grid, { data: new Int32Array([7, 7, 7, 7]), shape: [2, 2] });
  t.throws(() => parseExample({ nope: { type: 'float' } })(record, 'f.tfrecord byte 0'), { instanceOf: RecordError, message: /feature 'nope': missing.*f\.tfrecord byte 0/ });
  t.throws(() => parseExample({ a: { type: 'int64' } })(record), { instanceOf: RecordError, message: /feature 'a': expected a int64_list, the record holds a float_list/ });
  t.throws(() => parseExample({ a: { type: 'float', shape: [3] } })(record), { instanceOf: RecordError, message: /feature 'a': expected 3 values/ });
  t.throws(() => parseExample({ a: { type: 'float' } })(new Uint8Array([0xff, 0xff, 0xff])), { instanceOf: RecordError, message: /not a tf.train.Example/ });
});

test('fuzz: random and truncated bytes give records or a RecordError naming the file, never another error', async (t) => {
  const dir = tmp();
  const random = mulberry32(42);
  const good = fileOf(Array.from({ length: 20 }, (_, i) => serializeExample({ x: [i], y: { int64: [i] } })));
  const spec = { x: { type: 'float', shape: [1] }, y: { type: 'int64', shape: [1] } } as const;
  for (let trial = 0; trial < 60; trial++) {
    let bytes: Buffer;
    if (trial % 3 === 0) {
      bytes = Buffer.from(Array.from({ length: Math.floor(random() * 200) }, () => Math.floor(random() * 256)));
    } else if (trial % 3 === 1) {
      bytes = good.subarray(0, Math.floor(random() * good.length));
    } else {
      bytes = Buffer.from(good);
      for (let k = 0; k < 3; k++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    }
    const path = join(dir, `fuzz-${trial}.tfrecord`);
    writeFileSync(path, bytes);
    for (const onError of ['fail', 'skip'] as const) {
      try {
        const rows = await collect(fromFiles(path, { format: 'tfrecord', example: spec, onError, verifyCrc: trial % 2 === 0 }));
        t.true(rows.length <= 20);
      } catch (error) {
        t.true(error instanceof RecordError, `trial ${trial}: ${String(error)}`);
        t.true((error as RecordError).message.includes(path), `trial ${trial}: ${(error as Error).message}`);
        t.is(onError, 'fail');
      }
    }
  }
});
