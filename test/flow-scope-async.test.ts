/**
 * Demand reaches a source of ours that is subscribed later, from a callback:
 * - a callback that is not ours (a plain RxJS timer, a promise): the flow scope follows the
 *   asynchronous context (AsyncLocalStorage in src/flow/scope.ts), so the source still obeys the
 *   sink below. A scope that lived only during the synchronous subscribe call would leave it no
 *   demand at all (the full suite passed with one before these tests);
 * - the completion or error of a source of ours, seen by `repeat`, `concat` or `retry`: the
 *   producer completes in the scope it captured, not in the asynchronous context of its insides.
 *   `fromFiles(...).pipe(repeat(2))` used to hang: the second pass was subscribed in the first
 *   pass's interleave scope, behind a gate that never opened again.
 */
import test from 'ava';
import * as rx from 'rxjs';
import { lastValueFrom, take, timer, defer, from, count } from 'rxjs';
import { fromIterable, consume, fromFiles } from '../src/index.js';
import { counter, sleep } from './helpers.js';

/** An endless counting source of ours: `pulled` is what left the generator. */
function endless() {
  const { state, endless: numbers } = counter();
  return { state, source: fromIterable(numbers) };
}

/** Runs `pipeline` into a 1 ms consume for `n` elements; returns the peak of pulled − consumed. */
async function peakBelow<T>(pipeline: rx.Observable<T>, state: { pulled: number }, n = 60): Promise<number> {
  let consumed = 0;
  let peak = 0;
  await lastValueFrom(
    pipeline.pipe(
      take(n),
      consume(async () => {
        peak = Math.max(peak, state.pulled - consumed);
        await sleep(1);
        consumed++;
      }),
      count(),
    ),
  );
  return peak;
}

test('a source of ours subscribed from a plain RxJS timer (rxjs switchMap) obeys the sink', async (t) => {
  const { state, source } = endless();
  // rxjs' own switchMap: it subscribes the inner source from the timer's callback.
  const peak = await peakBelow(timer(5).pipe(rx.switchMap(() => source)), state);
  t.log(`peak ${peak}`);
  t.true(peak <= 2, `peak ${peak}`);
});

test('a source of ours subscribed after a promise resolves (defer + from(promise) + rxjs concatMap) obeys the sink', async (t) => {
  const { state, source } = endless();
  const peak = await peakBelow(
    defer(() => from(sleep(3))).pipe(rx.concatMap(() => source)),
    state,
  );
  t.log(`peak ${peak}`);
  t.true(peak <= 2, `peak ${peak}`);
});

const TES = 'examples/data/optdigits/optdigits.tes.csv';
const TES_ROWS = 1797;
const csv = () => fromFiles(TES, { format: 'csv', labels: ['Class'] });

test('rxjs repeat(): a file source re-subscribed on its completion is read again, as the sink asks', async (t) => {
  // The second pass is subscribed from the completion of the first, which comes from a file read
  // inside fromFiles (its interleave's scope, whose gate dies with the first pass).
  let emitted = 0;
  let consumed = 0;
  let peak = 0;
  const n = await lastValueFrom(
    csv().pipe(
      rx.tap(() => emitted++),
      rx.repeat(2),
      rx.skip(TES_ROWS),
      take(30),
      consume(async () => {
        peak = Math.max(peak, emitted - TES_ROWS - consumed);
        await sleep(1);
        consumed++;
      }),
      count(),
    ),
  );
  t.is(n, 30);
  t.log(`emitted ${emitted} peak ${peak}`);
  // Read into the second pass only as far as the sink asked: one in the sink, one arriving.
  t.true(peak <= 2, `peak ${peak}`);
  t.true(emitted <= TES_ROWS + 30 + 2, `emitted ${emitted}`);
});

test('concat(files, timer → files) and repeat() with a consume sink: every pass is read to its end', async (t) => {
  const twice = await lastValueFrom(rx.concat(csv(), timer(1).pipe(rx.concatMap(() => csv()))).pipe(count()));
  t.is(twice, 2 * TES_ROWS);
  const passes = await lastValueFrom(csv().pipe(rx.repeat(3), consume(async (row) => row), count()));
  t.is(passes, 3 * TES_ROWS);
});

test('rxjs retry(): a file source that fails inside (a missing shard) is subscribed again and fails again, not hangs', async (t) => {
  let subscriptions = 0;
  const source = defer(() => {
    subscriptions++;
    return fromFiles([TES, 'examples/data/optdigits/missing.csv'], { format: 'csv', labels: ['Class'] });
  });
  const error = await t.throwsAsync(lastValueFrom(source.pipe(rx.retry(2), consume(async (row) => row), count())));
  t.is(subscriptions, 3);
  t.regex(String(error?.message), /missing\.csv/);
});

test('a pipeline ending in consume, repeated: each pass runs to its end', async (t) => {
  const { state, source } = endless();
  const passes = await lastValueFrom(
    defer(() => source.pipe(take(20), consume(async (x: number) => { await sleep(0); return x; }))).pipe(rx.repeat(3), count()),
  );
  t.is(passes, 60);
  t.true(state.pulled <= 60 + 3, `pulled ${state.pulled}`);
});
