/**
 * Which offsets may be committed: per partition, the contiguous watermark of acknowledged records.
 *
 * ```
 * emitted:  5 6 7 8 9        acked: 5 6 8
 * watermark: 7  (commit offset 7 = "next to read"; 8 waits until 7 is acked)
 * ```
 */

/** One partition's emitted-but-unacknowledged offsets, in emission (= offset) order. */
class PartitionTrack {
  /** Offsets emitted, oldest first; the head is the lowest not yet acknowledged. */
  readonly pending: bigint[] = [];
  head = 0;
  /** Acknowledged offsets above the head (out-of-order acks wait here). */
  readonly acked = new Set<bigint>();
  /** The offset to commit next (one past the last contiguous acknowledged), or -1n if none. */
  watermark = -1n;
  /** The watermark last committed. */
  committed = -1n;
}

export class CommitTracker {
  private readonly parts = new Map<string, PartitionTrack>();
  /** Records emitted and not yet acknowledged, across partitions. */
  outstanding = 0;

  private track(topic: string, partition: number): PartitionTrack {
    const key = `${topic}/${partition}`;
    let t = this.parts.get(key);
    if (!t) {
      t = new PartitionTrack();
      this.parts.set(key, t);
    }
    return t;
  }

  /** Notes that `offset` entered the pipeline. */
  emitted(topic: string, partition: number, offset: bigint): void {
    this.track(topic, partition).pending.push(offset);
    this.outstanding++;
  }

  /** Marks `offset` as done; advances the watermark over every contiguous done offset. */
  ack(topic: string, partition: number, offset: bigint): void {
    const t = this.parts.get(`${topic}/${partition}`);
    // Unknown partition (forgotten after a rebalance) or an offset already behind the watermark.
    if (!t || offset < t.watermark) return;
    if (t.acked.has(offset)) return;
    t.acked.add(offset);
    while (t.head < t.pending.length && t.acked.has(t.pending[t.head])) {
      const done = t.pending[t.head++];
      t.acked.delete(done);
      t.watermark = done + 1n;
      this.outstanding--;
    }
    if (t.head > 1024 && t.head * 2 > t.pending.length) {
      t.pending.splice(0, t.head);
      t.head = 0;
    }
  }

  /**
   * Whether `offset` was emitted and awaits its acknowledgement. Offsets enter each partition's
   * list in ascending order (Kafka's order within a partition), so a binary search finds it.
   */
  holds(topic: string, partition: number, offset: bigint): boolean {
    const t = this.parts.get(`${topic}/${partition}`);
    if (!t || offset < t.watermark) return false;
    let lo = t.head;
    let hi = t.pending.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = t.pending[mid];
      if (at === offset) return true;
      if (at < offset) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  /** Drops a partition's state (it moved to another group member). */
  forget(topic: string, partition: number): void {
    const key = `${topic}/${partition}`;
    const t = this.parts.get(key);
    if (!t) return;
    this.outstanding -= t.pending.length - t.head;
    this.parts.delete(key);
  }

  /** Partitions whose watermark moved since the last commit, as commit entries. */
  due(): { topic: string; partition: number; offset: string; watermark: bigint }[] {
    const out: { topic: string; partition: number; offset: string; watermark: bigint }[] = [];
    for (const [key, t] of this.parts) {
      if (t.watermark > t.committed) {
        const slash = key.lastIndexOf('/');
        out.push({ topic: key.slice(0, slash), partition: Number(key.slice(slash + 1)), offset: t.watermark.toString(), watermark: t.watermark });
      }
    }
    return out;
  }

  /** Records that `watermark` was committed for the partition. */
  committedAt(topic: string, partition: number, watermark: bigint): void {
    const t = this.parts.get(`${topic}/${partition}`);
    if (t && watermark > t.committed) t.committed = watermark;
  }

  partitions(): string[] {
    return [...this.parts.keys()];
  }
}
