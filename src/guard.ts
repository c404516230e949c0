/**
 * The guard: notices an operator that breaks the in-flight bound without obeying demand.
 *
 * ```
 * producer of ours ──emitted──▶ [ foreign operator ] ──received──▶ gate of ours
 *   (counts emissions,             holds or drops,                  (counts receipts, and
 *    marks its stack)              delivers later                    which came off that stack)
 * ```
 *
 * Each gated stage keeps a {@link Ledger} for what arrives from above it; the producers of ours
 * above (sources, gated stages emitting from their buffers) count what they emit into it and
 * mark while they are emitting. A synchronous operator in between (`map`, `filter`, `take`,
 * `bufferCount`) hands elements on, or drops them, inside the producer's own call. An operator
 * that buffers and delivers later (`concatMap` with async work, `delay`, `observeOn`) delivers
 * off that call stack. So the signature of a foreign buffering stage is: receipts arriving off
 * the producer's stack (more than {@link GUARD_MIN_OFF_STACK}) while emitted − received has grown
 * past {@link GUARD_THRESHOLD}. It is checked when such a receipt arrives and before each
 * emission. `filter` never delivers off-stack, so it never trips the guard, however much it
 * drops; `batch`/`bufferCount` deliver fewer than they receive, but on-stack too, and a producer
 * completing marks its stack as well, so what they flush on completion counts as on-stack.
 */
import { RxDataError } from './errors.js';

/** The bound broke: an operator between two stages of ours neither passes nor obeys demand. */
export class FlowError extends RxDataError {
  override name = 'FlowError';
}

/** What the guard does when it sees the signature: warn once (default), fail the pipeline, or nothing. */
export type GuardMode = 'warn' | 'strict' | 'off';

/** Elements unaccounted for (emitted and not received) before the guard speaks. */
export const GUARD_THRESHOLD = 1024;

/**
 * Receipts off every producer's stack before the guard speaks: one or two can be legitimate (an
 * operator that flushes on a timer it was given), a stream of them is an operator delivering later.
 */
export const GUARD_MIN_OFF_STACK = 8;

const envMode = process.env.RXDATA_FLOW_GUARD;
let mode: GuardMode = envMode === 'strict' || envMode === 'off' ? envMode : 'warn';
/** Messages already printed, so a pipeline subscribed per epoch warns once, not per epoch. */
const warned = new Set<string>();

/**
 * Sets what the guard does, process-wide: `'warn'` (default; one `process.emitWarning` per pair of
 * stages), `'strict'` (the producer fails the pipeline with a {@link FlowError}) or `'off'`. The
 * environment variable `RXDATA_FLOW_GUARD` sets the initial mode.
 */
export function configureFlowGuard(next: GuardMode): void {
  mode = next;
}

/** The guard's current mode. */
export const flowGuardMode = (): GuardMode => mode;

/** One gated stage's account of what the producers above it emitted and what reached it. */
export class Ledger {
  /** Elements producers of ours above emitted toward this gate. */
  emitted = 0;
  /** Elements that reached the gate. */
  received = 0;
  /** Receipts that arrived while no producer above was emitting: something delivered them later. */
  offStack = 0;
  /** Producers of ours currently inside an emission toward this gate. */
  depth = 0;
  /** The guard spoke for this ledger already. */
  reported = false;

  constructor(readonly gateName: string) {}

  /** The first producer of ours that emitted toward this gate, for the message. */
  producer = 'a source of ours';

  /**
   * Counts one receipt at the gate: undefined to go on, or the error to fail the gated stage with
   * (strict mode). A receipt off every producer's stack is the moment to look.
   */
  receive(): FlowError | undefined {
    this.received++;
    if (this.depth !== 0) return undefined;
    this.offStack++;
    return this.check(this.producer);
  }

  /**
   * Called by a producer before it emits (and by {@link receive}): undefined to go on, or the
   * error to fail with (strict mode). Cheap unless the signature is there.
   */
  check(producerName: string): FlowError | undefined {
    if (this.offStack < GUARD_MIN_OFF_STACK || this.reported || this.emitted - this.received <= GUARD_THRESHOLD || mode === 'off') return undefined;
    this.reported = true;
    const missing = this.emitted - this.received;
    const message =
      `rxdata: ${missing} elements emitted by "${producerName}" have not reached "${this.gateName}" below it, ` +
      `while some arrive later, off the producer's call: an operator between them holds or drops elements and ` +
      `delivers later, without obeying demand (a plain RxJS concatMap/mergeMap/exhaustMap with async work, ` +
      `delay, observeOn, bufferTime...). Import that operator from 'rxdata/rxjs' instead (same name and ` +
      `signature), or use parallelMap for async per-element work. See docs/ARCHITECTURE.md, "RxJS operators".`;
    if (mode === 'strict') return new FlowError(message);
    if (!warned.has(`${producerName}→${this.gateName}`)) {
      warned.add(`${producerName}→${this.gateName}`);
      process.emitWarning(message, { code: 'RXDATA_UNBOUNDED' });
    }
    return undefined;
  }
}
