/**
 * A preprocessing worker process of a fleet: runs the pipeline head that `fromWorkers` runs on
 * threads, on one shard, and publishes its batches to a Kafka topic, epoch after epoch.
 */
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isObservable, Subscription, type Observable } from 'rxjs';
import { AbortError, abortError } from '../../../src/abort.js';
import { LimitError, RxDataError, messageOf } from '../../../src/errors.js';
import { Demand, Valve, subscribeBehind, type Gate } from '../../../src/flow.js';
import { PipelineStats } from '../../../src/stats.js';
import { encodeBatch } from '../../../src/fleet/codec.js';
import type { FleetShard } from '../../../src/fleet/shard.js';
import type { PipelineHead, WorkerShard } from '../../../src/workers/head.js';
import { kafkajsClients, brokersOf, type KafkaClientFactory, type KafkaConnection, type ProducerClient, type ProducerMessage } from '../client.js';
import { LagGate } from './lag.js';
import { epochTopicOf } from './groupEpochs.js';
import { END_VALUE, FLEET_AT_HEADER, FLEET_HEADER, formatAt, formatTag, keyOf, partitionOf, type FleetTag } from './protocol.js';
import { lastOwnRecord } from './resume.js';

export interface RunWorkerOptions<A = undefined> {
  /** The cluster (brokers, ssl, sasl, …). */
  readonly kafka: KafkaConnection;
  /** The topic batches go to. It must exist; give it at least as many partitions as shards. */
  readonly topic: string;
  /** This worker's shard of the sources (`{ index, count }`, as `fromWorkers` gives each thread). */
  readonly shard: WorkerShard;
  /** Passed to the head (as `fromWorkers`' `args`). */
  readonly args?: A;
  /**
   * `'bounded'` (default): the head is run once per epoch, each epoch ended by end markers, and
   * the worker returns after `epochs`. `'streaming'`: the head runs once (a live source) and the
   * worker returns only when it completes.
   */
  readonly mode?: 'bounded' | 'streaming';
  /** Bounded mode: epochs to publish. Default 1. */
  readonly epochs?: number;
  /** The trainers' consumer group: with it, the worker pauses while the group lags `maxLag` records behind. */
  readonly groupId?: string;
  /** Records the trainers' group may lag before this worker pauses. Default 64. */
  readonly maxLag?: number;
  /** How often the group's lag is measured, ms. Default 500. */
  readonly lagPollMs?: number;
  /** Encoded batches waiting for the send in flight before the head is paused. Default 8. */
  readonly maxPending?: number;
  /** Largest encoded batch, bytes (a broker's `message.max.bytes` is 1 MiB by default). Default 1 MiB. */
  readonly maxBatchBytes?: number;
  /**
   * Read the topic at start to find where this shard's previous run stopped, and continue there
   * (skipping batches it published already). Default true.
   */
  readonly resume?: boolean;
  readonly signal?: AbortSignal;
  /** Statistics of the head's stages and the worker's own (`rxdata-worker`). */
  readonly stats?: PipelineStats;
  /**
   * The topic where the worker notes, after each epoch, where its end marker lies (one tiny record
   * per shard and epoch): trainers read it to tell when an epoch is complete across their group.
   * One partition is enough. Default `<topic>-epochs`.
   */
  readonly epochTopic?: string;
  /** Called after each epoch's end markers are written. */
  readonly onEpoch?: (epoch: number, batches: number) => void;
  readonly clients?: KafkaClientFactory;
}

/** What one run of a worker did. */
export interface WorkerReport {
  readonly shard: WorkerShard;
  /** Where it started: epoch and the number of batches of it skipped as already published. */
  readonly resumedAt: { readonly epoch: number; readonly seq: number };
  /** Epochs completed (end markers written) by this run. */
  readonly epochs: number;
  /** Batches published by this run. */
  readonly batches: number;
  /** Batches the head produced again after a restart and that were not published again. */
  readonly skipped: number;
  readonly bytes: number;
  /** Time paused by the trainers' lag, ms. */
  readonly pausedMs: number;
}

