/**
 * RxJS's synchronous stateful operators, for `rxdata/rxjs`, with the same signatures and
 * behaviour, that save their state in a resumable pipeline (docs/resume.md). Plain RxJS ones
 * cannot be told from `map` by the registry: after a restore they would start empty.
 *
 * ```
 * outside a resumable pipeline:  bufferCount(3) ≡ rxjs bufferCount(3)     (delegated: no cost per element)
 * inside one:                    bufferCount(3) ─ registers ─ saves { count, buffers } ─ restores them
 * ```
 *
 * Each is a small state machine run by {@link machineOperator}: it registers with the pipeline
 * being subscribed; outside a resumable pipeline it hands the subscription to RxJS's own operator.
 * State that is not plain data (a `scan` accumulator holding a class instance, `distinct` keys
 * compared by identity) makes `checkpoint()` fail with a `CheckpointError` naming the operator.
 */
import * as rx from 'rxjs';
import { ArgumentOutOfRangeError, EMPTY, EmptyError, Observable, type MonoTypeOperatorFunction, type ObservableInput, type OperatorFunction } from 'rxjs';
import { subscribeTied } from '../flow.js';
import { refuseCheckpoint } from './refuse.js';
import { registerStage } from './registry.js';
import { identityProblem, plainDataProblem } from './plainData.js';

/** One subscription's state machine: what to do per element and at the end, and what to save. */
interface Machine<T, R> {
  /** Handles one element; `emit` hands a value on, `end` completes downstream (and stops upstream). */
  next(value: T, emit: (value: R) => void, end: () => void): void;
  /** The source completed: emit what is left (then the runner completes), or fail by throwing. */
  complete?(emit: (value: R) => void): void;
  save(): unknown;
  /** Elements the state holds (for the checkpoint's report). */
  held?(): number;
  /** Why the state cannot be saved now (not plain data), if so. */
  refuse?(): string | undefined;
  /** Releases what the machine holds beyond its state (a subscription of its own). */
  teardown?(): void;
}

/**
 * An operator that, in a resumable pipeline, runs `make`'s machine (restored from the saved state)
 * and otherwise delegates to `plain` (RxJS's own). An error thrown by the machine goes downstream,
 * as RxJS's operators do with a throwing callback.
 */
function machineOperator<T, R, S>(kind: string, plain: OperatorFunction<T, R>, make: (restored: S | undefined, source: Observable<T>) => Machine<T, R>): OperatorFunction<T, R> {
  return (source) =>
    new Observable<R>((subscriber) => {
      /** This subscription's machine, made once the registry has handed over the restored state. */
      const box: { machine?: Machine<T, R> } = {};
      const handle = registerStage({
        kind,
        name: kind,
        role: 'operator',
        save: () => box.machine!.save(),
        held: () => box.machine?.held?.() ?? 0,
        refuse: () => box.machine?.refuse?.(),
      });
      if (!handle) return plain(source).subscribe(subscriber);
      const m = (box.machine = make(handle.restored as S | undefined, source));
      const out = handle.emitter(subscriber);
      const emit = (value: R): void => out.next(value);
      const end = (): void => out.complete();
      const upstream = subscribeTied(out, source, {
        next(value) {
          handle.received();
          try {
            m.next(value, emit, end);
          } catch (error) {
            out.error(error);
          }
        },
        error: (error: unknown) => out.error(error),
        complete() {
          try {
            m.complete?.(emit);
          } catch (error) {
            out.error(error);
            return;
          }
          out.complete();
        },
      });
      return () => {
        upstream.unsubscribe();
        m.teardown?.();
      };
    });
}

/** The reason a user's value cannot be saved, naming the operator's part. */
const notPlain = (value: unknown, what: string): string | undefined => {
  const problem = plainDataProblem(value, what);
  return problem && `${problem}; save plain data (numbers, strings, arrays, plain objects, typed arrays) or keep it out of the resumable pipeline`;
};

