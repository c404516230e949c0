/**
 * The messages between `fromWorkers` (main thread) and `workerMain` (each worker thread), and how
 * errors cross the thread boundary with their class and origin.
 */
import { ElementError, LimitError, RecordError, RxDataError } from '../errors.js';
import type { StageSnapshot } from '../stats.js';
import type { WorkerShard } from './head.js';

/** What each worker starts with (its `workerData`). */
export interface WorkerInit {
  /** The head module's URL (`file:`). */
  readonly module: string;
  readonly shard: WorkerShard;
  readonly args: unknown;
  /** Elements the worker may send beyond those the main side has taken. */
  readonly credit: number;
  /** Move typed arrays' buffers rather than copying them. */
  readonly transfer: boolean;
  /** Elements the head may emit after its gate closed before the worker fails (a head that ignores demand). */
  readonly maxOvershoot: number;
  /** Least time between two statistics reports, in ms. */
  readonly statsEveryMs: number;
}

/**
 * Worker → main. `run` numbers the subscriptions a thread has served (0 for the first): a thread
 * kept alive between subscriptions serves several, and a late message of an ended one is dropped.
 */
export type FromWorker =
  | { readonly t: 'data'; readonly run: number; readonly values: unknown[]; readonly stats?: StageSnapshot[] }
  | { readonly t: 'done'; readonly run: number; readonly stats: StageSnapshot[] }
  | { readonly t: 'error'; readonly run: number; readonly error: SerializedError; readonly stats: StageSnapshot[] };

/**
 * Main → worker: credit for a run; start the next run (the first starts when the thread does);
 * stop the current run, ending the thread unless `keep`.
 */
export type ToWorker =
  | { readonly t: 'credit'; readonly run: number; readonly n: number }
  | { readonly t: 'start'; readonly run: number }
  | { readonly t: 'stop'; readonly keep?: boolean };

/** An error as plain data: its class among rxdata's, message, origin and stack. */
export interface SerializedError {
  readonly kind: 'RecordError' | 'ElementError' | 'LimitError' | 'RxDataError' | 'TypeError' | 'RangeError' | 'Error';
  readonly name: string;
  /** The message as thrown (for rxdata's errors, with the `(at origin)` suffix their constructor adds). */
  readonly message: string;
  readonly origin?: string;
  readonly stack?: string;
  /** `ElementError`'s stage and element index. */
  readonly stage?: string;
  readonly index?: number;
  readonly cause?: SerializedError;
}

/** Turns anything thrown into plain data (causes followed three deep). */
export function serializeError(error: unknown, depth = 0): SerializedError {
  if (!(error instanceof Error)) return { kind: 'Error', name: 'Error', message: String(error) };
  const kind: SerializedError['kind'] =
    error instanceof RecordError
      ? 'RecordError'
      : error instanceof ElementError
        ? 'ElementError'
        : error instanceof LimitError
          ? 'LimitError'
          : error instanceof RxDataError
            ? 'RxDataError'
            : error instanceof TypeError
              ? 'TypeError'
              : error instanceof RangeError
                ? 'RangeError'
                : 'Error';
  return {
    kind,
    name: error.name,
    message: error.message,
    ...(error instanceof RxDataError && error.origin !== undefined ? { origin: error.origin } : {}),
    ...(error instanceof ElementError ? { stage: error.stage, index: error.index } : {}),
    ...(error.stack !== undefined ? { stack: error.stack } : {}),
    ...(error.cause !== undefined && depth < 3 ? { cause: serializeError(error.cause, depth + 1) } : {}),
  };
}

const WORKER = Symbol.for('rxdata.worker');

/**
 * The index of the worker thread an error came from, when it crossed from one (errors that
 * `fromWorkers` delivers), else `undefined`.
 */
export function workerIndexOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const index = (error as { [WORKER]?: unknown })[WORKER];
  return typeof index === 'number' ? index : undefined;
}

/**
 * Rebuilds an error of the same class with the same origin, its message marked with the worker
 * it came from and its stack the worker's. `worker` is omitted for causes.
 */
export function deserializeError(data: SerializedError, worker?: WorkerShard): Error {
  const cause = data.cause ? deserializeError(data.cause) : undefined;
  const options = cause !== undefined ? { cause } : undefined;
  // rxdata's constructors append " (at origin)": give them the message without it.
  const suffix = data.origin !== undefined ? ` (at ${data.origin})` : '';
  const bare = suffix && data.message.endsWith(suffix) ? data.message.slice(0, -suffix.length) : data.message;
  let error: Error;
  switch (data.kind) {
    case 'RecordError':
      error = new RecordError(bare, data.origin, options);
      break;
    case 'LimitError':
      error = new LimitError(bare, data.origin, options);
      break;
    case 'RxDataError':
      error = new RxDataError(bare, data.origin, options);
      break;
    case 'ElementError':
      error = new ElementError(data.stage ?? 'unknown stage', data.index ?? -1, cause);
      break;
    case 'TypeError':
      error = new TypeError(data.message, options);
      break;
    case 'RangeError':
      error = new RangeError(data.message, options);
      break;
    default:
      error = new Error(data.message, options);
      if (data.name !== 'Error') error.name = data.name;
  }
  if (worker) {
    error.message += ` [worker ${worker.index} of ${worker.count}]`;
    Object.defineProperty(error, WORKER, { value: worker.index, enumerable: false });
  }
  if (data.stack !== undefined) error.stack = worker ? `${data.stack}\n    in worker thread ${worker.index} of ${worker.count}` : data.stack;
  return error;
}
