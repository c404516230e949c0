import { Observable, skip, type MonoTypeOperatorFunction } from 'rxjs';
import { existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { LimitError, WriteError, messageOf } from '../src/errors.js';
import { fromIterable } from '../src/fromIterable.js';
import { scoped, subscribeTied } from '../src/flow.js';
import { RecordFileWriter, readRecordFile } from '../src/recordFile.js';
import { isTypedArray } from '../src/types.js';
import { isPlainObject } from '../src/stack.js';
import { stageFor } from '../src/stats.js';
import { registerStage, withoutRegistry, type StageHandle } from '../src/state/registry.js';

export interface CacheOptions {
  /** Bytes held in memory before spilling to `dir`, or failing without one. Default 1 GiB. */
  maxBytes?: number;
  /** A directory to spill to once `maxBytes` is exceeded (a temporary file, removed at exit). */
  dir?: string;
  /** The stage's name in pipeline statistics. */
  name?: string;
}

/** The `cache` operator, with a way to drop what it recorded. */
export interface CacheOperator<T> extends MonoTypeOperatorFunction<T> {
  /** Forgets the recording (and deletes its spill file): the next subscription reads the source again. */
  clear(): void;
  /** Whether a complete pass has been recorded. */
  readonly filled: boolean;
}

/** A rough size of plain data, for the byte bound. */
export function estimateBytes(x: unknown): number {
  switch (typeof x) {
    case 'number':
      return 8;
    case 'boolean':
      return 4;
    case 'bigint':
      return 16;
    case 'string':
      return 16 + 2 * x.length;
    case 'object': {
      if (x === null) return 8;
      if (ArrayBuffer.isView(x)) return 64 + x.byteLength;
      if (Array.isArray(x)) {
        let n = 16;
        for (const v of x) n += estimateBytes(v);
        return n;
      }
      // for…in over own keys: Object.entries would allocate an array per element on the hot path.
      let n = 16;
      const record = x as Record<string, unknown>;
      for (const k in record) if (Object.hasOwn(record, k)) n += 16 + k.length + estimateBytes(record[k]);
      return n;
    }
    default:
      return 8;
  }
}

/** A copy of `x` whose typed arrays own their bytes (a view would serialise its whole buffer). */
function compact(x: unknown): unknown {
  if (isTypedArray(x)) return x.byteLength === x.buffer.byteLength ? x : x.slice();
  if (Array.isArray(x)) return x.map(compact);
  if (isPlainObject(x)) return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, compact(v)]));
  return x;
}

const spillFiles = new Set<string>();
let exitHookInstalled = false;
function trackSpill(path: string): void {
  spillFiles.add(path);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const file of spillFiles) removeQuietly(file);
  });
}
function removeQuietly(path: string): void {
  spillFiles.delete(path);
  try {
    if (existsSync(path)) unlinkSync(path);
  } catch {
    // Best effort: a spill file that cannot be removed is only disk space.
  }
}

type Recording<T> = { readonly kind: 'memory'; readonly items: T[] } | { readonly kind: 'file'; readonly path: string };

/**
 * Records the first complete pass of a pipeline and replays it on later subscriptions (epochs)
 * without touching the source (tf.data's `cache`).
 *
 * ```
 * epoch 1:  source -a-b-c-|  → recorded while passing through
 * epoch 2:  replay -a-b-c-|  (the source is not subscribed)
 * ```
 *
 * Put it after expensive, deterministic work (parsing, decoding) and before `shuffle`. A first
 * pass that ends early (unsubscribed, `take`, an error) leaves no cache: the next subscription
 * reads the source again. It holds plain data only (never tensors), at most `maxBytes` in memory;
 * past that it spills to a file in `dir`, or fails with a {@link LimitError} when none is given
 * (a spill file that cannot be written, e.g. a full disk, fails with a `WriteError` naming it).
 * Replays obey demand like any source of ours — unlike `shareReplay`, which would replay its
 * whole buffer at once into a slow consumer and keep every element forever.
 * Cached elements are shared between epochs: treat them as immutable.
 *
 * @example
 * ```ts
 * const epoch$ = fromFiles('data/*.csv', { format: 'csv' }).pipe(map(parse), cache(), shuffle(1000), batch(32));
 * ```
 */
