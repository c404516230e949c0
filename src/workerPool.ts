/**
 * CPU-heavy maps on worker threads (piscina): a pool to hand to `parallelMap`, and `workerMap`,
 * an operator that owns one for the life of a subscription.
 */
import { availableCores } from './workers/cores.js';
import type { Transferable as NodeTransferable } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { defer, finalize, type OperatorFunction } from 'rxjs';
import { parallelMap } from '../operators/parallelMap.js';
import type { OnError } from './errors.js';
import { isPlainObject } from './stack.js';
import { isTypedArray } from './types.js';
import { servedByPool } from './autotune/calls.js';

/** What may be moved to a worker rather than copied: array buffers and message ports. */
export type Transferable = NodeTransferable;

export interface WorkerPoolOptions {
  /** Worker threads. Default: the cores this process may use (`availableCores()`: CPUs, capped by a cgroup quota). */
  threads?: number;
  /** Threads started at once rather than on first use. Default: all of them. */
  minThreads?: number;
  /** Ms an idle thread lives (above `minThreads`). Default piscina's. */
  idleTimeout?: number;
  /** Memory limits for each worker (see `worker_threads.ResourceLimits`). */
  resourceLimits?: { maxOldGenerationSizeMb?: number; maxYoungGenerationSizeMb?: number; stackSizeMb?: number };
}

export interface RunTaskOptions {
  /** Buffers to move into the worker instead of copying (they become unusable here). */
  transfer?: readonly Transferable[];
  /**
   * Cancels the task: a queued one never starts; a running one is stopped by ending its worker
   * (piscina starts another), which is costly, so abort only what must stop.
   */
  signal?: AbortSignal;
}

/** A pool of worker threads running one task module. */
export interface WorkerPool<T, R> {
  /**
   * Runs the task's default export on `value` in a worker. The second argument is the buffers
   * to move (`[bytes.buffer]`), or options with them and an abort signal.
   */
  run(value: T, options?: RunTaskOptions | readonly Transferable[]): Promise<R>;
  /** The pool's thread count. */
  readonly threads: number;
  /** Stops the threads; tasks still queued are rejected. Safe to call twice. */
  destroy(): Promise<void>;
}

/**
 * Starts a pool of worker threads that run the default export of the module at `task`
 * (a file URL or path; `.js`/`.mjs`, or `.ts` when the process runs under tsx, whose loader the
 * workers inherit through `execArgv`).
 *
 * The task gets each value (structured-cloned, or moved when listed in `transfer`) and returns
 * its result; to move a typed array back instead of copying it, return `move(array)` from
 * `piscina` in the task module.
 *
 * @example
 * ```ts
 * const pool = workerPool<Uint8Array, Float32Array>(new URL('./decode.js', import.meta.url), { threads: 4 });
 * jpegs$.pipe(parallelMap((bytes) => pool.run(bytes, { transfer: [bytes.buffer] }), { concurrency: 8 }), finalize(() => pool.destroy()));
 * ```
 */
export function workerPool<T, R>(task: URL | string, options: WorkerPoolOptions = {}): WorkerPool<T, R> {
  const threads = options.threads ?? availableCores();
  if (!(Number.isInteger(threads) && threads >= 1)) throw new RangeError(`workerPool: threads must be an integer >= 1, got ${threads}`);
  const filename = task instanceof URL ? task.href : task;
  const pool = new Piscina<T, R>({
    filename,
    maxThreads: threads,
    minThreads: Math.min(options.minThreads ?? threads, threads),
    ...(options.idleTimeout !== undefined ? { idleTimeout: options.idleTimeout } : {}),
    ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
  });
  // Piscina reports a result that arrives for a task already aborted as an 'error' event; the
  // task's promise has rejected already, and an unheard 'error' event would crash the process.
  pool.on('error', () => undefined);
  let destroyed: Promise<void> | undefined;
  return {
    threads,
    run(value, arg = {}) {
      // A tuned parallelMap calling this learns how many threads serve it (autotune/calls.ts).
      servedByPool(threads);
      if (destroyed) return Promise.reject(new Error('workerPool: the pool was destroyed'));
      const runOptions: RunTaskOptions = isTransferList(arg) ? { transfer: arg } : arg;
      return pool.run(value, {
        ...(runOptions.transfer ? { transferList: runOptions.transfer as NodeTransferable[] } : {}),
        ...(runOptions.signal ? { signal: runOptions.signal } : {}),
      });
    },
    destroy() {
      destroyed ??= pool.destroy();
      return destroyed;
    },
  };
}

