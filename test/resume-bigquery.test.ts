/**
 * BigQuery table mode in the pipeline state (issue 17), against the local Storage Read API server:
 * the read session and each stream's position are saved; a restored pipeline reuses the session
 * and reopens each stream at its offset; an expired session restarts the epoch, with a warning.
 */
import test from 'ava';
import { map, type Observable } from 'rxjs';
import { batch, prefetch, shuffle } from '../src/index.js';
import { fromBigQuery } from '../connectors/bigquery/index.js';
import { startLocalBigQuery, TABLES, type LocalBigQuery } from './harness/bigquery/index.js';
import { checkResume, train } from './fixtures/resume/train.js';
import type { PipelineCheckpoint } from '../src/state/index.js';

let bq: LocalBigQuery;
test.before(async () => {
  bq = await startLocalBigQuery();
});
test.after.always(async () => {
  await bq?.close();
});
const OCCUPANCY_ROWS = 8143;

const ids = (streams: number): Observable<number[]> =>
  fromBigQuery({ ...bq.connection, table: TABLES.occupancy, streams, selectedFields: ['id'] }).pipe(
    map((r) => r.id as number),
    shuffle(300, { seed: 4 }),
    batch(250),
    prefetch(2),
    map((b) => Array.from(b.data)),
  );

test.serial('one stream: a restored pipeline reopens the stream at its offset and emits exactly the remaining batches', async (t) => {
  await checkResume(t, () => ids(1), 1, [3, 20]);
});

test.serial('three streams: nothing twice, nothing missing; the session is reused', async (t) => {
  const first = await train(() => ids(3), 1, { stopAfter: 15 });
  const saved = first.state!.stages.find((s) => s.kind === 'bigquery')!.state as { session: { name: string }; streams: Record<number, { offset: number }> };
  t.truthy(saved.session.name);
  t.true(Object.keys(saved.streams).length > 0);
  const rest = await train(() => ids(3), 1, { restore: first.state });
  const all = [...first.trained, ...rest.trained].flat().sort((a, b) => a - b);
  t.deepEqual(all, Array.from({ length: OCCUPANCY_ROWS }, (_, i) => i + 1));
});

test.serial('an expired read session: the epoch restarts from its beginning, with a warning', async (t) => {
  const first = await train(() => ids(1), 1, { stopAfter: 5 });
  const state = first.state!;
  const expired: PipelineCheckpoint = {
    ...state,
    stages: state.stages.map((s) => (s.kind === 'bigquery' ? { ...s, state: { ...(s.state as object), expiresAt: Date.now() - 1000 } } : s)),
  };
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.message);
  process.on('warning', onWarning);
  try {
    const rest = await train(() => ids(1), 1, { restore: expired });
    t.is(rest.trained.flat().length, OCCUPANCY_ROWS, 'the whole epoch again');
  } finally {
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);
  }
  t.true(warnings.some((w) => /expired at .*epoch 0 restarts from its beginning/.test(w)), warnings.join('\n'));
});
