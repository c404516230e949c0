/**
 * The commit side of one subscription: which offsets entered the pipeline and were acknowledged
 * (a {@link CommitTracker} per partition), and committing the contiguous watermark: one commit at
 * a time, every `commitIntervalMs`, on rebalance, and at teardown after a grace for late acks.
 *
 * ```
 * read(offset) ──▶ tracker.emitted ──ack──▶ watermark ──commitNow (ticker, rebalance, flush)──▶ consumer.commitOffsets
 * ```
 * Holds one offset per record emitted and not yet acknowledged.
 */
import type { ConsumerClient } from './client.js';
import { CommitTracker } from './tracker.js';
import type { CommitMode } from './types.js';

export class Committer {
  private readonly tracker = new CommitTracker();
  /** Commits run one at a time: a later one carries everything an earlier one would have. */
  private chain = Promise.resolve();
  private ticker: NodeJS.Timeout | undefined;
  private wakeGrace: (() => void) | undefined;
  /** Whether anything was acknowledged (a pipeline without acknowledge() gets no grace wait). */
  private everAcked = false;

  constructor(
    readonly mode: CommitMode,
    private readonly consumer: Pick<ConsumerClient, 'commitOffsets'>,
    /** The source's statistics gauges: `commits`, `commitErrors`. */
    private readonly extra: Record<string, number>,
  ) {
    extra.commits = extra.commits ?? 0;
  }

  /** Commits every `intervalMs` until {@link stop}. */
  start(intervalMs: number): void {
    if (this.mode === 'none') return;
    this.ticker = setInterval(() => void this.commitNow(), intervalMs);
    this.ticker.unref();
  }

  stop(): void {
    clearInterval(this.ticker);
  }

  /**
   * A record at `offset` entered the pipeline; returns whether it waits for an acknowledgement
   * (`'after-ack'`), rather than counting as done at once (`'on-read'`) or not tracked (`'none'`).
   */
  read(topic: string, partition: number, offset: bigint): boolean {
    if (this.mode === 'none') return false;
    this.tracker.emitted(topic, partition, offset);
    if (this.mode === 'on-read') {
      this.tracker.ack(topic, partition, offset);
      return false;
    }
    return true;
  }

  /** A skipped (undecodable) record is done: the watermark must pass it. */
  skipped(topic: string, partition: number, offset: bigint): void {
    if (this.mode === 'none') return;
    this.tracker.emitted(topic, partition, offset);
    this.tracker.ack(topic, partition, offset);
  }

  ack(topic: string, partition: number, offset: bigint): void {
    this.everAcked = true;
    this.tracker.ack(topic, partition, offset);
    if (this.tracker.outstanding === 0) this.wakeGrace?.();
  }

  /** Drops the state of partitions this member no longer holds (after a rebalance). */
  keepOnly(assigned: ReadonlySet<string>): void {
    for (const key of this.tracker.partitions()) {
      if (assigned.has(key)) continue;
      const slash = key.lastIndexOf('/');
      this.tracker.forget(key.slice(0, slash), Number(key.slice(slash + 1)));
    }
  }

  commitNow(): Promise<void> {
    if (this.mode === 'none') return Promise.resolve();
    this.chain = this.chain.then(async () => {
      const due = this.tracker.due();
      if (due.length === 0) return;
      try {
        await this.consumer.commitOffsets(due.map(({ topic, partition, offset }) => ({ topic, partition, offset })));
        for (const d of due) this.tracker.committedAt(d.topic, d.partition, d.watermark);
        this.extra.commits++;
      } catch {
        // A rebalance or a broker outage: the offsets stay due and go with the next commit;
        // at worst some records are trained twice, never skipped.
        this.extra.commitErrors = (this.extra.commitErrors ?? 0) + 1;
      }
    });
    return this.chain;
  }

  /** Teardown: waits up to `graceMs` for records still in training to be acknowledged, then commits. */
  async final(graceMs: number): Promise<void> {
    this.stop();
    if (this.mode === 'after-ack' && this.everAcked && this.tracker.outstanding > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.wakeGrace = resolve;
        timer = setTimeout(resolve, graceMs);
      });
      clearTimeout(timer);
    }
    await this.commitNow();
  }
}
