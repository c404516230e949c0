import test from 'ava';
import { interval, lastValueFrom, take, toArray } from 'rxjs';
import { AbortError, cardinality, fromIterable } from '../src/index.js';
import { withSignal } from '../src/kit.js';

test('an aborted signal fails the source with an AbortError naming it, and tears it down', async (t) => {
  const controller = new AbortController();
  let tornDown = false;
  const endless = fromIterable(function* () {
    try {
      for (let i = 0; ; i++) yield i;
    } finally {
      tornDown = true;
    }
  });
  setTimeout(() => controller.abort(new Error('user pressed ^C')), 20);
  const error = await t.throwsAsync(
    lastValueFrom(withSignal(endless, controller.signal, 'fromIterable(numbers)').pipe(take(1e12))),
  );
  t.true(error instanceof AbortError);
  t.is(error?.message, 'fromIterable(numbers): aborted');
  t.is(((error as AbortError).cause as Error).message, 'user pressed ^C');
  t.true(tornDown);
});

test('a signal that already aborted fails at subscription without reading the source', async (t) => {
  const controller = new AbortController();
  controller.abort();
  let read = 0;
  const source = fromIterable(function* () {
    read++;
    yield 1;
  });
  await t.throwsAsync(lastValueFrom(withSignal(source, controller.signal, 'src')), { instanceOf: AbortError });
  t.is(read, 0);
});

test('without an abort the stream, its cardinality and take() below it behave as before', async (t) => {
  const controller = new AbortController();
  const source = withSignal(fromIterable([1, 2, 3, 4]), controller.signal, 'src');
  t.is(cardinality(source), 4);
  t.deepEqual(await lastValueFrom(source.pipe(take(2), toArray())), [1, 2]);
  t.deepEqual(await lastValueFrom(withSignal(interval(1), controller.signal, 'tick').pipe(take(3), toArray())), [0, 1, 2]);
  t.is(withSignal(source, undefined, 'src'), source);
});
