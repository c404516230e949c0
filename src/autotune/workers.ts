/**
 * `fromWorkers(head, { workers: 'auto' })`: the worker count, chosen by the pipeline's tuner when
 * each subscription (epoch) starts — a running head cannot be re-sharded — from what the previous
 * one showed: every core but one at first; fewer when the workers mostly waited for credit while
 * the sink never waited (the main thread is the bottleneck, idle threads only hold memory); back
 * up when the sink waited for input while the workers were busy; never more than the memory
 * budget allows for `workers × credit` elements.
 */
import type { FlowScope } from '../flow.js';
import type { StageStats } from '../stats.js';
import type { Knob } from './knob.js';
import { INPUT_BOUND, HEADROOM, type Change, type Window } from './policy.js';
import { between, tunedScope, type Tuner } from './tuner.js';

/** What `fromWorkers` calls: the count for this subscription, and what it observes while it runs. */
export interface WorkerTuning {
  /** The scope to run in (it carries the pipeline's statistics). */
  readonly scope: FlowScope;
  /** Chooses the count for the subscription starting now. */
  start(stage: StageStats): number;
  /** Values received from the workers and not yet taken by the stage below. */
  observe(queued: number): void;
  /** One value received (measured now and then for the memory budget). */
  received(value: unknown): void;
  /** The subscription ended. */
  end(): void;
}

/** The share of the last run's time the workers spent not waiting for credit, from their own statistics. */
function busyShare(creditWaitMs: number, workers: number, ms: number): number {
  return Math.min(1, Math.max(0, 1 - creditWaitMs / (workers * ms)));
}

/**
 * The worker count for the next run, from the last run's window `w` (measured at `value`
 * workers, `busy` their share of time at work). Pure, for tests.
 */
export function decideWorkers(w: Window, value: number, cap: number, busy: number): Change | undefined {
  const pct = (x: number): string => `${Math.round(x * 100)} %`;
  if (value > cap) return { to: cap, action: 'lower', reason: `the memory budget fits ${cap} workers' credit` };
  if (w.sinkWait !== undefined && w.sinkWait >= INPUT_BOUND) {
    if (busy >= 0.8 && value < cap) return { to: cap, action: 'raise', reason: `the last run was input-bound: the sink waited ${pct(w.sinkWait)}, the workers busy ${pct(busy)}`, bottleneck: 'the workers' };
    return undefined;
  }
  const needed = Math.max(1, Math.ceil(value * busy * HEADROOM));
  if (needed < value) {
    return {
      to: needed,
      action: 'lower',
      reason: `the last run's workers waited for credit ${pct(1 - busy)} of the time while the sink ${w.sinkWait === undefined ? 'set the pace' : `waited ${pct(w.sinkWait)}`}: ${needed} keep up`,
      bottleneck: 'the stages below the workers',
    };
  }
  return undefined;
}

/**
 * The tuning of one `fromWorkers` instance. The ceiling is every core the tuner assumes but one
 * (`AutotuneOptions.cores`, default `availableCores()`: what `workers: 'auto'` would start).
 */
export function tuneWorkers(below: FlowScope, key: object, name: string, credit: number): WorkerTuning {
  const { scope, tuner } = tunedScope(below, key);
  const ceiling = Math.max(1, tuner.cores - 1);
  let knob: Knob | undefined;
  let owner: Tuner | undefined;
  /** The workers' summed credit wait (ms) when this run's measurement started. */
  let creditWaitAtStart = 0;
  /** Whether this run has received its first element (its measurement starts there). */
  let flowing = false;
  const creditWait = (): number => scope.stats?.get(`${name}/post`)?.blockedMs ?? 0;
  return {
    scope,
    start(stage) {
      owner = tuner;
      knob = tuner.attach(key, stage, { kind: 'workers', label: 'workers', min: 1, max: ceiling, initial: ceiling, perUnit: credit });
      const last = knob.previousRun;
      if (last) {
        const w = between(last.start, last.end);
        const waited = creditWait() - creditWaitAtStart;
        const change = decideWorkers(w, knob.value, tuner.capFor(knob), busyShare(waited, knob.value, w.ms));
        if (change) tuner.apply(knob, change);
      }
      creditWaitAtStart = creditWait();
      flowing = false;
      return knob.value;
    },
    observe(queued) {
      knob?.observe(0, 0, queued);
    },
    received(value) {
      if (!flowing && knob && owner) {
        // The run is measured from its first element: threads starting (the sink waiting for
        // them) say nothing about how many keep up once they run.
        flowing = true;
        owner.restartRun(knob);
        creditWaitAtStart = creditWait();
      }
      knob?.sample(value);
      knob?.complete();
    },
    end() {
      if (knob && owner) owner.detach(knob);
      knob = undefined;
    },
  };
}