/** A gate open while every one of `gates` is. */
function allOf(gates: readonly Gate[]): Gate {
  return {
    get isOpen() {
      for (const g of gates) if (!g.isOpen) return false;
      return true;
    },
    onOpen(listener) {
      const offs = gates.map((g) => g.onOpen(listener));
      return () => offs.forEach((off) => off());
    },
  };
}

/**
 * Runs the pipeline head exported by `module` (a `definePipelineHead` module, the one
 * `fromWorkers` runs on threads) on `options.shard`, and publishes each batch it emits to
 * `options.topic`, keyed by shard on partition `shard % partitions`, so that a shard's batches
 * keep their order. Resolves when every epoch is published (bounded) or the head completes
 * (streaming); rejects with the head's error, a Kafka error naming the brokers, or an
 * `AbortError`.
 *
 * ```
 * head(shard i, epoch e) ─b0─b1─b2─|        gate: pending < maxPending and group lag < maxLag
 *        encode ▼   ▼   ▼
 * topic, partition i % P:  [b e0 #0][b e0 #1][b e0 #2][end e0 n=3] …  (end broadcast to all partitions)
 * ```
 *
 * In flight in the worker: `maxPending` encoded batches plus one send, beside the head's own
 * bound. Each record carries a `rxdata-fleet` header (epoch, shard, sequence number, see
 * protocol.ts); trainers drop a (shard, epoch, seq) they have seen, so a restarted worker that
 * publishes a batch twice never trains it twice, and with `resume` it starts after the last batch
 * its shard has in the topic. That requires a deterministic head per (shard, epoch): seed its
 * shuffles with `epochOf(shard)`.
 *
 * @example
 * ```ts
 * await runWorker(new URL('./head.js', import.meta.url), {
 *   kafka: { brokers: 'kafka-1:9092' }, topic: 'digits-batches', shard: { index: 3, count: 8 },
 *   args: { files: 'data/*.csv' }, epochs: 10, groupId: 'trainers',
 * });
 * ```
 */
