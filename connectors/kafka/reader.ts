/**
 * The batch handler: each fetched batch's messages decoded into records and handed to the
 * pipeline, one at a time, waiting (inside kafkajs' `eachBatch`, so fetching stops) while the
 * pipeline is full. Bad messages fail the stream or, with `onError: 'skip'`, are counted and
 * dead-lettered. Holds no records of its own: the push buffer below it is the bound.
 *
 * ```
 * eachBatch ─▶ for message: wait for demand ─▶ decode ─▶ commits.read ─▶ sink.next(record) ─▶ book.advance
 * ```
 */
import type { OnError, PushSink } from '../../src/index.js';
import type { FetchedBatch } from './client.js';
import type { Committer } from './commits.js';
import type { DeadLetters } from './deadLetters.js';
import { decodeError, isThenable, type Decoder } from './decode.js';
import { waitForDemand, type IdleClock } from './demand.js';
import { partitionKey, type PartitionBook } from './partitions.js';
import { own, type Session } from './sessions.js';
import type { KafkaRecord } from './types.js';

export interface ReaderParts<T> {
  readonly sink: PushSink<KafkaRecord<T>>;
  readonly book: PartitionBook;
  readonly commits: Committer;
  readonly decode: Decoder<T>;
  readonly deadLetters: DeadLetters;
  readonly idle: IdleClock;
  readonly onError: OnError;
  readonly heartbeatMs: number;
  /** Shared with the subscription: set on teardown, or here when a bad record fails the stream. */
  readonly life: { stopped: boolean };
  /** Where acknowledgements of the records emitted here go. */
  readonly session: Session;
  /** The consumer fetched: a run of crashes is over. */
  readonly healthy: () => void;
  /** Bounded mode: every partition reached its end. */
  readonly complete: () => void;
}

export function batchReader<T>(parts: ReaderParts<T>): (batch: FetchedBatch) => Promise<void> {
  const { sink, book, commits, decode, deadLetters, idle, onError, heartbeatMs, life, session } = parts;
  const extra = sink.stats.extra;
  const stopped = (): boolean => life.stopped;
  let received = 0;
  const startedAt = performance.now();
  const rate = (): number => received / Math.max(1e-3, (performance.now() - startedAt) / 1000);

  return async (batch) => {
    parts.healthy();
    const { topic, partition } = batch;
    const key = partitionKey(topic, partition);
    if (life.stopped || !book.reading(key)) return;
    const end = book.endOf(key);
    const hw = BigInt(batch.highWatermark);
    const lagKey = `lag:${key}`;
    for (const message of batch.messages) {
      if (life.stopped || !batch.isActive()) return;
      const offset = BigInt(message.offset);
      if (end !== undefined && offset >= end) {
        // Past the snapshot (a gap from compaction or control records can skip `end - 1`).
        book.advance(key, end);
        break;
      }
      if (!sink.wantsMore) {
        idle.hold();
        await waitForDemand(sink, batch, heartbeatMs, stopped);
        if (!life.stopped) idle.arm();
        if (life.stopped || !batch.isActive()) return;
      }
      let value: T;
      try {
        const decoded = decode(message.value, topic, partition, message.offset, message.key);
        // Only an asynchronous decoder (a schema fetch) costs an await.
        value = isThenable(decoded) ? await decoded : decoded;
      } catch (cause) {
        const error = decodeError(topic, partition, message.offset, cause);
        if (onError === 'fail') {
          life.stopped = true;
          sink.error(error);
          return;
        }
        sink.stats.skip(error);
        await deadLetters.send(message, error);
        commits.skipped(topic, partition, offset);
        batch.resolveOffset(message.offset);
        book.advance(key, offset + 1n);
        continue;
      }
      // An asynchronous decode may have outlived the subscription or the partition's assignment.
      if (life.stopped || !batch.isActive()) return;
      const record: KafkaRecord<T> = { topic, partition, offset: message.offset, key: message.key, value, headers: message.headers ?? {}, timestamp: message.timestamp };
      if (commits.read(topic, partition, offset)) own(record, session);
      batch.resolveOffset(message.offset);
      // Rates refresh every 64 records too: a large batch can take long to drain.
      if ((++received & 63) === 0) extra.recordsPerSec = rate();
      book.advance(key, offset + 1n);
      extra[lagKey] = Number(hw - offset - 1n);
      sink.next(record);
    }
    extra.recordsPerSec = rate();
    if (!life.stopped) idle.arm();
    if (book.allDone()) parts.complete();
  };
}
