/**
 * Per-partition read state of one subscription: where each partition starts (seeked on its first
 * assignment) and ends (bounded mode), the read position, and which partitions reached their end.
 * It re-applies seeks and pauses on every group join, since kafkajs forgets both when it restarts.
 *
 * ```
 * snapshot ─plan─▶ starts/ends ─join(assignment)─▶ seek first-time partitions, re-seek kept ones
 * handler ─advance(key, next)─▶ position; next ≥ end ⇒ done + pause; allDone() ⇒ complete
 * ```
 * Holds one entry per partition of the subscribed topics.
 */
import type { ConsumerClient } from './client.js';
import type { PartitionSpan } from './snapshot.js';

/** `topic/partition`: topic names cannot contain '/'. */
export const partitionKey = (topic: string, partition: number): string => `${topic}/${partition}`;

export function splitKey(key: string): [string, number] {
  const slash = key.lastIndexOf('/');
  return [key.slice(0, slash), Number(key.slice(slash + 1))];
}

/** Runs a client call that may throw while the consumer restarts; the next join redoes it. */
function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // Nothing to do: pause and seek state is re-applied on every group join.
  }
}

export class PartitionBook {
  private readonly starts = new Map<string, bigint>();
  private readonly ends = new Map<string, bigint>();
  /** Read position per partition (next offset to read). */
  private readonly position = new Map<string, bigint>();
  private readonly seeked = new Set<string>();
  private readonly done = new Set<string>();
  /** This member's partitions since the last group join (undefined before the first). */
  assigned: Set<string> | undefined;

  constructor(
    private readonly consumer: Pick<ConsumerClient, 'seek' | 'pause'>,
    private readonly bounded: boolean,
    /** Whether the start is the group's committed offset (kafkajs then finds it on its own). */
    private readonly fromCommitted: boolean,
  ) {}

  /** Notes a partition's start and end from the snapshot. */
  plan(span: PartitionSpan): void {
    const key = partitionKey(span.topic, span.partition);
    this.ends.set(key, span.end);
    this.starts.set(key, span.from);
  }

  /** Bounded mode: the offset a partition ends at (undefined in streaming mode or when unknown). */
  endOf(key: string): bigint | undefined {
    return this.bounded ? this.ends.get(key) : undefined;
  }

  /** Whether records of `key` are ours to emit now. */
  reading(key: string): boolean {
    return (this.assigned === undefined || this.assigned.has(key)) && !this.done.has(key);
  }

  /** The next offset to read on `key` is `next`; a bounded partition at its end is paused. */
  advance(key: string, next: bigint): void {
    this.position.set(key, next);
    const end = this.endOf(key);
    if (end !== undefined && next >= end && !this.done.has(key)) {
      this.done.add(key);
      const [topic, partition] = splitKey(key);
      safely(() => this.consumer.pause(topic, [partition]));
    }
  }

  /** A group join: seeks partitions met for the first time, re-seeks kept ones; returns the assignment. */
  join(assignment: Record<string, number[]>): Set<string> {
    const now = new Set<string>();
    for (const [topic, partitions] of Object.entries(assignment)) for (const p of partitions) now.add(partitionKey(topic, p));
    for (const key of now) {
      const [topic, partition] = splitKey(key);
      const at = this.position.get(key);
      if (this.assigned?.has(key) && at !== undefined) {
        // Kept through the rebalance: continue where we were. kafkajs forgets its read position
        // when it restarts after a crash (a broker outage), so we tell it again.
        safely(() => this.consumer.seek({ topic, partition, offset: at.toString() }));
      } else if (!this.seeked.has(key)) {
        this.seeked.add(key);
        const from = this.starts.get(key);
        if (from !== undefined && !this.fromCommitted) {
          safely(() => this.consumer.seek({ topic, partition, offset: from.toString() }));
          this.advance(key, from);
        } else if (from !== undefined && this.bounded && from >= (this.ends.get(key) ?? 0n)) {
          // Already consumed to the snapshot's end by the group. Otherwise the committed offset
          // read at subscription may be stale by now: kafkajs fetches the current one.
          this.advance(key, from);
        }
      }
      // Pause state does not survive a restart either.
      if (this.done.has(key)) safely(() => this.consumer.pause(topic, [partition]));
    }
    this.assigned = now;
    return now;
  }

  /** Bounded mode: every assigned partition reached its end. */
  allDone(): boolean {
    if (!this.bounded || !this.assigned) return false;
    for (const key of this.assigned) if (!this.done.has(key)) return false;
    return true;
  }

  /** Pauses every assigned partition (teardown: the fetch loop idles while the last acks come). */
  pauseAll(): void {
    for (const key of this.assigned ?? []) {
      const [topic, partition] = splitKey(key);
      safely(() => this.consumer.pause(topic, [partition]));
    }
  }
}
