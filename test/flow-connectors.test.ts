/**
 * The rxdata/rxjs operators after connectors: fromKafka and fromTcp under concatMap(async) and a
 * slow sink. pulled − consumed stays within the source's bound plus the operator's and the sink's.
 */
import test from 'ava';
import net from 'node:net';
import { lastValueFrom, map, take } from 'rxjs';
import { concatMap, mergeMap } from '../src/rxjs.js';
import { consume, PipelineStats } from '../src/index.js';
import { fromKafka } from '../connectors/kafka/index.js';
import { fromTcp } from '../connectors/sockets/index.js';
import { startCluster, type MockCluster } from './harness/kafka/cluster.js';
import { fastGroup, produce, uniqueName } from './harness/kafka/helpers.js';
import { sleep } from './helpers.js';

let cluster: MockCluster;
test.before(async () => {
  cluster = await startCluster({ brokers: 1 });
});
test.after.always(async () => {
  await cluster?.stop();
});

test('fromKafka → concatMap(async) → consume(2 ms): highWaterMark + one in concatMap + one in the sink', async (t) => {
  const topic = uniqueName('flow-rxjs');
  await cluster.createTopic(topic, 2, 1);
  await produce(cluster, topic, 3000, 2);
  const highWaterMark = 16;
  const stats = new PipelineStats();
  let consumed = 0;
  let peak = 0;
  await lastValueFrom(
    fromKafka({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, mode: 'streaming', highWaterMark, name: 'kafka' }).pipe(
      concatMap(async (record) => {
        await sleep(1);
        return record;
      }),
      consume(async () => {
        peak = Math.max(peak, (stats.get('kafka')?.in ?? 0) - consumed);
        await sleep(2);
        consumed++;
      }, { stats }),
      take(150),
    ),
  );
  t.log(`peak ${peak}, pulled ${stats.get('kafka')!.in}`);
  t.true(peak <= highWaterMark + 1 + 1, `peak ${peak}`);
  t.true(stats.get('kafka')!.in <= 150 + highWaterMark + 2, `pulled ${stats.get('kafka')!.in} of 3000`);
});

test('fromTcp → mergeMap(async, 4) → consume(2 ms): the socket is paused, in flight stays bounded', async (t) => {
  let written = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    // An endless sensor: writes as fast as TCP flow control lets it.
    const pump = (): void => {
      while (!socket.destroyed) {
        written++;
        if (!socket.write(`{"i":${written}}\n`)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const highWaterMark = 64;
  const stats = new PipelineStats();
  let consumed = 0;
  let peak = 0;
  let maxFrame = 0;
  try {
    await lastValueFrom(
      fromTcp<{ i: number }>({ port, highWaterMark, reconnect: false, name: 'tcp' }).pipe(
        map((r) => r),
        mergeMap(async (r) => {
          await sleep(1);
          return r;
        }, 4),
        consume(async (r) => {
          maxFrame = Math.max(maxFrame, r.i);
          peak = Math.max(peak, (stats.get('tcp')?.in ?? 0) - consumed);
          await sleep(2);
          consumed++;
        }, { stats }),
        take(150),
      ),
    );
  } finally {
    for (const socket of sockets) socket.destroy();
    server.close();
  }
  // One read chunk (64 KiB of ~10-byte lines) may land after the pause: the documented bound.
  const chunkFrames = Math.ceil(65536 / 8);
  t.log(`peak ${peak}, pulled ${stats.get('tcp')!.in}, written by the sensor ${written}`);
  t.true(peak <= highWaterMark + chunkFrames + 4 + 1, `peak ${peak}`);
  // TCP flow control reached the sensor: it wrote far less than it would have unpaused.
  t.true(written < 2_000_000, `written ${written}`);
});
