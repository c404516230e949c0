import test from 'ava';
import { filter, map, take, tap, scan, bufferCount, repeat, lastValueFrom, count } from 'rxjs';
import { fromIterable, consume, prefetch } from '../src/index.js';
import { collect, counter, range, sleep } from './helpers.js';

test('arrays, iterables and async iterables', async (t) => {
  t.deepEqual(await collect(fromIterable([1, 2, 3])), [1, 2, 3]);
  t.deepEqual(await collect(fromIterable(new Set(['a', 'b']))), ['a', 'b']);
  async function* gen() {
    yield 1;
    await sleep(1);
    yield 2;
  }
  t.deepEqual(await collect(fromIterable(gen)), [1, 2]);
});

test('empty source completes without values', async (t) => {
  t.deepEqual(await collect(fromIterable([])), []);
  t.deepEqual(await collect(fromIterable(async function* () {})), []);
});

test('a factory is called again on each subscription (epochs replay)', async (t) => {
  let calls = 0;
  const source = fromIterable(() => {
    calls++;
    return [1, 2];
  });
  t.deepEqual(await collect(source.pipe(repeat(3))), [1, 2, 1, 2, 1, 2]);
  t.is(calls, 3);
});

test('an array is emitted synchronously on subscribe, like RxJS from()', (t) => {
  const seen: number[] = [];
  fromIterable([1, 2, 3]).subscribe((v) => seen.push(v));
  t.deepEqual(seen, [1, 2, 3]);
});

test('an iterator that throws errors the Observable', async (t) => {
  function* bad() {
    yield 1;
    throw new Error('boom');
  }
  await t.throwsAsync(collect(fromIterable(bad)), { message: 'boom' });
  async function* badAsync() {
    yield 1;
    throw new Error('async boom');
  }
  await t.throwsAsync(collect(fromIterable(badAsync)), { message: 'async boom' });
});

test('a factory that throws errors the Observable', async (t) => {
  await t.throwsAsync(
    collect(
      fromIterable(() => {
        throw new Error('no data');
      }),
    ),
    { message: 'no data' },
  );
});

test('take(3) on an endless source stops it and closes the generator', async (t) => {
  const { state, endless } = counter();
  t.deepEqual(await collect(fromIterable(endless).pipe(take(3))), [0, 1, 2]);
  t.true(state.closed);
  t.is(state.pulled, 3);
});

test('take(3) below a consume stops an endless source within the bound', async (t) => {
  const { state, endless } = counter();
  const out = await collect(fromIterable(endless).pipe(prefetch(4), take(3), consume(async (x: number) => x)));
  t.deepEqual(out, [0, 1, 2]);
  await sleep(5);
  t.true(state.closed);
  t.true(state.pulled <= 3 + 4 + 1, `pulled ${state.pulled}`);
});

test('an async generator is closed (finally runs) on unsubscribe', async (t) => {
  let closed = false;
  let pulled = 0;
  async function* gen() {
    try {
      for (;;) {
        pulled++;
        yield pulled;
        await sleep(1);
      }
    } finally {
      closed = true;
    }
  }
  const sub = fromIterable(gen).subscribe();
  await sleep(20);
  sub.unsubscribe();
  const atStop = pulled;
  await sleep(20);
  t.true(closed);
  t.true(pulled <= atStop + 1, 'no pulls after teardown');
});

test('a never-ending async source can be unsubscribed', async (t) => {
  const source = fromIterable({
    [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<number>>(() => undefined) }),
  });
  const sub = source.subscribe();
  await sleep(5);
  sub.unsubscribe();
  t.true(sub.closed);
});

test('an endless sync source with a plain subscriber yields to timers', async (t) => {
  const { state, endless } = counter();
  const sub = fromIterable(endless).subscribe();
  await sleep(10); // would never fire if the source hogged the event loop
  sub.unsubscribe();
  const atStop = state.pulled;
  await sleep(10);
  t.true(state.closed);
  t.is(state.pulled, atStop);
});

test('ordinary RxJS operators work between the source and the demand end', async (t) => {
  const { state, endless } = counter();
  const consumed: number[] = [];
  const n = await lastValueFrom(
    fromIterable(endless).pipe(
      map((x) => x * 2),
      filter((x) => x % 4 === 0),
      tap(() => undefined),
      scan((acc, x) => acc + x, 0),
      bufferCount(2),
      take(5),
      consume(async (pair: number[]) => {
        await sleep(2);
        consumed.push(...pair);
      }),
      count(),
    ),
  );
  t.is(n, 5);
  t.deepEqual(consumed.slice(0, 4), [0, 4, 12, 24]);
  t.true(state.closed);
  // filter halves the flow and bufferCount(2) holds up to 2: a few dozen pulls at most.
  t.true(state.pulled <= 5 * 4 + 8, `pulled ${state.pulled}`);
});

test('values arrive in order for many elements', async (t) => {
  t.deepEqual(await collect(fromIterable(range(20000))), range(20000));
});
