/**
 * Runs the head of a pipeline on worker threads, one shard each, and merges what they emit into
 * the main pipeline under its demand.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { Observable } from 'rxjs';
import { RxDataError, messageOf } from '../errors.js';
import { Outbox, scoped } from '../flow.js';
import { refuseCheckpoint } from '../state/refuse.js';
import { stageFor, type StageSnapshot, type StageStats } from '../stats.js';
import { availableCores } from './cores.js';
import type { WorkerShard } from './head.js';
import { tuneWorkers } from '../autotune/workers.js';
import { deserializeError, type FromWorker, type ToWorker, type WorkerInit } from './protocol.js';
import { entryBeside, workerBootstrap } from './bootstrap.js';

export interface FromWorkersOptions<A = undefined> {
  /**
   * Worker threads, each running the head on its own shard. `'auto'` (the default): one per core
   * but one (`availableCores() − 1`, at least 1: the CPUs this process may run on, capped by a
   * container's cgroup CPU quota), leaving a core to the main thread, which trains or consumes.
   * From the second subscription (epoch) on, the pipeline's tuner may use fewer when they mostly
   * waited for credit, within its memory budget (docs/autotune.md).
   */
  readonly workers?: number | 'auto';
  /** Passed to the head in every worker (structured-cloned: plain data, typed arrays, Maps…). */
  readonly args?: A;
  /**
   * Elements each worker may send beyond those the main side has delivered downstream; when it is
   * spent the worker closes the gate its head runs behind, so its sources stop pulling. Default 4
   * (elements are usually batches).
   */
  readonly credit?: number;
  /**
   * Move the buffers of typed arrays (whole-buffer views) to the main thread instead of copying
   * them; default true. Turn off if the head keeps what it emits (a `cache()` inside the head),
   * since a moved buffer is empty in the worker afterwards.
   */
  readonly transfer?: boolean;
  /** Elements a head may emit after its gate closed before the worker fails with a LimitError. Default 1024. */
  readonly maxOvershoot?: number;
  /** On unsubscribe, ms a worker has to stop its head (run `finally` blocks) before it is terminated. Default 1000. */
  readonly stopTimeoutMs?: number;
  /** Memory limits for each worker thread. */
  readonly resourceLimits?: ResourceLimits;
  /** Least ms between two statistics reports from a worker. Default 250. */
  readonly statsEveryMs?: number;
  /**
   * Ms the threads wait, after a subscription ends (completes, or is unsubscribed), for the next
   * subscription to reuse them: each epoch of `fit`, which subscribes anew, then skips thread start
   * and module loading (a few hundred ms a worker). The head's Observable is made once per thread
   * and subscribed once per subscription. Waiting threads do not keep the process alive.
   * Default 0: the threads end with each subscription.
   */
  readonly keepAliveMs?: number;
  /** The stage's name in pipeline statistics (the heads' stages appear as `name/stage`). Default `fromWorkers`. */
  readonly name?: string;
}

/**
 * The worker count `workers: 'auto'` gives: every core this process may use but one (left to the
 * main thread, which trains or consumes), at least 1. Cores: `availableCores()`, the CPUs the
 * process may run on capped by its cgroup's CPU quota.
 */
export function autoWorkers(cores = availableCores()): number {
  return Math.max(1, cores - 1);
}

/** The threads' entry: workerMain beside this file, imported through the shared bootstrap (tsx fallback). */
const bootstrap = workerBootstrap(entryBeside(import.meta.url, 'workerMain'));

