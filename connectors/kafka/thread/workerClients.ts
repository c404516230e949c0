/**
 * kafkajs' clients with the consumer on a worker thread of its own (`consumerThread: 'worker'`):
 * fetching and decoding (most of a consumer's CPU) leave the main thread, which unpacks each
 * fetched batch and runs the pipeline, so decoding overlaps the training step as tf.data's input
 * threads do. Admin and producer clients stay on the main thread (kafkajsClients).
 *
 * ```
 * thread: fetch ─ decode ─ pack ─┐ ≤ fetchAhead batches       main: unpack ─▶ reader ─▶ pipeline
 *         fetch ─ decode ─ pack ─┼──────────────────────────▶       one batch at a time, in order
 *                                └◀─────────── done (one credit) ◀──┘
 * ```
 *
 * Bound: besides what kafkajs holds of one fetch response, at most `fetchAhead` fetched batches
 * (each ≤ `maxBytesPerPartition`) wait on the main thread for the reader, whose own bound (the
 * push buffer) is unchanged. A batch goes stale on a group join (kafkajs makes a fresh offset
 * manager, and PartitionBook.join re-seeks kept partitions to where the main thread got) or on a
 * seek made after the thread handed it over; a stale batch is dropped, as kafkajs' own are.
 * The thread stops on disconnect; its failure reaches the crash listeners (fromKafka fails the
 * stream naming the brokers).
 *
 * @example
 * ```ts
 * const kafka = fromKafka({ brokers, topics: 'events', groupId: 'trainer', consumerThread: 'worker' });
 * ```
 */
import { Worker } from 'node:worker_threads';
import { RxDataError, messageOf } from '../../../src/errors.js';
import { entryBeside, workerBootstrap } from '../../../src/workers/bootstrap.js';
import { deserializeError } from '../../../src/workers/protocol.js';
import { kafkajsClients, tracked, type ConsumerClient, type FetchedBatch, type KafkaClientFactory, type KafkaConnection } from '../client.js';
import { partitionKey } from '../partitions.js';
import { unpackMessages, type ConsumerThreadInit, type FromThread, type ToThread } from './protocol.js';

export interface WorkerClientOptions {
  /** Fetched batches the consumer thread may hand over before the main thread finished them (default 8), ≥ 1. */
  fetchAhead?: number;
  /** How often the thread heartbeats while it waits for the main thread, ms. Default 1000. */
  heartbeatMs?: number;
}

/** The consumer of {@link kafkajsWorkerClients}: a {@link ConsumerClient}, and what its thread has handed over. */
export interface ThreadConsumerClient extends ConsumerClient {
  /** Batches the thread handed over that the reader has not finished (≤ `fetchAhead`). */
  readonly batchesAhead: number;
}

const bootstrap = workerBootstrap(entryBeside(import.meta.url, 'consumerThread'));

/** The connection settings alone (fromKafka passes its whole options, decoders and clients included). */
function connectionOnly(connection: KafkaConnection): KafkaConnection {
  const { brokers, clientId, ssl, sasl, retry, retryBudgetMs, connectionTimeout, requestTimeout, logLevel } = connection;
  const picked: KafkaConnection = { brokers, clientId, ssl, sasl, retry, retryBudgetMs, connectionTimeout, requestTimeout, logLevel };
  for (const key of Object.keys(picked) as (keyof KafkaConnection)[]) if (picked[key] === undefined) delete picked[key];
  return picked;
}

/** kafkajs' clients with the consumer on a worker thread (see the module comment). */
export function kafkajsWorkerClients(options: WorkerClientOptions = {}): KafkaClientFactory {
  const fetchAhead = options.fetchAhead ?? 8;
  if (!(Number.isInteger(fetchAhead) && fetchAhead >= 1)) throw new RangeError(`fetchAhead must be an integer >= 1, got ${fetchAhead}`);
  return {
    ...kafkajsClients,
    consumer(connection, settings) {
      const init: ConsumerThreadInit = { connection: connectionOnly(connection), settings, fetchAhead, heartbeatMs: options.heartbeatMs ?? settings.heartbeatInterval ?? 1000 };
      try {
        structuredClone(init);
      } catch (error) {
        throw new TypeError(`fromKafka: consumerThread 'worker' sends the connection settings to a thread, and they do not clone (no functions: retry.restartOnFailure, a SASL token provider): ${messageOf(error)}`);
      }
      return tracked('consumer', threadConsumer(init));
    },
  };
}

