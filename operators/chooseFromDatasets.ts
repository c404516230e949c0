import { isObservable, type Observable, type Subscription } from 'rxjs';
import { Outbox, Valve, scoped, subscribeBehind, type FlowScope, pumpLoop } from '../src/flow.js';
import { stageFor } from '../src/stats.js';
import { LimitError } from '../src/errors.js';
import type { Mulberry32 } from '../src/random.js';
import { Mirror, registerStage, type SavedStage } from '../src/state/registry.js';
import { InputStates } from '../src/state/inputs.js';

export interface ChooseFromDatasetsOptions {
  /**
   * `true` (default, as tf.data): end as soon as the chosen source has ended. `false`: skip
   * choices of ended sources and end when every source (or the choices) has ended.
   */
  stopOnEmptyDataset?: boolean;
  /**
   * Elements held for a source that ignores demand (RxJS's \`from\`, a hot Subject) before the
   * stream fails with a \`LimitError\`. Default 10 000. Sources of ours never come near it.
   */
  maxBuffered?: number;
  /** The stage's name in pipeline statistics. */
  name?: string;
}

/**
 * Where the next choice comes from: an Observable of indices, or a function told which sources
 * have ended, with the generator it draws from (saved in a resumable pipeline).
 */
export type Chooser = Observable<number> | { readonly rng: Mulberry32; choose(ended: readonly boolean[]): number | undefined };

/** What the mix saves in a resumable pipeline. */
interface MixState<T> {
  /** Each source's own stages' states, then the choice source's. */
  readonly inputs: SavedStage[][];
  readonly held: T[][];
  readonly ended: boolean[];
  /** The source chosen and not answered yet (-1: none). */
  readonly chosen: number;
  readonly choices: number[];
  /** The chooser's generator state (a seeded chooser). */
  readonly rng?: number;
  /** Elements in the outbox, not yet handed on. */
  readonly out: T[];
}

/** One source being mixed: its subscription, its gate, what it delivered ahead of a request. */
interface Input<T> {
  subscription: Subscription | undefined;
  /** Open while this source may emit one element (it has been chosen). */
  readonly gate: Valve;
  readonly held: T[];
  done: boolean;
}

/**
 * Emits, for each index from `choice$`, the next element of `sources[index]` (tf.data's
 * `choose_from_datasets`): a deterministic mix, e.g. replayed files and live Kafka in a set
 * order.
 *
 * ```
 * sources:  a0 a1 a2 …   b0 b1 …
 * choice$:  -0--1--1--0-|
 * output:   -a0-b0-b1-a1-|
 * ```
 *
 * Demand flows through: only the chosen source is asked for an element, one per request from
 * below, and the next choice is read only then. Sources of ours are subscribed at once behind
 * closed gates, so they read nothing until chosen. In flight: one element (the one being handed
 * on); a foreign source that ignores demand is buffered as it pushes. An index out of range fails
 * with an error naming it. In a resumable pipeline (docs/resume.md) the stages of every source and
 * of `choice$` save their positions inside this stage's state (one that cannot is named in the
 * checkpoint's error).
 *
 * @example
 * ```ts
 * chooseFromDatasets([replay$, live$], range(0, Infinity).pipe(map((i) => (i % 4 === 0 ? 1 : 0))));
 * ```
 */
export function chooseFromDatasets<T>(sources: readonly Observable<T>[], choice$: Observable<number>, options: ChooseFromDatasetsOptions = {}): Observable<T> {
  return mix(sources, () => choice$, options.stopOnEmptyDataset ?? true, options.name ?? 'chooseFromDatasets', options.maxBuffered);
}

/**
 * The directed mix behind `chooseFromDatasets` and `sampleFromDatasets`. `makeChooser` runs per
 * subscription (a fresh seeded generator each time, say), given the resumable pipeline's epoch
 * when there is one.
 */