/** RxJS's `bufferCount`; in a resumable pipeline the open buffers and the count are saved. */
export function bufferCount<T>(bufferSize: number, startBufferEvery: number | null = null): OperatorFunction<T, T[]> {
  const every = startBufferEvery ?? bufferSize;
  return machineOperator<T, T[], { count: number; buffers: T[][] }>('bufferCount', rx.bufferCount<T>(bufferSize, startBufferEvery), (restored) => {
    let count = restored?.count ?? 0;
    let buffers: T[][] = restored?.buffers.map((b) => b.slice()) ?? [];
    return {
      next(value, emit) {
        let full: T[][] | undefined;
        if (count++ % every === 0) buffers.push([]);
        for (const buffer of buffers) {
          buffer.push(value);
          if (bufferSize <= buffer.length) (full ??= []).push(buffer);
        }
        if (full) {
          buffers = buffers.filter((b) => !full.includes(b));
          for (const buffer of full) emit(buffer);
        }
      },
      complete(emit) {
        const rest = buffers;
        buffers = [];
        for (const buffer of rest) emit(buffer);
      },
      save: () => ({ count, buffers: buffers.map((b) => b.slice()) }),
      held: () => buffers.reduce((n, b) => Math.max(n, b.length), 0),
    };
  });
}

/** What `scan` and `reduce` save. */
interface AccState<A> {
  hasState: boolean;
  state: A | undefined;
  index: number;
}

function accumulate<V, A, S>(kind: string, plain: OperatorFunction<V, A | S>, accumulator: (acc: A | S, value: V, index: number) => A, seed: S | undefined, hasSeed: boolean, emitOnNext: boolean): OperatorFunction<V, A | S> {
  return machineOperator<V, A | S, AccState<A | S>>(kind, plain, (restored) => {
    let hasState = restored?.hasState ?? hasSeed;
    // Copied in and out: an accumulator that changes its value in place must not change a checkpoint.
    let state: A | S | undefined = restored ? structuredClone(restored.state) : seed;
    let index = restored?.index ?? 0;
    return {
      next(value, emit) {
        const i = index++;
        state = hasState ? accumulator(state as A | S, value, i) : ((hasState = true), value as unknown as A);
        if (emitOnNext) emit(state);
      },
      complete(emit) {
        if (!emitOnNext && hasState) emit(state as A | S);
      },
      save: () => ({ hasState, state: structuredClone(state), index }),
      refuse: () => notPlain(state, `${kind}'s accumulated value`),
    };
  });
}

/** RxJS's `scan`; in a resumable pipeline the accumulated value (plain data) and the index are saved. */
export function scan<V, A = V>(accumulator: (acc: A | V, value: V, index: number) => A): OperatorFunction<V, V | A>;
export function scan<V, A>(accumulator: (acc: A, value: V, index: number) => A, seed: A): OperatorFunction<V, A>;
export function scan<V, A, S>(accumulator: (acc: A | S, value: V, index: number) => A, seed: S): OperatorFunction<V, A>;
export function scan<V, A, S>(accumulator: (acc: V | A | S, value: V, index: number) => A, seed?: S): OperatorFunction<V, V | A | S> {
  const hasSeed = arguments.length >= 2;
  const plain = (hasSeed ? rx.scan(accumulator, seed as S) : rx.scan(accumulator as (acc: V | A, value: V, index: number) => A)) as OperatorFunction<V, V | A | S>;
  return accumulate<V, A, V | S>('scan', plain, accumulator, seed, hasSeed, true);
}

/** RxJS's `reduce`; in a resumable pipeline the accumulated value (plain data) and the index are saved. */
export function reduce<V, A = V>(accumulator: (acc: A | V, value: V, index: number) => A): OperatorFunction<V, V | A>;
export function reduce<V, A>(accumulator: (acc: A, value: V, index: number) => A, seed: A): OperatorFunction<V, A>;
export function reduce<V, A, S = A>(accumulator: (acc: A | S, value: V, index: number) => A, seed: S): OperatorFunction<V, A>;
export function reduce<V, A, S>(accumulator: (acc: V | A | S, value: V, index: number) => A, seed?: S): OperatorFunction<V, V | A | S> {
  const hasSeed = arguments.length >= 2;
  const plain = (hasSeed ? rx.reduce(accumulator, seed as S) : rx.reduce(accumulator as (acc: V | A, value: V, index: number) => A)) as OperatorFunction<V, V | A | S>;
  return accumulate<V, A, V | S>('reduce', plain, accumulator, seed, hasSeed, false);
}

/** RxJS's `pairwise`; in a resumable pipeline the previous element is saved (held: 1). */
export function pairwise<T>(): OperatorFunction<T, [T, T]> {
  return machineOperator<T, [T, T], { hasPrev: boolean; prev: T | undefined }>('pairwise', rx.pairwise<T>(), (restored) => {
    let hasPrev = restored?.hasPrev ?? false;
    let prev = restored?.prev;
    return {
      next(value, emit) {
        const p = prev;
        prev = value;
        if (hasPrev) emit([p as T, value]);
        hasPrev = true;
      },
      save: () => ({ hasPrev, prev }),
      held: () => (hasPrev ? 1 : 0),
    };
  });
}

