/**
 * The bound survives ordinary RxJS (issue 12's table, rerun with the `rxdata/rxjs` imports):
 * an endless source → one operator → a slow `consume`, and pulled − consumed stays within the
 * bound docs/ARCHITECTURE.md states for that pipeline.
 */
import test from 'ava';
import { asyncScheduler, lastValueFrom, take, skip, timer, count, filter, map, bufferCount, type Observable, type OperatorFunction } from 'rxjs';
import {
  concatMap, mergeMap, exhaustMap, zip, merge, concat, observeOn, delay, share, shareReplay, groupBy, bufferTime, windowTime, lossy,
  DEFAULT_SCHEDULED_BUFFER, toArray,
} from '../src/rxjs.js';
import { fromIterable, consume, prefetch, fromFiles, PipelineStats } from '../src/index.js';
import { sleep } from './helpers.js';

/** An endless counting source: `pulled` is what left the generator. */
function endless(name = 'source') {
  const state = { pulled: 0 };
  const source = fromIterable(function* () {
    for (let i = 0; ; i++) {
      state.pulled++;
      yield i;
    }
  }, { name });
  return { state, source };
}

/**
 * Runs source → op → consume(sinkMs) for `elements` consumed elements and returns the peak of
 * pulled − consumed, sampled before every call of the sink.
 */
async function peakInFlight<R>(op: OperatorFunction<number, R>, options: { elements?: number; sinkMs?: number; weight?: (r: R) => number } = {}) {
  const { elements = 150, sinkMs = 2, weight = () => 1 } = options;
  const { state, source } = endless();
  let consumed = 0;
  let peak = 0;
  await lastValueFrom(
    source.pipe(
      op,
      take(elements),
      consume(async (r: R) => {
        peak = Math.max(peak, state.pulled - consumed);
        await sleep(sinkMs);
        consumed += weight(r);
      }),
      count(),
    ),
  );
  return { peak, pulled: state.pulled, consumed };
}

/** The sink's own share of the bound: one element running in `consume`. */
const SINK = 1;

test('concatMap(x => timer(1)): one element inside concatMap, one in the sink', async (t) => {
  const { peak } = await peakInFlight(concatMap((x: number) => timer(1).pipe(map(() => x))));
  t.true(peak <= 1 + SINK, `peak ${peak}`);
});

test('concatMap(async): one element inside concatMap', async (t) => {
  const { peak } = await peakInFlight(concatMap(async (x: number) => { await sleep(1); return x; }));
  t.true(peak <= 1 + SINK, `peak ${peak}`);
});

test('mergeMap(async, 4): at most four elements inside mergeMap', async (t) => {
  const { peak } = await peakInFlight(mergeMap(async (x: number) => { await sleep(3); return x; }, 4));
  t.true(peak <= 4 + SINK, `peak ${peak}`);
  t.true(peak >= 3, `the four slots were used (peak ${peak})`);
});

test('mergeMap with no concurrency given uses the documented default, not Infinity', async (t) => {
  const { peak } = await peakInFlight(mergeMap(async (x: number) => { await sleep(1); return x; }));
  t.true(peak <= 16 + SINK, `peak ${peak}`);
});

test('concatMap of an array: the inner array is pulled under demand', async (t) => {
  const { peak } = await peakInFlight(concatMap((x: number) => [x, x, x]), { elements: 60 });
  // One outer element in flight: its three values are pulled one at a time.
  t.true(peak <= 1 + SINK, `peak ${peak}`);
});

test('exhaustMap(async): a source of ours is not read while the inner runs, nothing is dropped', async (t) => {
  const stats = new PipelineStats();
  const seen: number[] = [];
  const { state, source } = endless();
  await lastValueFrom(source.pipe(exhaustMap(async (x: number) => { await sleep(1); return x; }), take(50), consume(async (x: number) => { seen.push(x); await sleep(1); }, { stats })));
  t.deepEqual(seen, Array.from({ length: 50 }, (_, i) => i));
  t.true(state.pulled <= 50 + 2, `pulled ${state.pulled}`);
  t.is(stats.get('exhaustMap')!.dropped, 0);
});

