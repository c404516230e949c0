/**
 * The consumer's side of demand: waiting in the batch handler while the pipeline is full
 * (heartbeating, so the group keeps this member), and the idle clock of streaming mode, which
 * does not run while we wait on demand.
 */
import type { PushSink } from '../../src/pushSource.js';
import type { FetchedBatch } from './client.js';

/** Waits until the pipeline wants more, the subscription stops, or the batch goes stale. */
export function waitForDemand(sink: PushSink<unknown>, batch: FetchedBatch, heartbeatMs: number, stopped: () => boolean): Promise<void> {
  return heartbeatWhile(() => !sink.wantsMore && !stopped(), () => sink.whenWantsMore(), batch, heartbeatMs);
}

/**
 * Waits inside kafkajs' batch handler while `blocked()` holds and the batch is live, waking on
 * `woken()` or every `heartbeatMs` to heartbeat, so the group keeps this member (kafkajs only
 * heartbeats between batches).
 */
export async function heartbeatWhile(blocked: () => boolean, woken: () => Promise<void>, batch: FetchedBatch, heartbeatMs: number): Promise<void> {
  while (blocked() && batch.isActive()) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([woken(), new Promise<void>((resolve) => (timer = setTimeout(resolve, heartbeatMs)))]);
    clearTimeout(timer);
    if (blocked()) await batch.heartbeat().catch(() => undefined);
  }
}

/** Streaming mode's `idleTimeoutMs`: fires `onIdle` after that long without records. */
export class IdleClock {
  private timer: NodeJS.Timeout | undefined;
  private armed = false;

  constructor(
    private readonly ms: number | undefined,
    private readonly onIdle: () => void,
  ) {}

  /** (Re)starts the clock. */
  arm(): void {
    if (this.ms === undefined) return;
    this.armed = true;
    clearTimeout(this.timer);
    this.timer = setTimeout(this.onIdle, this.ms);
  }

  /** Starts the clock unless it ever ran (the first group join: a join takes seconds). */
  armOnce(): void {
    if (!this.armed) this.arm();
  }

  /** Stops the clock (waiting on demand is not idleness). */
  hold(): void {
    clearTimeout(this.timer);
  }
}
