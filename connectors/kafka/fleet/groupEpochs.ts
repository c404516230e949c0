/**
 * The group's view of a fleet's epochs: epoch e is complete across the trainers' consumer group
 * once, for every shard, the group's committed offset on the shard's partition has passed the
 * shard's end marker of e there.
 *
 * ```
 * workers ──end marker e (own partition p, offset o)──▶ data topic
 *         ──"shard s ended e at p@o"──────────────────▶ epoch topic (1 partition, tiny records)
 * each trainer:  reads the whole epoch topic (no group)       ─┐
 *                polls the group's committed offsets (admin)  ─┴▶ e complete ⇔ ∀ shard s: committed(p_s) > o_s
 * ```
 *
 * Why committed offsets, not "done" records written by trainers: the group's commits are the one
 * durable record of what was trained, they move with the partitions on a rebalance, and a trainer
 * that dies between training and committing leaves its records to the next owner, which trains
 * and commits them. A "done" record written by a trainer could be lost between its commit and
 * its write (the next owner starts after the end marker and never sees it). The workers write
 * their records after their end markers, and again when they resume after one, so none is lost.
 *
 * Holds one position per shard for each epoch not yet complete, and the epoch topic's consumer's
 * small buffer.
 */
import type { Subscription } from 'rxjs';
import { RxDataError, messageOf } from '../../../src/errors.js';
import { kafkajsClients, brokersOf, type AdminClient, type KafkaClientFactory, type KafkaConnection } from '../client.js';
import { fromKafka } from '../fromKafka.js';
import type { KafkaRecord } from '../types.js';
import { FLEET_AT_HEADER, FLEET_HEADER, parseAt, parseTag } from './protocol.js';

/** Where the trainers' group is, and how to watch it. */
export interface FleetGroupOptions {
  /** The cluster (brokers, ssl, sasl, …). */
  readonly kafka: KafkaConnection;
  /** The fleet's data topic. */
  readonly topic: string;
  /** The trainers' consumer group. */
  readonly groupId: string;
  /** The workers' epoch topic. Default `<topic>-epochs`. */
  readonly epochTopic?: string;
  /** How often the group's committed offsets are read, ms. Default 500. */
  readonly pollMs?: number;
  /** Group timing for the epoch topic's own consumer (sessionTimeout, …). */
  readonly sessionTimeout?: number;
  readonly rebalanceTimeout?: number;
  readonly heartbeatInterval?: number;
  readonly maxWaitTimeInMs?: number;
  readonly clients?: KafkaClientFactory;
  /**
   * Whether a missing epoch topic is an error (a trainer waiting for epochs to complete), or
   * just no group view (a streaming fleet has no epochs). Default true.
   */
  readonly required?: boolean;
}

/** The default epoch topic of a fleet topic. */
export const epochTopicOf = (topic: string): string => `${topic}-epochs`;

/** Where one shard's end marker of an epoch lies. */
interface EndAt {
  readonly partition: number;
  readonly offset: bigint;
}

/** What the group view says about an epoch. */
export interface GroupProgress {
  readonly epoch: number;
  /** Shards whose share of `epoch` the group has committed. */
  readonly shardsDone: number;
  readonly shards: number;
}

/**
 * Watches the group: `onComplete(epoch)` once per epoch, in epoch order, when the epoch is
 * complete group-wide; `onProgress()` when anything moved (a committed offset, a record of the
 * epoch topic), for a stall timer; `onError` for a failure of the epoch topic or the admin.
 */
export class GroupEpochs {
  /** Epoch → shard → its end marker's position; epochs complete are removed. */
  private readonly ends = new Map<number, Map<number, EndAt>>();
  /** Shard count of the fleet (from its records). */
  private shards = 0;
  /** The next epoch to report: every one below it is complete. */
  next = 0;
  private admin: AdminClient | undefined;
  private control: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastCommitted = '';
  private readonly epochTopic: string;
  private readonly origin: string;

  constructor(
    private readonly options: FleetGroupOptions,
    private readonly listeners: {
      readonly onComplete: (progress: GroupProgress) => void;
      readonly onProgress: () => void;
      readonly onError: (error: unknown) => void;
    },
  ) {
    this.epochTopic = options.epochTopic ?? epochTopicOf(options.topic);
    this.origin = `fleet group ${options.groupId} on ${options.topic} (epochs in ${this.epochTopic}) @ kafka ${brokersOf(options.kafka)}`;
  }