const isTransferList = (x: RunTaskOptions | readonly Transferable[]): x is readonly Transferable[] => Array.isArray(x);

/**
 * The buffers of `value`'s typed arrays (at the top level, or one level down in an array or a
 * plain object) that own their whole buffer: those can move to a worker without detaching
 * anything else. Views into a larger buffer (a pooled Node `Buffer`) are copied instead.
 */
export function ownedBuffers(value: unknown): Transferable[] {
  const out: Transferable[] = [];
  const add = (x: unknown): void => {
    if (x instanceof ArrayBuffer) out.push(x);
    else if (isTypedArray(x) && x.buffer instanceof ArrayBuffer && x.byteOffset === 0 && x.byteLength === x.buffer.byteLength && !out.includes(x.buffer)) {
      out.push(x.buffer);
    }
  };
  add(value);
  if (Array.isArray(value)) value.forEach(add);
  else if (isPlainObject(value)) Object.values(value).forEach(add);
  return out;
}

export interface WorkerMapOptions<T> extends WorkerPoolOptions {
  /** Tasks in flight; default twice the threads, so each worker has its next task queued. */
  concurrency?: number;
  /** Keep input order. Default true. */
  ordered?: boolean;
  /**
   * Move buffers to the workers instead of copying: `true` moves every typed array that owns
   * its buffer ({@link ownedBuffers}); a function picks them. Default false (copy).
   */
  transfer?: boolean | ((value: T) => readonly Transferable[]);
  /** `'fail'` (default) or `'skip'` elements whose task throws. */
  onError?: OnError;
  /** The stage's name in pipeline statistics. */
  name?: string;
}

/**
 * Maps every element through the task module's default export on a pool of worker threads:
 * `parallelMap` over a {@link workerPool} started when the pipeline is subscribed and destroyed
 * when it ends (completion, error or unsubscription). Demand is respected as in `parallelMap`:
 * at most `concurrency` elements are inside at once.
 *
 * ```
 * source:   -a-b-c-d-|
 * worker 1:  [a  ][c  ]
 * worker 2:   [b  ][d  ]
 * output:   ------A-B---C-D|
 * ```
 *
 * @example
 * ```ts
 * jpegs$.pipe(workerMap<Uint8Array, Float32Array>(new URL('./decode.js', import.meta.url), { threads: 4, transfer: true }), batch(32));
 * ```
 */
export function workerMap<T, R>(task: URL | string, options: WorkerMapOptions<T> = {}): OperatorFunction<T, R> {
  const threads = options.threads ?? availableCores();
  const { concurrency = threads * 2, ordered = true, transfer = false, onError, name = 'workerMap' } = options;
  const pick = transfer === true ? ownedBuffers : transfer === false ? undefined : transfer;
  return (source) =>
    // defer subscribes synchronously, inside the scope it was subscribed in: demand carries through.
    defer(() => {
      const pool = workerPool<T, R>(task, { ...options, threads });
      return source.pipe(
        // No abort signal: aborting a running task ends its thread; destroy() on teardown
        // rejects what is queued and stops the threads at once anyway.
        parallelMap((value: T) => pool.run(value, { transfer: pick?.(value) }), { concurrency, ordered, onError, name }),
        finalize(() => void pool.destroy()),
      );
    });
}