/**
 * RxJS's `distinct`; in a resumable pipeline the keys seen are saved (primitive keys only: an
 * object key is compared by identity, which no restored copy matches; give a `keySelector`
 * returning a string or number). With `flushes`, a checkpoint fails: when it flushes is its own.
 */
export function distinct<T, K>(keySelector?: (value: T) => K, flushes?: ObservableInput<unknown>): MonoTypeOperatorFunction<T> {
  return machineOperator<T, T, { keys: unknown[] }>('distinct', rx.distinct(keySelector, flushes), (restored) => {
    const keys = new Set<unknown>(restored?.keys ?? []);
    let flushed: { unsubscribe(): void } | undefined;
    if (flushes) flushed = rx.from(flushes).subscribe(() => keys.clear());
    return {
      next(value, emit) {
        const key = keySelector ? keySelector(value) : value;
        if (!keys.has(key)) {
          keys.add(key);
          emit(value);
        }
      },
      teardown: () => flushed?.unsubscribe(),
      save: () => ({ keys: [...keys] }),
      held: () => keys.size,
      refuse: () => {
        if (flushes) return 'its flushes Observable decides when the keys are forgotten, which a restored run cannot replay';
        for (const key of keys) {
          const problem = identityProblem(key, 'a key');
          if (problem) return `${problem} (give distinct a keySelector returning a string or number)`;
        }
        return undefined;
      },
    };
  });
}

/** RxJS's `distinctUntilChanged`; in a resumable pipeline the previous key is saved. */
export function distinctUntilChanged<T>(comparator?: (previous: T, current: T) => boolean): MonoTypeOperatorFunction<T>;
export function distinctUntilChanged<T, K>(comparator: (previous: K, current: K) => boolean, keySelector: (value: T) => K): MonoTypeOperatorFunction<T>;
export function distinctUntilChanged<T, K>(comparator?: (previous: K, current: K) => boolean, keySelector: (value: T) => K = (x) => x as unknown as K): MonoTypeOperatorFunction<T> {
  return keyChanges('distinctUntilChanged', rx.distinctUntilChanged(comparator as (a: K, b: K) => boolean, keySelector), comparator, keySelector);
}

function keyChanges<T, K>(kind: string, plain: MonoTypeOperatorFunction<T>, comparator: ((previous: K, current: K) => boolean) | undefined, keySelector: (value: T) => K): MonoTypeOperatorFunction<T> {
  const compare = comparator ?? ((a: K, b: K) => a === b);
  return machineOperator<T, T, { first: boolean; previous: K | undefined }>(kind, plain, (restored) => {
    let first = restored?.first ?? true;
    let previous = restored?.previous;
    return {
      next(value, emit) {
        const key = keySelector(value);
        if (first || !compare(previous as K, key)) {
          first = false;
          previous = key;
          emit(value);
        }
      },
      save: () => ({ first, previous }),
      refuse: () => (comparator ? notPlain(previous, `${kind}'s previous key`) : identityProblem(previous, `${kind}'s previous key`)),
    };
  });
}

/** RxJS's `distinctUntilKeyChanged`; in a resumable pipeline the previous element is saved. */
export function distinctUntilKeyChanged<T>(key: keyof T): MonoTypeOperatorFunction<T>;
export function distinctUntilKeyChanged<T, K extends keyof T>(key: K, compare: (x: T[K], y: T[K]) => boolean): MonoTypeOperatorFunction<T>;
export function distinctUntilKeyChanged<T, K extends keyof T>(key: K, compare?: (x: T[K], y: T[K]) => boolean): MonoTypeOperatorFunction<T> {
  const comparator = (x: T, y: T): boolean => (compare ? compare(x[key], y[key]) : x[key] === y[key]);
  return keyChanges<T, T>('distinctUntilKeyChanged', rx.distinctUntilKeyChanged(key, compare as (x: T[K], y: T[K]) => boolean), comparator, (x) => x);
}

/** RxJS's `take`; in a resumable pipeline the count taken is saved. */
export function take<T>(count: number): MonoTypeOperatorFunction<T> {
  // RxJS: take(0) is EMPTY, without subscribing the source.
  if (count <= 0) return () => EMPTY;
  return machineOperator<T, T, { seen: number }>('take', rx.take<T>(count), (restored) => {
    let seen = restored?.seen ?? 0;
    return {
      next(value, emit, end) {
        if (++seen <= count) {
          emit(value);
          if (count <= seen) end();
        }
      },
      save: () => ({ seen }),
    };
  });
}

