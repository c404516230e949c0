/**
 * `'auto'` in the operators themselves: real pipelines whose calls finish when a simulated clock
 * says so, and whose tuner reads that clock and looks when the test says (no timing involved).
 */
import test from 'ava';
import { Observable, lastValueFrom, take, toArray } from 'rxjs';
import { Demand, runInScope } from '../src/flow.js';
import { fromIterable } from '../src/fromIterable.js';
import { PipelineStats } from '../src/stats.js';
import { parallelMap } from '../operators/parallelMap.js';
import { prefetch } from '../operators/prefetch.js';
import { interleave } from '../operators/interleave.js';
import { consume } from '../operators/consume.js';
import { autotuneSummary, tunerFor } from '../src/autotune/index.js';
import { collect, range } from './helpers.js';

/** A simulated clock with calls that finish at a given simulated time. */
class Clock {
  now = 0;
  private pending: { due: number; resolve: () => void }[] = [];
  /** A Promise resolved `ms` simulated milliseconds from now. */
  after(ms: number): Promise<void> {
    return new Promise((resolve) => this.pending.push({ due: this.now + ms, resolve }));
  }
  /** Advances 1 ms, finishes what is due and lets the pipeline react. */
  async step(): Promise<void> {
    this.now++;
    const due = this.pending.filter((p) => p.due <= this.now);
    this.pending = this.pending.filter((p) => p.due > this.now);
    for (const p of due) p.resolve();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const naturals = function* (): Generator<number> {
  for (let i = 0; ; i++) yield i;
};

test("parallelMap concurrency 'auto': the tuner raises it while the map is the bottleneck, never past the ceiling, order kept", async (t) => {
  const clock = new Clock();
  const stats = new PipelineStats({ autotune: { manual: true, clock: () => clock.now, ramBudget: 2 ** 30, cores: 1 } });
  const tuner = tunerFor(stats);
  let running = 0;
  let maxRunning = 0;
  const map = async (x: number): Promise<number> => {
    maxRunning = Math.max(maxRunning, ++running);
    await clock.after(10);
    running--;
    return x;
  };
  const out: number[] = [];
  // No sink in the statistics: a plain subscriber asks for everything.
  const pipeline = fromIterable(naturals).pipe(parallelMap(map, { concurrency: 'auto', maxConcurrency: 12 }));
  const subscription = runInScope({ demand: Demand.unbounded, stats }, () => pipeline.subscribe((x) => out.push(x)));
  const seen: number[] = [];
  for (let ms = 1; ms <= 2600; ms++) {
    await clock.step();
    if (ms % 200 === 0) {
      tuner.tick();
      seen.push(autotuneSummary(stats)!.stages[0].value);
    }
  }
  subscription.unsubscribe();
  // A ramp: at most ×2 a step, each raise judged over two windows before the next.
  t.deepEqual(seen, [2, 2, 2, 4, 4, 4, 8, 8, 8, 12, 12, 12, 12]);
  t.is(seen.at(-1), 12, 'then up to the ceiling');
  t.true(maxRunning <= 12);
  t.deepEqual(out, range(out.length), 'in order');
  t.true(out.length > 1400, `${out.length} elements`);
  const text = stats.format();
  t.regex(text, /o:parallelMap .*concurrency=12/);
  t.regex(text, /hold 12: at the ceiling \(12\)/);
  // The next subscription (an epoch) starts where this one ended: 12 calls in flight at once.
  running = 0;
  maxRunning = 0;
  const again = runInScope({ demand: Demand.unbounded, stats }, () => pipeline.subscribe(() => undefined));
  await clock.step();
  again.unsubscribe();
  t.is(maxRunning, 12);
  t.is(autotuneSummary(stats)!.decisions.filter((d) => d.action === 'start').length, 1, 'one knob across subscriptions');
});

test("parallelMap concurrency 'auto' stays within the memory budget", async (t) => {
  const clock = new Clock();
  // Each element holds 4,000 bytes (estimated 4,064): the budget fits 3.
  const stats = new PipelineStats({ autotune: { manual: true, clock: () => clock.now, ramBudget: 3 * 4064, cores: 1 } });
  const tuner = tunerFor(stats);
  let running = 0;
  let maxRunning = 0;
  const map = async (x: number): Promise<Uint8Array> => {
    maxRunning = Math.max(maxRunning, ++running);
    await clock.after(10);
    running--;
    return new Uint8Array(4000).fill(x % 256);
  };
  let count = 0;
  const subscription = runInScope({ demand: Demand.unbounded, stats }, () =>
    fromIterable(naturals).pipe(parallelMap(map, { concurrency: 'auto' })).subscribe(() => count++),
  );
  for (let ms = 1; ms <= 2000; ms++) {
    await clock.step();
    if (ms % 200 === 0) tuner.tick();
  }
  subscription.unsubscribe();
  const summary = autotuneSummary(stats)!;
  t.is(summary.stages[0].value, 3);
  t.true(maxRunning <= 4, `at most ${maxRunning} calls ran at once (3, +1 while the first size was unknown)`);
  t.true(summary.heldBytes <= 3 * 4064);
  t.true(summary.decisions.some((d) => d.action === 'hold' && /memory budget \(3 elements fit\)/.test(d.reason)));
  t.true(count > 300);
});

test("interleave cycleLength 'auto' (not deterministic): more inputs read at once while reads are the bottleneck; every element once", async (t) => {
  const clock = new Clock();
  const stats = new PipelineStats({ autotune: { manual: true, clock: () => clock.now, ramBudget: 2 ** 30, cores: 1 } });
  const tuner = tunerFor(stats);
  /** A slow file of 50 records: each read takes 5 simulated ms. */
  const file = (f: number): Observable<number> =>
    fromIterable(async function* () {
      for (let i = 0; i < 50; i++) {
        await clock.after(5);
        yield f * 1000 + i;
      }
    });
  const out: number[] = [];
  let done = false;
  const subscription = runInScope({ demand: Demand.unbounded, stats }, () =>
    fromIterable(range(40))
      .pipe(interleave(file, { cycleLength: 'auto', deterministic: false, maxCycleLength: 8 }))
      .subscribe({ next: (x) => out.push(x), complete: () => (done = true) }),
  );
  let raisedAt = 0;
  for (let ms = 1; ms <= 10_000 && !done; ms++) {
    await clock.step();
    if (ms % 200 === 0) {
      tuner.tick();
      if (!raisedAt && autotuneSummary(stats)!.stages[0].value > 1) raisedAt = ms;
    }
  }
  subscription.unsubscribe();
  t.true(done, 'completed');
  t.deepEqual([...out].sort((a, b) => a - b), range(40).flatMap((f) => range(50).map((i) => f * 1000 + i)));
  t.true(raisedAt > 0 && raisedAt <= 400, `raised at ${raisedAt} ms`);
  const final = autotuneSummary(stats)!.stages[0];
  t.is(final.knob, 'cycleLength');
  t.true(final.value >= 4, `cycleLength ${final.value}`);
});

test("interleave cycleLength 'auto' with the exact order: the number of cores, fixed, same order as that number", async (t) => {
  const { availableParallelism } = await import('node:os');
  const n = Math.min(16, availableParallelism());
  const inner = (f: number): Observable<number> => fromIterable(range(5).map((i) => f * 10 + i));
  const auto = await collect(fromIterable(range(6)).pipe(interleave(inner, { cycleLength: 'auto' })));
  const fixed = await collect(fromIterable(range(6)).pipe(interleave(inner, { cycleLength: n })));
  t.deepEqual(auto, fixed);
});

test("prefetch('auto') and parallelMap 'auto' in an ordinary pipeline: every element, in order; the tuner released at the end", async (t) => {
  const stats = new PipelineStats();
  const out = await lastValueFrom(
    fromIterable(range(300)).pipe(
      parallelMap(async (x: number) => x * 2, { concurrency: 'auto' }),
      prefetch('auto'),
      consume(async (x: number) => x, { stats }),
      toArray(),
    ),
  );
  t.deepEqual(out, range(300).map((x) => x * 2));
  const summary = autotuneSummary(stats)!;
  t.deepEqual(summary.stages.map((s) => [s.stage, s.knob]), [['prefetch', 'prefetch'], ['parallelMap', 'concurrency']]);
  for (const s of summary.stages) t.true(s.value >= 1 && s.value <= s.max);
  t.is(tunerFor(stats).attached, 0, 'no tuned stage left running: the timer is stopped');
  t.regex(stats.format(), /autotune: memory budget/);
});

test("'auto' options are checked", (t) => {
  t.throws(() => parallelMap((x: number) => x, { concurrency: 'auto', maxConcurrency: 0 }), { message: /maxConcurrency must be an integer >= 1/ });
  t.throws(() => parallelMap((x: number) => x, { concurrency: 0 }), { message: /concurrency must be an integer >= 1 or 'auto'/ });
  t.throws(() => prefetch('auto', { max: 1.5 }), { message: /prefetch: max must be an integer >= 1/ });
  t.throws(() => prefetch(0), { message: /prefetch: n must be an integer >= 1 or 'auto'/ });
  t.throws(() => interleave(() => fromIterable([1]), { cycleLength: 'auto', maxCycleLength: -1 }), { message: /maxCycleLength must be an integer >= 1/ });
  t.throws(() => tunerFor(new PipelineStats({ autotune: { ramBudget: -1 } })), { message: /ramBudget must be a positive number/ });
});

test("pushSource highWaterMark 'auto' (Kafka's and BigQuery's buffers): a tuned buffer in range, every element delivered", async (t) => {
  const { pushSource } = await import('../src/pushSource.js');
  const stats = new PipelineStats();
  const source = pushSource<number>((sink) => {
    let i = 0;
    const pump = (): void => {
      while (i < 2000 && sink.wantsMore) sink.next(i++);
      if (i === 2000) sink.complete();
    };
    sink.onWantMore(pump);
    pump();
  }, { highWaterMark: 'auto', maxHighWaterMark: 512, name: 'kafka' });
  const out = await lastValueFrom(source.pipe(consume(async (x: number) => x, { stats }), toArray()));
  t.deepEqual(out, range(2000));
  const tuned = autotuneSummary(stats)!.stages.find((s) => s.knob === 'highWaterMark')!;
  t.is(tuned.stage, 'kafka');
  t.true(tuned.value >= 1 && tuned.value <= 512);
  t.is(tuned.max, 512);
  t.true(stats.get('kafka')!.maxBuffered <= 512);
  t.throws(() => pushSource(() => undefined, { highWaterMark: 'auto', maxHighWaterMark: 0 }), { message: /maxHighWaterMark must be >= 1/ });
});

test("the in-flight bound holds with 'auto' stages at their ceilings, whatever the tuner does", async (t) => {
  // A fast tuner (every 10 ms) on a slow sink: it may move both values at any moment.
  const stats = new PipelineStats({ autotune: { periodMs: 10 } });
  let pulled = 0;
  let consumed = 0;
  let peak = 0;
  await lastValueFrom(
    fromIterable(function* () {
      for (let i = 0; ; i++) {
        pulled++;
        peak = Math.max(peak, pulled - consumed);
        yield i;
      }
    }).pipe(
      parallelMap(async (x: number) => x, { concurrency: 'auto', maxConcurrency: 4 }),
      prefetch('auto', { max: 3 }),
      consume(async () => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        consumed++;
      }, { stats }),
      take(300),
      toArray(),
    ),
  );
  // 4 in parallelMap, 3 in prefetch, 1 running in the sink.
  t.true(peak <= 4 + 3 + 1, `peak ${peak}`);
  t.is(tunerFor(stats).attached, 0);
});

test("parallelMap concurrency 'auto' starts at the cores the tuner assumes; a synchronous map is brought to 1 by the CPU model", async (t) => {
  const clock = new Clock();
  const stats = new PipelineStats({ autotune: { manual: true, clock: () => clock.now, ramBudget: 2 ** 30, cores: 4 } });
  const tuner = tunerFor(stats);
  // The source gives an element every simulated ms; the map spends 3 ms of main-thread time on it.
  const source = async function* (): AsyncGenerator<number> {
    for (let i = 0; ; i++) {
      await clock.after(1);
      yield i;
    }
  };
  const out: number[] = [];
  const subscription = runInScope({ demand: Demand.unbounded, stats }, () =>
    fromIterable(source)
      .pipe(
        parallelMap(
          (x: number) => {
            clock.now += 3;
            return x;
          },
          { concurrency: 'auto' },
        ),
      )
      .subscribe((x) => out.push(x)),
  );
  t.is(autotuneSummary(stats)!.stages[0].value, 4, 'starts at the 4 cores');
  const values: number[] = [];
  for (let ms = 1; ms <= 600; ms++) {
    await clock.step();
    if (ms % 50 === 0) {
      tuner.tick();
      values.push(autotuneSummary(stats)!.stages[0].value);
    }
  }
  subscription.unsubscribe();
  const decisions = tuner.decisions.filter((d) => d.action !== 'start');
  t.is(decisions[0].action, 'lower');
  t.is(decisions[0].to, 1);
  t.regex(decisions[0].reason, /^CPU: the calls run 3\.0 of their 3\.0 ms per element on the main thread/);
  t.is(values.at(-1), 1);
  t.false(decisions.some((d) => d.action === 'raise'), 'never raised');
  t.deepEqual(out, range(out.length));
  t.true(out.length > 50);
});

test("parallelMap concurrency 'auto' on a worker pool: the pool's thread count caps it at two per thread", async (t) => {
  const { servedByPool } = await import('../src/autotune/calls.js');
  const clock = new Clock();
  const stats = new PipelineStats({ autotune: { manual: true, clock: () => clock.now, ramBudget: 2 ** 30, cores: 1 } });
  const tuner = tunerFor(stats);
  // Stands for pool.run on 3 threads: says so, then finishes 10 simulated ms later.
  const map = async (x: number): Promise<number> => {
    const done = clock.after(10);
    servedByPool(3);
    await done;
    return x;
  };
  const out: number[] = [];
  const subscription = runInScope({ demand: Demand.unbounded, stats }, () => fromIterable(naturals).pipe(parallelMap(map, { concurrency: 'auto' })).subscribe((x) => out.push(x)));
  for (let ms = 1; ms <= 3000; ms++) {
    await clock.step();
    if (ms % 200 === 0) tuner.tick();
  }
  subscription.unsubscribe();
  t.is(autotuneSummary(stats)!.stages[0].value, 6, '2 per thread of the 3');
  t.true(tuner.decisions.some((d) => d.action === 'hold' && /^pool: the calls run on a worker pool of 3 threads/.test(d.reason)));
  t.deepEqual(out, range(out.length));
});
