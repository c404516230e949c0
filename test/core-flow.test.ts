import test from 'ava';
import { map, merge, take, repeat, lastValueFrom, count, toArray, Observable } from 'rxjs';
import { fromIterable, parallelMap, shuffle, batch, prefetch, consume, cache, PipelineStats, pushSource } from '../src/index.js';
import { Demand, Valve, trampoline } from '../src/kit.js';
import { counter, sleep } from './helpers.js';

/** The documented bound (docs/ARCHITECTURE.md): c + W + (B − 1) + n·B + (1 + lookahead)·B. */
const bound = ({ c, W, B, n, lookahead = 0 }: { c: number; W: number; B: number; n: number; lookahead?: number }) => c + W + (B - 1) + n * B + (1 + lookahead) * B;

test('endless source → parallelMap(4) → shuffle(1000) → batch(32) → prefetch(4) → slow consume: in-flight stays under the bound, memory flat', async (t) => {
  let pulled = 0;
  let consumed = 0;
  let maxInFlight = 0;
  function* endless() {
    for (let i = 0; ; i++) {
      pulled++;
      maxInFlight = Math.max(maxInFlight, pulled - consumed);
      yield i;
    }
  }
  const heap: number[] = [];
  const stats = new PipelineStats();
  const steps = await lastValueFrom(
    fromIterable(endless).pipe(
      parallelMap(async (x: number) => ({ x: [x, x + 1], y: x % 10 }), { concurrency: 4 }),
      shuffle(1000, { seed: 7 }),
      batch(32),
      prefetch(4),
      take(300),
      consume(
        async (b, i) => {
          await sleep(5);
          consumed += b.y.shape[0];
          if (i === 100 || i === 299) {
            globalThis.gc?.();
            heap.push(process.memoryUsage().heapUsed);
          }
        },
        { stats },
      ),
      count(),
    ),
  );
  t.is(steps, 300);
  const limit = bound({ c: 4, W: 1000, B: 32, n: 4 });
  t.true(maxInFlight <= limit, `max in flight ${maxInFlight} > bound ${limit}`);
  // The source was actually slowed down: it spent most of the run blocked on demand.
  t.true(pulled < 300 * 32 + limit + 1, `pulled ${pulled}`);
  t.true(stats.get('fromIterable')!.blockedMs > 0);
  t.is(stats.get('parallelMap')!.maxBuffered <= 4, true);
  t.is(stats.get('prefetch')!.maxBuffered, 4);
  // Flat memory: 200 more batches through the pipeline grew the heap by less than 8 MB.
  t.true(heap[1] - heap[0] < 8 * 2 ** 20, `heap grew ${((heap[1] - heap[0]) / 2 ** 20).toFixed(1)} MB`);
});

test('the bound holds with an async source and lookahead in the sink', async (t) => {
  let pulled = 0;
  let consumed = 0;
  let maxInFlight = 0;
  async function* endless() {
    for (let i = 0; ; i++) {
      pulled++;
      maxInFlight = Math.max(maxInFlight, pulled - consumed);
      yield i;
    }
  }
  await lastValueFrom(
    fromIterable(endless).pipe(
      parallelMap((x: number) => x, { concurrency: 2 }),
      batch(8),
      prefetch(2),
      take(100),
      consume(
        async (b) => {
          await sleep(1);
          consumed += b.shape[0];
        },
        { lookahead: 1 },
      ),
    ),
  );
  const limit = bound({ c: 2, W: 0, B: 8, n: 2, lookahead: 1 });
  t.true(maxInFlight <= limit, `max in flight ${maxInFlight} > bound ${limit}`);
});

test('unsubscribing stops the source: no pulls after teardown', async (t) => {
  const { state, endless } = counter();
  const sub = fromIterable(endless)
    .pipe(
      parallelMap(async (x: number) => x, { concurrency: 2 }),
      batch(4),
      prefetch(2),
      consume(() => sleep(2)),
    )
    .subscribe();
  await sleep(30);
  sub.unsubscribe();
  const atStop = state.pulled;
  await sleep(30);
  t.is(state.pulled, atStop);
  t.true(state.closed);
});