/** RxJS's `skip`; in a resumable pipeline the count seen is saved. */
export function skip<T>(count: number): MonoTypeOperatorFunction<T> {
  return machineOperator<T, T, { index: number }>('skip', rx.skip<T>(count), (restored) => {
    let index = restored?.index ?? 0;
    return {
      next(value, emit) {
        if (count <= index++) emit(value);
      },
      save: () => ({ index }),
    };
  });
}

/** RxJS's `takeWhile`; in a resumable pipeline the index is saved. */
export function takeWhile<T, S extends T>(predicate: (value: T, index: number) => value is S): OperatorFunction<T, S>;
export function takeWhile<T, S extends T>(predicate: (value: T, index: number) => value is S, inclusive: false): OperatorFunction<T, S>;
export function takeWhile<T>(predicate: (value: T, index: number) => boolean, inclusive?: boolean): MonoTypeOperatorFunction<T>;
export function takeWhile<T>(predicate: (value: T, index: number) => boolean, inclusive = false): MonoTypeOperatorFunction<T> {
  return machineOperator<T, T, { index: number }>('takeWhile', rx.takeWhile(predicate, inclusive), (restored) => {
    let index = restored?.index ?? 0;
    return {
      next(value, emit, end) {
        const result = predicate(value, index++);
        if (result || inclusive) emit(value);
        if (!result) end();
      },
      save: () => ({ index }),
    };
  });
}

/** RxJS's `skipWhile`; in a resumable pipeline the index and whether it is taking are saved. */
export function skipWhile<T>(predicate: (value: T, index: number) => boolean): MonoTypeOperatorFunction<T> {
  return machineOperator<T, T, { taking: boolean; index: number }>('skipWhile', rx.skipWhile(predicate), (restored) => {
    let taking = restored?.taking ?? false;
    let index = restored?.index ?? 0;
    return {
      next(value, emit) {
        if (taking || (taking = !predicate(value, index++))) emit(value);
      },
      save: () => ({ taking, index }),
    };
  });
}

/** RxJS's `elementAt`; in a resumable pipeline the count seen is saved. */
export function elementAt<T, D = T>(index: number, defaultValue?: D): OperatorFunction<T, T | D> {
  if (index < 0) throw new ArgumentOutOfRangeError();
  const hasDefault = arguments.length >= 2;
  const plain = hasDefault ? rx.elementAt<T, D>(index, defaultValue as D) : rx.elementAt<T>(index);
  return machineOperator<T, T | D, { seen: number }>('elementAt', plain as OperatorFunction<T, T | D>, (restored) => {
    let seen = restored?.seen ?? 0;
    return {
      next(value, emit, end) {
        if (seen++ === index) {
          emit(value);
          end();
        }
      },
      complete(emit) {
        if (!hasDefault) throw new ArgumentOutOfRangeError();
        emit(defaultValue as D);
      },
      save: () => ({ seen }),
    };
  });
}

/** RxJS's `count`; in a resumable pipeline the count and index are saved. */
export function count<T>(predicate?: (value: T, index: number) => boolean): OperatorFunction<T, number> {
  return machineOperator<T, number, { n: number; index: number }>('count', rx.count(predicate), (restored) => {
    let n = restored?.n ?? 0;
    let index = restored?.index ?? 0;
    return {
      next(value) {
        if (!predicate || predicate(value, index++)) n++;
      },
      complete: (emit) => emit(n),
      save: () => ({ n, index }),
    };
  });
}

/** RxJS's `toArray`; in a resumable pipeline the elements collected are saved (held). */
export function toArray<T>(): OperatorFunction<T, T[]> {
  return machineOperator<T, T[], { items: T[] }>('toArray', rx.toArray<T>(), (restored) => {
    let items = restored?.items.slice() ?? [];
    return {
      next(value) {
        items.push(value);
      },
      complete(emit) {
        const all = items;
        items = [];
        emit(all);
      },
      save: () => ({ items: items.slice() }),
      held: () => items.length,
    };
  });
}

