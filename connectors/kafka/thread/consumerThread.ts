/**
 * The entry of a Kafka consumer thread (`consumerThread: 'worker'`): kafkajs' consumer, through
 * the same adapter as on the main thread (connectors/kafka/client.ts), fetching and decoding here
 * while the main thread runs the pipeline. Each fetched batch is packed, moved to the main thread
 * and resolved at once, so kafkajs fetches the next while the main thread works; once `fetchAhead`
 * batches are with the main thread, the handler waits (heartbeating) before handing over another,
 * and kafkajs fetches nothing meanwhile.
 *
 * ```
 * kafkajs fetch ─▶ eachBatch ─▶ pack ─▶ post (moved) ─▶ main   ·  credit: fetchAhead − batches not done
 *                      └─ waits while no credit ◀── done ─────┘
 * ```
 *
 * Read positions are the main thread's: a batch handed over is resolved here (kafkajs fetches
 * past it), and every group join makes a fresh kafkajs offset manager, after which the main
 * thread re-seeks the partitions it kept to where it actually got (PartitionBook.join).
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { serializeError } from '../../../src/workers/protocol.js';
import { kafkajsClients, type FetchedBatch } from '../client.js';
import { heartbeatWhile } from '../demand.js';
import { packMessages, type ConsumerThreadInit, type FromThread, type ToThread } from './protocol.js';

if (isMainThread || !parentPort) throw new Error('rxdata consumerThread: run only as a Kafka consumer thread');
const port = parentPort;
const init = workerData as ConsumerThreadInit;
const send = (message: FromThread, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

const consumer = kafkajsClients.consumer(init.connection, init.settings);
/** Batches with the main thread and not done. */
let outstanding = 0;
/** Seeks applied, in the order the main thread made them. */
let seeks = 0;
let stopping = false;
/** Wakes a handler waiting for credit (one at a time: kafkajs hands batches over one by one). */
let wake = (): void => undefined;
const creditBack = (): Promise<void> => new Promise<void>((resolve) => (wake = resolve));
const outOfCredit = (): boolean => outstanding >= init.fetchAhead && !stopping;

consumer.onGroupJoin((assignment) => send({ t: 'join', assignment }));
consumer.onRebalancing(() => send({ t: 'rebalancing' }));
consumer.onCrash((error) => send({ t: 'crash', error: serializeError(error) }));

/** Waits while the main thread has `fetchAhead` batches; kafkajs fetches nothing until the handler returns. */
const creditFor = (batch: FetchedBatch): Promise<void> => heartbeatWhile(outOfCredit, creditBack, batch, init.heartbeatMs);

async function handOver(batch: FetchedBatch): Promise<void> {
  const { messages } = batch;
  // Before: a batch that went stale while the last one waited left no credit to spend.
  await creditFor(batch);
  if (stopping || messages.length === 0 || !batch.isActive()) return;
  consumer.healthy?.();
  const packed = packMessages(messages);
  send({ t: 'batch', topic: batch.topic, partition: batch.partition, highWatermark: batch.highWatermark, seeks, packed }, [packed.bytes, packed.lengths.buffer as ArrayBuffer]);
  outstanding++;
  // Handed over: kafkajs may fetch past it (read positions stay the main thread's, see above).
  batch.resolveOffset(messages[messages.length - 1].offset);
  // After: out of credit, kafkajs does not fetch the next response until the main thread catches up.
  await creditFor(batch);
}

async function answer(req: number, work: () => Promise<void>): Promise<void> {
  try {
    await work();
    send({ t: 'reply', req });
  } catch (error) {
    send({ t: 'reply', req, error: serializeError(error) });
  }
}

port.on('message', (message: ToThread) => {
  switch (message.t) {
    case 'done':
      outstanding--;
      wake();
      return;
    case 'seek':
      seeks++;
      try {
        consumer.seek(message.tpo);
      } catch {
        // As on the main thread (PartitionBook's `safely`): seeks are made again on the next join.
      }
      return;
    case 'pause':
      try {
        consumer.pause(message.topic, message.partitions);
      } catch {
        // Pauses too are made again on the next join.
      }
      return;
    case 'connect':
      void answer(message.req, () => consumer.connect());
      return;
    case 'subscribe':
      void answer(message.req, () => consumer.subscribe(message.topics));
      return;
    case 'run':
      void answer(message.req, () => consumer.run(handOver));
      return;
    case 'commit':
      void answer(message.req, () => consumer.commitOffsets(message.offsets));
      return;
    case 'disconnect':
      stopping = true;
      wake();
      void answer(message.req, () => consumer.disconnect());
      return;
  }
});
