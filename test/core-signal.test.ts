/** `signal` on the core sources: an abort fails the stream with an AbortError naming the source and releases what it holds. */
import test from 'ava';
import { lastValueFrom, take, toArray } from 'rxjs';
import { AbortError, cardinality, consume, fromIterable, pushSource, range, type PushSink } from '../src/index.js';
import { counter, sleep } from './helpers.js';

test('fromIterable({ signal }): aborting mid-stream fails with AbortError and runs the generator\'s finally', async (t) => {
  const controller = new AbortController();
  const { state, endless } = counter();
  const source = fromIterable(endless, { name: 'numbers', signal: controller.signal });
  const error = await t.throwsAsync(
    lastValueFrom(
      source.pipe(
        consume(async (i: number) => {
          if (i === 5) controller.abort(new Error('stop'));
          await sleep(1);
        }),
      ),
    ),
    { instanceOf: AbortError },
  );
  t.is(error?.message, 'numbers: aborted');
  t.is(((error as AbortError).cause as Error).message, 'stop');
  t.true(state.closed, 'the iterator was returned');
  // Demand held the source: it was not read far past the abort.
  t.true(state.pulled < 20, `pulled ${state.pulled}`);
});

test('fromIterable({ signal }) over an async generator: its finally runs on abort', async (t) => {
  const controller = new AbortController();
  let closed = false;
  async function* ticks() {
    try {
      for (let i = 0; ; i++) {
        await sleep(1);
        yield i;
      }
    } finally {
      closed = true;
    }
  }
  setTimeout(() => controller.abort(), 20);
  await t.throwsAsync(lastValueFrom(fromIterable(ticks, { signal: controller.signal }).pipe(toArray())), {
    instanceOf: AbortError,
    message: 'fromIterable: aborted',
  });
  // return() on a suspended async generator settles on a later microtask.
  await sleep(5);
  t.true(closed);
});

test('fromIterable({ signal }): an unaborted signal changes nothing; an aborted one reads nothing', async (t) => {
  const controller = new AbortController();
  const source = fromIterable([1, 2, 3], { signal: controller.signal });
  t.is(cardinality(source), 3);
  t.deepEqual(await lastValueFrom(source.pipe(toArray())), [1, 2, 3]);
  t.deepEqual(await lastValueFrom(source.pipe(take(2), toArray())), [1, 2]);
  controller.abort();
  let read = 0;
  const lazy = fromIterable(
    function* () {
      read++;
      yield 1;
    },
    { signal: controller.signal },
  );
  await t.throwsAsync(lastValueFrom(lazy), { instanceOf: AbortError });
  t.is(read, 0);
});

test('pushSource({ signal }): aborting runs the teardown setup returned and aborts sink.signal', async (t) => {
  const controller = new AbortController();
  let tornDown = 0;
  let sinkSignal: AbortSignal | undefined;
  let timer: NodeJS.Timeout | undefined;
  const source = pushSource<number>(
    (sink: PushSink<number>) => {
      sinkSignal = sink.signal;
      let i = 0;
      timer = setInterval(() => sink.next(i++), 1);
      return () => {
        tornDown++;
        clearInterval(timer);
      };
    },
    { name: 'ticker', signal: controller.signal },
  );
  setTimeout(() => controller.abort(), 20);
  const error = await t.throwsAsync(lastValueFrom(source.pipe(toArray())), { instanceOf: AbortError });
  t.is(error?.message, 'ticker: aborted');
  t.is(tornDown, 1);
  t.true(sinkSignal?.aborted);
  // A pre-aborted signal never calls setup.
  tornDown = 0;
  sinkSignal = undefined;
  await t.throwsAsync(lastValueFrom(source), { instanceOf: AbortError });
  t.is(sinkSignal, undefined);
  t.is(tornDown, 0);
});

test('range(..., { signal }): options go last in every form; abort stops an endless range', async (t) => {
  const controller = new AbortController();
  const signal = controller.signal;
  t.deepEqual(await lastValueFrom(range(3, { signal }).pipe(toArray())), [0, 1, 2]);
  t.deepEqual(await lastValueFrom(range(2, 5, { signal }).pipe(toArray())), [2, 3, 4]);
  t.deepEqual(await lastValueFrom(range(5, 0, -2, { signal }).pipe(toArray())), [5, 3, 1]);
  t.deepEqual(await lastValueFrom(range(5, undefined, 2).pipe(toArray())), [0, 2, 4]);
  t.is(cardinality(range(10, { signal })), 10);
  t.is(cardinality(range(0, Infinity, 1, { signal })), 'infinite');
  let seen = 0;
  const error = await t.throwsAsync(
    lastValueFrom(
      range(0, Infinity, 1, { signal }).pipe(
        consume(async () => {
          if (++seen === 10) controller.abort();
          await sleep(0);
        }),
      ),
    ),
    { instanceOf: AbortError },
  );
  t.is(error?.message, 'range: aborted');
  t.is(seen, 10);
});
