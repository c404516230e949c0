import test from 'ava';
import { rmSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { from, lastValueFrom, map, range, takeWhile } from 'rxjs';
import { PipelineStats, fromFiles, fromIterable, parseExample, writeJsonLines, writeTFRecord } from '../src/index.js';
import { collect, counter } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rxdata-writers-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

test('writeJsonLines round trip, typed arrays as arrays, gzip by extension', async (t) => {
  const rows = Array.from({ length: 100 }, (_, i) => ({ i, name: `n${i}`, v: new Float32Array([i, 0.5]) }));
  const progress = await collect(from(rows).pipe(writeJsonLines(join(dir, 'a.jsonl'))));
  t.deepEqual(progress.at(-1), { records: 100, bytes: progress.at(-1)!.bytes, path: join(dir, 'a.jsonl') });
  const back = await collect(fromFiles(join(dir, 'a.jsonl'), { format: 'jsonl' }));
  t.deepEqual(back[3], { i: 3, name: 'n3', v: [3, 0.5] });
  t.is(back.length, 100);
  await collect(from(rows).pipe(writeJsonLines(join(dir, 'a.jsonl.gz'))));
  t.is(gunzipSync(readFileSync(join(dir, 'a.jsonl.gz'))).toString(), readFileSync(join(dir, 'a.jsonl'), 'utf8'));
  t.deepEqual(await collect(fromFiles(join(dir, 'a.jsonl.gz'), { format: 'jsonl' })), back);
});

test('writers are the demand end: the source is pulled only as records are written', async (t) => {
  const { state, endless } = counter();
  const stats = new PipelineStats();
  await lastValueFrom(
    fromIterable(endless).pipe(
      map((i) => ({ feature: [i], label: { int64: [i % 10] } })),
      writeTFRecord(join(dir, 'stream.tfrecord'), { stats }),
      // Stop after 1,000 written: the source must not have run far ahead.
      takeWhile((p) => p.records < 1000, true),
    ),
  );
  t.true(state.pulled <= 1002, `pulled ${state.pulled} for 1000 written`);
  t.is(stats.get('writeTFRecord')?.in, 1000);
});

test('writeTFRecord: features serialised as tf.train.Example, read back with a spec', async (t) => {
  const path = join(dir, 'ex.tfrecord');
  await lastValueFrom(range(0, 50).pipe(map((i) => ({ x: new Float32Array([i, -i]), y: { int64: [i] }, tag: `t${i}` })), writeTFRecord(path)));
  const back = await collect(fromFiles(path, { format: 'tfrecord' }).pipe(map((r) => parseExample({ x: { type: 'float', shape: [2] }, y: { type: 'int64', shape: [] }, tag: { type: 'string', shape: [] } })(r))));
  t.is(back.length, 50);
  t.deepEqual(back[49], { x: new Float32Array([49, -49]), y: 49, tag: 't49' });
});
