/** Names from data (`__proto__` columns and keys) and corrupt compressed data: kept as data, reported with a position. */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { from } from 'rxjs';
import { RecordError, cache, fromFiles, frameRecord, snapshot, writeJsonLines, type FromFilesOptions } from '../src/index.js';
import type { Observable } from 'rxjs';
import { collect } from './helpers.js';

/** fromFiles with the format chosen at run time. */
const anyFormat = fromFiles as (patterns: string, options: FromFilesOptions) => Observable<unknown>;

const dir = mkdtempSync(join(tmpdir(), 'rxdata-hostile-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

test('csv: a __proto__ column is an own column; rows keep the ordinary prototype', async (t) => {
  const path = join(dir, 'proto.csv');
  writeFileSync(path, 'a,__proto__,constructor\n1,9;9,c\n2,evil,d\n');
  const rows = await collect(fromFiles(path, { format: 'csv', columns: { a: { type: 'int' } } }));
  t.is(rows.length, 2);
  for (const row of rows) {
    t.is(Object.getPrototypeOf(row), Object.prototype);
    t.deepEqual(Object.keys(row), ['a', '__proto__', 'constructor']);
  }
  t.is(Object.getOwnPropertyDescriptor(rows[0], '__proto__')?.value, '9;9');
  t.is(Object.getOwnPropertyDescriptor(rows[1], '__proto__')?.value, 'evil');
  t.is(Object.getOwnPropertyDescriptor(rows[1], 'constructor')?.value, 'd');
  // A type for it is looked up among the user's own keys, never Object.prototype's.
  const typed = await collect(fromFiles(path, { format: 'csv', columns: { ['__proto__']: { type: 'string' } }, select: ['__proto__'] }));
  t.deepEqual(typed.map((r) => Object.getOwnPropertyDescriptor(r, '__proto__')?.value), ['9;9', 'evil']);
  // A header cell named like an Object.prototype member is a string column, not a lookup of that member.
  const numbers = join(dir, 'proto2.csv');
  writeFileSync(numbers, 'toString,valueOf\nx,y\n');
  t.deepEqual(await collect(fromFiles(numbers, { format: 'csv' })), [{ toString: 'x', valueOf: 'y' }]);
});

test('json lines: __proto__ stays an own data key through reading, cache, snapshot and writing', async (t) => {
  const path = join(dir, 'proto.jsonl');
  writeFileSync(path, '{"__proto__": {"xs": [9, 9]}, "ys": 1}\n');
  const [row] = await collect(fromFiles<Record<string, unknown>>(path, { format: 'jsonl' }));
  t.is(Object.getPrototypeOf(row), Object.prototype);
  t.deepEqual(Object.getOwnPropertyDescriptor(row, '__proto__')?.value, { xs: [9, 9] });
  t.is((row as { xs?: unknown }).xs, undefined, 'no inherited xs');
  const check = (value: Record<string, unknown>, where: string): void => {
    t.is(Object.getPrototypeOf(value), Object.prototype, where);
    t.deepEqual(Object.getOwnPropertyDescriptor(value, '__proto__')?.value, { xs: [9, 9] }, where);
  };
  // Through a disk spill and a snapshot (V8 serialisation) and back.
  const spill = cache<Record<string, unknown>>({ maxBytes: 1, dir: join(dir, 'spill') });
  const source = fromFiles<Record<string, unknown>>(path, { format: 'jsonl' });
  await collect(source.pipe(spill));
  check((await collect(source.pipe(spill)))[0], 'cache replay');
  const snap = snapshot<Record<string, unknown>>(join(dir, 'snap'), { key: 'proto' });
  await collect(source.pipe(snap));
  check((await collect(source.pipe(snap)))[0], 'snapshot replay');
  // Written and read again.
  const out = join(dir, 'proto-out.jsonl');
  await collect(from([row]).pipe(writeJsonLines(out)));
  check((await collect(fromFiles<Record<string, unknown>>(out, { format: 'jsonl' })))[0], 'writeJsonLines round trip');
});

test('gzip: corrupt compressed data names the file and a compressed byte offset', async (t) => {
  const records = Array.from({ length: 2000 }, (_, i) => frameRecord(new TextEncoder().encode(`record ${i} ${'x'.repeat(i % 50)}`)));
  const gz = gzipSync(Buffer.concat(records));
  const text = gzipSync(Array.from({ length: 20000 }, (_, i) => `${i},${(i * 7919) % 10007}`).join('\n'));
  /** The deflate stream damaged about two thirds in. */
  const damage = (bytes: Buffer): Buffer => {
    const bad = Buffer.from(bytes);
    for (let i = Math.floor(bad.length * 0.66); i < Math.floor(bad.length * 0.66) + 64; i++) bad[i] ^= 0x5a;
    return bad;
  };
  /** The gzip trailer's CRC broken: every byte inflates, then the check fails. */
  const badCrc = (bytes: Buffer): Buffer => {
    const bad = Buffer.from(bytes);
    bad[bad.length - 8] ^= 0xff;
    return bad;
  };
  for (const [format, name, bad] of [
    // Lines take any bytes: the inflater's own error is what stops the read.
    ['lines', 'bad.txt.gz', damage(text)],
    ['tfrecord', 'bad.tfrecord.gz', badCrc(gz)],
    ['csv', 'bad.csv.gz', badCrc(text)],
  ] as const) {
    const path = join(dir, name);
    writeFileSync(path, bad);
    const error = await t.throwsAsync(collect(anyFormat(path, { format, verifyCrc: false })), { instanceOf: RecordError });
    const match = /corrupt gzip data: .* \(at (.*) compressed byte (\d+)(?:, line \d+)?\)/.exec(error.message);
    t.truthy(match, error.message);
    t.is(match![1], path);
    const offset = Number(match![2]);
    t.true(offset > 0 && offset <= bad.length, `offset ${offset} of ${bad.length}`);
  }
  // A truncated gzip file: the error says where the data ended.
  const path = join(dir, 'short.tfrecord.gz');
  writeFileSync(path, gz.subarray(0, 1000));
  const error = await t.throwsAsync(collect(fromFiles(path, { format: 'tfrecord' })), { instanceOf: RecordError });
  t.regex(error.message, /short\.tfrecord\.gz compressed byte 1000\)/);
});
