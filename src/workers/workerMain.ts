/**
 * The entry of each `fromWorkers` thread: loads the head module, runs its pipeline behind a gate
 * that opens only while the worker has credit, and posts elements (buffers moved), statistics and
 * the end (completion or error, with origin) to the main thread.
 *
 * ```
 * head$ ──▶ [gate: outstanding < credit] ──▶ post(values, transfer) ──▶ main
 *   ▲                                                                    │
 *   └──────────────── credit (as the main side delivers downstream) ◀───┘
 * ```
 *
 * A thread may serve several runs (subscriptions) one after another when `fromWorkers` keeps it
 * alive between them (`keepAliveMs`): the head is made once per thread and subscribed once per
 * run; every message carries its run's number, so a late message of an ended run is ignored.
 *
 * Held here: elements posted and not credited back (≤ credit) and, should the head emit after its
 * gate closed (an operator that fans out), that overshoot (≤ `maxOvershoot`, else a LimitError).
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Subscription, isObservable, type Observable } from 'rxjs';
import { LimitError, RxDataError, messageOf } from '../errors.js';
import { Demand, Valve, subscribeBehind } from '../flow.js';
import { PipelineStats, type StageSnapshot } from '../stats.js';
import type { PipelineHead } from './head.js';
import { serializeError, type FromWorker, type ToWorker, type WorkerInit } from './protocol.js';
import { prepareTransfer } from './transfer.js';

if (isMainThread || !parentPort) throw new Error('rxdata workerMain: run only as a fromWorkers worker thread');
const port = parentPort;
const init = workerData as WorkerInit;
const { credit, maxOvershoot, statsEveryMs } = init;
const origin = `worker ${init.shard.index} of ${init.shard.count}`;

/** Ms between two elements beyond which each is posted at once rather than at the end of its burst. */
const POST_LATENCY_MS = 1;

const send = (message: FromWorker, list: ArrayBuffer[] = []): void => port.postMessage(message, list);

/** One subscription of the head: its credit, its gate, what it gathered to post, its statistics. */
class Run {
  /** Statistics of this run only: the main side adds runs up, as it does for local stages. */
  readonly stats = new PipelineStats();
  /** The worker's own stage: what it posted, what it holds, how long it waited for credit. */
  private readonly post = this.stats.stage({}, 'post', 'operator');
  /** Open while the run has credit and holds no overshoot: the head's sources pull only then. */
  private readonly gate = new Valve();
  /** Elements posted (or about to be) and not yet credited back by the main side. */
  private outstanding = 0;
  /** Elements the head emitted while out of credit, waiting for it. */
  private readonly overshoot: unknown[] = [];
  /** The message being gathered: elements emitted in one synchronous burst go in one message. */
  private values: unknown[] = [];
  private transfer: ArrayBuffer[] = [];
  private flushQueued = false;
  /** When the last element was readied (0: none yet, so the first goes at once). */
  private lastStagedAt = 0;
  private lastStats = 0;
  private headDone = false;
  /** Ended: completed, failed or stopped; nothing more is posted. */
  ended = false;
  private blockedSince = 0;
  /** The head's subscription: closing it stops the head even inside its first synchronous burst. */
  readonly subscription = new Subscription();

  constructor(readonly id: number) {}

  private snapshot(): StageSnapshot[] {
    this.lastStats = performance.now();
    return this.stats.snapshot();
  }

  private readonly flush = (): void => {
    this.flushQueued = false;
    if (this.values.length === 0 || (this.ended && !this.finishing)) return;
    const { values, id } = this;
    const message: FromWorker = performance.now() - this.lastStats >= statsEveryMs ? { t: 'data', run: id, values, stats: this.snapshot() } : { t: 'data', run: id, values };
    // Two elements may share a buffer: list it once.
    const list = this.transfer.length > 1 ? [...new Set(this.transfer)] : this.transfer;
    this.values = [];
    this.transfer = [];
    this.post.extra.messages = (this.post.extra.messages ?? 0) + 1;
    try {
      send(message, list);
    } catch (error) {
      this.fail(
        new RxDataError(
          `fromWorkers: cannot post elements to the main thread: ${messageOf(error)} ` +
            '(elements must be structured-cloneable; an array emitted twice has moved already: emit fresh arrays, or set transfer: false)',
          origin,
          { cause: error },
        ),
      );
    }
  };

