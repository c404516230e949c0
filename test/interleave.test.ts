import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EMPTY, Subject, from, lastValueFrom, take, throwError, toArray, type Observable } from 'rxjs';
import { consume, fromFiles, fromIterable, interleave, listFiles } from '../src/index.js';
import { collect, counter, sleep } from './helpers.js';

const FILES: Record<string, string[]> = {
  A: ['a0', 'a1', 'a2', 'a3', 'a4'],
  B: ['b0', 'b1'],
  C: ['c0', 'c1', 'c2'],
};
const EXPECTED = 'a0 a1 b0 b1 a2 a3 a4 c0 c1 c2';

test('tf.data order: cycle 2, block 2 over 3 sources of different lengths (ours and foreign)', async (t) => {
  const ours = await collect(fromIterable(['A', 'B', 'C']).pipe(interleave((k) => fromIterable(FILES[k]), { cycleLength: 2, blockLength: 2 })));
  t.is(ours.join(' '), EXPECTED);
  const foreign = await collect(from(['A', 'B', 'C']).pipe(interleave((k) => from(FILES[k]), { cycleLength: 2, blockLength: 2 })));
  t.is(foreign.join(' '), EXPECTED);
});

test('other cycle and block lengths', async (t) => {
  const run = (cycleLength: number, blockLength: number): Promise<string> =>
    collect(fromIterable(['A', 'B', 'C']).pipe(interleave((k) => fromIterable(FILES[k]), { cycleLength, blockLength }))).then((v) => v.join(' '));
  t.is(await run(1, 3), 'a0 a1 a2 a3 a4 b0 b1 c0 c1 c2');
  t.is(await run(3, 1), 'a0 b0 c0 a1 b1 c1 a2 c2 a3 a4');
  // Finding B's end uses slot 1's turn (as in tf.data): A goes again, then C opens in slot 1.
  t.is(await run(2, 1), 'a0 b0 a1 b1 a2 a3 c0 a4 c1 c2');
  t.deepEqual(await collect(EMPTY.pipe(interleave(() => fromIterable([1])))), []);
  t.deepEqual(await collect(fromIterable([1, 2]).pipe(interleave(() => EMPTY, { cycleLength: 2 }))), []);
});

test('fromFiles interleaves files the same way (cycleLength 2, blockLength 2)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rxdata-il-'));
  for (const [name, lines] of Object.entries(FILES)) writeFileSync(join(dir, `${name}.txt`), lines.join('\n'));
  const lines = await collect(fromFiles(join(dir, '*.txt'), { format: 'lines', cycleLength: 2, blockLength: 2 }));
  t.is(lines.join(' '), EXPECTED);
});

test('sharding covers every file exactly once across workers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rxdata-shard-'));
  for (let i = 0; i < 7; i++) writeFileSync(join(dir, `part-${i}.txt`), `file ${i}\n`);
  const all = await listFiles(dir);
  t.is(all.length, 7);
  const seen: string[] = [];
  for (let index = 0; index < 3; index++) {
    const mine = await collect(fromFiles(`${dir}/part-*.txt`, { format: 'lines', shard: { count: 3, index } }));
    t.true(mine.length === 2 || mine.length === 3);
    seen.push(...mine);
  }
  t.deepEqual(seen.sort(), Array.from({ length: 7 }, (_, i) => `file ${i}`));
  await t.throwsAsync(listFiles(dir, { shard: { count: 2, index: 2 } }), { instanceOf: RangeError });
  await t.throwsAsync(listFiles(join(dir, 'nope.txt')), { message: /no such file/ });
});

test('demand: endless inner sources are pulled only as elements are consumed', async (t) => {
  const sources = [counter(), counter(), counter()];
  let consumed = 0;
  let maxAhead = 0;
  await lastValueFrom(
    fromIterable([0, 1, 2]).pipe(
      interleave((i) => fromIterable(sources[i].endless), { cycleLength: 3, blockLength: 4 }),
      take(200),
      consume(async () => {
        consumed++;
        const pulled = sources.reduce((n, s) => n + s.state.pulled, 0);
        maxAhead = Math.max(maxAhead, pulled - consumed);
        if (consumed % 20 === 0) await sleep(1);
      }),
      toArray(),
    ),
  );
  t.is(consumed, 200);
  // Each generator may run one step ahead of what it yielded; the operator holds at most one.
  t.true(maxAhead <= 3 + 1, `ran ${maxAhead} ahead`);
  await sleep(5);
  t.true(sources.every((s) => s.state.closed), 'every inner generator closed on unsubscribe');
});

test('non-deterministic: a stalled source does not hold up the others', async (t) => {
  let release!: () => void;
  const stalled = new Promise<void>((resolve) => (release = resolve));
  const slow = fromIterable(async function* () {
    await stalled;
    yield 'a0';
    yield 'a1';
  });
  const inners: Record<string, Observable<string>> = { A: slow, B: fromIterable(['b0', 'b1', 'b2']) };
  const seen: string[] = [];
  const done = lastValueFrom(
    fromIterable(['A', 'B']).pipe(
      interleave((k) => inners[k], { cycleLength: 2, blockLength: 1, deterministic: false }),
      consume((v) => {
        seen.push(v);
        if (seen.length === 3) release();
      }),
      toArray(),
    ),
  );
  await done;
  t.deepEqual(seen.slice(0, 3), ['b0', 'b1', 'b2']);
  t.deepEqual([...seen].sort(), ['a0', 'a1', 'b0', 'b1', 'b2']);
});

test('errors: an inner error, fn throwing, and an outer error reach the subscriber', async (t) => {
  await t.throwsAsync(collect(fromIterable(['A']).pipe(interleave(() => throwError(() => new Error('inner'))))), { message: 'inner' });
  await t.throwsAsync(
    collect(
      fromIterable(['A']).pipe(
        interleave(() => {
          throw new Error('fn');
        }),
      ),
    ),
    { message: 'fn' },
  );
  const outer = new Subject<string>();
  const result = collect(outer.pipe(interleave((k) => fromIterable(FILES[k]))));
  outer.next('B');
  outer.error(new Error('outer'));
  await t.throwsAsync(result, { message: 'outer' });
});
