/**
 * The commit side of one subscription: which offsets entered the pipeline and were acknowledged
 * (a {@link CommitTracker} per partition), and committing the contiguous watermark: one commit at
 * a time, every `commitIntervalMs`, on rebalance, and at teardown after a grace for late acks.
 *
 * ```
 * read(offset) ──▶ tracker.emitted ──ack──▶ watermark ──commitNow (ticker, rebalance, flush)──▶ consumer.commitOffsets
 * ```
 * A commit the pipeline waits on (`flush`, teardown) is retried within the retry budget and
 * fails with an error naming the offsets it could not commit; periodic commits are not retried
 * (the next one carries the same offsets). Holds one offset per record emitted and not yet
 * acknowledged.
 */

/** How a commit the pipeline waits on is retried. */
export interface CommitRetry {
  /** Give up after this long, ms (the connection's `retryBudgetMs`). */
  readonly budgetMs: number;
  /** First wait between attempts, doubling up to `maxMs`. */
  readonly initialMs: number;
  readonly maxMs: number;
  /** Named in the error: the group, and the brokers as the origin. */
  readonly groupId: string;
  readonly origin: string;
}

type Due = ReturnType<CommitTracker['due']>;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
import { RxDataError, messageOf } from '../../src/errors.js';
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
  /** The consumer crashed for good: retrying a commit cannot help. */
  private lost = false;

  constructor(
    readonly mode: CommitMode,
    private readonly consumer: Pick<ConsumerClient, 'commitOffsets'>,
    /** The source's statistics gauges: `commits`, `commitErrors`. */
    private readonly extra: Record<string, number>,
    private readonly retry: CommitRetry,
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

  /** Whether `offset` awaits its acknowledgement here. */
  holds(topic: string, partition: number, offset: bigint): boolean {
    return this.mode === 'after-ack' && this.tracker.holds(topic, partition, offset);
  }

  /** The consumer is gone for good: a commit gets one attempt, no retries. */
  consumerLost(): void {
    this.lost = true;
  }

  /** One commit of what is due now, after those before it; resolves to the failure, if any. */
  private attempt(): Promise<{ cause: unknown; due: Due } | undefined> {
    const run = this.chain.then(async () => {
      const due = this.tracker.due();
      if (due.length === 0) return undefined;
      try {
        await this.consumer.commitOffsets(due.map(({ topic, partition, offset }) => ({ topic, partition, offset })));
        for (const d of due) this.tracker.committedAt(d.topic, d.partition, d.watermark);
        this.extra.commits++;
        return undefined;
      } catch (cause) {
        // A rebalance or a broker outage: the offsets stay due and go with the next commit;
        // at worst some records are trained twice, never skipped.
        this.extra.commitErrors = (this.extra.commitErrors ?? 0) + 1;
        return { cause, due };
      }
    });
    this.chain = run.then(() => undefined);
    return run;
  }

  /** Commits what is due once (periodic commits, rebalances): a failure waits for the next one. */
  async commitNow(): Promise<void> {
    if (this.mode !== 'none') await this.attempt();
  }

  /**
   * Commits what is due, retrying a refused commit with backoff for up to the retry budget;
   * rejects with an error naming the offsets it could not commit.
   */
  async commitDurably(): Promise<void> {
    if (this.mode === 'none') return;
    const startedAt = performance.now();
    let wait = this.retry.initialMs;
    for (let attempts = 1; ; attempts++) {
      const failure = await this.attempt();
      if (!failure) return;
      const elapsed = performance.now() - startedAt;
      const budget = this.lost ? 0 : this.retry.budgetMs;
      if (elapsed >= budget) {
        const offsets = failure.due.map((d) => `topic ${d.topic} partition ${d.partition} offset ${d.offset}`).join(', ');
        throw new RxDataError(
          `fromKafka: cannot commit ${offsets} for group ${this.retry.groupId}: refused ${attempts} time${attempts === 1 ? '' : 's'} in ${(elapsed / 1000).toFixed(1)} s (retryBudgetMs ${this.retry.budgetMs}): ${messageOf(failure.cause)}`,
          this.retry.origin,
          { cause: failure.cause },
        );
      }
      await sleep(Math.min(wait, budget - elapsed));
      wait = Math.min(wait * 2, this.retry.maxMs);
    }
  }

  /**
   * Teardown: waits up to `graceMs` for records still in training to be acknowledged, then
   * commits them durably (rejects when that cannot be done within the retry budget).
   */
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
    await this.commitDurably();
  }
}