function threadConsumer(init: ConsumerThreadInit): ThreadConsumerClient {
  const brokers = typeof init.connection.brokers === 'string' ? init.connection.brokers : init.connection.brokers.join(',');
  const origin = `kafka consumer thread (${brokers})`;
  const thread = new Worker(bootstrap, { eval: true, workerData: init });
  const joinListeners: ((assignment: Record<string, number[]>) => void)[] = [];
  const rebalanceListeners: (() => void)[] = [];
  const crashListeners: ((error: unknown) => void)[] = [];
  let handler: ((batch: FetchedBatch) => Promise<void>) | undefined;
  const pending = new Map<number, { resolve: () => void; reject: (error: unknown) => void }>();
  let nextReq = 0;
  /** Stopped: disconnecting, or the thread is gone. */
  let gone = false;
  let exited = false;
  /** Group generations seen: a batch from an earlier one is stale. */
  let generation = 0;
  /** Seeks made, and per partition the count when it was last sought. */
  let seeks = 0;
  const soughtAt = new Map<string, number>();
  const queue: FetchedBatch[] = [];
  let handling = false;
  /** Batches arrived and not done (the one in the reader included). */
  let ahead = 0;

  const post = (message: ToThread): void => {
    if (!exited) thread.postMessage(message);
  };
  const call = (message: ToThread & { req: number }): Promise<void> =>
    exited
      ? Promise.reject(new RxDataError('fromKafka: the consumer thread has stopped', origin))
      : new Promise<void>((resolve, reject) => {
          pending.set(message.req, { resolve, reject });
          thread.postMessage(message);
        });

  /** Hands queued batches to the reader one at a time, in order; each done returns a credit. */
  const pump = (): void => {
    if (handling) return;
    const next = queue.shift();
    if (!next) return;
    handling = true;
    const finish = (): void => {
      handling = false;
      ahead--;
      post({ t: 'done' });
      pump();
    };
    if (!next.isActive() || !handler) {
      finish();
      return;
    }
    handler(next).then(finish, (error: unknown) => {
      finish();
      if (!gone) for (const l of crashListeners) l(error);
    });
  };

  const arrive = (message: Extract<FromThread, { t: 'batch' }>): void => {
    const key = partitionKey(message.topic, message.partition);
    const born = generation;
    const seen = message.seeks;
    ahead++;
    queue.push({
      topic: message.topic,
      partition: message.partition,
      highWatermark: message.highWatermark,
      messages: unpackMessages(message.packed),
      // The thread resolved the whole batch when it handed it over (see consumerThread.ts).
      resolveOffset: () => undefined,
      // The thread heartbeats while it waits for credit; kafkajs does between its own fetches.
      heartbeat: () => Promise.resolve(),
      isActive: () => !gone && born === generation && seen >= (soughtAt.get(key) ?? 0),
    });
    pump();
  };

  thread.on('message', (message: FromThread) => {
    switch (message.t) {
      case 'reply': {
        const waiter = pending.get(message.req);
        pending.delete(message.req);
        if (message.error) waiter?.reject(deserializeError(message.error));
        else waiter?.resolve();
        return;
      }
      case 'batch':
        if (!gone) arrive(message);
        else post({ t: 'done' });
        return;
      case 'join':
        generation++;
        for (const l of joinListeners) l(message.assignment);
        return;
      case 'rebalancing':
        for (const l of rebalanceListeners) l();
        return;
      case 'crash':
        for (const l of crashListeners) l(deserializeError(message.error));
        return;
    }
  });
  const lost = (error: RxDataError): void => {
    const wasGone = gone;
    gone = true;
    exited = true;
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
    if (!wasGone) for (const l of crashListeners) l(error);
  };
  thread.on('error', (error) => lost(new RxDataError(`fromKafka: the consumer thread failed: ${messageOf(error)}`, origin, { cause: error })));
  thread.on('exit', (code) => lost(new RxDataError(`fromKafka: the consumer thread exited with code ${code}`, origin)));

  return {
    get batchesAhead() {
      return ahead;
    },
    connect: () => call({ t: 'connect', req: ++nextReq }),
    subscribe: (topics) => call({ t: 'subscribe', req: ++nextReq, topics: [...topics] }),
    async run(eachBatch) {
      handler = eachBatch;
      await call({ t: 'run', req: ++nextReq });
    },
    seek(tpo) {
      soughtAt.set(partitionKey(tpo.topic, tpo.partition), ++seeks);
      post({ t: 'seek', tpo });
    },
    pause: (topic, partitions) => post({ t: 'pause', topic, partitions: [...partitions] }),
    commitOffsets: (offsets) => call({ t: 'commit', req: ++nextReq, offsets: offsets.map((o) => ({ ...o })) }),
    onGroupJoin: (listener) => void joinListeners.push(listener),
    onRebalancing: (listener) => void rebalanceListeners.push(listener),
    onCrash: (listener) => void crashListeners.push(listener),
    async disconnect() {
      if (exited) return;
      gone = true;
      ahead -= queue.length;
      queue.length = 0;
      try {
        await call({ t: 'disconnect', req: ++nextReq });
      } finally {
        exited = true;
        await thread.terminate();
      }
    },
  };
}