/**
 * Runs the pipeline head exported by `module` on N worker threads, worker *i* on shard
 * `{ index: i, count: N }`, and emits what they produce, under the demand of the stages below.
 *
 * ```
 * worker 0:  head(shard 0) ─a─b───c──┐  credit ≤ c each
 * worker 1:  head(shard 1) ──x──y──z─┤─▶ main: ─a─x─b─y─c─z─▶ (only while the stages below take more)
 *                           ▲ credit returned as elements are delivered
 * ```
 *
 * Elements from each worker keep their order; workers interleave in arrival order. Typed arrays
 * move without a copy (see `prepareTransfer`). Each worker may send at most `credit` elements the
 * main side has not delivered downstream; at that point it closes the gate its head runs behind,
 * so its sources stop reading. In flight between the head's output and this stage's output:
 * at most `workers · credit` elements (in transit or held here), plus in each worker the head's own
 * bound and at most `maxOvershoot` elements a fan-out operator emits after the gate closed.
 *
 * A head's error arrives as the same class with the same origin (a `RecordError` keeps its
 * `file:line`), its message marked `[worker i of N]` (see `workerIndexOf`), and every other worker
 * is stopped. The heads' statistics are summed over the workers into the pipeline's
 * `PipelineStats` as stages named `fromWorkers/<stage>`. Unsubscribing, an error, or completion
 * ends every thread; each subscription starts fresh ones (cold).
 *
 * @example
 * ```ts
 * // head.ts
 * export default definePipelineHead((shard, files: string[]) =>
 *   fromFiles(files, { format: 'tfrecord', example: spec, shard }).pipe(batch(256)));
 * // main.ts
 * fromWorkers<Batch, string[]>(new URL('./head.ts', import.meta.url), { workers: 'auto', args: files })
 *   .pipe(prefetch(2), trainOn(model));
 * ```
 */
