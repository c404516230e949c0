import test from 'ava';
import { lastValueFrom, toArray, take, repeat, map, count } from 'rxjs';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromIterable, cache, consume, PipelineStats, LimitError } from '../src/index.js';
import { range, sleep } from './helpers.js';

function countingSource(n: number) {
  const state = { pulled: 0, subscriptions: 0 };
  const source = fromIterable(function* () {
    state.subscriptions++;
    for (let i = 0; i < n; i++) {
      state.pulled++;
      yield { i, v: new Float32Array([i, i * 2]) };
    }
  });
  return { state, source };
}

test('the second epoch pulls nothing from the source', async (t) => {
  const { state, source } = countingSource(100);
  const cached = source.pipe(cache());
  const first = await lastValueFrom(cached.pipe(toArray()));
  t.is(state.pulled, 100);
  const second = await lastValueFrom(cached.pipe(toArray()));
  t.is(state.pulled, 100);
  t.is(state.subscriptions, 1);
  t.deepEqual(second.map((r) => r.i), range(100));
  t.deepEqual(second, first);
});

test('an aborted first epoch leaves no cache (take, unsubscribe, error)', async (t) => {
  const { state, source } = countingSource(50);
  const op = cache<{ i: number; v: Float32Array }>();
  const cached = source.pipe(op);
  await lastValueFrom(cached.pipe(take(10), toArray()));
  t.false(op.filled);
  const full = await lastValueFrom(cached.pipe(toArray()));
  t.is(full.length, 50, 'the next pass reads the source again, whole');
  t.is(state.subscriptions, 2);
  t.true(op.filled);

  let fail = true;
  const flaky = fromIterable(function* () {
    yield 1;
    if (fail) throw new Error('disk gone');
    yield 2;
  });
  const op2 = cache<number>();
  await t.throwsAsync(lastValueFrom(flaky.pipe(op2)), { message: 'disk gone' });
  t.false(op2.filled);
  fail = false;
  t.deepEqual(await lastValueFrom(flaky.pipe(op2, toArray())), [1, 2]);
});

test('replay obeys demand: a slow consumer is not flooded', async (t) => {
  const { source } = countingSource(200);
  const cached = source.pipe(cache());
  await lastValueFrom(cached.pipe(count()));
  const stats = new PipelineStats();
  let emitted = 0;
  let consumed = 0;
  let maxAhead = 0;
  await lastValueFrom(
    cached.pipe(
      map((r) => {
        emitted++;
        maxAhead = Math.max(maxAhead, emitted - consumed);
        return r;
      }),
      take(20),
      consume(async () => {
        await sleep(1);
        consumed++;
      }, { stats }),
    ),
  );
  t.true(maxAhead <= 1, `replay ran ${maxAhead} ahead`);
});

test('byte bound: a clear error without a dir', async (t) => {
  const { source } = countingSource(1000);
  const error = await t.throwsAsync(lastValueFrom(source.pipe(cache({ maxBytes: 10_000 }))));
  t.true(error instanceof LimitError);
  t.regex(error!.message, /maxBytes=10000/);
});

test('byte bound: spills to dir, replays from disk, and an aborted pass removes its file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rxdata-cache-'));
  try {
    const { state, source } = countingSource(2000);
    const op = cache<{ i: number; v: Float32Array }>({ maxBytes: 20_000, dir });
    const cached = source.pipe(op);
    await lastValueFrom(cached.pipe(take(1500), toArray()));
    t.deepEqual(readdirSync(dir), [], 'the aborted pass left no file');
    const first = await lastValueFrom(cached.pipe(toArray()));
    t.is(readdirSync(dir).length, 1);
    const second = await lastValueFrom(cached.pipe(toArray()));
    t.is(state.subscriptions, 2);
    t.is(second.length, 2000);
    t.deepEqual(second.map((r) => r.i), range(2000));
    t.true(second[1999].v instanceof Float32Array);
    t.deepEqual(Array.from(second[1999].v), Array.from(first[1999].v));
    op.clear();
    t.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('epochs through repeat replay the cache', async (t) => {
  const { state, source } = countingSource(30);
  const n = await lastValueFrom(source.pipe(cache(), repeat(4), count()));
  t.is(n, 120);
  t.is(state.pulled, 30);
});