test('epochs: repeat re-subscribes a cold pipeline with shuffle and cache end to end', async (t) => {
  let reads = 0;
  const source = fromIterable(() => {
    reads++;
    return Array.from({ length: 50 }, (_, i) => i);
  });
  const pipeline = source.pipe(
    cache(),
    shuffle(16, { seed: 3 }),
    batch(10),
    prefetch(2),
  );
  const epochs = await lastValueFrom(
    pipeline.pipe(
      map((b) => Array.from(b.data)),
      toArray(),
      map((bs) => bs.flat()),
      repeat(3),
      toArray(),
    ),
  );
  t.is(reads, 1, 'cache: later epochs do not touch the source');
  for (const epoch of epochs) t.deepEqual([...epoch].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
  t.notDeepEqual(epochs[0], epochs[1], 'each epoch is shuffled anew');
});

test('repeat between gated operators keeps the contract for every epoch', async (t) => {
  let pulled = 0;
  let consumed = 0;
  let maxInFlight = 0;
  const source = fromIterable(function* () {
    for (let i = 0; i < 200; i++) {
      pulled++;
      maxInFlight = Math.max(maxInFlight, pulled - consumed);
      yield i;
    }
  });
  const n = await lastValueFrom(
    source.pipe(
      batch(10),
      prefetch(2),
      repeat(3),
      consume(async (b) => {
        await sleep(0);
        consumed += b.shape[0];
      }),
      count(),
    ),
  );
  t.is(n, 60);
  t.true(maxInFlight <= bound({ c: 0, W: 0, B: 10, n: 2 }), `max in flight ${maxInFlight}`);
});

test('a plain RxJS source (cannot pause) still works through our operators', async (t) => {
  const plain = new Observable<number>((s) => {
    for (let i = 0; i < 100; i++) s.next(i);
    s.complete();
  });
  const out = await lastValueFrom(plain.pipe(parallelMap(async (x: number) => x * 2, { concurrency: 3 }), prefetch(2), toArray()));
  t.deepEqual(out, Array.from({ length: 100 }, (_, i) => i * 2));
});

test('pushSource: a pausable producer is paused at the high-water mark and resumed', async (t) => {
  let produced = 0;
  let consumed = 0;
  let maxInFlight = 0;
  let pauses = 0;
  const source = pushSource<number>(
    (sink) => {
      let running = true;
      const pump = () => {
        while (running && sink.wantsMore && produced < 500) {
          sink.next(produced++);
          maxInFlight = Math.max(maxInFlight, produced - consumed);
        }
        if (produced >= 500) sink.complete();
        else if (running) pauses++;
      };
      sink.onWantMore(pump);
      setImmediate(pump);
      return () => {
        running = false;
      };
    },
    { highWaterMark: 16 },
  );
  const n = await lastValueFrom(
    source.pipe(
      consume(async () => {
        await sleep(0);
        consumed++;
      }),
      count(),
    ),
  );
  t.is(n, 500);
  t.true(pauses > 0);
  t.true(maxInFlight <= 16 + 1, `max in flight ${maxInFlight}`);
});

test('pushSource: two always-ready producers merged under a slow sink share it evenly', async (t) => {
  /** A producer that refills whenever its buffer has room, as a socket or broker client does. */
  const device = (name: string) =>
    pushSource<string>(
      (sink) => {
        let running = true;
        const pump = () => {
          while (running && sink.wantsMore) sink.next(name);
        };
        sink.onWantMore(pump);
        setImmediate(pump);
        return () => {
          running = false;
        };
      },
      { highWaterMark: 16 },
    );
  const seen = await lastValueFrom(
    merge(device('a'), device('b')).pipe(
      take(400),
      consume(async (name: string) => {
        await sleep(0);
        return name;
      }),
      toArray(),
    ),
  );
  const a = seen.filter((n) => n === 'a').length;
  // Neither starves: each gets its turn as the sink frees room (a buffer's worth of slack).
  t.true(Math.abs(a - (400 - a)) <= 32, `a ${a}, b ${400 - a}`);
});

test('pushSource: drop policies count what they drop; error policy fails', async (t) => {
  for (const overflow of ['drop-oldest', 'drop-newest'] as const) {
    const stats = new PipelineStats();
    const source = pushSource<number>(
      (sink) => {
        for (let i = 0; i < 100; i++) sink.next(i); // cannot pause: all at once
        sink.complete();
      },
      { highWaterMark: 10, overflow, name: overflow },
    );
    const seen = await lastValueFrom(source.pipe(consume(async (x: number) => x, { stats }), toArray()));
    const dropped = stats.get(overflow)!.dropped;
    t.is(seen.length + dropped, 100, 'nothing lost silently');
    t.true(dropped > 0);
    if (overflow === 'drop-newest') t.deepEqual(seen.slice(0, 3), [0, 1, 2]);
    else t.is(seen.at(-1), 99);
  }
  const failing = pushSource<number>((sink) => {
    for (let i = 0; i < 100; i++) sink.next(i);
  }, { highWaterMark: 10, overflow: 'error' });
  await t.throwsAsync(lastValueFrom(failing.pipe(consume(async (x: number) => x))), { message: /overflowed/ });
});

test('Demand waits for every gate; the trampoline keeps the stack flat', (t) => {
  const a = new Valve();
  const b = new Valve();
  const demand = new Demand([a, b]);
  let woke = 0;
  a.set(false);
  b.set(false);
  demand.whenReady(() => woke++);
  a.set(true);
  t.is(woke, 0);
  b.set(true);
  t.is(woke, 1);
  let depth = 0;
  let maxDepth = 0;
  const step = (n: number): void => {
    depth++;
    maxDepth = Math.max(maxDepth, depth);
    if (n > 0) trampoline(() => step(n - 1));
    depth--;
  };
  trampoline(() => step(100000));
  t.is(maxDepth, 1);
});

test('take below a synchronous operator stops an endless synchronous source at once', async (t) => {
  for (const op of [shuffle<number>(1, { seed: 1 }), prefetch<number>(8), parallelMap((x: number) => x, { concurrency: 2 }), cache<number>()]) {
    const { state, endless } = counter();
    const out = await lastValueFrom(fromIterable(endless).pipe(op, take(3), toArray()));
    t.is(out.length, 3);
    t.true(state.closed);
    t.true(state.pulled <= 3 + 8, `pulled ${state.pulled}`);
  }
});