export function fromWorkers<T, A = undefined>(module: URL | string, options: FromWorkersOptions<A> = {}): Observable<T> {
  const auto = options.workers === undefined || options.workers === 'auto';
  const fixed = auto ? autoWorkers() : (options.workers as number);
  const { credit = 4, transfer = true, maxOvershoot = 1024, stopTimeoutMs = 1000, statsEveryMs = 250, keepAliveMs = 0, name = 'fromWorkers' } = options;
  if (!(Number.isInteger(fixed) && fixed >= 1)) throw new RangeError(`fromWorkers: workers must be an integer >= 1 or 'auto', got ${String(options.workers)}`);
  if (!(Number.isInteger(credit) && credit >= 1)) throw new RangeError(`fromWorkers: credit must be an integer >= 1, got ${credit}`);
  if (!(Number.isInteger(maxOvershoot) && maxOvershoot >= 0)) throw new RangeError(`fromWorkers: maxOvershoot must be an integer >= 0, got ${maxOvershoot}`);
  if (!(keepAliveMs >= 0)) throw new RangeError(`fromWorkers: keepAliveMs must be >= 0, got ${keepAliveMs}`);
  const href = module instanceof URL ? module.href : /^file:/.test(module) ? module : pathToFileURL(resolve(module)).href;
  // Credit goes back in parcels of half the credit, a message per parcel rather than per element:
  // each message costs the main thread a wake-up of the worker (profiled: 18 % of the main thread's
  // time in a training feed at ⌈credit/4⌉, on a loaded machine). A worker out of credit always gets
  // a parcel back once the main side has delivered what it sent, so none waits forever.
  // Slow elements return their credit one by one instead (once CREDIT_LATENCY_MS passed since the
  // worker's last credit message): a parcel would hold the first element's credit for whole
  // elements' time, and a worker out of credit waits that long (bench scenario 3, 7 ms an element,
  // credit 4: 17–65 ms of waiting per run with parcels only, 1–5 ms with this).
  const parcel = Math.ceil(credit / 2);
  const key = {};
  /** Statistics stages of the heads, by their name in the workers: kept across subscriptions (epochs). */
  const remoteKeys = new Map<string, object>();
  /** Threads that finished a subscription and wait (at most keepAliveMs) for the next one. */
  let idle: { crew: Crew; timer: ReturnType<typeof setTimeout> } | undefined;

  /** Ends a crew's threads: each is asked to stop (its head's `finally` blocks run) and terminated after stopTimeoutMs. */
  const disband = (crew: Crew): void => {
    crew.listener = undefined;
    for (let w = 0; w < crew.size; w++) {
      const thread = crew.threads[w];
      if (!thread || crew.expectedExit[w]) continue;
      crew.expectedExit[w] = true;
      try {
        thread.postMessage({ t: 'stop' } satisfies ToWorker);
      } catch {
        // Gone already.
      }
      const timer = setTimeout(() => void thread.terminate(), stopTimeoutMs);
      timer.unref();
      thread.once('exit', () => clearTimeout(timer));
    }
  };

  /** Keeps a crew whose run ended cleanly for the next subscription, for keepAliveMs. */
  const park = (crew: Crew): void => {
    crew.listener = undefined;
    if (keepAliveMs === 0 || crew.broken || crew.threads.some((thread) => !thread)) {
      disband(crew);
      return;
    }
    if (idle) {
      clearTimeout(idle.timer);
      disband(idle.crew);
    }
    // Waiting threads do not keep the process alive.
    for (const thread of crew.threads) thread?.unref();
    const timer = setTimeout(() => {
      if (idle?.crew !== crew) return;
      idle = undefined;
      disband(crew);
    }, keepAliveMs);
    timer.unref();
    idle = { crew, timer };
  };

  /** Starts `count` threads whose events go to the crew's current listener. */
  const hire = (stage: StageStats, count: number): Crew => {
    const crew: Crew = { size: count, threads: [], expectedExit: new Array<boolean>(count).fill(false), run: 0, stage, broken: false };
    for (let w = 0; w < count; w++) {
      const shard: WorkerShard = { index: w, count };
      const init: WorkerInit = { module: href, shard, args: options.args, credit, transfer, maxOvershoot, statsEveryMs };
      let thread: Worker;
      try {
        thread = new Worker(bootstrap, { eval: true, workerData: init, ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}) });
      } catch (error) {
        crew.broken = true;
        crew.startError = new RxDataError(`fromWorkers: cannot start worker ${w} (are args structured-cloneable?): ${messageOf(error)}`, href, { cause: error });
        break;
      }
      crew.threads[w] = thread;
      crew.stage.extra.threads++;
      thread.on('message', (message: FromWorker) => crew.listener?.message(w, message));
      thread.on('messageerror', (error) => crew.listener?.fail(new RxDataError(`fromWorkers: a message from worker ${w} could not be read: ${messageOf(error)}`, href, { cause: error })));
      thread.on('error', (error) => {
        crew.broken = true;
        crew.expectedExit[w] = true;
        crew.listener?.fail(new RxDataError(`fromWorkers: worker ${w} of ${count} failed: ${messageOf(error)}`, href, { cause: error }));
      });
      thread.on('exit', (code) => {
        crew.stage.extra.threads--;
        crew.threads[w] = undefined;
        if (crew.expectedExit[w]) return;
        crew.broken = true;
        if (crew.listener) {
          crew.listener.fail(new RxDataError(`fromWorkers: worker ${w} of ${count} exited with code ${code} before its head completed`, href));
        } else if (idle?.crew === crew) {
          // A waiting thread died: the crew cannot serve a run whole.
          clearTimeout(idle.timer);
          idle = undefined;
          disband(crew);
        }
      });
    }
    return crew;
  };

  return scoped<T>((subscriber, below) => {
    // 'auto': the pipeline's tuner chooses the count for this subscription (autotune/workers.ts).
    const tuning = auto ? tuneWorkers(below, key, name, credit) : undefined;
    const scope = tuning?.scope ?? below;
    const stage = stageFor(scope.stats, key, name, 'source');
    // In a resumable pipeline a checkpoint fails naming this stage: the heads' positions live in the worker threads.
    refuseCheckpoint('fromWorkers', name, `its elements come from worker threads running ${href}, whose positions (and what is in flight between them and the main thread) are not saved; build the resumable part from fromIterable, fromFiles or interleave, with parallelMap for parallel work`, 'source');
    /** Threads for this subscription: fixed, or the tuner's choice for this epoch. */
    const count = tuning ? tuning.start(stage) : fixed;
    // Live threads of this stage (a gauge over subscriptions: an epoch's threads may exit after the next one starts).
    stage.extra.threads ??= 0;
    /** The worker each element held in the outbox came from, in the outbox's order. */
    const owners: number[] = [];
    let ownersHead = 0;
    /** Elements delivered per worker and not yet credited back. */
    const returned = new Array<number>(count).fill(0);
    /** When each worker's last credit message went. */
    const creditedAt = new Array<number>(count).fill(0);
    /** Each worker's latest statistics. */
    const latest: StageSnapshot[][] = [];
    /** Each head stage's counters before this subscription: epochs add up, as local stages do. */
    const bases = new Map<string, StageSnapshot>();
    let running = count;
    let closed = false;
    /** Set once the threads were handed back (parked or disbanded). */
    let released = false;

    // Threads kept from the last subscription, or fresh ones.
    let crew: Crew;
    let run: number;
    if (idle && idle.crew.size !== count) {
      // Waiting threads of another count: not this subscription's.
      clearTimeout(idle.timer);
      disband(idle.crew);
      idle = undefined;
    }
    if (idle) {
      crew = idle.crew;
      clearTimeout(idle.timer);
      idle = undefined;
      if (crew.stage !== stage) {
        // The live-thread gauge moves to this subscription's stage.
        const alive = crew.threads.filter(Boolean).length;
        crew.stage.extra.threads -= alive;
        stage.extra.threads += alive;
        crew.stage = stage;
      }
      run = ++crew.run;
      for (const thread of crew.threads) {
        thread?.ref();
        thread?.postMessage({ t: 'start', run } satisfies ToWorker);
      }
    } else {
      crew = hire(stage, count);
      run = 0;
    }

    const tell = (w: number, message: ToWorker): void => {
      try {
        crew.threads[w]?.postMessage(message);
      } catch {
        // The worker is gone; its exit is handled on its own.
      }
    };

    const outbox = new Outbox<T>(
      subscriber,
      scope,
      () => {
        const w = owners[ownersHead++];
        if (ownersHead === owners.length) {
          owners.length = 0;
          ownersHead = 0;
        } else if (ownersHead > 1024 && ownersHead * 2 > owners.length) {
          owners.splice(0, ownersHead);
          ownersHead = 0;
        }
        const now = parcel > 1 ? performance.now() : 0;
        if (++returned[w] >= parcel || now - creditedAt[w] >= CREDIT_LATENCY_MS) {
          tell(w, { t: 'credit', run, n: returned[w] });
          returned[w] = 0;
          creditedAt[w] = now;
        }
        tuning?.observe(outbox.size);
      },
      stage,
    );

    const fail = (error: unknown): void => {
      if (closed) return;
      // A failed run's threads are not reused: every other worker is stopped.
      crew.broken = true;
      outbox.error(error);
    };
    const mergeStats = (w: number, snapshots: StageSnapshot[]): void => {
      const stats = scope.stats;
      if (!stats) return;
      latest[w] = snapshots;
      // Registered sink-first like local stages, so the heads' stages list above this one.
      for (let i = snapshots.length - 1; i >= 0; i--) {
        const remote = snapshots[i];
        let remoteKey = remoteKeys.get(remote.name);
        if (!remoteKey) remoteKeys.set(remote.name, (remoteKey = {}));
        const target = stats.stage(remoteKey, `${name}/${remote.name}`, remote.kind);
        let base = bases.get(remote.name);
        if (!base) bases.set(remote.name, (base = target.snapshot()));
        sumInto(target, base, latest.map((list) => list?.find((s) => s.name === remote.name)));
      }
    };

    crew.listener = {
      message(w, message) {
        if (closed || message.run !== run) return;
        switch (message.t) {
          case 'data': {
            if (message.stats) mergeStats(w, message.stats);
            for (const value of message.values) {
              owners.push(w);
              stage.in++;
              tuning?.received(value);
              outbox.push(value as T);
            }
            tuning?.observe(outbox.size);
            return;
          }
          case 'done':
            mergeStats(w, message.stats);
            if (keepAliveMs === 0) {
              // This worker's part is over: end its thread now rather than with the last one.
              crew.expectedExit[w] = true;
              void crew.threads[w]?.terminate();
            }
            if (--running === 0) {
              // Every run ended: the threads are free for the next subscription before completion
              // propagates (a `repeat` or the next epoch subscribes again inside `complete`).
              released = true;
              park(crew);
              outbox.complete();
            }
            return;
          case 'error':
            mergeStats(w, message.stats);
            fail(deserializeError(message.error, { index: w, count }));
            return;
        }
      },
      fail,
    };
    if (crew.startError) fail(crew.startError);

    return () => {
      closed = true;
      outbox.dispose();
      tuning?.end();
      if (released) return;
      released = true;
      if (keepAliveMs > 0 && !crew.broken && crew.threads.every(Boolean)) {
        // Unsubscribed mid-run: stop the heads but keep the threads for the next subscription.
        for (let w = 0; w < count; w++) tell(w, { t: 'stop', keep: true });
        park(crew);
      } else {
        disband(crew);
      }
    };
  });
}

