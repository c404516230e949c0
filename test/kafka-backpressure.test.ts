import test from 'ava';
import { lastValueFrom, take, toArray } from 'rxjs';
import { PipelineStats, consume } from '../src/index.js';
import { fromKafka } from '../connectors/kafka/index.js';
import { startCluster, type MockCluster } from './harness/kafka/cluster.js';
import { fastGroup, produce, uniqueName } from './harness/kafka/helpers.js';

let cluster: MockCluster;
test.before(async () => {
  cluster = await startCluster({ brokers: 1 });
});
test.after.always(async () => {
  await cluster?.stop();
});

test('a slow sink bounds the records in flight: pulled − consumed ≤ highWaterMark + concurrency', async (t) => {
  const topic = uniqueName('slow');
  await cluster.createTopic(topic, 2, 1);
  // Far more than one fetch holds, so an unbounded source would run far ahead.
  await produce(cluster, topic, 5000, 2);
  const highWaterMark = 16;
  const stats = new PipelineStats();
  let consumed = 0;
  let peak = 0;
  const records = await lastValueFrom(
    fromKafka({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, mode: 'streaming', highWaterMark, name: 'kafka' }).pipe(
      consume(
        async (r) => {
          const pulled = stats.get('kafka')?.in ?? 0;
          peak = Math.max(peak, pulled - consumed);
          await new Promise((resolve) => setTimeout(resolve, 2));
          consumed++;
          return r;
        },
        { stats },
      ),
      take(300),
      toArray(),
    ),
  );
  t.is(records.length, 300);
  const source = stats.get('kafka')!;
  t.log(`peak in flight ${peak}, pulled ${source.in}, max buffered ${source.maxBuffered}`);
  // The running call holds one record; the buffer holds at most highWaterMark.
  t.true(peak <= highWaterMark + 1, `peak ${peak}`);
  t.true(source.maxBuffered <= highWaterMark);
  // The fetch loop waited: of 5000 available, only what the pipeline asked for entered it.
  t.true(source.in <= 300 + highWaterMark + 1, `pulled ${source.in}`);
  t.true(source.extra['lag:' + topic + '/0'] > 0 || source.extra['lag:' + topic + '/1'] > 0);
  t.true(source.extra.recordsPerSec > 0);
});