test('observeOn(asyncScheduler): at most bufferSize (16) held', async (t) => {
  const { peak } = await peakInFlight(observeOn(asyncScheduler));
  t.true(peak <= DEFAULT_SCHEDULED_BUFFER + SINK, `peak ${peak}`);
});

test('delay(1): at most bufferSize held; a bufferSize option raises it', async (t) => {
  const small = await peakInFlight(delay(1));
  t.true(small.peak <= DEFAULT_SCHEDULED_BUFFER + SINK, `peak ${small.peak}`);
  const large = await peakInFlight(delay(1, asyncScheduler, { bufferSize: 40 }), { sinkMs: 1 });
  t.true(large.peak <= 40 + SINK, `peak ${large.peak}`);
});

test('concatMap(async) then prefetch(4): one in concatMap, four in prefetch', async (t) => {
  const { peak } = await peakInFlight((s: Observable<number>) => s.pipe(concatMap(async (x: number) => x), prefetch(4)));
  t.true(peak <= 1 + 4 + SINK, `peak ${peak}`);
});

test('zip(a$, b$) of two of our sources: each is pulled one ahead at most', async (t) => {
  const a = endless('a');
  const b = endless('b');
  let consumed = 0;
  let peak = 0;
  const pairs: [number, number][] = [];
  await lastValueFrom(
    zip(a.source, b.source).pipe(
      take(100),
      consume(async (pair) => {
        peak = Math.max(peak, a.state.pulled - consumed, b.state.pulled - consumed);
        pairs.push(pair);
        await sleep(1);
        consumed++;
      }),
    ),
  );
  // One waiting for its partner, one tuple waiting below, one in the sink.
  t.true(peak <= 1 + 1 + SINK, `peak ${peak}`);
  t.deepEqual(pairs.slice(0, 3), [[0, 0], [1, 1], [2, 2]]);
});

test('zip completes when an input completes with nothing left to pair, and takes a project function', async (t) => {
  const out = await lastValueFrom(zip(fromIterable([1, 2, 3]), [10, 20], (x: number, y: number) => x + y).pipe(toArray()));
  t.deepEqual(out, [11, 22]);
});

test('share() with a 2 ms and a 20 ms subscriber: paced by the slowest, nothing queues up', async (t) => {
  const { state, source } = endless();
  const shared = source.pipe(share());
  let fast = 0;
  let slow = 0;
  let peakSlow = 0;
  await Promise.all([
    lastValueFrom(shared.pipe(take(30), consume(async () => { await sleep(2); fast++; }))),
    lastValueFrom(shared.pipe(take(30), consume(async () => { peakSlow = Math.max(peakSlow, state.pulled - slow); await sleep(20); slow++; }))),
  ]);
  t.is(fast, 30);
  t.is(slow, 30);
  // The slow side holds its running call and at most one element the source overshot to it.
  t.true(peakSlow <= 2, `slow side peak ${peakSlow}`);
});

test('share(): a lossy(n) monitor does not slow the trainer, and its drops are counted', async (t) => {
  const { state, source } = endless();
  const shared = source.pipe(share());
  const stats = new PipelineStats();
  let trained = 0;
  let pulledWhileTraining = 0;
  const trainer = lastValueFrom(shared.pipe(take(200), consume(async () => {
    pulledWhileTraining = state.pulled;
    await sleep(1);
    trained++;
  })));
  const monitor = shared.pipe(lossy(4), consume(async () => { await sleep(30); }, { stats })).subscribe();
  await trainer;
  monitor.unsubscribe();
  t.is(trained, 200);
  // Once the trainer has left, the lossy monitor alone paces nothing: measure while it trained.
  t.true(pulledWhileTraining <= 200 + 3, `pulled ${pulledWhileTraining}`);
  t.true(stats.get('lossy')!.dropped > 100, `dropped ${stats.get('lossy')!.dropped}`);
});

