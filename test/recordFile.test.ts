/** The record file behind cache spills and snapshots: large records read back in one piece, damage is a RecordError at its offset. */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordError } from '../src/index.js';
import { RecordFileWriter, readRecordFile } from '../src/recordFile.js';

const dir = mkdtempSync(join(tmpdir(), 'rxdata-recordfile-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

async function readAll(path: string, chunkSize?: number): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const value of readRecordFile(path, chunkSize)) out.push(value);
  return out;
}

test('records of every size, including ones larger than the read chunk, come back equal', async (t) => {
  const path = join(dir, 'sizes.bin');
  const big = new Float32Array(3 << 20).map((_, i) => i % 1000);
  const values = [{ a: 1 }, big, 'text', { nested: { v: new Uint8Array(70_000).fill(3) } }, [1, 2, 3], big.subarray(0, 10).slice()];
  const writer = new RecordFileWriter(path);
  for (const v of values) writer.write(v);
  writer.close();
  t.deepEqual(await readAll(path), values);
  t.deepEqual(await readAll(path, 4096), values, 'a small read chunk');
});

test('a damaged file is a RecordError naming the file and the record offset', async (t) => {
  const path = join(dir, 'good.bin');
  const writer = new RecordFileWriter(path);
  for (let i = 0; i < 5; i++) writer.write({ i, s: 'x'.repeat(i) });
  writer.close();
  const good = readFileSync(path);
  const first = good.readUInt32LE(0) + 4;
  // Cut in the middle of the second record.
  writeFileSync(join(dir, 'cut.bin'), good.subarray(0, first + 6));
  const cut = await t.throwsAsync(readAll(join(dir, 'cut.bin')), { instanceOf: RecordError });
  t.regex(cut.message, new RegExp(`truncated record file.*cut\\.bin byte ${first}\\)`));
  // A length prefix claiming 4 GiB: refused against the file's size, nothing allocated.
  const huge = Buffer.from(good);
  huge.writeUInt32LE(0xffffffff, first);
  writeFileSync(join(dir, 'huge.bin'), huge);
  t.regex((await t.throwsAsync(readAll(join(dir, 'huge.bin')), { instanceOf: RecordError })).message, /a record of 4294967295 bytes runs past the end/);
  // Bytes V8 cannot deserialise.
  const garbage = Buffer.from(good);
  garbage.fill(0xee, first + 4, first + 10);
  writeFileSync(join(dir, 'garbage.bin'), garbage);
  t.regex((await t.throwsAsync(readAll(join(dir, 'garbage.bin')), { instanceOf: RecordError })).message, new RegExp(`corrupt record file.*garbage\\.bin byte ${first}\\)`));
});