/** RxJS's `takeLast`; in a resumable pipeline the last elements kept are saved (held). */
export function takeLast<T>(n: number): MonoTypeOperatorFunction<T> {
  if (n <= 0) return () => EMPTY;
  return machineOperator<T, T, { last: T[] }>('takeLast', rx.takeLast<T>(n), (restored) => {
    let last = restored?.last.slice() ?? [];
    return {
      next(value) {
        last.push(value);
        if (n < last.length) last.shift();
      },
      complete(emit) {
        const rest = last;
        last = [];
        for (const value of rest) emit(value);
      },
      save: () => ({ last: last.slice() }),
      held: () => last.length,
    };
  });
}

/** RxJS's `skipLast`; in a resumable pipeline the elements held back are saved (held). */
export function skipLast<T>(skipCount: number): MonoTypeOperatorFunction<T> {
  if (skipCount <= 0) return (source) => source;
  return machineOperator<T, T, { ring: T[] }>('skipLast', rx.skipLast<T>(skipCount), (restored) => {
    // Oldest first; once full, each new element pushes the oldest out downstream.
    const ring = restored?.ring.slice() ?? [];
    return {
      next(value, emit) {
        ring.push(value);
        if (ring.length > skipCount) emit(ring.shift() as T);
      },
      save: () => ({ ring: ring.slice() }),
      held: () => ring.length,
    };
  });
}

/**
 * RxJS's `windowCount`, which fails a checkpoint naming itself: its open windows are Observables
 * handed to the stages below, whose state in each window cannot be saved (use `bufferCount` or
 * `batch`).
 */
export function windowCount<T>(windowSize: number, startWindowEvery = 0): OperatorFunction<T, rx.Observable<T>> {
  const plain = rx.windowCount<T>(windowSize, startWindowEvery);
  return (source) =>
    new Observable<rx.Observable<T>>((subscriber) => {
      refuseCheckpoint('windowCount', 'windowCount', 'its open windows are Observables handed to the stages below, whose state in each window cannot be saved; use bufferCount or batch');
      return plain(source).subscribe(subscriber);
    });
}

/** RxJS's `min`; in a resumable pipeline the smallest so far is saved. */
export function min<T>(comparer?: (x: T, y: T) => number): MonoTypeOperatorFunction<T> {
  const pick = comparer ? (x: T, y: T) => (comparer(x, y) < 0 ? x : y) : (x: T, y: T) => (x < y ? x : y);
  return accumulate<T, T, T>('min', rx.min(comparer), pick, undefined, false, false) as MonoTypeOperatorFunction<T>;
}

/** RxJS's `max`; in a resumable pipeline the largest so far is saved. */
export function max<T>(comparer?: (x: T, y: T) => number): MonoTypeOperatorFunction<T> {
  const pick = comparer ? (x: T, y: T) => (comparer(x, y) > 0 ? x : y) : (x: T, y: T) => (x > y ? x : y);
  return accumulate<T, T, T>('max', rx.max(comparer), pick, undefined, false, false) as MonoTypeOperatorFunction<T>;
}

/** RxJS's `defaultIfEmpty`; in a resumable pipeline whether an element was seen is saved. */
export function defaultIfEmpty<T, R>(defaultValue: R): OperatorFunction<T, T | R> {
  return machineOperator<T, T | R, { hasValue: boolean }>('defaultIfEmpty', rx.defaultIfEmpty(defaultValue), (restored) => {
    let hasValue = restored?.hasValue ?? false;
    return {
      next(value, emit) {
        hasValue = true;
        emit(value);
      },
      complete(emit) {
        if (!hasValue) emit(defaultValue);
      },
      save: () => ({ hasValue }),
    };
  });
}

/** RxJS's `throwIfEmpty`; in a resumable pipeline whether an element was seen is saved. */
export function throwIfEmpty<T>(errorFactory: () => unknown = () => new EmptyError()): MonoTypeOperatorFunction<T> {
  return machineOperator<T, T, { hasValue: boolean }>('throwIfEmpty', rx.throwIfEmpty(errorFactory), (restored) => {
    let hasValue = restored?.hasValue ?? false;
    return {
      next(value, emit) {
        hasValue = true;
        emit(value);
      },
      complete() {
        if (!hasValue) throw errorFactory();
      },
      save: () => ({ hasValue }),
    };
  });
}

/** RxJS's `every`; in a resumable pipeline the index is saved. */
export function every<T>(predicate: (value: T, index: number, source: Observable<T>) => boolean): OperatorFunction<T, boolean> {
  return machineOperator<T, boolean, { index: number }>('every', rx.every(predicate), (restored, source) => {
    let index = restored?.index ?? 0;
    return {
      next(value, emit, end) {
        if (!predicate(value, index++, source)) {
          emit(false);
          end();
        }
      },
      complete: (emit) => emit(true),
      save: () => ({ index }),
    };
  });
}