test('share() reconnects after completion and stops the source when the last subscriber leaves', async (t) => {
  let subscriptions = 0;
  const source = fromIterable(() => {
    subscriptions++;
    return [1, 2, 3];
  }).pipe(share());
  t.deepEqual(await lastValueFrom(source.pipe(toArray())), [1, 2, 3]);
  t.deepEqual(await lastValueFrom(source.pipe(toArray())), [1, 2, 3]);
  t.is(subscriptions, 2);
  const { state, source: infinite } = endless();
  const shared = infinite.pipe(share());
  const sub = shared.pipe(consume(() => sleep(1))).subscribe();
  await sleep(20);
  sub.unsubscribe();
  const at = state.pulled;
  await sleep(20);
  t.is(state.pulled, at);
});

test('shareReplay(2): a late subscriber gets the last two at once; the source is not read with nobody listening', async (t) => {
  const { state, source } = endless();
  const shared = source.pipe(shareReplay(2));
  const first = await lastValueFrom(shared.pipe(take(5), consume(async (x: number) => x), toArray()));
  t.deepEqual(first, [0, 1, 2, 3, 4]);
  const pulledThen = state.pulled;
  await sleep(20);
  t.true(state.pulled <= pulledThen + 1, `pulled ${state.pulled - pulledThen} with nobody listening`);
  const late = await lastValueFrom(shared.pipe(take(3), toArray()));
  t.deepEqual(late.slice(0, 2), [3, 4]);
});

test('groupBy: per-key pipelines, each paced by its own subscriber, one value held in all', async (t) => {
  const { state, source } = endless();
  let consumed = 0;
  let peak = 0;
  const byKey = new Map<number, number[]>();
  await lastValueFrom(
    source.pipe(
      take(90),
      groupBy((x: number) => x % 3),
      mergeMap((group) => group.pipe(consume(async (x: number) => {
        peak = Math.max(peak, state.pulled - consumed);
        byKey.set(group.key, [...(byKey.get(group.key) ?? []), x]);
        await sleep(1 + group.key);
        consumed++;
      })), Infinity),
    ),
  );
  t.is(consumed, 90);
  t.deepEqual(byKey.get(1)!.slice(0, 3), [1, 4, 7]);
  // One running per group, plus one held.
  t.true(peak <= 3 + 1, `peak ${peak}`);
});

test('groupBy: element and duration options', async (t) => {
  const groups: { key: string; values: number[] }[] = [];
  await lastValueFrom(
    fromIterable([1, 2, 3, 4, 5, 6]).pipe(
      groupBy((x: number) => (x % 2 ? 'odd' : 'even'), { element: (x: number) => x * 10, duration: (g) => g.pipe(skip(1)) }),
      mergeMap((g) => g.pipe(toArray(), map((values) => groups.push({ key: g.key, values }))), Infinity),
    ),
  );
  t.deepEqual(groups.map((g) => `${g.key}:${g.values.join(',')}`).sort(), ['even:20,40', 'even:60', 'odd:10,30', 'odd:50']);
});

test('bufferTime(20): time batches; the source waits while a buffer waits below', async (t) => {
  const { state, source } = endless();
  let consumed = 0;
  let peak = 0;
  const sizes: number[] = [];
  await lastValueFrom(
    source.pipe(
      bufferTime(20, null, 50),
      take(20),
      consume(async (buffer: number[]) => {
        peak = Math.max(peak, state.pulled - consumed);
        sizes.push(buffer.length);
        await sleep(5);
        consumed += buffer.length;
      }),
    ),
  );
  // A full buffer (50) is emitted early, as RxJS does; one waits below, one fills, one runs.
  t.true(sizes.every((n) => n <= 50));
  t.true(peak <= 3 * 50, `peak ${peak}`);
});

