import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { lastValueFrom, take, toArray } from 'rxjs';
import { ElementError } from '../src/errors.js';
import { fromIterable } from '../src/fromIterable.js';
import { ownedBuffers, workerMap, workerPool } from '../src/workerPool.js';
import { parallelMap } from '../operators/parallelMap.js';
import { consume } from '../operators/consume.js';

// Task modules written at run time: a plain .mjs (what a built package ships) and a .mts that
// only loads because the workers inherit tsx's loader through execArgv.
const dir = mkdtempSync(join(tmpdir(), 'rxdata-workerpool-'));
const mjs = pathToFileURL(join(dir, 'double.mjs'));
writeFileSync(
  mjs,
  `import { threadId } from 'node:worker_threads';
export default function (x) {
  if (x && x.fail) throw new Error('bad element ' + x.fail);
  if (ArrayBuffer.isView(x)) { const out = new Float32Array(x.length); for (let i = 0; i < x.length; i++) out[i] = x[i] * 2; return out; }
  if (typeof x === 'object' && x !== null && 'delay' in x) { const end = Date.now() + x.delay; while (Date.now() < end); return { v: x.v * 2, threadId }; }
  return x * 2;
}
`,
);
const mts = pathToFileURL(join(dir, 'square.mts'));
writeFileSync(mts, `export default function (x: number): number { const y: number = x * x; return y; }\n`);
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

test('workerPool runs the task module in workers and can be destroyed', async (t) => {
  const pool = workerPool<number, number>(mjs, { threads: 2 });
  t.is(pool.threads, 2);
  t.deepEqual(await Promise.all([1, 2, 3].map((x) => pool.run(x))), [2, 4, 6]);
  await pool.destroy();
  await pool.destroy();
  await t.throwsAsync(pool.run(1), { message: /destroyed/ });
});

test('workerPool loads a TypeScript task through the inherited tsx loader', async (t) => {
  const pool = workerPool<number, number>(mts, { threads: 1 });
  t.is(await pool.run(7), 49);
  await pool.destroy();
});

test('workerPool moves listed buffers instead of copying them', async (t) => {
  const pool = workerPool<Float32Array, Float32Array>(mjs, { threads: 1 });
  const input = new Float32Array([1, 2, 3]);
  const out = await pool.run(input, { transfer: [input.buffer] });
  t.deepEqual([...out], [2, 4, 6]);
  t.is(input.byteLength, 0, 'the input buffer was moved (detached here)');
  const second = new Float32Array([5]);
  t.deepEqual([...(await pool.run(second, [second.buffer]))], [10], 'a bare transfer list works too');
  t.is(second.byteLength, 0);
  await pool.destroy();
});

test('workerPool spreads work over its threads', async (t) => {
  const pool = workerPool<{ v: number; delay: number }, { v: number; threadId: number }>(mjs, { threads: 2 });
  const results = await Promise.all([1, 2, 3, 4].map((v) => pool.run({ v, delay: 30 })));
  t.deepEqual(
    results.map((r) => r.v),
    [2, 4, 6, 8],
  );
  t.is(new Set(results.map((r) => r.threadId)).size, 2);
  await pool.destroy();
});

test('workerPool rejects with the task error', async (t) => {
  const pool = workerPool<{ fail: number }, number>(mjs, { threads: 1 });
  await t.throwsAsync(pool.run({ fail: 3 }), { message: /bad element 3/ });
  await pool.destroy();
});

test('workerPool validates threads', (t) => {
  t.throws(() => workerPool(mjs, { threads: 0 }), { instanceOf: RangeError });
});

test('ownedBuffers picks only typed arrays that own their whole buffer', (t) => {
  const owned = new Uint8Array(4);
  const view = new Uint8Array(new ArrayBuffer(8), 4, 4);
  const ab = new ArrayBuffer(2);
  t.deepEqual(ownedBuffers(owned), [owned.buffer]);
  t.deepEqual(ownedBuffers(view), []);
  t.deepEqual(ownedBuffers({ a: owned, b: view, c: 1 }), [owned.buffer]);
  t.deepEqual(ownedBuffers([owned, owned, ab]), [owned.buffer, ab]);
  t.deepEqual(ownedBuffers(42), []);
});

test('a pool used from parallelMap keeps order and bounds what is in flight', async (t) => {
  const pool = workerPool<number, number>(mjs, { threads: 2 });
  let pulled = 0;
  let consumed = 0;
  let maxInFlight = 0;
  function* source(): Generator<number> {
    for (let i = 0; i < 200; i++) {
      pulled++;
      maxInFlight = Math.max(maxInFlight, pulled - consumed);
      yield i;
    }
  }
  const out = await lastValueFrom(
    fromIterable(source).pipe(
      parallelMap((x: number) => pool.run(x), { concurrency: 4 }),
      consume(async (x: number) => {
        await new Promise((r) => setTimeout(r, 1));
        consumed++;
        return x;
      }),
      toArray(),
    ),
  );
  await pool.destroy();
  t.deepEqual(out, Array.from({ length: 200 }, (_, i) => i * 2));
  t.true(maxInFlight <= 4 + 2, `max in flight ${maxInFlight}`);
});

test('workerMap maps on workers, moving buffers, in input order', async (t) => {
  const inputs = Array.from({ length: 20 }, (_, i) => new Float32Array([i, i + 1]));
  const out = await lastValueFrom(fromIterable(inputs).pipe(workerMap<Float32Array, Float32Array>(mjs, { threads: 2, transfer: true }), toArray()));
  t.deepEqual(
    out.map((x) => [...x]),
    Array.from({ length: 20 }, (_, i) => [2 * i, 2 * i + 2]),
  );
  t.true(inputs.every((x) => x.byteLength === 0), 'inputs were moved');
});

test('workerMap stops its pool on early unsubscription and on errors', async (t) => {
  function* endless(): Generator<number> {
    for (let i = 0; ; i++) yield i;
  }
  const firsts = await lastValueFrom(fromIterable(endless).pipe(workerMap<number, number>(mjs, { threads: 2 }), take(5), toArray()));
  t.deepEqual(firsts, [0, 2, 4, 6, 8]);
  const error = await t.throwsAsync(lastValueFrom(fromIterable<unknown>([1, { fail: 9 }, 3]).pipe(workerMap(mjs, { threads: 1 }))));
  t.true(error instanceof ElementError);
  t.regex(String((error as ElementError).cause), /bad element 9/);
  const skipped = await lastValueFrom(fromIterable<unknown>([1, { fail: 9 }, 3]).pipe(workerMap(mjs, { threads: 1, onError: 'skip' }), toArray()));
  t.deepEqual(skipped, [2, 6]);
});

test("a tuned parallelMap learns the pool's thread count from its run (autotune's pool model)", async (t) => {
  const { duringCall } = await import('../src/autotune/calls.js');
  const pool = workerPool<number, number>(mjs, { threads: 3 });
  try {
    const told: number[] = [];
    const result = await duringCall((threads) => told.push(threads), () => pool.run(21));
    t.is(result, 42);
    t.deepEqual(told, [3]);
    // Outside a tuned call nobody is told, and nothing fails.
    t.is(await pool.run(1), 2);
    t.deepEqual(told, [3]);
  } finally {
    await pool.destroy();
  }
});
