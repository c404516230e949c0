/**
 * The batch handler: each fetched batch's messages decoded into records and handed to the
 * pipeline, one at a time, waiting (inside kafkajs' `eachBatch`, so fetching stops) while the
 * pipeline is full. Bad messages fail the stream or, with `onError: 'skip'`, are counted and
 * dead-lettered. Holds no records of its own: the push buffer below it is the bound.
 *
 * ```
 * eachBatch ─▶ for message: wait for demand ─▶ decode ─▶ commits.read ─▶ sink.next(record)
 *          └─▶ once per stretch between awaits: resolveOffset(last), book.advance, lag
 * ```
 *
 * The per-record path is the connector's cost against a bare consumer (bench scenario 6), so
 * what can be done once per batch is: kafkajs' `resolveOffset` (a Long parse per call) and its
 * staleness check (a JSON key per call) run before each await and at the end, since neither the
 * read position nor a seek can change while the loop runs without awaiting; offsets become
 * bigints only where commits track them or a bounded end is near.
 */
import type { OnError } from '../../src/errors.js';
import type { PushSink } from '../../src/pushSource.js';
import type { FetchedBatch, RawMessage } from './client.js';
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

const NO_HEADERS: KafkaRecord<unknown>['headers'] = Object.freeze({});

export function batchReader<T>(parts: ReaderParts<T>): (batch: FetchedBatch) => Promise<void> {
  const { sink, book, commits, decode, deadLetters, idle, onError, heartbeatMs, life, session } = parts;
  const extra = sink.stats.extra;
  const stopped = (): boolean => life.stopped;
  const tracking = commits.mode !== 'none';
  const identity = decode.identity === true;
  let received = 0;
  const startedAt = performance.now();
  const rate = (): number => received / Math.max(1e-3, (performance.now() - startedAt) / 1000);

  return async (batch) => {
    parts.healthy();
    extra.fetchedBatches = (extra.fetchedBatches ?? 0) + 1;
    const { topic, partition, messages } = batch;
    const key = partitionKey(topic, partition);
    if (life.stopped || !book.reading(key) || !batch.isActive()) return;
    const end = book.endOf(key);
    // Offsets ascend within a batch: only a batch whose last offset reaches the end needs checking.
    const last = messages.length > 0 ? messages[messages.length - 1].offset : undefined;
    const nearEnd = end !== undefined && last !== undefined && BigInt(last) >= end;
    /** The last offset handed on (or skipped) and not yet reported to kafkajs and the book. */
    let unresolved: string | undefined;
    const resolve = (): void => {
      if (unresolved === undefined) return;
      batch.resolveOffset(unresolved);
      book.advance(key, BigInt(unresolved) + 1n);
      extra[`lag:${key}`] = Number(BigInt(batch.highWatermark) - BigInt(unresolved) - 1n);
      unresolved = undefined;
    };
    /** Before each await: report progress (the caller checks afterwards that the batch is still ours). */
    const beforeAwait = async <R>(wait: Promise<R>): Promise<R> => {
      resolve();
      return wait;
    };
    try {
      for (let i = 0; i < messages.length; i++) {
        if (life.stopped) return;
        const message: RawMessage = messages[i];
        if (nearEnd && BigInt(message.offset) >= end) {
          // Past the snapshot (a gap from compaction or control records can skip `end - 1`).
          resolve();
          book.advance(key, end);
          break;
        }
        if (!sink.wantsMore) {
          idle.hold();
          await beforeAwait(waitForDemand(sink, batch, heartbeatMs, stopped));
          if (!life.stopped) idle.arm();
          if (life.stopped || !batch.isActive()) return;
        }
        let value: T;
        try {
          // The raw value itself ('buffer'): no call per record; a null one goes on to the decoder's error.
          if (identity && message.value !== null) value = message.value as T;
          else {
            const decoded = decode(message.value, topic, partition, message.offset, message.key);
            if (decode.sync) value = decoded as T;
            else {
              // Only an asynchronous decoder (a schema fetch) costs an await.
              value = isThenable(decoded) ? await beforeAwait(Promise.resolve(decoded)) : decoded;
              // It may have outlived the subscription or the partition's assignment.
              if (life.stopped || !batch.isActive()) return;
            }
          }
        } catch (cause) {
          const error = decodeError(topic, partition, message.offset, cause);
          if (onError === 'fail') {
            life.stopped = true;
            sink.error(error);
            return;
          }
          sink.stats.skip(error);
          await beforeAwait(deadLetters.send(message, error));
          // A skipped record is done: the watermark must pass it.
          commits.skipped(topic, partition, BigInt(message.offset));
          unresolved = message.offset;
          if (life.stopped || !batch.isActive()) return;
          continue;
        }
        const record: KafkaRecord<T> = { topic, partition, offset: message.offset, key: message.key, value, headers: message.headers ?? NO_HEADERS, timestamp: message.timestamp };
        if (tracking && commits.read(topic, partition, BigInt(message.offset))) own(record, session);
        unresolved = message.offset;
        // Rates refresh every 64 records too: a large batch can take long to drain.
        if ((++received & 63) === 0) extra.recordsPerSec = rate();
        sink.next(record);
      }
    } finally {
      resolve();
    }
    extra.recordsPerSec = rate();
    if (!life.stopped) idle.arm();
    if (book.allDone()) parts.complete();
  };
}