export async function runWorker<A = undefined>(module: URL | string, options: RunWorkerOptions<A>): Promise<WorkerReport> {
  const { topic, shard, mode = 'bounded', epochTopic = epochTopicOf(options.topic), epochs = 1, maxLag = 64, lagPollMs = 500, maxPending = 8, maxBatchBytes = 2 ** 20, resume = true, signal } = options;
  const clients = options.clients ?? kafkajsClients;
  const connection = options.kafka;
  const origin = `rxdata-worker shard ${shard.index} of ${shard.count} → ${topic} @ kafka ${brokersOf(connection)}`;
  if (!(Number.isInteger(shard.count) && shard.count >= 1 && Number.isInteger(shard.index) && shard.index >= 0 && shard.index < shard.count)) {
    throw new RangeError(`runWorker: shard must be { index, count } with 0 <= index < count, got ${JSON.stringify(shard)}`);
  }
  if (!(Number.isInteger(epochs) && epochs >= 1)) throw new RangeError(`runWorker: epochs must be an integer >= 1, got ${epochs}`);
  if (!(Number.isInteger(maxPending) && maxPending >= 1)) throw new RangeError(`runWorker: maxPending must be an integer >= 1, got ${maxPending}`);
  if (!(maxLag >= 1)) throw new RangeError(`runWorker: maxLag must be >= 1, got ${maxLag}`);
  if (signal?.aborted) throw abortError(origin, signal);

  const href = module instanceof URL ? module.href : /^file:/.test(module) ? module : pathToFileURL(resolvePath(module)).href;
  const loaded = (await import(href)) as { default?: unknown };
  if (typeof loaded.default !== 'function') throw new TypeError(`runWorker: ${href}: its default export must be a pipeline head (export default definePipelineHead(...)), got ${typeof loaded.default}`);
  const head = loaded.default as PipelineHead<unknown, A | undefined>;

  const stats = options.stats ?? new PipelineStats();
  const stage = stats.stage({}, 'rxdata-worker', 'sink');
  const failure = (what: string, cause: unknown): RxDataError => (cause instanceof RxDataError ? cause : new RxDataError(`rxdata-worker: ${what}: ${messageOf(cause)}`, origin, { cause }));

  // The topic's partitions: where this shard's records go, and where its end markers go too.
  const admin = clients.admin(connection);
  let partitions: number;
  try {
    await admin.connect();
    partitions = (await admin.fetchTopicOffsets(topic)).length;
  } catch (error) {
    throw failure(`cannot read the partitions of topic ${topic} (create it first, with at least ${shard.count} partitions)`, error);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  if (partitions < 1) throw new RxDataError(`rxdata-worker: topic ${topic} has no partitions`, origin);
  const own = partitionOf(shard.index, partitions);

  let startEpoch = 0;
  let skip = 0;
  let nextSeq = 0;
  /** The end marker this shard wrote last, when it is its last record: its epoch record is written again. */
  let endedAt: { tag: FleetTag; offset: string } | undefined;
  if (resume) {
    let last: FleetTag | undefined;
    try {
      const found = await lastOwnRecord(connection, clients, topic, own, shard.index, shard.count);
      last = found?.tag;
      if (found?.tag.kind === 'end') endedAt = found;
    } catch (error) {
      throw failure(`cannot read where shard ${shard.index} left off in ${topic}`, error);
    }
    if (last && last.shards !== shard.count) {
      throw new RxDataError(`rxdata-worker: topic ${topic} holds a fleet of ${last.shards} shards, this worker is one of ${shard.count} (use a fresh topic per fleet layout)`, origin);
    }
    if (last && mode === 'streaming') {
      startEpoch = last.epoch;
      nextSeq = last.kind === 'batch' ? last.seq + 1 : last.seq;
    } else if (last) {
      startEpoch = last.kind === 'end' ? last.epoch + 1 : last.epoch;
      skip = last.kind === 'end' ? 0 : last.seq + 1;
    }
  }
  if (signal?.aborted) throw abortError(origin, signal);
  const resumedAt = { epoch: startEpoch, seq: mode === 'streaming' ? nextSeq : skip };
  const lastEpoch = mode === 'streaming' ? startEpoch : epochs - 1;

  let producer: ProducerClient | undefined;
  const lag = options.groupId ? new LagGate(connection, clients, { topic, groupId: options.groupId, maxLag, pollMs: lagPollMs }) : undefined;
  let batches = 0;
  let skipped = 0;
  let bytes = 0;
  let done = 0;
  try {
    producer = clients.producer(connection);
    try {
      await producer.connect();
      await lag?.start();
    } catch (error) {
      throw failure('cannot connect', error);
    }
    const send = async (messages: ProducerMessage[]): Promise<{ partition: number; baseOffset?: string }[]> => {
      let written;
      try {
        written = await producer!.send(topic, messages);
      } catch (error) {
        throw failure(`cannot publish ${messages.length} records`, error);
      }
      lag?.sent(messages.length);
      return written;
    };
    /** Notes in the epoch topic where this shard's end marker of an epoch lies (idempotent: trainers keep the first). */
    const noteEnd = async (tag: FleetTag, offset: string): Promise<void> => {
      try {
        await producer!.send(epochTopic, [{ key: keyOf(shard.index), value: END_VALUE, headers: { [FLEET_HEADER]: formatTag(tag), [FLEET_AT_HEADER]: formatAt(own, offset) } }]);
      } catch (error) {
        throw failure(`cannot write to the epoch topic ${epochTopic} (create it: one partition, beside ${topic})`, error);
      }
    };
    // A worker that stopped between its end marker and its epoch record: write the record now.
    if (endedAt && mode === 'bounded') await noteEnd(endedAt.tag, endedAt.offset);

    for (let epoch = startEpoch; epoch <= lastEpoch; epoch++) {
      const firstSeq = epoch === startEpoch ? nextSeq : 0;
      const toSkip = epoch === startEpoch ? skip : 0;
      const fleetShard: FleetShard = { index: shard.index, count: shard.count, epoch };
      let head$: Observable<unknown>;
      try {
        const made: unknown = await head(fleetShard, options.args);
        if (!isObservable(made)) throw new TypeError(`the pipeline head must return an Observable, got ${made === null ? 'null' : typeof made}`);
        head$ = made;
      } catch (error) {
        throw new RxDataError(`rxdata-worker: cannot start the pipeline head: ${messageOf(error)}`, href, { cause: error });
      }
      const produced = await new Promise<number>((resolve, reject) => {
        /** Open while fewer than maxPending encoded batches wait for the send in flight. */
        const room = new Valve('rxdata-worker');
        const gate = lag ? allOf([room, lag.valve]) : room;
        const pending: ProducerMessage[] = [];
        const subscription = new Subscription();
        let seq = firstSeq;
        let sending = false;
        let headDone = false;
        let settled = false;
        const finish = (error?: unknown): void => {
          if (settled) return;
          settled = true;
          subscription.unsubscribe();
          signal?.removeEventListener('abort', onAbort);
          if (error !== undefined) reject(error);
          else resolve(seq);
        };
        const onAbort = (): void => finish(abortError(origin, signal!));
        signal?.addEventListener('abort', onAbort, { once: true });
        const update = (): void => {
          room.set(pending.length < maxPending);
          stage.buffered(pending.length);
          if (headDone && !sending && pending.length === 0) finish();
        };
        const pump = (): void => {
          if (sending || pending.length === 0 || settled) return;
          sending = true;
          const messages = pending.splice(0, pending.length);
          send(messages).then(
            () => {
              sending = false;
              stage.out += messages.length;
              update();
              pump();
            },
            (error: unknown) => finish(error),
          );
        };
        subscribeBehind({ demand: Demand.unbounded, stats }, gate, head$, {
          next(value) {
            if (settled) return;
            stage.in++;
            const s = seq++;
            if (s < toSkip) {
              // Published by an earlier run of this shard: re-read, not re-sent.
              skipped++;
              return;
            }
            let encoded: Buffer;
            try {
              encoded = encodeBatch(value, { maxBytes: maxBatchBytes });
            } catch (error) {
              const hint = error instanceof RangeError ? ' (smaller batches, or raise the broker\'s message.max.bytes and maxBatchBytes)' : '';
              finish(new (error instanceof RangeError ? LimitError : RxDataError)(`rxdata-worker: cannot encode batch ${s} of epoch ${epoch}: ${messageOf(error)}${hint}`, origin, { cause: error }));
              return;
            }
            bytes += encoded.length;
            batches++;
            // Counted against the lag as it is queued, so batches waiting to be sent are in the estimate.
            lag?.queued(1);
            pending.push({
              key: keyOf(shard.index),
              value: encoded,
              partition: own,
              headers: { [FLEET_HEADER]: formatTag({ kind: 'batch', epoch, shard: shard.index, shards: shard.count, seq: s, partitions }) },
            });
            update();
            pump();
          },
          error: (error: unknown) => finish(error),
          complete() {
            headDone = true;
            update();
          },
        }, subscription);
        update();
      });
      if (mode === 'streaming') break;
      // End markers: every other partition first, this shard's own last, so that a restarted
      // worker that finds its end marker knows every copy was written.
      const marker = (partition: number): ProducerMessage => ({
        key: keyOf(shard.index),
        value: END_VALUE,
        partition,
        headers: { [FLEET_HEADER]: formatTag({ kind: 'end', epoch, shard: shard.index, shards: shard.count, seq: produced, partitions }) },
      });
      const others = Array.from({ length: partitions }, (_, p) => p).filter((p) => p !== own);
      lag?.queued(partitions);
      if (others.length > 0) await send(others.map(marker));
      const [written] = await send([marker(own)]);
      if (written?.baseOffset === undefined) throw new RxDataError(`rxdata-worker: the broker did not say where the end marker of epoch ${epoch} went`, origin);
      await noteEnd({ kind: 'end', epoch, shard: shard.index, shards: shard.count, seq: produced, partitions }, written.baseOffset);
      if (signal?.aborted) throw abortError(origin, signal);
      done++;
      options.onEpoch?.(epoch, produced);
    }
  } catch (error) {
    throw error instanceof AbortError || error instanceof RxDataError ? error : failure('failed', error);
  } finally {
    await lag?.stop();
    await producer?.disconnect().catch(() => undefined);
  }
  stage.extra.pausedMs = lag?.pausedMs ?? 0;
  return { shard, resumedAt, epochs: done, batches, skipped, bytes, pausedMs: lag?.pausedMs ?? 0 };
}
