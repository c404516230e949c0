/**
 * The stages this round added, held to the house rule: each with an ordinary RxJS operator on
 * each side, fed by a synchronous and by an asynchronous source, keeps its documented bound under
 * a slow sink, and lets a timer beside it keep firing while a synchronous sink runs flat out.
 */
import test from 'ava';
import { filter, lastValueFrom, map, take, type Observable, type OperatorFunction } from 'rxjs';
import { consume, fromIterable, parallelMap, prefetch, resumable } from '../src/index.js';
import { sleep } from './helpers.js';

interface Case {
  name: string;
  /** The stage between `map` and `filter`. */
  stage: OperatorFunction<number, number>;
  /** Its documented bound (elements held), plus one in the sink. */
  bound: number;
  /** Wraps the whole pipeline (for `resumable`, which wraps rather than pipes). */
  wrap?: (pipeline: Observable<number>) => Observable<number>;
  /** Passed to the source (for `signal`). */
  signal?: boolean;
}

const identity: OperatorFunction<number, number> = (source) => source;
const cases: Case[] = [
  // withSignal holds nothing: the bound is the sink's one.
  { name: 'fromIterable({ signal })', stage: identity, bound: 1, signal: true },
  // The documented ceilings of 'auto' (docs/ARCHITECTURE.md): 16 each.
  { name: "prefetch('auto')", stage: prefetch('auto'), bound: 16 + 1 },
  { name: "parallelMap(fn, { concurrency: 'auto' })", stage: parallelMap(async (x: number) => x, { concurrency: 'auto' }), bound: 16 + 1 },
  // resumable keeps ≤ maxPending (4) delivered-but-unconsumed elements by reference, none in flight.
  { name: 'resumable(pipeline)', stage: identity, bound: 1, wrap: (p) => resumable(p) },
];

const sources = {
  sync: function* (state: { pulled: number }): Generator<number> {
    for (let i = 0; ; i++) {
      state.pulled++;
      yield i;
    }
  },
  async: async function* (state: { pulled: number }): AsyncGenerator<number> {
    for (let i = 0; ; i++) {
      await Promise.resolve();
      state.pulled++;
      yield i;
    }
  },
};

for (const c of cases) {
  for (const [kind, generator] of Object.entries(sources)) {
    const build = (state: { pulled: number }): Observable<number> => {
      const controller = new AbortController();
      const source = fromIterable(() => generator(state), c.signal ? { signal: controller.signal } : {});
      const pipeline = source.pipe(
        map((x) => x * 2),
        c.stage,
        filter((x) => x % 2 === 0),
      );
      return c.wrap ? c.wrap(pipeline) : pipeline;
    };

    test(`${c.name}, ${kind} source, map before and filter after: pulled − consumed stays within ${c.bound}`, async (t) => {
      const state = { pulled: 0 };
      let consumed = 0;
      let worst = 0;
      await lastValueFrom(
        build(state).pipe(
          take(120),
          consume(async () => {
            worst = Math.max(worst, state.pulled - consumed);
            await sleep(1);
            consumed++;
          }),
        ),
        { defaultValue: undefined },
      );
      t.is(consumed, 120);
      t.true(worst <= c.bound, `worst pulled − consumed ${worst} > ${c.bound}`);
    });

    test(`${c.name}, ${kind} source: a timer beside a synchronous sink keeps firing`, async (t) => {
      const state = { pulled: 0 };
      let consumed = 0;
      await new Promise<void>((resolve, reject) => {
        let ticks = 0;
        const subscription = build(state)
          .pipe(consume(() => void consumed++))
          .subscribe({ error: reject });
        // The end is counted in ticks: a pipeline that starved the event loop would never let the
        // timer reach 5, and the test would time out.
        const timer = setInterval(() => {
          if (++ticks < 5) return;
          clearInterval(timer);
          subscription.unsubscribe();
          resolve();
        }, 5);
      });
      t.true(consumed > 0, 'the pipeline ran between the ticks');
    });
  }
}
