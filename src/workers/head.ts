/**
 * The contract between a pipeline head module and {@link fromWorkers}: what the module exports
 * and what each worker thread calls.
 */
import type { Observable } from 'rxjs';

/** Which share of the work one worker thread reads (the same shape as `fromFiles`' `shard`). */
export type WorkerShard = {
  /** This worker's index, `0 ≤ index < count`. */
  readonly index: number;
  /** How many workers share the work. */
  readonly count: number;
};

/**
 * The head of a pipeline, run once per worker thread: given its shard and the (structured-cloned)
 * `args` passed to `fromWorkers`, it returns the Observable the worker runs. Its sources should be
 * rxdata's (`fromFiles`, `fromIterable`, …) so that they pull only on demand; the worker stops
 * them when its credit is spent.
 */
export type PipelineHead<T, A = undefined> = (shard: WorkerShard, args: A) => Observable<T> | PromiseLike<Observable<T>>;

/**
 * Declares the default export of a pipeline head module: an identity function that checks the
 * type of `head`, and names its element and argument types for the module's readers.
 *
 * ```
 * worker i of N:  head({ index: i, count: N }, args) ──▶ elements ──▶ main thread
 * ```
 *
 * The module is loaded in every worker (a `.js` file, or `.ts` when the process runs under tsx);
 * import only what the head needs, since each worker loads it anew.
 *
 * @example
 * ```ts
 * // head.ts
 * export default definePipelineHead((shard, args: { files: string[] }) =>
 *   fromFiles(args.files, { format: 'csv', labels: ['y'], shard }).pipe(batch(256)));
 * // main.ts
 * fromWorkers<Batch, { files: string[] }>(new URL('./head.ts', import.meta.url), { workers: 2, args: { files } })
 *   .pipe(prefetch(2), trainOn(model));
 * ```
 */
export function definePipelineHead<T, A = undefined>(head: PipelineHead<T, A>): PipelineHead<T, A> {
  return head;
}
