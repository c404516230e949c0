/** Cardinality of connector sources: bounded Kafka (mock cluster) and BigQuery tables (local server). */
import test from 'ava';
import { lastValueFrom, toArray } from 'rxjs';
import { batch, cardinality } from '../src/index.js';
import { fromKafka } from '../connectors/kafka/index.js';
import { fromBigQuery } from '../connectors/bigquery/index.js';
import { startCluster, type MockCluster } from './harness/kafka/cluster.js';
import { fastGroup, produce, uniqueName } from './harness/kafka/helpers.js';
import { startLocalBigQuery, TABLES, type LocalBigQuery } from './harness/bigquery/index.js';

let cluster: MockCluster;
let bq: LocalBigQuery;
test.before(async () => {
  [cluster, bq] = await Promise.all([startCluster({ brokers: 1 }), startLocalBigQuery()]);
});
test.after.always(async () => {
  await Promise.all([cluster?.stop(), bq?.close()]);
});

test('bounded Kafka: Σ end − start offsets over partitions, by start position; streaming is unknown', async (t) => {
  const topic = uniqueName('card');
  await cluster.createTopic(topic, 3, 1);
  await produce(cluster, topic, 300, 3);
  const base = { ...fastGroup, brokers: cluster.bootstrap, topics: topic, mode: 'bounded' as const, decode: 'json' as const };
  const source = fromKafka<{ i: number }>(base);
  t.is(await cardinality(source), 300);
  t.is(await cardinality(source.pipe(batch(64))), 5);
  t.is((await lastValueFrom(source.pipe(toArray()))).length, 300, 'what it declares is what it reads');
  t.is(await cardinality(fromKafka({ ...base, start: 'latest' })), 0);
  t.is(await cardinality(fromKafka({ ...base, start: { offsets: { [topic]: { 0: 40, 2: 100 } } } })), 60 + 100 + 0);
  t.is(cardinality(fromKafka({ ...base, mode: 'streaming' })), 'unknown');
});

test('BigQuery table: numRows of the whole table; a row restriction, a shard or a query are unknown', async (t) => {
  const table = fromBigQuery({ ...bq.connection, table: TABLES.occupancy });
  t.is(await cardinality(table), 8143);
  t.is(cardinality(fromBigQuery({ ...bq.connection, table: TABLES.occupancy, rowRestriction: 'Occupancy = 1' })), 'unknown');
  t.is(cardinality(fromBigQuery({ ...bq.connection, table: TABLES.occupancy, shard: { count: 2, index: 0 } })), 'unknown');
  t.is(cardinality(fromBigQuery({ ...bq.connection, query: `SELECT * FROM \`${TABLES.occupancy}\`` })), 'unknown');
  t.is(await cardinality(fromBigQuery({ ...bq.connection, table: `${bq.connection.projectId}.sensors.nope` })), 'unknown', 'a lookup failure is unknown');
});
