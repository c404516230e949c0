import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { PipelineStats, RecordError, consume, fromFiles } from '../src/index.js';
import { mulberry32 } from '../src/random.js';
import { collect } from './helpers.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'rxdata-text-'));
function file(dir: string, name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

test('lines: \\n, \\r\\n and \\r endings, a last line without newline, empty lines kept or skipped', async (t) => {
  const dir = tmp();
  const path = file(dir, 'a.txt', 'one\ntwo\r\nthree\rfour\n\nfive');
  t.deepEqual(await collect(fromFiles(path, { format: 'lines' })), ['one', 'two', 'three', 'four', '', 'five']);
  t.deepEqual(await collect(fromFiles(path, { format: 'lines', skipEmpty: true })), ['one', 'two', 'three', 'four', 'five']);
  t.deepEqual(await collect(fromFiles(file(dir, 'b.txt', 'x\n'), { format: 'lines' })), ['x']);
  t.deepEqual(await collect(fromFiles(file(dir, 'c.txt', ''), { format: 'lines' })), []);
});

test('lines: \\r\\n split across read chunks and multi-byte characters across chunks', async (t) => {
  const dir = tmp();
  // 64 KiB reads: put a \r at the last byte of the first chunk and a multi-byte char across the second boundary.
  const first = 'a'.repeat(65535) + '\r';
  const second = '\n' + 'é'.repeat(40000) + '\n' + 'end';
  const lines = await collect(fromFiles(file(dir, 'big.txt', first + second), { format: 'lines' }));
  t.deepEqual(lines.map((l) => l.length), [65535, 40000, 3]);
  t.is(lines[1], 'é'.repeat(40000));
});

test('lines: gzip by .gz extension', async (t) => {
  const dir = tmp();
  const text = Array.from({ length: 20000 }, (_, i) => `line ${i}`).join('\n');
  const lines = await collect(fromFiles(file(dir, 'a.txt.gz', gzipSync(text)), { format: 'lines' }));
  t.is(lines.length, 20000);
  t.is(lines[19999], 'line 19999');
  const error = await t.throwsAsync(collect(fromFiles(file(dir, 'bad.txt.gz', Buffer.from('not gzip at all')), { format: 'lines' })), { instanceOf: RecordError });
  t.regex(error.message, /corrupt gzip data.*bad\.txt\.gz/);
});

test('jsonl: values, blank lines ignored, a malformed line names file and line; skip counts it', async (t) => {
  const dir = tmp();
  const path = file(dir, 'a.jsonl', '{"a":1}\n\n{"a":2}\r\n{"a":\n[3]\n');
  const error = await t.throwsAsync(collect(fromFiles(path, { format: 'jsonl' })), { instanceOf: RecordError });
  t.regex(error.message, /malformed JSON.*a\.jsonl:4\)/);
  const stats = new PipelineStats();
  const values = await collect(fromFiles<unknown>(path, { format: 'jsonl', onError: 'skip' }).pipe(consume((v) => v, { stats })));
  t.deepEqual(values, [{ a: 1 }, { a: 2 }, [3]]);
  t.is(stats.get('fromFiles')?.skipped, 1);
});

test('csv: header, typed columns with defaults, select, delimiter and quoting', async (t) => {
  const dir = tmp();
  const path = file(dir, 'a.csv', 'Name;Temperature;Ok;Note\n"Smith; J";21.5;yes;"say ""hi"""\nDoe;;no;\n');
  const rows = await collect(
    fromFiles(path, { format: 'csv', delimiter: ';', columns: { Temperature: { type: 'float', default: 0 }, Ok: { type: 'bool' } } }),
  );
  t.deepEqual(rows, [
    { Name: 'Smith; J', Temperature: 21.5, Ok: true, Note: 'say "hi"' },
    { Name: 'Doe', Temperature: 0, Ok: false, Note: '' },
  ]);
  const picked = await collect(fromFiles(path, { format: 'csv', delimiter: ';', select: ['Ok', 'Name'], columns: { Ok: { type: 'bool' } } }));
  t.deepEqual(picked, [{ Ok: true, Name: 'Smith; J' }, { Ok: false, Name: 'Doe' }]);
});