test('bufferTime with no maximum: a buffer holds at most BUFFER_TIME_HOLD and the source waits for its time', async (t) => {
  const { state, source } = endless();
  const buffers = await lastValueFrom(source.pipe(bufferTime(30), take(3), consume(async (b: number[]) => b), toArray()));
  t.true(buffers.every((b) => b.length <= 4096), buffers.map((b) => b.length).join(','));
  // Nothing pulled is lost between one buffer's end and the next one's start.
  const values = buffers.flat();
  t.deepEqual(values, Array.from({ length: values.length }, (_, i) => i));
  t.true(state.pulled <= 4 * 4096 + 1, `pulled ${state.pulled}`);
});

test('windowTime(20): windows delivered under demand; values in order', async (t) => {
  const { state, source } = endless();
  let consumed = 0;
  let peak = 0;
  let running = 0;
  const windows = await lastValueFrom(
    source.pipe(
      // As in RxJS, end the source, not the windows: a window cut off by take() never completes.
      take(150),
      windowTime(20),
      mergeMap((w) => w.pipe(consume(async (x: number) => {
        running++;
        // A closed window's pipeline may still be finishing its last call beside the new one:
        // those belong to the windows' own pipelines; windowTime itself holds one value.
        peak = Math.max(peak, state.pulled - consumed - running);
        await sleep(1);
        consumed++;
        running--;
        return x;
      }), toArray()), Infinity),
      toArray(),
    ),
  );
  const all = windows.flat();
  t.deepEqual(all, Array.from({ length: 150 }, (_, i) => i));
  t.true(windows.length >= 2, `${windows.length} windows`);
  t.true(peak <= 1, `peak ${peak}`);
});

test('merge(a$, b$): both sources of ours paused by the sink, and they take turns', async (t) => {
  const a = endless('a');
  const b = endless('b');
  const seen: string[] = [];
  let consumed = 0;
  let peak = 0;
  await lastValueFrom(
    merge(a.source.pipe(map((x) => `a${x}`)), b.source.pipe(map((x) => `b${x}`))).pipe(
      take(100),
      consume(async (x: string) => {
        peak = Math.max(peak, a.state.pulled + b.state.pulled - consumed);
        seen.push(x);
        await sleep(1);
        consumed++;
      }),
    ),
  );
  const fromA = seen.filter((x) => x.startsWith('a')).length;
  t.true(fromA >= 30 && fromA <= 70, `a gave ${fromA} of 100`);
  t.true(peak <= 2 + 1 + SINK, `peak ${peak}`);
});

test('concat(a$, b$): the second input is subscribed after the first, in the sink scope', async (t) => {
  const b = endless('b');
  let consumed = 0;
  let peak = 0;
  const out = await lastValueFrom(
    concat(fromIterable([1, 2, 3]), b.source).pipe(
      take(40),
      consume(async (x: number) => {
        peak = Math.max(peak, b.state.pulled - consumed);
        await sleep(1);
        consumed++;
        return x;
      }),
      toArray(),
    ),
  );
  t.deepEqual(out.slice(0, 5), [1, 2, 3, 0, 1]);
  t.true(peak <= 1 + SINK, `peak ${peak}`);
});

test('map, filter, sync concatMap, bufferCount(8) and share() with one subscriber stay within their bounds', async (t) => {
  for (const [name, op, bound] of [
    ['map', map((x: number) => x + 1), 1],
    ['filter', filter((x: number) => x % 2 === 0), 2],
    ['concatMap(sync)', concatMap((x: number) => [x]), 1],
    ['bufferCount(8)', bufferCount(8), 8],
    ['share()', share(), 1],
  ] as [string, OperatorFunction<number, unknown>, number][]) {
    const { peak } = await peakInFlight(op, { elements: 40, sinkMs: 1, weight: (r) => (Array.isArray(r) ? r.length : name === 'filter' ? 2 : 1) });
    t.true(peak <= bound + SINK + (name === 'bufferCount(8)' ? 7 : 0), `${name}: peak ${peak}`);
  }
});

