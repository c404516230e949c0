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

const stats = new PipelineStats();
/** The worker's own stage: what it posted, what it holds, how long it waited for credit. */
const post = stats.stage({}, 'post', 'operator');
/** Open while the worker has credit and holds no overshoot: the head's sources pull only then. */
const gate = new Valve();
/** Elements posted (or about to be) and not yet credited back by the main side. */
let outstanding = 0;
/** Elements the head emitted while out of credit, waiting for it. */
const overshoot: unknown[] = [];
/** The message being gathered: elements emitted in one synchronous burst go in one message. */
let values: unknown[] = [];
let transfer: ArrayBuffer[] = [];
let flushQueued = false;
let lastStats = 0;
let headDone = false;
let ended = false;
let blockedSince = 0;
/** The head's subscription: closing it stops the head even inside its first synchronous burst. */
const subscription = new Subscription();

const send = (message: FromWorker, list: ArrayBuffer[] = []): void => port.postMessage(message, list);
const snapshot = (): StageSnapshot[] => {
  lastStats = performance.now();
  return stats.snapshot();
};

const flush = (): void => {
  flushQueued = false;
  if (values.length === 0) return;
  const message: FromWorker = performance.now() - lastStats >= statsEveryMs ? { t: 'data', values, stats: snapshot() } : { t: 'data', values };
  // Two elements may share a buffer: list it once.
  const list = transfer.length > 1 ? [...new Set(transfer)] : transfer;
  values = [];
  transfer = [];
  try {
    send(message, list);
  } catch (error) {
    fail(
      new RxDataError(
        `fromWorkers: cannot post elements to the main thread: ${messageOf(error)} ` +
          '(elements must be structured-cloneable; an array emitted twice has moved already: emit fresh arrays, or set transfer: false)',
        `worker ${init.shard.index} of ${init.shard.count}`,
        { cause: error },
      ),
    );
  }
};

/** Readies one element for the next message (it counts against the credit from now on). */
const stage = (value: unknown): void => {
  let prepared;
  try {
    prepared = prepareTransfer(value, init.transfer);
  } catch (error) {
    fail(new RxDataError(`fromWorkers: cannot post an element to the main thread: ${messageOf(error)}`, `worker ${init.shard.index} of ${init.shard.count}`, { cause: error }));
    return;
  }
  values.push(prepared.value);
  for (const buffer of prepared.transfer) transfer.push(buffer);
  post.extra.movedBytes = (post.extra.movedBytes ?? 0) + prepared.movedBytes;
  if (prepared.copiedBytes) post.extra.copiedBytes = (post.extra.copiedBytes ?? 0) + prepared.copiedBytes;
  outstanding++;
  post.out++;
  if (!flushQueued) {
    flushQueued = true;
    queueMicrotask(flush);
  }
};

const updateGate = (): void => {
  const open = outstanding < credit && overshoot.length === 0;
  if (!open && !blockedSince) blockedSince = performance.now();
  if (open && blockedSince) {
    post.blockedMs += performance.now() - blockedSince;
    blockedSince = 0;
  }
  post.buffered(overshoot.length);
  gate.set(open);
};

const finish = (message: FromWorker): void => {
  if (ended) return;
  ended = true;
  flush();
  send(message);
};

const fail = (error: unknown): void => {
  subscription.unsubscribe();
  finish({ t: 'error', error: serializeError(error), stats: snapshot() });
};

const completeIfDrained = (): void => {
  if (headDone && overshoot.length === 0) finish({ t: 'done', stats: snapshot() });
};

port.on('message', (message: ToWorker) => {
  if (message.t === 'credit') {
    outstanding -= message.n;
    while (overshoot.length > 0 && outstanding < credit) stage(overshoot.shift());
    updateGate();
    completeIfDrained();
  } else if (message.t === 'stop') {
    ended = true;
    subscription.unsubscribe();
    // The thread ends by itself once the head's `finally` blocks have closed what they opened
    // (its event loop empties); the main side terminates it after stopTimeoutMs otherwise.
    port.close();
  }
});

async function start(): Promise<void> {
  let head$: Observable<unknown>;
  try {
    // The bootstrap's import, which registers tsx's hooks in this thread for a .ts module if needed.
    const load = (globalThis as { [key: symbol]: ((href: string) => Promise<unknown>) | undefined })[Symbol.for('rxdata.workerImport')] ?? ((href: string) => import(href));
    const mod = (await load(init.module)) as { default?: unknown };
    const head = mod.default;
    if (typeof head !== 'function') throw new TypeError(`its default export must be a pipeline head (export default definePipelineHead(...)), got ${typeof head}`);
    const made: unknown = await (head as PipelineHead<unknown, unknown>)(init.shard, init.args);
    if (!isObservable(made)) throw new TypeError(`the pipeline head must return an Observable, got ${made === null ? 'null' : typeof made}`);
    head$ = made;
  } catch (error) {
    const hint = /\.[mc]?ts$/.test(init.module) && /unknown file extension/i.test(messageOf(error)) ? ' (a TypeScript head needs the tsx loader in the workers: run node with --import=tsx, or build it to .js)' : '';
    fail(new RxDataError(`fromWorkers: cannot start the pipeline head: ${messageOf(error)}${hint}`, init.module, { cause: error }));
    return;
  }
  if (ended) return;
  subscribeBehind({ demand: Demand.unbounded, stats }, gate, head$, {
    next(value) {
      if (ended) return;
      post.in++;
      if (outstanding < credit && overshoot.length === 0) {
        stage(value);
      } else {
        overshoot.push(value);
        if (overshoot.length > maxOvershoot) {
          fail(
            new LimitError(
              `fromWorkers: the pipeline head emitted ${overshoot.length} elements after its gate closed (maxOvershoot ${maxOvershoot}): ` +
                'its source does not obey demand (is it an rxdata source, imported from the same copy of rxdata as fromWorkers?)',
              `worker ${init.shard.index} of ${init.shard.count}`,
            ),
          );
          return;
        }
      }
      updateGate();
    },
    error: fail,
    complete() {
      headDone = true;
      completeIfDrained();
    },
  }, subscription);
}

void start();
