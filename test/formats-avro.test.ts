import test from 'ava';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { lastValueFrom, toArray } from 'rxjs';
import avro from 'avsc';
import { PipelineStats, RecordError, consume, fromFiles } from '../src/index.js';
import { mulberry32 } from '../src/random.js';
import { collect } from './helpers.js';
import { expectedRow, span } from './fixtures/formats/rows.js';

const F = 'test/fixtures/formats';
const dir = mkdtempSync(join(tmpdir(), 'rxdata-avro-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** Records as plain JSON values (avsc decodes records into instances of generated classes). */
const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x));
const fromFixture = (i: number) => {
  const { id, x, name, opt, tags, point } = expectedRow(i);
  return { id, x, name, opt, tags, point };
};

for (const codec of ['null', 'deflate']) {
  test(`reads fastavro's ${codec}-codec container file block by block`, async (t) => {
    const stats = new PipelineStats();
    const rows = await lastValueFrom(fromFiles(`${F}/rows-${codec}.avro`, { format: 'avro' }).pipe(consume(async (r) => r, { stats }), toArray()));
    t.deepEqual(plain(rows), span(0, 300).map(fromFixture));
    t.true((stats.get('fromFiles')?.extra.blocks ?? 0) > 1);
  });
}

test('readerSchema: schema evolution by Avro resolution (field added with default, field dropped, float → double)', async (t) => {
  const readerSchema = {
    type: 'record',
    name: 'Row',
    namespace: 'rxdata.test',
    fields: [
      { name: 'id', type: 'long' },
      { name: 'x', type: 'double' },
      { name: 'weight', type: 'double', default: 1 },
      { name: 'label', aliases: ['name'], type: 'string' },
    ],
  } as const;
  const rows = await collect(fromFiles(`${F}/rows-deflate.avro`, { format: 'avro', readerSchema: readerSchema as unknown as avro.Schema }));
  t.deepEqual(plain(rows.slice(0, 2)), [
    { id: 0, x: 0, weight: 1, label: 'row-0' },
    { id: 1, x: 0.25, weight: 1, label: 'row-1' },
  ]);
  t.is(rows.length, 300);
  // A reader schema that cannot read the writer's (a required field without default) names the file.
  const bad = { type: 'record', name: 'Row', namespace: 'rxdata.test', fields: [{ name: 'missing', type: 'int' }] } as const;
  await t.throwsAsync(collect(fromFiles(`${F}/rows-null.avro`, { format: 'avro', readerSchema: bad as unknown as avro.Schema })), {
    instanceOf: RecordError,
    message: /reader schema cannot read.*rows-null\.avro/,
  });
});

test('gzip-compressed container files and custom codecs', async (t) => {
  const gz = join(dir, 'rows.avro.gz');
  writeFileSync(gz, gzipSync(readFileSync(`${F}/rows-null.avro`)));
  t.is((await collect(fromFiles(gz, { format: 'avro' }))).length, 300);
  // A file written by avsc with a codec of its own name: readable once the codec is given.
  const path = join(dir, 'custom.avro');
  const type = avro.Type.forSchema({ type: 'record', name: 'R', fields: [{ name: 'i', type: 'int' }] });
  const reverse = (b: Buffer): Buffer => Buffer.from(b).reverse();
  // Done once the file stream has finished: the encoder's own 'finish' comes before its bytes reach the file.
  const encoder = new avro.streams.BlockEncoder(type, { codec: 'rev', codecs: { rev: (b: Buffer, cb: (e: Error | null, out?: Buffer) => void) => cb(null, reverse(b)) }, blockSize: 64 });
  const written = pipeline(encoder, createWriteStream(path));
  for (let i = 0; i < 100; i++) encoder.write({ i });
  encoder.end();
  await written;
  await t.throwsAsync(collect(fromFiles(path, { format: 'avro' })), { instanceOf: RecordError, message: /unknown Avro codec 'rev'/ });
  const rows = await collect(fromFiles(path, { format: 'avro', codecs: { rev: reverse } }));
  t.deepEqual(plain(rows), span(0, 100).map((i) => ({ i })));
});

test('a corrupt block is a RecordError naming its byte offset, or skipped and counted; a truncated file is an error', async (t) => {
  const good = readFileSync(`${F}/rows-null.avro`);
  const path = join(dir, 'bad-block.avro');
  const bytes = Buffer.from(good);
  // Break record data in the middle of the file: a string length goes negative.
  bytes.fill(0x81, Math.floor(bytes.length / 2), Math.floor(bytes.length / 2) + 6);
  writeFileSync(path, bytes);
  const error = await t.throwsAsync(collect(fromFiles(path, { format: 'avro' })), { instanceOf: RecordError });
  t.regex(error!.message, /bad Avro block .*bad-block\.avro byte \d+/);
  const stats = new PipelineStats();
  const rows = await lastValueFrom(fromFiles(path, { format: 'avro', onError: 'skip' }).pipe(consume(async (r) => r, { stats }), toArray()));
  t.is(stats.get('fromFiles')?.skipped, 1);
  t.true(rows.length < 300 && rows.length >= 200, String(rows.length));
  const cut = join(dir, 'cut.avro');
  writeFileSync(cut, good.subarray(0, good.length - 10));
  await t.throwsAsync(collect(fromFiles(cut, { format: 'avro', onError: 'fail' })), { instanceOf: RecordError, message: /truncated Avro file.*cut\.avro/ });
});

test('fuzz: truncated and mutated Avro files give records or a RecordError naming the file, never another error or a hang', async (t) => {
  const random = mulberry32(5);
  const good = readFileSync(`${F}/rows-deflate.avro`);
  for (let trial = 0; trial < 60; trial++) {
    let bytes: Buffer;
    if (trial % 3 === 0) bytes = Buffer.from(Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256)));
    else if (trial % 3 === 1) bytes = good.subarray(0, Math.floor(random() * good.length));
    else {
      bytes = Buffer.from(good);
      for (let k = 0; k < 3; k++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    }
    const path = join(dir, `fuzz-${trial}.avro`);
    writeFileSync(path, bytes);
    for (const onError of ['fail', 'skip'] as const) {
      try {
        const rows = await collect(fromFiles(path, { format: 'avro', onError }));
        t.true(rows.length <= 300);
      } catch (error) {
        t.true(error instanceof RecordError, `trial ${trial}: ${String(error)}`);
        t.true((error as RecordError).message.includes(path), `trial ${trial}: ${(error as Error).message}`);
      }
    }
  }
});