test('csv: labels turn rows into { xs: Float32Array, ys }', async (t) => {
  const rows = await collect(fromFiles('examples/data/occupancy/datatraining.csv', {
    format: 'csv',
    // R-style file: the header lacks the row-name column, so name the columns and skip the header.
    header: true,
    columnNames: ['id', 'date', 'Temperature', 'Humidity', 'Light', 'CO2', 'HumidityRatio', 'Occupancy'],
    labels: ['Occupancy'],
    select: ['Temperature', 'Humidity', 'Light', 'CO2', 'HumidityRatio', 'Occupancy'] }));
  t.is(rows.length, 8143);
  t.is(rows[0].xs.length, 5);
  t.true(rows.every((r) => r.ys === 0 || r.ys === 1));
  const dir = tmp();
  const two = await collect(fromFiles(file(dir, 'b.csv', 'a,b,c\n1,2,3\n4,5,6\n'), { format: 'csv', labels: ['a', 'c'] }));
  t.deepEqual(two, [
    { xs: new Float32Array([2]), ys: new Float32Array([1, 3]) },
    { xs: new Float32Array([5]), ys: new Float32Array([4, 6]) },
  ]);
  // Mixed line endings (a \r\n header over \n rows, as in optdigits).
  const mixed = await collect(fromFiles(file(dir, 'm.csv', 'a,b\r\n1,2\n3,4\r5,6'), { format: 'csv', columns: { a: { type: 'int' }, b: { type: 'int' } } }));
  t.deepEqual(mixed, [{ a: 1, b: 2 }, { a: 3, b: 4 }, { a: 5, b: 6 }]);
  // No header: named columns.
  const named = await collect(fromFiles(file(dir, 'c.csv', '1,2\n3,4\n'), { format: 'csv', columnNames: ['x', 'y'], columns: { x: { type: 'int' }, y: { type: 'int' } } }));
  t.deepEqual(named, [{ x: 1, y: 2 }, { x: 3, y: 4 }]);
});

test('csv: bad cells and rows name the file and line; skip counts them', async (t) => {
  const dir = tmp();
  const path = file(dir, 'bad.csv', 'x,y\n1,2\n3,oops\n4\n5,6\n');
  const error = await t.throwsAsync(collect(fromFiles(path, { format: 'csv', columns: { y: { type: 'float' } } })), { instanceOf: RecordError });
  t.regex(error.message, /column 'y': 'oops' is not a number.*bad\.csv:3\)/);
  const stats = new PipelineStats();
  const rows = await collect(fromFiles(path, { format: 'csv', columns: { x: { type: 'int' }, y: { type: 'float' } }, onError: 'skip' }).pipe(consume((r) => r, { stats })));
  t.deepEqual(rows, [{ x: 1, y: 2 }, { x: 5, y: 6 }]);
  t.is(stats.get('fromFiles')?.skipped, 2);
  const quote = file(dir, 'quote.csv', 'x,y\n1,2\n"3,4\n');
  const quoteError = await t.throwsAsync(collect(fromFiles(quote, { format: 'csv' })), { instanceOf: RecordError });
  t.regex(quoteError.message, /malformed CSV.*quote\.csv:\d+\)/);
  const missing = await t.throwsAsync(collect(fromFiles(path, { format: 'csv', labels: ['nope'] })), { instanceOf: RecordError });
  t.regex(missing.message, /no column named 'nope'/);
});

test('fuzz: random and truncated bytes in lines, jsonl and csv give records or a RecordError naming the file', async (t) => {
  const dir = tmp();
  const random = mulberry32(7);
  const good = 'a,b,c\n' + Array.from({ length: 50 }, (_, i) => `${i},"q ${i}",${i / 3}`).join('\n');
  const goodJson = Array.from({ length: 50 }, (_, i) => JSON.stringify({ i, s: `v${i}` })).join('\n');
  for (let trial = 0; trial < 45; trial++) {
    const kind = trial % 3;
    let bytes: Buffer;
    if (kind === 0) bytes = Buffer.from(Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256)));
    else bytes = Buffer.from(kind === 1 ? good : goodJson).subarray(0, Math.floor(random() * good.length));
    const gz = trial % 5 === 0;
    const path = file(dir, `f${trial}.txt${gz ? '.gz' : ''}`, gz ? gzipSync(bytes).subarray(0, Math.max(10, Math.floor(random() * 60))) : bytes);
    for (const format of ['lines', 'jsonl', 'csv'] as const) {
      for (const onError of ['fail', 'skip'] as const) {
        try {
          const options = format === 'csv' ? { format, onError, columns: { a: { type: 'float' as const } } } : { format, onError };
          const records = await collect(fromFiles(path, options as { format: 'lines' }));
          t.true(records.every((r) => r !== undefined), `${format} trial ${trial}: a record came back undefined`);
        } catch (error) {
          t.true(error instanceof RecordError, `${format} trial ${trial}: ${String(error)}`);
          t.true((error as Error).message.includes(path), `${format} trial ${trial}: ${(error as Error).message}`);
          t.is(onError, 'fail');
        }
      }
    }
  }
});