  start(): void {
    const { kafka, clients = kafkajsClients } = this.options;
    this.admin = clients.admin(kafka);
    const admin = this.admin;
    admin.connect().then(
      async () => {
        try {
          await admin.fetchTopicOffsets(this.epochTopic);
        } catch (error) {
          if (this.options.required === false) {
            // No epoch topic: a streaming fleet. No group view, and nothing to watch.
            await this.stop();
            return;
          }
          throw new RxDataError(`fleet: cannot read the epoch topic ${this.epochTopic} (create it, one partition, beside ${this.options.topic}): ${messageOf(error)}`, this.origin, { cause: error });
        }
        if (this.stopped) return;
        this.control = fromKafka({
          ...kafka,
          topics: this.epochTopic,
          start: 'earliest',
          commit: 'none',
          decode: 'buffer',
          highWaterMark: 64,
          name: 'fleet epochs',
          sessionTimeout: this.options.sessionTimeout,
          rebalanceTimeout: this.options.rebalanceTimeout,
          heartbeatInterval: this.options.heartbeatInterval,
          maxWaitTimeInMs: this.options.maxWaitTimeInMs,
          clients,
        }).subscribe({ next: (r) => this.record(r), error: (e: unknown) => this.fail(e) });
        this.schedule(0);
      },
      (error: unknown) => this.fail(new RxDataError(`fleet: cannot connect to watch the group: ${messageOf(error)}`, this.origin, { cause: error })),
    ).catch((error: unknown) => this.fail(error));
  }

  private fail(error: unknown): void {
    if (this.stopped) return;
    this.listeners.onError(error instanceof RxDataError ? error : new RxDataError(`fleet: ${messageOf(error)}`, this.origin, { cause: error }));
  }

  /** One record of the epoch topic: shard s ended epoch e at partition p, offset o. */
  private record(r: KafkaRecord<Buffer>): void {
    const where = `topic ${r.topic} partition ${r.partition} offset ${r.offset}`;
    let tag;
    let at;
    try {
      tag = parseTag(r.headers[FLEET_HEADER], where);
      at = parseAt(r.headers[FLEET_AT_HEADER], where);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.shards = tag.shards;
    if (tag.epoch < this.next) return;
    let byShard = this.ends.get(tag.epoch);
    if (!byShard) this.ends.set(tag.epoch, (byShard = new Map()));
    if (!byShard.has(tag.shard)) {
      byShard.set(tag.shard, at);
      this.listeners.onProgress();
      // Something new to wait for: look at the group now rather than a poll later.
      this.schedule(0);
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.poll().then(
        () => {
          if (!this.timer) this.schedule(this.options.pollMs ?? 500);
        },
        (error: unknown) => this.fail(error),
      );
    }, ms);
  }

  private polling = false;
  private async poll(): Promise<void> {
    const admin = this.admin;
    if (!admin || this.stopped || this.polling || !this.ends.has(this.next)) return;
    this.polling = true;
    try {
      let committed: { partition: number; offset: string }[];
      try {
        committed = await admin.fetchCommittedOffsets(this.options.groupId, this.options.topic);
      } catch (error) {
        // A broker away: the next poll tries again (kafkajs retried already).
        void error;
        return;
      }
      if (this.stopped) return;
      const key = committed.map((c) => `${c.partition}:${c.offset}`).join(',');
      if (key !== this.lastCommitted) {
        this.lastCommitted = key;
        this.listeners.onProgress();
      }
      const at = new Map(committed.map((c) => [c.partition, BigInt(c.offset)]));
      for (;;) {
        const byShard = this.ends.get(this.next);
        if (!byShard || byShard.size < this.shards) return;
        let done = 0;
        for (const end of byShard.values()) if ((at.get(end.partition) ?? -1n) > end.offset) done++;
        if (done < this.shards) return;
        this.ends.delete(this.next);
        const epoch = this.next++;
        this.listeners.onComplete({ epoch, shardsDone: done, shards: this.shards });
        if (this.stopped) return;
      }
    } finally {
      this.polling = false;
    }
  }

  /** Epochs whose positions are known and not complete yet, with the shards the group has done. */
  pending(): string {
    const parts: string[] = [];
    for (const [epoch, byShard] of [...this.ends].sort((a, b) => a[0] - b[0])) {
      parts.push(`epoch ${epoch}: end markers of ${byShard.size} of ${this.shards || '?'} shards known`);
    }
    return parts.length ? parts.join('; ') : `no end of epoch ${this.next} in ${this.epochTopic} yet`;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.control?.unsubscribe();
    const admin = this.admin;
    this.admin = undefined;
    await admin?.disconnect().catch(() => undefined);
  }
}
