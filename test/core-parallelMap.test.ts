import test from 'ava';
import { lastValueFrom, of, take, tap, toArray, Observable, timer, map } from 'rxjs';
import { fromIterable, parallelMap, consume, PipelineStats, ElementError, mulberry32 } from '../src/index.js';
import { range, sleep } from './helpers.js';

test('ordered: random delays keep input order', async (t) => {
  const random = mulberry32(11);
  const delays = range(60).map(() => Math.floor(random() * 8));
  const out = await lastValueFrom(
    fromIterable(range(60)).pipe(
      parallelMap(async (x: number) => {
        await sleep(delays[x]);
        return x;
      }, { concurrency: 6 }),
      toArray(),
    ),
  );
  t.deepEqual(out, range(60));
});

test('unordered: a straggler does not hold back the others', async (t) => {
  // The straggler finishes only once every other element has come out: ordered mode would deadlock.
  let release!: () => void;
  const straggler = new Promise<void>((resolve) => (release = resolve));
  let seen = 0;
  const out = await lastValueFrom(
    fromIterable(range(10)).pipe(
      parallelMap(async (x: number) => {
        if (x === 0) await straggler;
        else await sleep(1);
        return x;
      }, { concurrency: 3, ordered: false }),
      tap(() => {
        if (++seen === 9) release();
      }),
      toArray(),
    ),
  );
  t.deepEqual([...out].sort((a, b) => a - b), range(10));
  t.is(out.at(-1), 0, 'the slow element comes last');
});

test('never more than `concurrency` calls in flight, never more elements taken than the bound', async (t) => {
  let running = 0;
  let maxRunning = 0;
  let pulled = 0;
  let emitted = 0;
  let maxInside = 0;
  const source = fromIterable(function* () {
    for (let i = 0; ; i++) {
      pulled++;
      maxInside = Math.max(maxInside, pulled - emitted);
      yield i;
    }
  });
  await lastValueFrom(
    source.pipe(
      parallelMap(async (x: number) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await sleep(1);
        running--;
        return x;
      }, { concurrency: 4 }),
      take(50),
      consume(async () => {
        emitted++;
        await sleep(2);
      }),
    ),
  );
  t.is(maxRunning, 4);
  // 4 inside parallelMap, 1 running in consume.
  t.true(maxInside <= 4 + 1, `max taken ${maxInside}`);
});

test('fn may return a value, a Promise or an Observable (all its values belong to the element)', async (t) => {
  const out = await lastValueFrom(
    fromIterable([1, 2, 3]).pipe(
      parallelMap((x: number) => (x === 1 ? x * 10 : x === 2 ? Promise.resolve(x * 10) : new Observable<number>((s) => {
        s.next(30);
        s.next(31);
        s.complete();
      }))),
      toArray(),
    ),
  );
  t.deepEqual(out, [10, 20, 30, 31]);
});

test('an array returned by fn is one value, not flattened', async (t) => {
  const out = await lastValueFrom(of(1).pipe(parallelMap((x: number) => [x, x]), toArray()));
  t.deepEqual(out, [[1, 1]]);
});

test('a failure says which element failed', async (t) => {
  const error = await t.throwsAsync(
    lastValueFrom(fromIterable(range(5)).pipe(parallelMap(async (x: number) => {
      if (x === 3) throw new Error('bad pixel');
      return x;
    }, { concurrency: 2 }))),
  );
  t.true(error instanceof ElementError);
  t.is((error as ElementError).index, 3);
  t.regex(error!.message, /parallelMap failed on element #3: bad pixel/);
});

test('a callback that throws synchronously fails with the element index', async (t) => {
  await t.throwsAsync(
    lastValueFrom(fromIterable(range(5)).pipe(parallelMap((x: number) => {
      if (x === 1) throw new TypeError('sync');
      return x;
    }))),
    { message: /element #1: sync/ },
  );
});

test("onError 'skip' drops failing elements and counts them", async (t) => {
  const stats = new PipelineStats();
  const skipped: number[] = [];
  const out = await lastValueFrom(
    fromIterable(range(10)).pipe(
      parallelMap((x: number) => (x % 3 === 0 ? Promise.reject(new Error(`bad ${x}`)) : x), {
        onError: 'skip',
        onSkip: (e) => skipped.push(e.index),
        concurrency: 2,
      }),
      consume((x: number) => x, { stats }),
      toArray(),
    ),
  );
  t.deepEqual(out, [1, 2, 4, 5, 7, 8]);
  t.deepEqual(skipped.sort(), [0, 3, 6, 9]);
  t.is(stats.get('parallelMap')!.skipped, 4);
});

test('the AbortSignal fires on teardown', async (t) => {
  const signals: AbortSignal[] = [];
  const sub = fromIterable(range(10))
    .pipe(parallelMap((x: number, _i, signal) => {
      signals.push(signal);
      return timer(1000).pipe(map(() => x));
    }, { concurrency: 2 }))
    .subscribe();
  await sleep(5);
  t.true(signals.length > 0);
  t.false(signals[0].aborted);
  sub.unsubscribe();
  t.true(signals.every((s) => s.aborted));
});

test('rejects a bad concurrency', (t) => {
  t.throws(() => parallelMap((x: number) => x, { concurrency: 0 }), { instanceOf: RangeError });
});
