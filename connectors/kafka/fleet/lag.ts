/**
 * End-to-end backpressure for a fleet worker: a gate that closes while the trainers' consumer
 * group lags too far behind the topic, measured from the group's committed offsets.
 *
 * ```
 * every pollMs:  lag = Σ partitions (high watermark − group's committed offset)
 * between polls: estimate = lag + records this worker wrote since the poll began + records it queued
 * gate open ⇔ estimate < maxLag          (closed: the worker's head stops pulling its sources)
 * ```
 *
 * A batch counts from the moment it is queued, so one worker alone keeps the lag under
 * `maxLag` plus what its head emits after the gate closed and its epoch's end markers (one per
 * partition). With W workers, each adds at most `maxLag − lag` records between polls: the lag
 * stays under W · maxLag. Committed offsets trail training by the trainers' `commitIntervalMs`,
 * which the bound includes.
 */
import { Valve } from '../../../src/flow.js';
import type { AdminClient, KafkaClientFactory, KafkaConnection } from '../client.js';

export interface LagGateOptions {
  readonly topic: string;
  /** The trainers' consumer group. */
  readonly groupId: string;
  /** Records (batches and markers) the group may lag behind before workers pause. */
  readonly maxLag: number;
  /** How often the lag is measured, ms. */
  readonly pollMs: number;
}

/** The gate, plus what it measured. */
export class LagGate {
  readonly valve = new Valve('fleet lag');
  /** The lag at the last poll. */
  lag = 0;
  /** Records queued to send and not yet written (counted from the moment they are queued). */
  private queuedNow = 0;
  /** Records written since the last poll began (the poll may not see them). */
  private since = 0;
  /** Time spent closed, ms. */
  pausedMs = 0;
  private closedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private admin: AdminClient | undefined;
  private stopped = false;
  private polling: Promise<void> | undefined;
  /** A poll failure (the broker away): remembered, and the gate keeps its last state. */
  lastError: unknown;

  constructor(
    private readonly connection: KafkaConnection,
    private readonly clients: KafkaClientFactory,
    private readonly options: LagGateOptions,
  ) {}

  /** Connects and measures once, so that a worker started behind a full topic waits at once. */
  async start(): Promise<void> {
    this.admin = this.clients.admin(this.connection);
    await this.admin.connect();
    await this.poll();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.polling = this.poll().finally(() => this.schedule());
    }, this.options.pollMs);
  }

  /** Measures the group's lag over every partition of the topic. */
  async poll(): Promise<void> {
    const admin = this.admin;
    if (!admin || this.stopped) return;
    try {
      const sent = this.since;
      const [offsets, committed] = await Promise.all([admin.fetchTopicOffsets(this.options.topic), admin.fetchCommittedOffsets(this.options.groupId, this.options.topic)]);
      let lag = 0;
      for (const { partition, low, high } of offsets) {
        const c = committed.find((x) => x.partition === partition);
        // No commit yet: the group will read from the start of what the topic holds.
        const from = c && BigInt(c.offset) >= 0n ? BigInt(c.offset) : BigInt(low);
        lag += Math.max(0, Number(BigInt(high) - from));
      }
      this.lag = lag;
      // What was produced during the poll may or may not be in `high`: keep counting it.
      this.since -= sent;
      this.update();
    } catch (error) {
      this.lastError = error;
    }
  }

  /** Notes `n` records queued for sending: they count against the lag from now on. */
  queued(n: number): void {
    this.queuedNow += n;
    this.update();
  }

  /** Notes that `n` queued records were written. */
  sent(n: number): void {
    this.queuedNow -= n;
    this.since += n;
    this.update();
  }

  private update(): void {
    const open = this.lag + this.since + this.queuedNow < this.options.maxLag;
    if (!open && !this.closedAt) this.closedAt = performance.now();
    if (open && this.closedAt) {
      this.pausedMs += performance.now() - this.closedAt;
      this.closedAt = 0;
    }
    this.valve.set(open);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.polling?.catch(() => undefined);
    if (this.closedAt) this.pausedMs += performance.now() - this.closedAt;
    this.closedAt = 0;
    await this.admin?.disconnect().catch(() => undefined);
    this.admin = undefined;
    // Nothing may stay blocked on a stopped gate.
    this.valve.set(true);
  }
}
