import test from 'ava';
import { lastValueFrom, tap } from 'rxjs';
import { RxDataError } from '../src/index.js';
import { fromKafka } from '../connectors/kafka/index.js';
import { RestartBudget } from '../connectors/kafka/client.js';
import { openClients } from '../connectors/kafka/openClients.js';
import { startCluster, type MockCluster } from './harness/kafka/cluster.js';
import { eventually, fastGroup, produce, uniqueName } from './harness/kafka/helpers.js';

// A dead cluster must end in an error, not restart forever: small kafkajs retries and a small
// budget keep these tests to seconds.
const quickRetry = { retry: { initialRetryTime: 50, maxRetryTime: 200, retries: 2 }, connectionTimeout: 300 };

let cluster: MockCluster;
test.before(async () => {
  cluster = await startCluster({ brokers: 1 });
});
test.after.always(async () => {
  await cluster?.stop();
});

test('RestartBudget: restarts while the run of crashes is younger than the budget; health resets it', (t) => {
  let now = 0;
  const budget = new RestartBudget(1000, () => now);
  t.true(budget.restart());
  now = 600;
  t.true(budget.restart());
  now = 1000;
  t.false(budget.restart(), 'spent 1000 ms after the first crash');
  budget.healthy();
  now = 5000;
  t.true(budget.restart(), 'a new run of crashes gets a new budget');
  t.is(budget.restarts, 1);
  t.throws(() => new RestartBudget(-1), { instanceOf: RangeError });
});

test.serial('a cluster that dies mid-stream ends the source with an error naming the brokers, within the budget', async (t) => {
  t.timeout(40_000);
  const topic = uniqueName('dies');
  await cluster.createTopic(topic, 1, 1);
  await produce(cluster, topic, 50, 1);
  let received = 0;
  let downAt = 0;
  const error = await t.throwsAsync(
    lastValueFrom(
      fromKafka({ ...fastGroup, ...quickRetry, brokers: cluster.bootstrap, topics: topic, decode: 'json', retryBudgetMs: 1500 }).pipe(
        tap(() => {
          if (++received === 50) {
            downAt = performance.now();
            void cluster.brokerDown(1);
          }
        }),
      ),
    ),
    { instanceOf: RxDataError },
  );
  const tookMs = performance.now() - downAt;
  t.is(received, 50);
  t.is(error?.origin, `kafka ${cluster.bootstrap}`);
  t.regex(error?.message ?? '', /fromKafka: consumer failed: gave up after [\d.]+ s of failures \(\d+ consumer restarts, retryBudgetMs 1500\)/);
  t.log(`error ${tookMs.toFixed(0)} ms after the broker went down: ${error?.message}`);
  t.true(await eventually(() => openClients.consumer === 0), 'the consumer was disconnected');
  await cluster.brokerUp(1);
});

test.serial('a cluster that is down from the start fails the source naming the brokers', async (t) => {
  t.timeout(40_000);
  const topic = uniqueName('never');
  await cluster.createTopic(topic, 1, 1);
  await cluster.brokerDown(1);
  try {
    const error = await t.throwsAsync(lastValueFrom(fromKafka({ ...fastGroup, ...quickRetry, brokers: cluster.bootstrap, topics: topic, retryBudgetMs: 500 })), {
      instanceOf: RxDataError,
    });
    t.is(error?.origin, `kafka ${cluster.bootstrap}`);
    t.regex(error?.message ?? '', /fromKafka: cannot start/);
  } finally {
    await cluster.brokerUp(1);
  }
});
