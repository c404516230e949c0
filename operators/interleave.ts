import type { Observable, OperatorFunction, Subscription } from 'rxjs';
import { Outbox, Valve, scoped, subscribeBehind, pumpLoop } from '../src/flow.js';
import { stageFor } from '../src/stats.js';
import { Mirror, registerStage, withoutRegistry } from '../src/state/registry.js';
import { InnerCursor, offerCursor } from '../src/state/sources.js';
import { availableParallelism } from 'node:os';
import { AUTO_MAX_CYCLE_LENGTH } from '../src/autotune/options.js';
import { tunedScope } from '../src/autotune/tuner.js';

export interface InterleaveOptions {
  /**
   * Inner sources read at once. Default 1 (one after another). `'auto'` with `deterministic:
   * false`: the pipeline's tuner chooses while it runs, from 1 up to `maxCycleLength`; with the
   * exact order (`deterministic: true`) it is the number of cores, fixed (as tf.data's AUTOTUNE),
   * since the order depends on it (docs/autotune.md).
   */
  cycleLength?: number | 'auto';
  /** The ceiling of `cycleLength: 'auto'` (the bound in flight). Default {@link AUTO_MAX_CYCLE_LENGTH} (16). */
  maxCycleLength?: number;
  /** Elements taken from one inner source before moving to the next. Default 1. */
  blockLength?: number;
  /**
   * `true` (default): the exact tf.data order. `false`: every open inner source reads one
   * element ahead, and when the source whose turn it is has nothing ready, the next one that
   * has takes the turn (a slow file no longer stalls the others).
   */
  deterministic?: boolean;
  /** The stage's name in pipeline statistics. */
  name?: string;
}

/** One position of the cycle: an open inner source and what it delivered ahead of its turn. */
interface Slot<R> {
  subscription: Subscription | undefined;
  /** Open while this inner source may emit (its turn has come, or it may read ahead). */
  readonly gate: Valve;
  /** Values received and not yet emitted (one for our sources; foreign ones may push more). */
  readonly queue: R[];
  done: boolean;
  /** Which input (0-based, in the outer source's order) this slot reads, and what the slot took from it. */
  input: number;
  taken: number;
  /** Values to drop before the first one taken: what a restored slot had taken before the checkpoint. */
  skip: number;
  /** A string input (a file path), to check a restored pipeline reads the same inputs. */
  label: string | undefined;
  /** In a resumable pipeline: the channel through which an inner source of ours reports its position (see `InnerCursor`). */
  cursor: InnerCursor | undefined;
  /** The inner source's position after the value in `queue`, and after the last value taken (copied from the cursor: two numbers, no allocation). */
  queuedOffset: number;
  queuedLine: number;
  offset: number;
  line: number;
  /** The position a restored slot was saved with, kept until it takes a value (its source may not have opened the file yet when a checkpoint comes). */
  position: unknown;
}

/**
 * What `interleave` saves in a pipeline checkpoint: positions, not elements. Inputs opened so far,
 * the cycle (per open slot: its input's number, how many values were taken from it, and its inner
 * source's position when it reports one), whose turn it is, and the (at most one) value taken and
 * not yet emitted. On restore the outer source is read again (it must give the same inputs: a
 * sorted file list, an array), finished inputs are passed over unopened, and each open one is
 * re-subscribed: a `fromFiles` file seeks to its position itself; any other inner source has its
 * first `taken` values dropped (record-skip).
 */
interface InterleaveState<R> {
  readonly opened: number;
  readonly current: number;
  readonly inBlock: number;
  readonly slots: (SlotState | null)[];
  readonly pending: R[];
}

/**
 * One open slot. `position`, when the inner source reports one (a `fromFiles` file): where to
 * seek to (its `mode` says how: `'seek'` a byte offset, `'rowGroup'`/`'recordBatch'` a Parquet row
 * group or Arrow record batch and row, `'fileIndex'` an image folder's file; `'skip'` none: read
 * past `taken` records, as for gzip); without it, the slot resumes by record-skip (an iterable
 * inner source).
 */
interface SlotState {
  readonly input: number;
  readonly taken: number;
  readonly label: string | undefined;
  readonly position?: unknown;
}

/** Whether a saved position lets the source resume without reading past the records taken. */
const seeks = (position: unknown): boolean =>
  typeof position === 'object' && position !== null && (position as { mode?: unknown }).mode !== undefined && (position as { mode?: unknown }).mode !== 'skip';