/**
 * Least ms between two credit messages to one worker before a parcel is full: at most 200 early
 * messages a second per worker, and slow elements (≥ 5 ms apart) each return their credit at once.
 */
const CREDIT_LATENCY_MS = 5;

/** The threads serving one subscription at a time, and where their events go. */
interface Crew {
  /** Threads it was started with (worker i runs shard i of size). */
  readonly size: number;
  readonly threads: (Worker | undefined)[];
  /** Threads whose exit we caused or expect (done, stopped): not a crash. */
  readonly expectedExit: boolean[];
  /** The number of the run (subscription) the threads serve now. */
  run: number;
  /** The stage whose live-thread gauge counts these threads. */
  stage: StageStats;
  /** A thread failed or a run errored: not reused. */
  broken: boolean;
  /** A thread could not be started. */
  startError?: RxDataError;
  /** The subscription being served, if any. */
  listener?: { message(w: number, message: FromWorker): void; fail(error: unknown): void };
}

/**
 * Sets `into` to `base` plus the sum of the workers' snapshots of one stage (buffer peaks:
 * summed, an upper bound).
 */
function sumInto(into: StageStats, base: StageSnapshot, parts: readonly (StageSnapshot | undefined)[]): void {
  let inCount = base.in;
  let out = base.out;
  let skipped = base.skipped;
  let dropped = base.dropped;
  let blockedMs = base.blockedMs;
  let waitMs = base.waitMs;
  let current = 0;
  let maxBuffered = 0;
  const extra: Record<string, number> = { ...base.extra };
  for (const part of parts) {
    if (!part) continue;
    inCount += part.in;
    out += part.out;
    skipped += part.skipped;
    dropped += part.dropped;
    blockedMs += part.blockedMs;
    waitMs += part.waitMs;
    current += part.buffered;
    maxBuffered += part.maxBuffered;
    for (const [k, v] of Object.entries(part.extra)) extra[k] = (extra[k] ?? 0) + v;
  }
  into.in = inCount;
  into.out = out;
  into.skipped = skipped;
  into.dropped = dropped;
  into.blockedMs = blockedMs;
  into.waitMs = waitMs;
  into.current = current;
  into.maxBuffered = Math.max(into.maxBuffered, maxBuffered);
  Object.assign(into.extra, extra);
}
