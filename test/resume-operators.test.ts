/**
 * Issue 17: every operator of ours saves its state in a resumable pipeline. Each operator is
 * checkpointed mid-stream between ordinary RxJS operators, over a synchronous and an asynchronous
 * source, restored in a freshly built pipeline (the state through V8 bytes, as in a new process),
 * and the concatenated output must equal the uninterrupted run's.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, map, type Observable, type OperatorFunction } from 'rxjs';
import {
  batch,
  bucketBySequenceLength,
  chooseFromDatasets,
  flatMap,
  fromIterable,
  groupByWindow,
  prefetch,
  rejectionResample,
  sampleFromDatasets,
  shuffle,
  slidingWindow,
  snapshot,
  unbatch,
  window,
  zipDatasets,
} from '../src/index.js';
import { checkResume, train } from './fixtures/resume/train.js';
import { sleep, syncAndAsyncSources } from './helpers.js';

const values = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

const sources = syncAndAsyncSources(7);

/** `stage` between a plain RxJS `map` above and `filter` below, over each source; checked at each stop. */
function resumes<R>(title: string, n: number, stage: () => OperatorFunction<number, R>, stops: number[], epochs = 1): void {
  for (const [kind, source] of sources) {
    test(`${title} (${kind} source)`, async (t) => {
      const build = (): Observable<R> =>
        source(n).pipe(
          map((x) => x * 3 + 1),
          stage(),
          filter(() => true),
        );
      await checkResume(t, build, epochs, stops);
    });
  }
}

resumes('unbatch: the batch being handed out and the rows emitted', 50, () => (s) => s.pipe(batch(6), unbatch(), prefetch(2)), [1, 5, 6, 7, 20, 49], 2);

resumes('window (shift < size, stride 2): the open windows', 40, () => window(4, { shift: 2, stride: 2 }), [1, 3, 10, 17], 2);
resumes('window (shift > size): the gap between windows', 40, () => window(3, { shift: 5 }), [1, 3, 6]);

resumes(
  'groupByWindow: the open windows per key',
  60,
  () => groupByWindow((x) => x % 4, (key, w) => [`${key}:${w.join(',')}`, `${key}#${w.length}`], (key) => 2 + Number(key)),
  [1, 4, 9, 20, 29],
);

resumes(
  'bucketBySequenceLength: the buckets (contents held)',
  60,
  () => (s) => s.pipe(map((x) => ({ tokens: values(1 + (x % 9)) })), bucketBySequenceLength((e) => e.tokens.length, [3, 6], [3, 2, 4])),
  [1, 5, 12, 19],
);

resumes(
  'flatMap: the element being expanded, rerun and skipped',
  30,
  () => (s) => s.pipe(flatMap((x: number, i: number) => values(x % 5).map((k) => `${i}.${x}.${k}`)), prefetch(2)),
  [1, 3, 8, 25, 40],
);

resumes(
  'flatMap over an async inner sequence',
  20,
  () =>
    flatMap((x: number) =>
      (async function* () {
        for (let k = 0; k < 3; k++) {
          await sleep(0);
          yield x * 10 + k;
        }
      })(),
    ),
  [1, 2, 4, 31],
);

resumes('rejectionResample: the generator and the class counts', 300, () => rejectionResample((x) => (x % 10 < 7 ? 0 : x % 10 < 9 ? 1 : 2), [1, 1, 1], { seed: 4 }), [1, 10, 30]);

resumes(
  'slidingWindow by count, per key, stride 2',
  80,
  () => (s) => s.pipe(slidingWindow(4, { stride: 2, key: (x) => String(x % 3), features: (x) => [x, -x] }), map((w) => ({ data: Array.from(w.data), key: w.key, last: w.last }))),
  [1, 4, 9, 15],
);

resumes(
  'slidingWindow by time, with gaps',
  80,
  () => (s) =>
    s.pipe(
      map((x) => ({ t: x * 250 + (x % 5 === 0 ? 1500 : 0), v: x })),
      slidingWindow(4, { timeMs: 2000, timestamp: 't', features: (r) => r.v }),
      map((w) => ({ data: Array.from(w.data), start: w.start })),
    ),
  [1, 5, 11],
);

resumes(
  "zipDatasets: each side's state, one side shuffled",
  40,
  () => (s) => zipDatasets({ a: s, b: fromIterable(values(100)).pipe(shuffle(8, { seed: 3 })) }).pipe(prefetch(2)),
  [1, 7, 20],
  2,
);

resumes(
  "sampleFromDatasets: the generator and each input's position",
  40,
  () => (s) => sampleFromDatasets([s, fromIterable(values(30)).pipe(map((x) => -x - 1)), fromIterable(values(5)).pipe(map((x) => 1000 + x))], { weights: [2, 1, 1], seed: 9, rerandomizeEachIteration: true }),
  [1, 10, 33, 60, 80],
  2,
);

resumes(
  'chooseFromDatasets: the choice source and the inputs',
  40,
  () => (s) => chooseFromDatasets([s, fromIterable(values(100)).pipe(map((x) => -x - 1))], fromIterable(values(60)).pipe(map((i) => (i % 3 === 0 ? 1 : 0)))),
  [1, 10, 33, 52],
);

test('the held-size report includes the new stages that hold elements', async (t) => {
  const first = await train(
    () =>
      fromIterable(values(200)).pipe(
        map((x) => ({ tokens: values(1 + (x % 9)) })),
        bucketBySequenceLength((e) => e.tokens.length, [3, 6], [5, 5, 5]),
        unbatch(),
        window(3),
      ),
    1,
    { stopAfter: 4 },
  );
  const held = first.state!.held;
  t.true((held['#2 bucketBySequenceLength'] ?? 0) > 0, JSON.stringify(held));
  t.is(held['#1 unbatch'], 1, JSON.stringify(held));
  // A fan-in reports what its sources' stages hold under its own name.
  const zipped = await train(() => zipDatasets({ a: fromIterable(values(50)), b: fromIterable(values(50)).pipe(shuffle(8, { seed: 1 })) }), 1, { stopAfter: 3 });
  t.is(zipped.state!.held["#0 zipDatasets/source 'b' #0 shuffle"], 8, JSON.stringify(zipped.state!.held));
});

test('snapshot: a replay resumes at its record, a recording pass restored mid-way passes through', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'rxdata-resume-snapshot-'));
  let runs = 0;
  // A fresh directory per pipeline: every checkpoint is taken while recording (40 elements an epoch).
  const recording = (): Observable<number> => fromIterable(values(40)).pipe(map((x) => x * 2), snapshot(join(root, `fresh-${runs++}`), { key: 'k' }), filter((x) => x % 3 !== 0));
  await checkResume(t, recording, 2, [1, 10, 25]);
  // One directory: the first pass records, every later one (and every restore) replays.
  const shared = (): Observable<number> => fromIterable(values(40)).pipe(map((x) => x * 2), snapshot(join(root, 'shared'), { key: 'k' }), filter((x) => x % 3 !== 0));
  await checkResume(t, shared, 3, [1, 10, 30, 50]);
  // A replay's checkpoint restored where the file has gone: an error naming it.
  const first = await train(shared, 2, { stopAfter: 5 });
  t.is((first.state!.stages.find((s) => s.kind === 'snapshot')!.state as { mode: string }).mode, 'replay');
  rmSync(join(root, 'shared'), { recursive: true });
  const error = await t.throwsAsync(train(shared, 2, { restore: first.state }));
  t.regex(error!.message, /snapshot: the checkpoint was replaying .*shared.*\.snapshot, which no longer exists/);
});