/**
 * Maps each input to an inner Observable and merges them `blockLength` elements at a time from
 * `cycleLength` open inner sources in turn (tf.data's `interleave`).
 *
 * ```
 * inputs:        A B C              (A → a0…a4, B → b0 b1, C → c0 c1 c2)
 * cycle 2, block 2:
 * output:        a0 a1 b0 b1 a2 a3 a4 c0 c1 c2
 *                          (B ends: its slot passes; C opens there on the slot's next turn)
 * ```
 *
 * Inner sources open lazily, in input order, when the cycle reaches an empty slot; when one ends
 * its block ends too and the next input takes its slot on that slot's next turn. Demand flows
 * through: an inner source of ours (`fromIterable`, `fromFiles`) is subscribed behind a gate that
 * opens only on its turn while the stages below are ready, so it reads only what is emitted; the
 * outer source is read one input at a time. What the operator holds is bounded by one element
 * per open inner source (foreign inner Observables that ignore demand are buffered as they push).
 *
 * @example
 * ```ts
 * fromIterable(paths).pipe(interleave((p) => fromFiles(p, { format: 'tfrecord' }), { cycleLength: 4, blockLength: 16 }));
 * ```
 */
export function interleave<T, R>(fn: (input: T, index: number) => Observable<R>, options: InterleaveOptions = {}): OperatorFunction<T, R> {
  const { blockLength = 1, deterministic = true, maxCycleLength = AUTO_MAX_CYCLE_LENGTH } = options;
  // 'auto' tunes only when the order may follow timing; the exact order keeps one cycle length.
  const tuned = options.cycleLength === 'auto' && !deterministic;
  if (!(Number.isInteger(maxCycleLength) && maxCycleLength >= 1)) throw new RangeError(`interleave: maxCycleLength must be an integer >= 1, got ${maxCycleLength}`);
  const maxLength = options.cycleLength === 'auto' ? (tuned ? maxCycleLength : Math.min(maxCycleLength, availableParallelism())) : options.cycleLength ?? 1;
  if (!(Number.isInteger(maxLength) && maxLength >= 1)) throw new RangeError(`interleave: cycleLength must be an integer >= 1 or 'auto', got ${maxLength}`);
  if (!(Number.isInteger(blockLength) && blockLength >= 1)) throw new RangeError(`interleave: blockLength must be an integer >= 1, got ${blockLength}`);
  const name = options.name ?? 'interleave';
  const key = {};
  return (source) =>
    scoped<R>((subscriber, below) => {
      const tuning = tuned ? tunedScope(below, key) : undefined;
      const scope = tuning?.scope ?? below;
      const stage = stageFor(scope.stats, key, name, 'operator');
      const knob = tuning?.tuner.attach(key, stage, { kind: 'parallelism', label: 'cycleLength', min: 1, max: maxLength, initial: 1 });
      // The exact order with 'auto': one length for the whole run, shown beside the stage's counters.
      if (options.cycleLength === 'auto' && !tuned) stage.extra.cycleLength = maxLength;
      /** Slots that may open now (the tuner moves it); slots past it that are still open drain first. */
      let cycleLength = knob ? knob.value : maxLength;
      const cycle: (Slot<R> | undefined)[] = new Array(maxLength).fill(undefined);
      /** Whose turn it is, and how many elements that slot gave in this block. */
      let current = 0;
      let inBlock = 0;
      /** Inputs received from the outer source and not yet opened. */
      const inputs: T[] = [];
      let inputIndex = 0;
      let inputsDone = false;
      /** Open while the operator wants the next input. */
      const outerGate = new Valve(stage.name);
      outerGate.set(false);
      let open = 0;
      // In a resumable pipeline this stage owns the positions of its inputs and inner sources (they
      // are subscribed with the registry hidden): see InterleaveState.
      const pendingOut = new Mirror<R>();
      const state = registerStage({
        kind: 'interleave',
        name,
        role: 'source',
        save: (): InterleaveState<R> => ({
          opened: inputIndex,
          current,
          inBlock,
          slots: cycle.map((slot) => (slot ? slotState(slot) : null)),
          pending: pendingOut.values(),
        }),
        held: () => pendingOut.size,
      });
      const restored = state?.restored as InterleaveState<R> | undefined;
      if (state) subscriber = state.emitter(subscriber, () => pendingOut.shift());
      /** Outer inputs seen in this subscription (a restored one matches the first `restored.opened` to its slots). */
      let seen = 0;
      const outbox = new Outbox<R>(subscriber, below, () => pump(), stage);
      /** The positions in turn: the cycle length, or more while slots past a lowered one drain. */
      const span = (): number => {
        let last = cycle.length - 1;
        while (last >= cycleLength && !cycle[last]) last--;
        return last + 1;
      };

      const advance = (): void => {
        inBlock = 0;
        current = (current + 1) % span();
      };
      const newSlot = (input: number, skip: number, label: string | undefined, position?: unknown): Slot<R> => {
        const gate = new Valve(stage.name);
        gate.set(false);
        open++;
        return { subscription: undefined, gate, queue: [], done: false, input, taken: skip, skip, label, cursor: undefined, queuedOffset: 0, queuedLine: 0, offset: 0, line: 0, position };
      };
      /** A slot's saved state: its inner source's position after the last value taken, when it reports one. */
      const slotState = (slot: Slot<R>): SlotState => {
        const base = { input: slot.input, taken: slot.taken, label: slot.label };
        // Nothing taken since a restore: the position it was restored from still holds.
        if (slot.position !== undefined) return { ...base, position: slot.position };
        const describe = slot.cursor?.describe;
        if (slot.taken === 0 || !describe) return base;
        return { ...base, position: describe(slot.offset, slot.line) };
      };
      const openSlot = (index: number, input: T): void => {
        const number = inputIndex++;
        const slot = newSlot(number, 0, typeof input === 'string' ? input : undefined);
        cycle[index] = slot;
        attach(slot, input);
      };
      /** Subscribes `slot`'s inner source (for a restored slot: a placeholder made at subscription). */
      const attach = (slot: Slot<R>, input: T): void => {
        let inner: Observable<R>;
        try {
          inner = fn(input, slot.input);
        } catch (error) {
          outbox.error(error);
          return;
        }
        const gate = slot.gate;
        const cursor = state ? new InnerCursor(slot.position) : undefined;
        slot.cursor = cursor;
        slot.subscription = withoutRegistry(() => offerCursor(cursor, () => subscribeBehind(scope, gate, inner, {
          next(value) {
            if (slot.skip > 0) {
              // Taken before the checkpoint: dropped, and the gate stays as it was.
              slot.skip--;
              return;
            }
            if (cursor) {
              slot.queuedOffset = cursor.offset;
              slot.queuedLine = cursor.line;
            }
            if (knob) {
              knob.complete();
              knob.sample(value);
            }
            slot.queue.push(value);
            // One element per opening: our sources check the gate before each emission.
            gate.set(false);
            pump();
          },
          error: (error) => outbox.error(error),
          complete() {
            if (slot.skip > 0) {
              outbox.error(new Error(`restore: ${name}: input #${slot.input}${slot.label ? ` (${slot.label})` : ''} ended ${slot.skip} elements before the position in the checkpoint (the data changed since)`));
              return;
            }
            slot.done = true;
            gate.set(false);
            pump();
          },
        }, subscriber)));
        // The source claimed the cursor and takes the saved position: it seeks there itself.
        if (cursor?.claimed && seeks(slot.position)) slot.skip = 0;
      };
      /** Takes the next value of slot `index` into the outbox, or asks it for one. True when it moved on. */
      const take = (index: number): 'value' | 'ended' | 'waiting' => {
        const slot = cycle[index]!;
        if (slot.queue.length > 0) {
          const value = slot.queue.shift()!;
          stage.in++;
          slot.taken++;
          if (slot.cursor) {
            // One value queued at most for a source that reports positions: these describe it.
            slot.offset = slot.queuedOffset;
            slot.line = slot.queuedLine;
            slot.position = undefined;
          }
          if (state) pendingOut.push(value);
          outbox.push(value);
          return 'value';
        }
        if (slot.done) {
          cycle[index] = undefined;
          open--;
          return 'ended';
        }
        return 'waiting';
      };
      const pump = pumpLoop(() => {
        step();
        if (knob) observe(knob);
      }, () => subscriber.closed);
      /** Tells the tuner how many inner sources are reading (asked for an element, none arrived yet). */
      const observe = (k: NonNullable<typeof knob>): void => {
        let reading = 0;
        for (const s of cycle) if (s && s.gate.isOpen && s.queue.length === 0 && !s.done) reading++;
        k.observe(reading, reading, outbox.size);
      };
      const offKnob = knob?.onChange((value) => {
        cycleLength = value;
        pump();
      });
      /** Runs tf.data's interleave loop until it must wait (for demand, an input or an inner value). */
      const step = (): void => {
        while (!subscriber.closed && outbox.size === 0) {
          const slot = cycle[current];
          if (slot) {
            let outcome = take(current);
            if (outcome === 'waiting' && !deterministic) {
              // Open every empty slot now so that the others can read while this one stalls.
              fillEmpty();
              // Another open slot with a value ready takes this turn.
              const positions = span();
              for (let k = 1; k < positions && outcome === 'waiting'; k++) {
                const other = (current + k) % positions;
                if (cycle[other]?.queue.length) {
                  current = other;
                  inBlock = 0;
                  outcome = take(current);
                }
              }
            }
            if (outcome === 'value') {
              if (++inBlock === blockLength) advance();
              continue;
            }
            if (outcome === 'ended') {
              advance();
              continue;
            }
            // Waiting: ask for one element (and, when not deterministic, let every open slot read ahead).
            requestAll(slot);
            return;
          }
          if (current >= cycleLength) {
            // A position past a lowered cycle length: it closed, and no input opens there.
            advance();
            continue;
          }
          if (inputs.length > 0) {
            openSlot(current, inputs.shift()!);
            continue;
          }
          if (!inputsDone) {
            outerGate.set(true);
            return;
          }
          if (open === 0) {
            outbox.complete();
            return;
          }
          advance();
        }
        if (!deterministic && outbox.size === 0) requestAll(undefined);
      };
      /** Non-deterministic mode: opens inputs into every empty slot (asking the outer source for more). */
      const fillEmpty = (): void => {
        for (let k = 0; k < cycleLength; k++) {
          if (cycle[k] || subscriber.closed) continue;
          if (inputs.length > 0) openSlot(k, inputs.shift()!);
          else if (!inputsDone) outerGate.set(true);
        }
      };
      const requestAll = (slot: Slot<R> | undefined): void => {
        if (slot && slot.queue.length === 0 && !slot.done) slot.gate.set(true);
        if (deterministic) return;
        for (const s of cycle) if (s && s.queue.length === 0 && !s.done) s.gate.set(true);
      };

      if (restored) {
        // Placeholders for the open slots, subscribed as the outer source gives their inputs again.
        current = restored.current;
        inBlock = restored.inBlock;
        inputIndex = restored.opened;
        restored.slots.forEach((saved, k) => {
          if (saved) cycle[k] = newSlot(saved.input, saved.taken, saved.label, saved.position);
        });
        for (const value of restored.pending) {
          pendingOut.push(value);
          outbox.push(value);
        }
        if (restored.opened > 0) outerGate.set(true);
      }
      const outer = withoutRegistry(() => offerCursor(undefined, () => subscribeBehind(scope, outerGate, source, {
        next(input) {
          if (restored && seen < restored.opened) {
            // An input opened before the checkpoint: reopen it where it was, or pass over it (finished).
            const number = seen++;
            const k = cycle.findIndex((slot) => slot?.input === number && slot.subscription === undefined);
            if (k >= 0) {
              const slot = cycle[k]!;
              const label = typeof input === 'string' ? input : undefined;
              if (slot.label !== label) {
                outbox.error(new Error(`restore: ${name}: input #${number} is ${JSON.stringify(label)}, the checkpoint has ${JSON.stringify(slot.label)} (the inputs changed since)`));
                return;
              }
              attach(slot, input);
            }
            if (seen === restored.opened) outerGate.set(false);
            pump();
            return;
          }
          inputs.push(input);
          outerGate.set(false);
          pump();
        },
        error: (error) => outbox.error(error),
        complete() {
          if (restored && seen < restored.opened) {
            outbox.error(new Error(`restore: ${name}: the outer source gave ${seen} inputs, the checkpoint had opened ${restored.opened} (the inputs changed since)`));
            return;
          }
          inputsDone = true;
          pump();
        },
      }, subscriber)));
      pump();
      return () => {
        outer.unsubscribe();
        for (const slot of cycle) slot?.subscription?.unsubscribe();
        outbox.dispose();
        offKnob?.();
        if (knob) tuning!.tuner.detach(knob);
      };
    });
}
