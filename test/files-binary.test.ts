import test from 'ava';
import { rmSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { map } from 'rxjs';
import { PipelineStats, RecordError, consume, fromFiles } from '../src/index.js';
import { mulberry32 } from '../src/random.js';
import { collect } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rxdata-bin-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** n CIFAR-10-layout records: label byte, then 3072 pixel bytes (R plane, G plane, B plane). */
function cifar(n: number): Buffer {
  const out = Buffer.alloc(n * 3073);
  for (let i = 0; i < n; i++) {
    out[i * 3073] = i % 10;
    out.fill(i, i * 3073 + 1, (i + 1) * 3073);
  }
  return out;
}

test('CIFAR-10 binary records become { image, label }', async (t) => {
  const path = join(dir, 'data_batch_1.bin');
  writeFileSync(path, cifar(30));
  const items = await collect(
    fromFiles(path, { format: 'binary', recordBytes: 3073 }).pipe(
      map((r) => {
        // Planar CHW → interleaved HWC, as image models expect.
        const image = new Uint8Array(3072);
        for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) image[p * 3 + c] = r[1 + c * 1024 + p];
        return { image: { data: image, shape: [32, 32, 3] }, label: r[0] };
      }),
    ),
  );
  t.is(items.length, 30);
  t.deepEqual(items.map((i) => i.label).slice(0, 12), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
  t.is(items[17].image.data[100], 17);
});

test('header and footer bytes are skipped; records span read chunks', async (t) => {
  const path = join(dir, 'hf.bin');
  const body = Buffer.alloc(7 * 50000);
  for (let i = 0; i < 50000; i++) body.writeUInt32LE(i, i * 7);
  writeFileSync(path, Buffer.concat([Buffer.from('HEAD'), body, Buffer.from('FT')]));
  const records = await collect(fromFiles(path, { format: 'binary', recordBytes: 7, headerBytes: 4, footerBytes: 2 }));
  t.is(records.length, 50000);
  t.true(records.every((r, i) => Buffer.from(r).readUInt32LE(0) === i && r.length === 7));
  t.true(records[0] instanceof Uint8Array && !Buffer.isBuffer(records[0]));
});

test('a truncated last record names the byte offset; skip counts it', async (t) => {
  const path = join(dir, 'short.bin');
  writeFileSync(path, Buffer.alloc(10 * 3 + 4));
  const error = await t.throwsAsync(collect(fromFiles(path, { format: 'binary', recordBytes: 10 })), { instanceOf: RecordError });
  t.regex(error.message, /truncated record: 4 bytes left over.*short\.bin byte 30/);
  const stats = new PipelineStats();
  const records = await collect(fromFiles(path, { format: 'binary', recordBytes: 10, onError: 'skip' }).pipe(consume((r) => r, { stats })));
  t.is(records.length, 3);
  t.is(stats.get('fromFiles')?.skipped, 1);
});

test('fuzz: random lengths give records or a RecordError naming the file', async (t) => {
  const random = mulberry32(11);
  for (let trial = 0; trial < 30; trial++) {
    const path = join(dir, `fuzz-${trial}.bin`);
    writeFileSync(path, Buffer.alloc(Math.floor(random() * 100)));
    try {
      const records = await collect(fromFiles(path, { format: 'binary', recordBytes: 9, headerBytes: 3, footerBytes: 1 }));
      t.true(records.every((r) => r.length === 9));
    } catch (error) {
      t.true(error instanceof RecordError, String(error));
      t.true((error as Error).message.includes(path));
    }
  }
});
