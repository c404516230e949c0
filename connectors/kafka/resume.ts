/**
 * `fromKafka` in a resumable pipeline (src/state/, docs/resume.md): its position is, per
 * partition, the offset after the last record it emitted into the pipeline (not the committed
 * offset, which trails what was trained, nor what kafkajs fetched into the push buffer). A
 * restored subscription seeks every saved partition there; bounded mode also keeps the saved
 * snapshot's end offsets, so the resumed epoch ends where the interrupted one would have.
 *
 * ```
 * broker ─▶ push buffer ─▶ emitter (positions[topic/partition] = offset + 1) ─▶ shuffle ─▶ …
 * restore: seek(topic, partition, positions[…]) for each saved partition
 * ```
 * Holds one entry per partition read.
 */
import { Observable } from 'rxjs';
import { registerStage } from '../../src/state/registry.js';
import { partitionKey } from './partitions.js';
import type { PartitionSpan } from './snapshot.js';
import type { KafkaRecord } from './types.js';

/** What `fromKafka` saves: offsets as decimal strings, keyed `topic/partition`. */
export interface KafkaState {
  /** The next offset to read per partition: after the last record emitted. */
  readonly positions: Readonly<Record<string, string>>;
  /** Bounded mode: the snapshot's end offsets. */
  readonly ends: Readonly<Record<string, string>>;
}

/** One subscription's resume context, handed from the registered wrapper to `open`. */
export interface KafkaResume {
  readonly restored: KafkaState | undefined;
  /** The snapshot's end offsets, filled as the subscription plans its partitions. */
  readonly ends: Map<string, bigint>;
}

/**
 * Registers `source` (a fromKafka Observable) as a source stage: counts each emitted record's
 * position, and hands `open` (through `handOff`, called just before the subscription) the saved
 * state to start from.
 */
export function resumableKafka<T>(source: Observable<KafkaRecord<T>>, name: string, handOff: (resume: KafkaResume) => void): Observable<KafkaRecord<T>> {
  return new Observable<KafkaRecord<T>>((subscriber) => {
    const positions = new Map<string, string>();
    const ends = new Map<string, bigint>();
    const handle = registerStage({
      kind: 'kafka',
      name,
      role: 'source',
      save: (): KafkaState => ({
        positions: Object.fromEntries(positions),
        ends: Object.fromEntries([...ends].map(([k, v]) => [k, v.toString()])),
      }),
    });
    if (!handle) return source.subscribe(subscriber);
    const restored = handle.restored as KafkaState | undefined;
    for (const [key, offset] of Object.entries(restored?.positions ?? {})) positions.set(key, offset);
    handOff({ restored, ends });
    return source.subscribe(
      handle.emitter(subscriber, (record) => positions.set(partitionKey(record.topic, record.partition), (BigInt(record.offset) + 1n).toString())),
    );
  });
}

/** `span` with a restored position (and, bounded, the saved end); records the end for the next save. */
export function resumeSpan(span: PartitionSpan, resume: KafkaResume | undefined): PartitionSpan {
  if (!resume) return span;
  const key = partitionKey(span.topic, span.partition);
  const from = resume.restored?.positions[key];
  const end = resume.restored?.ends[key];
  const out = { ...span, from: from !== undefined ? BigInt(from) : span.from, end: end !== undefined ? BigInt(end) : span.end };
  resume.ends.set(key, out.end);
  return out;
}