test('fromFiles(optdigits) → concatMap(5 ms) → consume(1 ms): the file is read as the sink asks', async (t) => {
  let emitted = 0;
  let consumed = 0;
  let peak = 0;
  await lastValueFrom(
    fromFiles('examples/data/optdigits/optdigits.tra.csv', { format: 'csv', labels: ['Class'] }).pipe(
      map((row) => {
        emitted++;
        return row;
      }),
      concatMap(async (row) => {
        await sleep(5);
        return row;
      }),
      take(40),
      consume(async () => {
        peak = Math.max(peak, emitted - consumed);
        await sleep(1);
        consumed++;
      }),
    ),
  );
  t.true(peak <= 1 + SINK, `peak ${peak}`);
  t.true(emitted <= 40 + 2, `emitted ${emitted} of 3,823`);
});

test('heap stays flat over a long run of concatMap(async) under a slow sink', async (t) => {
  const { source } = endless();
  const heap: number[] = [];
  await lastValueFrom(
    source.pipe(
      concatMap(async (x: number) => ({ x, payload: new Float32Array(64) })),
      take(6000),
      consume((_v, i) => {
        if (i === 1000 || i === 5999) {
          globalThis.gc?.();
          heap.push(process.memoryUsage().heapUsed);
        }
        return i % 200 === 0 ? sleep(1) : undefined;
      }),
    ),
  );
  t.true(heap[1] - heap[0] < 4 * 2 ** 20, `heap grew ${((heap[1] - heap[0]) / 2 ** 20).toFixed(1)} MB`);
});

test("the README's pipeline shape (filter and mergeMap from rxdata/rxjs between ours) holds its bound", async (t) => {
  let emitted = 0;
  let consumed = 0;
  let peak = 0;
  const { shuffle, batch: batchOf } = await import('../src/index.js');
  await lastValueFrom(
    fromFiles('examples/data/optdigits/optdigits.tra.csv', { format: 'csv', labels: ['Class'] }).pipe(
      map((row) => {
        emitted++;
        return row;
      }),
      filter(({ xs }) => xs.length === 64),
      mergeMap(async ({ xs, ys }) => ({ xs: xs.map((v: number) => v / 16), ys }), 4),
      shuffle(256, { seed: 1 }),
      batchOf(32),
      prefetch(2),
      take(20),
      consume(async (b) => {
        peak = Math.max(peak, emitted - consumed);
        await sleep(2);
        consumed += b.ys.shape[0];
      }),
    ),
  );
  // 4 in mergeMap + 256 in the window + 31 in the partial batch + 2 batches + the one in the sink.
  const bound = 4 + 256 + 31 + 2 * 32 + 32;
  t.true(peak <= bound, `peak ${peak} > ${bound}`);
  t.true(emitted <= 20 * 32 + bound, `emitted ${emitted}`);
});

test('limits: groupBy fails past maxGroups; concatMap fails when a producer that ignores demand overruns it', async (t) => {
  const { LimitError } = await import('../src/index.js');
  const { MAX_OVERSHOOT } = await import('../src/kit.js');
  const groups = await t.throwsAsync(lastValueFrom(fromIterable(Array.from({ length: 20 }, (_, i) => i)).pipe(groupBy((x: number) => x, { maxGroups: 5 }), mergeMap((g) => g, Infinity))));
  t.true(groups instanceof LimitError);
  t.regex(groups!.message, /maxGroups=5/);
  // A hot Subject cannot wait: while concatMap's one inner runs, it queues what is pushed, up to the limit.
  const { Subject } = await import('rxjs');
  const hot = new Subject<number>();
  const failed = lastValueFrom(hot.pipe(concatMap(() => timer(1000)), toArray()));
  for (let i = 0; i <= MAX_OVERSHOOT + 1; i++) hot.next(i);
  const error = await t.throwsAsync(failed);
  t.true(error instanceof LimitError);
  t.regex(error!.message, /concatMap: a producer that ignores demand/);
});
