/**
 * State hooks for pull sources built on iterables (`fromIterable`, `range`, and what is built on
 * them): the position is the number of elements emitted; a restored subscription starts a fresh
 * iteration and skips that many (replay-skip). That is exact for a deterministic iterable (an
 * array, a generator over files or a seeded generator) and costs the time to produce the skipped
 * elements again; an iterable that yields something else on a new iteration cannot be resumed.
 */
import type { Subscriber } from 'rxjs';
import { registerStage } from './registry.js';

/** What a registered iterable source uses instead of its own subscriber and iterable. */
export interface ResumedIterable<T> {
  readonly subscriber: Subscriber<T>;
  readonly iterable: Iterable<T> | AsyncIterable<T>;
}

/** The state `fromIterable` saves. */
interface IterableState {
  readonly emitted: number;
}

/**
 * Registers an iterable source with the resumable pipeline being subscribed (if any): counts what
 * it emits through the returned subscriber, and skips what a restored state says was emitted.
 */
export function resumeIterable<T>(kind: string, name: string, subscriber: Subscriber<T>, iterable: Iterable<T> | AsyncIterable<T>): ResumedIterable<T> {
  let skip = 0;
  const handle = registerStage({
    kind,
    name,
    role: 'source',
    save: (): IterableState => ({ emitted: skip + handle!.out }),
  });
  if (!handle) return { subscriber, iterable };
  skip = (handle.restored as IterableState | undefined)?.emitted ?? 0;
  const emitter = handle.emitter(subscriber);
  if (skip === 0) return { subscriber: emitter, iterable };
  const shortBy = (read: number): Error =>
    new Error(`restore: ${name} ended after ${read} elements, but the checkpoint says ${skip} had been emitted (the data changed since the checkpoint)`);
  if (Symbol.asyncIterator in iterable) {
    const source = iterable;
    return {
      subscriber: emitter,
      iterable: (async function* () {
        const iterator = source[Symbol.asyncIterator]();
        for (let i = 0; i < skip; i++) if ((await iterator.next()).done) throw shortBy(i);
        yield* { [Symbol.asyncIterator]: () => iterator };
      })(),
    };
  }
  const source = iterable;
  return {
    subscriber: emitter,
    iterable: (function* () {
      const iterator = source[Symbol.iterator]();
      for (let i = 0; i < skip; i++) if (iterator.next().done) throw shortBy(i);
      yield* { [Symbol.iterator]: () => iterator };
    })(),
  };
}
