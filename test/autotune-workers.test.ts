/**
 * `fromWorkers({ workers: 'auto' })` end to end, with `keepAliveMs`: the tuner chooses the count
 * when each subscription (epoch) starts, from what the last one showed, and the count carries
 * from epoch to epoch. The decision rests on ratios that real time cannot tip: the workers make
 * elements in microseconds and the sink takes a millisecond each, so they wait for credit nearly
 * all the time (no timing is asserted).
 */
import test from 'ava';
import { lastValueFrom, toArray } from 'rxjs';
import { consume } from '../operators/consume.js';
import { PipelineStats } from '../src/stats.js';
import { fromWorkers } from '../src/workers/fromWorkers.js';
import { autotuneSummary } from '../src/autotune/index.js';
import type { EpochArgs, Tagged } from './fixtures/workers/epochs.js';

const epochs = new URL('./fixtures/workers/epochs.ts', import.meta.url);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test.serial("fromWorkers workers 'auto' with keepAliveMs: the count is chosen per epoch, lowered when the workers wait for credit, and carried to the next epochs", async (t) => {
  const args: EpochArgs = { perShard: 60, counters: new Int32Array(new SharedArrayBuffer(8)) };
  // The tuner assumes 4 cores: 'auto' starts at every core but one.
  const stats = new PipelineStats({ autotune: { cores: 4 } });
  const source = fromWorkers<Tagged, EpochArgs>(epochs, { workers: 'auto', credit: 2, keepAliveMs: 60_000, args });
  const shards: number[] = [];
  const threadsUsed: Set<number>[] = [];
  for (let epoch = 0; epoch < 4; epoch++) {
    const got: Tagged[] = [];
    await lastValueFrom(
      source.pipe(
        consume(async (x: Tagged) => {
          got.push(x);
          await sleep(1);
        }, { stats }),
        toArray(),
      ),
    );
    const shardCount = new Set(got.map((x) => x.shard)).size;
    shards.push(shardCount);
    threadsUsed.push(new Set(got.map((x) => x.thread)));
    t.is(got.length, 60 * shardCount, `epoch ${epoch}: every element of every shard once`);
  }
  const summary = autotuneSummary(stats)!;
  const decisions = summary.decisions.filter((d) => d.knob === 'workers');
  t.is(decisions[0].action, 'start');
  t.is(shards[0], 3, 'the first epoch runs on every core but one');
  const lower = decisions.find((d) => d.action === 'lower');
  t.truthy(lower, decisions.map((d) => `${d.action} ${d.from}→${d.to}: ${d.reason}`).join('\n'));
  t.regex(lower!.reason, /waited for credit \d+ % of the time/);
  t.is(lower!.to, 1);
  t.is(shards.at(-1), 1, 'the count carries: later epochs start at the lowered count');
  t.is(summary.stages.find((s) => s.knob === 'workers')?.value, 1);
  t.false(decisions.some((d) => d.action === 'raise'), 'the sink never waited on busy workers: never raised');
  // At one count for two epochs in a row, keepAliveMs reuses the threads.
  t.deepEqual([...threadsUsed[3]], [...threadsUsed[2]]);
});