export function mix<T>(sources: readonly Observable<T>[], makeChooser: (epoch: number | undefined) => Chooser, stopOnEmpty: boolean, name: string, maxBuffered = 10_000): Observable<T> {
  if (sources.length === 0) throw new RangeError(`${name}: needs at least one source`);
  const key = {};
  return scoped<T>((subscriber, scope: FlowScope) => {
    const stage = stageFor(scope.stats, key, name, 'operator');
    const inputs: Input<T>[] = [];
    let ended: boolean[] = sources.map(() => false);
    let endedCount = 0;
    /** The source asked for an element and not answered yet (-1: none). */
    let pending = -1;
    /** Choices received from choice$ and not served yet (one for our sources). */
    let choices: number[] = [];
    /** The outbox's elements, mirrored for a checkpoint. */
    const out = new Mirror<T>();
    const state = registerStage({
      kind: name === 'sampleFromDatasets' ? 'sampleFromDatasets' : 'chooseFromDatasets',
      name: stage.name,
      role: 'source',
      save: (): MixState<T> => ({
        inputs: states.save(),
        held: inputs.map((input) => input.held.slice()),
        ended: ended.slice(),
        chosen: pending,
        choices: choices.slice(),
        ...(isObservable(choose) ? {} : { rng: choose.rng.state }),
        out: out.values(),
      }),
      held: () => out.size + inputs.reduce((n, input) => n + input.held.length, 0),
      heldParts: () => states.held(),
    });
    const choose = makeChooser(state?.epoch);
    const restored = state?.restored as MixState<T> | undefined;
    const labels = sources.map((_, i) => `source #${i}`);
    if (isObservable(choose)) labels.push('choice source');
    const states = new InputStates(state, labels, restored?.inputs);
    if (state) subscriber = state.emitter(subscriber, () => out.shift());
    const choiceGate = new Valve();
    choiceGate.set(false);
    let choicesDone = false;
    let choiceSubscription: Subscription | undefined;
    const outbox = new Outbox<T>(subscriber, scope, () => pump(), stage);
    const push = (value: T): void => {
      if (state) out.push(value);
      outbox.push(value);
    };
    if (restored) {
      ended = restored.ended.slice();
      endedCount = ended.filter(Boolean).length;
      pending = restored.chosen;
      choices = restored.choices.slice();
      if (restored.rng !== undefined && !isObservable(choose)) choose.rng.state = restored.rng;
    }

    const nextChoice = (): number | undefined => {
      if (!isObservable(choose)) return choose.choose(ended);
      if (choices.length > 0) return choices.shift()!;
      if (!choicesDone) choiceGate.set(true);
      return undefined;
    };
    const step = (): void => {
      while (!subscriber.closed && outbox.size === 0) {
        if (pending >= 0) {
          const input = inputs[pending];
          if (input.held.length > 0) {
            const value = input.held.shift()!;
            pending = -1;
            stage.in++;
            push(value);
            continue;
          }
          if (!input.done) {
            input.gate.set(true);
            return;
          }
          // The chosen source has ended: learnt, as in tf.data, only when it is drawn (so the
          // sequence of draws does not depend on when a source signals its end).
          if (!ended[pending]) {
            ended[pending] = true;
            endedCount++;
          }
          pending = -1;
          if (stopOnEmpty || endedCount === inputs.length) {
            outbox.complete();
            return;
          }
          continue;
        }
        if (endedCount === inputs.length) {
          outbox.complete();
          return;
        }
        let index: number | undefined;
        try {
          index = nextChoice();
        } catch (error) {
          outbox.error(error);
          return;
        }
        if (index === undefined) {
          // A chooser function returns undefined when nothing is left to choose from.
          if (!isObservable(choose) || (choicesDone && choices.length === 0)) outbox.complete();
          return;
        }
        if (!(Number.isInteger(index) && index >= 0 && index < inputs.length)) {
          outbox.error(new RangeError(`${name}: choice ${String(index)} is not a source index in [0, ${inputs.length})`));
          return;
        }
        if (ended[index] && !stopOnEmpty) continue;
        pending = index;
      }
    };
    /** Every source is subscribed: before that, a foreign source pushing inside subscribe must not start choosing. */
    let started = false;
    const loop = pumpLoop(() => step(), () => subscriber.closed);
    const pump = (): void => {
      if (started) loop();
    };
    // What the interrupted run had made and not handed on: first.
    for (const value of restored?.out ?? []) push(value);

    for (const [i, source] of sources.entries()) {
      const gate = new Valve();
      gate.set(false);
      const input: Input<T> = { subscription: undefined, gate, held: restored?.held[i].slice() ?? [], done: false };
      inputs.push(input);
      input.subscription = states.subscribe(i, () => subscribeBehind(scope, gate, source, {
        next(value) {
          states.received(i);
          if (input.held.length >= maxBuffered) return outbox.error(new LimitError(`${name}: a source pushed more than ${maxBuffered} elements ahead of demand (it ignores demand: put a bounded stage such as prefetch, or pushSource with an overflow policy, in front)`));
          input.held.push(value);
          // One element per request: our sources check the gate before each emission.
          gate.set(false);
          pump();
        },
        error: (error) => outbox.error(error),
        complete() {
          input.done = true;
          gate.set(false);
          pump();
        },
      }, subscriber));
      if (subscriber.closed) break;
    }
    if (isObservable(choose) && !subscriber.closed) {
      const c = sources.length;
      choiceSubscription = states.subscribe(c, () => subscribeBehind(scope, choiceGate, choose, {
        next(index) {
          states.received(c);
          if (choices.length >= maxBuffered) return outbox.error(new LimitError(`${name}: the choice source pushed more than ${maxBuffered} elements ahead of demand (it ignores demand: put a bounded stage such as prefetch, or pushSource with an overflow policy, in front)`));
          choices.push(index);
          choiceGate.set(false);
          pump();
        },
        error: (error) => outbox.error(error),
        complete() {
          choicesDone = true;
          pump();
        },
      }, subscriber));
    }
    started = true;
    pump();
    return () => {
      choiceSubscription?.unsubscribe();
      for (const input of inputs) input.subscription?.unsubscribe();
      outbox.dispose();
    };
  });
}