/** A predicate as RxJS's `first`/`last` type it (they take a missing one too). */
type Predicate<T> = (value: T, index: number, source: Observable<T>) => boolean;

/** `find` and `findIndex`: the first element (or its index) that passes, or undefined (-1) at the end. */
function finder<T, R>(kind: string, plain: OperatorFunction<T, R>, predicate: (value: T, index: number, source: Observable<T>) => boolean, asIndex: boolean): OperatorFunction<T, R> {
  return machineOperator<T, R, { index: number }>(kind, plain, (restored, source) => {
    let index = restored?.index ?? 0;
    return {
      next(value, emit, end) {
        const i = index++;
        if (predicate(value, i, source)) {
          emit((asIndex ? i : value) as R);
          end();
        }
      },
      complete: (emit) => emit((asIndex ? -1 : undefined) as R),
      save: () => ({ index }),
    };
  });
}

/** RxJS's `find`; in a resumable pipeline the index is saved. */
export function find<T>(predicate: (value: T, index: number, source: Observable<T>) => boolean): OperatorFunction<T, T | undefined> {
  return finder<T, T | undefined>('find', rx.find(predicate), predicate, false);
}

/** RxJS's `findIndex`; in a resumable pipeline the index is saved. */
export function findIndex<T>(predicate: (value: T, index: number, source: Observable<T>) => boolean): OperatorFunction<T, number> {
  return finder<T, number>('findIndex', rx.findIndex(predicate), predicate, true);
}

/** RxJS's `first`; in a resumable pipeline the index is saved. */
export function first<T, D = T>(predicate?: ((value: T, index: number, source: Observable<T>) => boolean) | null, defaultValue?: D): OperatorFunction<T, T | D> {
  const hasDefault = arguments.length >= 2;
  const plain = (hasDefault ? rx.first(predicate as Predicate<T>, defaultValue as D) : rx.first(predicate as Predicate<T>)) as OperatorFunction<T, T | D>;
  return machineOperator<T, T | D, { index: number }>('first', plain, (restored, source) => {
    let index = restored?.index ?? 0;
    return {
      next(value, emit, end) {
        if (!predicate || predicate(value, index++, source)) {
          emit(value);
          end();
        }
      },
      complete(emit) {
        if (!hasDefault) throw new EmptyError();
        emit(defaultValue as D);
      },
      save: () => ({ index }),
    };
  });
}

/** RxJS's `last`; in a resumable pipeline the last passing element (held: 1) and the index are saved. */
export function last<T, D = T>(predicate?: ((value: T, index: number, source: Observable<T>) => boolean) | null, defaultValue?: D): OperatorFunction<T, T | D> {
  const hasDefault = arguments.length >= 2;
  const plain = (hasDefault ? rx.last(predicate as Predicate<T>, defaultValue as D) : rx.last(predicate as Predicate<T>)) as OperatorFunction<T, T | D>;
  return machineOperator<T, T | D, { index: number; has: boolean; value: T | undefined }>('last', plain, (restored, source) => {
    let index = restored?.index ?? 0;
    let has = restored?.has ?? false;
    let kept = restored?.value;
    return {
      next(value) {
        if (!predicate || predicate(value, index++, source)) {
          has = true;
          kept = value;
        }
      },
      complete(emit) {
        if (has) emit(kept as T);
        else if (hasDefault) emit(defaultValue as D);
        else throw new EmptyError();
      },
      save: () => ({ index, has, value: kept }),
      held: () => (has ? 1 : 0),
    };
  });
}

/**
 * RxJS's `startWith`; in a resumable pipeline a restored subscription does not emit the start
 * values again (they were emitted before the checkpoint).
 */
export function startWith<T, A extends readonly unknown[]>(...values: A): OperatorFunction<T, T | A[number]> {
  const plain = rx.startWith<T, A>(...values);
  return (source) =>
    new Observable<T | A[number]>((subscriber) => {
      const handle = registerStage({ kind: 'startWith', name: 'startWith', role: 'operator', save: () => ({ started: true }) });
      if (!handle) return plain(source).subscribe(subscriber);
      const out = handle.emitter(subscriber);
      if (handle.restored === undefined) for (const value of values) out.next(value);
      return subscribeTied(out, source, {
        next(value) {
          handle.received();
          out.next(value);
        },
        error: (error: unknown) => out.error(error),
        complete: () => out.complete(),
      });
    });
}
