import test from 'ava';
import { Kafka, logLevel } from 'kafkajs';
import { lastValueFrom, toArray } from 'rxjs';
import { consume } from '../src/index.js';
import { fromKafka } from '../connectors/kafka/index.js';
import { startCluster, type MockCluster } from './harness/kafka/cluster.js';
import { fastGroup, produce, uniqueName } from './harness/kafka/helpers.js';

let cluster: MockCluster;
test.before(async () => {
  cluster = await startCluster({ brokers: 3 });
});
test.after.always(async () => {
  await cluster?.stop();
});

test('the leader of a partition going down mid-read and coming back: the pipeline resumes and every record arrives', async (t) => {
  const topic = uniqueName('outage');
  // Three partitions over three brokers: one partition's leader goes away.
  await cluster.createTopic(topic, 3, 1);
  await produce(cluster, topic, 1500, 3);
  // The leader of partition 0 goes down: that partition cannot advance until it returns.
  const admin = new Kafka({ brokers: cluster.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
  await admin.disconnect();
  const leader = topics[0].partitions.find((p) => p.partitionId === 0)!.leader;
  let consumed = 0;
  let outage: Promise<void> | undefined;
  let consumedAtRecovery = -1;
  const records = await lastValueFrom(
    fromKafka<{ i: number }>({
      ...fastGroup,
      brokers: cluster.bootstrap,
      topics: topic,
      mode: 'bounded',
      decode: 'json',
      highWaterMark: 32,
      // Small fetches, so that most records are still on the brokers when one goes down.
      maxBytesPerPartition: 2048,
      retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 30 },
    }).pipe(
      consume(async (r) => {
        if (++consumed === 200) {
          outage = (async () => {
            await cluster.brokerDown(leader);
            await new Promise((resolve) => setTimeout(resolve, 1500));
            consumedAtRecovery = consumed;
            await cluster.brokerUp(leader);
          })();
        }
        if (consumed % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
        return r;
      }),
      toArray(),
    ),
  );
  await outage;
  const distinct = new Set(records.map((r) => r.value.i));
  t.is(distinct.size, 1500, 'nothing lost');
  // Partition 0 (500 records) was stalled: at most what was fetched before the outage got through.
  t.true(consumedAtRecovery < 1500, 'the outage happened mid-read');
  t.true(records.filter((r) => r.partition === 0).length >= 500);
  t.log(`consumed ${consumedAtRecovery} when the broker came back; records ${records.length} (duplicates ${records.length - distinct.size})`);
});
