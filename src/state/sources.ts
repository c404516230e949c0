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

/**
 * Inner-source positions: how `interleave` learns where an open inner source (a file of
 * `fromFiles`) is, so that a checkpoint saves a position to seek to instead of a count of
 * records to read past.
 *
 * ```
 * interleave ──offerCursor(c, subscribe inner)──▶ pullBatches claims c (synchronously)
 *   reader: per batch, c.ends[k] / c.lines[k] = where element k of the batch ends
 *   pullBatches: before handing element k on, c.offset = c.ends[k], c.line = c.lines[k]
 *   interleave: copies (offset, line) into its slot when it takes the element;
 *               checkpoint → c.describe(offset, line) → the slot's saved position
 * ```
 *
 * A cursor is offered only inside a resumable pipeline (so a plain run pays nothing), and only
 * for the synchronous subscribe call of one inner source: the first source of ours that
 * subscribes in it claims it; anything subscribed later (a nested `fromFiles`' own files) sees
 * none and is resumed by record-skip.
 */
export class InnerCursor {
  /** A source claimed it (it reports positions and accepts `restored`). */
  claimed = false;
  /** The position after the last element the source handed on: a byte offset (or row group), and the record (line) number there. */
  offset = 0;
  line = 0;
  /** Per element of the batch being emitted: where it ends (written by the reader before it yields the batch). */
  readonly ends: number[] = [];
  readonly lines: number[] = [];
  /**
   * Set by the source once it can describe a position (the file opened): the plain-data state
   * for "resume after the element that ended at (offset, line)", or undefined when it resumes by
   * record-skip (a gzip file). Called at checkpoint time only.
   */
  describe: ((offset: number, line: number) => unknown) | undefined;
  constructor(
    /** The position saved by `describe` in the checkpoint being restored, if any. */
    readonly restored: unknown,
  ) {}
}

/** The cursor offered to the inner source being subscribed right now (synchronous subscribe calls only). */
let offered: InnerCursor | undefined;

/** Runs `subscribe` with `cursor` offered to the first source of ours it subscribes (or, with undefined, hides any offered outside). */
export function offerCursor<R>(cursor: InnerCursor | undefined, subscribe: () => R): R {
  const previous = offered;
  offered = cursor;
  try {
    return subscribe();
  } finally {
    offered = previous;
  }
}

/** Claims the cursor offered to this subscription, if any (a source calls it from its subscribe function). */
export function claimCursor(): InnerCursor | undefined {
  const cursor = offered;
  offered = undefined;
  if (cursor) cursor.claimed = true;
  return cursor;
}