export function cache<T>(options: CacheOptions = {}): CacheOperator<T> {
  const { maxBytes = 2 ** 30, dir } = options;
  const name = options.name ?? 'cache';
  const key = {};
  /** The complete recording, once a pass has completed. */
  let recorded: Recording<T> | undefined;
  /** The replay source, made once so every epoch's replay reports as one stage. */
  let replay: Observable<T> | undefined;
  /** A pass is being recorded now (another concurrent subscription just reads the source). */
  let recording = false;

  const operator = ((source: Observable<T>) =>
    scoped<T>((subscriber, scope) => {
      const stage = stageFor(scope.stats, key, name, 'operator');
      // In a resumable pipeline (src/state/): a replay saves its position; a recording pass saves
      // nothing of its own (its source's stages save theirs). Restored: a replay position with no
      // recording in this process reads the source again from the start, recording it all and
      // emitting from the position on; a recording pass restored mid-way passes through without
      // recording (it is not a complete pass): the next complete pass records.
      const replaying = Boolean(recorded && replay);
      /** Elements emitted before this subscription (a restored replay position). */
      let base = 0;
      const state: StageHandle | undefined = registerStage({
        kind: 'cache',
        name,
        role: replaying ? 'source' : 'operator',
        save: () => (replaying ? { mode: 'replay', position: base + state!.out } : { mode: 'record', unseen }),
      });
      const restored = state?.restored as { mode: 'replay'; position: number } | { mode: 'record'; unseen: number } | undefined;
      /** Elements of the source to pass over without emitting: what a restored replay position had emitted already. */
      let unseen = restored?.mode === 'record' ? restored.unseen : 0;
      if (state) subscriber = state.emitter(subscriber);
      if (replaying && replay) {
        if (restored?.mode === 'record') throw new Error(`restore: ${name} was recording at the checkpoint, but holds a complete recording here`);
        base = restored?.mode === 'replay' ? restored.position : 0;
        const from = replay;
        return withoutRegistry(() => (base > 0 ? from.pipe(skip(base)) : from).subscribe(subscriber));
      }
      if (recording || restored?.mode === 'record') {
        return subscribeTied(subscriber, source, {
          next(value) {
            state?.received();
            if (unseen > 0) unseen--;
            else subscriber.next(value);
          },
          error: (error) => subscriber.error(error),
          complete: () => subscriber.complete(),
        });
      }
      if (restored?.mode === 'replay' && state) {
        unseen = restored.position;
        state.registry.startFreshAbove(state);
      }
      recording = true;
      /** Elements recorded in memory (until a spill). */
      let items: T[] = [];
      let bytes = 0;
      /** The spill file, once memory ran out. */
      let writer: RecordFileWriter | undefined;
      let done = false;
      const discard = (): void => {
        recording = false;
        items = [];
        if (writer) {
          writer.abort();
          removeQuietly(writer.path);
          writer = undefined;
        }
      };
      const upstream = subscribeTied(subscriber, source, {
        next(value) {
          stage.in++;
          try {
            if (writer) {
              writer.write(compact(value));
            } else {
              items.push(value);
              bytes += estimateBytes(value);
              if (bytes > maxBytes) {
                if (!dir) {
                  throw new LimitError(`${name}: more than maxBytes=${maxBytes} after ${items.length} elements; raise maxBytes or pass a dir to spill to disk`);
                }
                try {
                  mkdirSync(dir, { recursive: true });
                } catch (error) {
                  throw new WriteError(`${name}: cannot create the spill directory: ${messageOf(error)}`, dir, { cause: error });
                }
                const path = join(dir, `rxdata-cache-${process.pid}-${randomUUID()}.bin`);
                // Tracked before the open: a file created by a failing open is removed too.
                trackSpill(path);
                writer = new RecordFileWriter(path);
                for (const item of items) writer.write(compact(item));
                items = [];
                stage.extra.spilledAt = stage.in;
              }
            }
            stage.buffered(writer ? writer.count : items.length);
          } catch (error) {
            done = true;
            discard();
            subscriber.error(error);
            return;
          }
          state?.received();
          if (unseen > 0) {
            // Emitted before the checkpoint (from a replay in the process that saved it).
            unseen--;
            return;
          }
          stage.out++;
          subscriber.next(value);
        },
        error(error) {
          done = true;
          discard();
          subscriber.error(error);
        },
        complete() {
          done = true;
          if (writer) {
            try {
              // The last flush: a full disk shows here, named by the writer.
              writer.close();
            } catch (error) {
              discard();
              subscriber.error(error);
              return;
            }
            recording = false;
            const path = writer.path;
            recorded = { kind: 'file', path };
            replay = fromIterable(() => readRecordFile<T>(path), { name: `${name}.replay` });
            stage.extra.bytes = writer.bytes;
          } else {
            recording = false;
            recorded = { kind: 'memory', items };
            replay = fromIterable(items, { name: `${name}.replay` });
            stage.extra.bytes = bytes;
          }
          subscriber.complete();
        },
      });
      return () => {
        upstream.unsubscribe();
        if (!done) discard();
      };
    })) as CacheOperator<T>;
  operator.clear = () => {
    if (recorded?.kind === 'file') removeQuietly(recorded.path);
    recorded = undefined;
    replay = undefined;
  };
  Object.defineProperty(operator, 'filled', { get: () => recorded !== undefined });
  return operator;
}