  /** Readies one element for the next message (it counts against the credit from now on). */
  private stage(value: unknown): void {
    let prepared;
    try {
      prepared = prepareTransfer(value, init.transfer);
    } catch (error) {
      this.fail(new RxDataError(`fromWorkers: cannot post an element to the main thread: ${messageOf(error)}`, origin, { cause: error }));
      return;
    }
    this.values.push(prepared.value);
    for (const buffer of prepared.transfer) this.transfer.push(buffer);
    const { post } = this;
    post.extra.movedBytes = (post.extra.movedBytes ?? 0) + prepared.movedBytes;
    if (prepared.copiedBytes) post.extra.copiedBytes = (post.extra.copiedBytes ?? 0) + prepared.copiedBytes;
    this.outstanding++;
    post.out++;
    // A slow element (the head took ≥ POST_LATENCY_MS since the last one) goes at once: held for
    // the rest of a synchronous burst, it would wait another element's time, and so would the
    // credit it brings back. Fast ones share one message per burst.
    const now = performance.now();
    const slow = now - this.lastStagedAt >= POST_LATENCY_MS;
    this.lastStagedAt = now;
    if (slow) {
      this.flush();
      return;
    }
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flush);
    }
  }

  private updateGate(): void {
    const open = this.outstanding < credit && this.overshoot.length === 0;
    if (!open && !this.blockedSince) this.blockedSince = performance.now();
    if (open && this.blockedSince) {
      this.post.blockedMs += performance.now() - this.blockedSince;
      this.blockedSince = 0;
    }
    this.post.buffered(this.overshoot.length);
    this.gate.set(open);
  }

  /** Set while the last message goes out, so that the final flush still posts. */
  private finishing = false;

  private finish(message: FromWorker): void {
    if (this.ended) return;
    this.ended = true;
    this.finishing = true;
    this.flush();
    this.finishing = false;
    send(message);
  }

  fail(error: unknown): void {
    this.subscription.unsubscribe();
    this.finish({ t: 'error', run: this.id, error: serializeError(error), stats: this.snapshot() });
  }

  private completeIfDrained(): void {
    if (this.headDone && this.overshoot.length === 0) this.finish({ t: 'done', run: this.id, stats: this.snapshot() });
  }

  /** The main side delivered `n` of this run's elements downstream. */
  credit(n: number): void {
    if (this.ended) return;
    this.outstanding -= n;
    while (this.overshoot.length > 0 && this.outstanding < credit) this.stage(this.overshoot.shift());
    this.updateGate();
    this.completeIfDrained();
  }

  /** Ends the run without a word to the main side (it asked for this). */
  stop(): void {
    this.ended = true;
    this.subscription.unsubscribe();
  }

  start(head$: Observable<unknown>): void {
    subscribeBehind({ demand: Demand.unbounded, stats: this.stats }, this.gate, head$, {
      next: (value) => {
        if (this.ended) return;
        this.post.in++;
        if (this.outstanding < credit && this.overshoot.length === 0) {
          this.stage(value);
        } else {
          this.overshoot.push(value);
          if (this.overshoot.length > maxOvershoot) {
            this.fail(
              new LimitError(
                `fromWorkers: the pipeline head emitted ${this.overshoot.length} elements after its gate closed (maxOvershoot ${maxOvershoot}): ` +
                  'its source does not obey demand (is it an rxdata source, imported from the same copy of rxdata as fromWorkers?)',
                origin,
              ),
            );
            return;
          }
        }
        this.updateGate();
      },
      error: (error: unknown) => this.fail(error),
      complete: () => {
        this.headDone = true;
        this.completeIfDrained();
      },
    }, this.subscription);
  }
}

/** The head's Observable, made once per thread (each run subscribes it again, as an epoch does in-process). */
let head: Promise<Observable<unknown>> | undefined;
let current: Run | undefined;

async function makeHead(): Promise<Observable<unknown>> {
  // The bootstrap's import, which registers tsx's hooks in this thread for a .ts module if needed.
  const load = (globalThis as { [key: symbol]: ((href: string) => Promise<unknown>) | undefined })[Symbol.for('rxdata.workerImport')] ?? ((href: string) => import(href));
  const mod = (await load(init.module)) as { default?: unknown };
  const made = mod.default;
  if (typeof made !== 'function') throw new TypeError(`its default export must be a pipeline head (export default definePipelineHead(...)), got ${typeof made}`);
  const head$: unknown = await (made as PipelineHead<unknown, unknown>)(init.shard, init.args);
  if (!isObservable(head$)) throw new TypeError(`the pipeline head must return an Observable, got ${head$ === null ? 'null' : typeof head$}`);
  return head$;
}

async function startRun(id: number): Promise<void> {
  const run = (current = new Run(id));
  let head$: Observable<unknown>;
  try {
    head$ = await (head ??= makeHead());
  } catch (error) {
    const hint = /\.[mc]?ts$/.test(init.module) && /unknown file extension/i.test(messageOf(error)) ? ' (a TypeScript head needs the tsx loader in the workers: run node with --import=tsx, or build it to .js)' : '';
    run.fail(new RxDataError(`fromWorkers: cannot start the pipeline head: ${messageOf(error)}${hint}`, init.module, { cause: error }));
    return;
  }
  if (!run.ended) run.start(head$);
}

port.on('message', (message: ToWorker) => {
  switch (message.t) {
    case 'credit':
      if (current?.id === message.run) current.credit(message.n);
      return;
    case 'start':
      current?.stop();
      void startRun(message.run);
      return;
    case 'stop':
      current?.stop();
      if (message.keep) return;
      // The thread ends by itself once the head's `finally` blocks have closed what they opened
      // (its event loop empties); the main side terminates it after stopTimeoutMs otherwise.
      port.close();
      return;
  }
});

void startRun(0);
