/**
 * Exact mid-epoch resume (issue 17): a pipeline checkpointed at step k and restored in a freshly
 * built pipeline (as in a new process: new operator instances, the state through V8 bytes) emits
 * exactly the batches the uninterrupted run emits from step k on.
 */
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { concatMap as rxConcatMap, from, map, type Observable } from 'rxjs';
import { batch, cache, consume, fromFiles, fromIterable, interleave, parallelMap, prefetch, shard, shuffle } from '../src/index.js';
import { CheckpointError, resumable } from '../src/state/index.js';
import { sleep } from './helpers.js';
import { checkResume, train } from './fixtures/resume/train.js';

const values = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

test('iterable → parallelMap → shuffle → batch → prefetch: a restored pipeline emits exactly the remaining batches, across epochs', async (t) => {
  const build = (): Observable<unknown> =>
    fromIterable(values(300)).pipe(
      parallelMap(async (x: number, i: number) => {
        await sleep(x % 4 === 0 ? 1 : 0);
        return [x, i];
      }, { concurrency: 4 }),
      shuffle(40, { seed: 7 }),
      batch(7),
      prefetch(3),
    );
  // 43 batches an epoch, 2 epochs: early, mid-epoch, the last batch of epoch 0, into epoch 1.
  await checkResume(t, build, 2, [1, 20, 42, 43, 44, 70, 85]);
});

test('a generator source resumes by replay-skip, and the shuffle drain and partial batch are saved', async (t) => {
  const build = (): Observable<unknown> =>
    fromIterable(function* () {
      for (let i = 0; i < 50; i++) yield { x: new Float32Array([i, i * 2]), y: i % 3 };
    }).pipe(shuffle(64, { seed: 3 }), batch(4), prefetch(2));
  // shuffle(64) over 50 elements: every batch comes from the final drain.
  await checkResume(t, build, 2, [1, 5, 12, 13, 20]);
});

test('files: interleave (cycle 3, block 2) + shuffle + batch + prefetch resume mid-file with the same order', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rxdata-resume-'));
  for (let f = 0; f < 5; f++) {
    writeFileSync(join(dir, `part-${f}.txt`), Array.from({ length: 17 + f * 5 }, (_, i) => `${f},${i}`).join('\n') + '\n');
  }
  const build = (): Observable<unknown> =>
    fromFiles(dir, { format: 'lines', cycleLength: 3, blockLength: 2 }).pipe(
      map((line: string) => line.split(',').map(Number)),
      shuffle(16, { seed: 11 }),
      batch(5),
      prefetch(2),
    );
  await checkResume(t, build, 2, [1, 7, 13, 21, 26, 40]);
});

test('interleave over iterables resumes without losing or repeating an element', async (t) => {
  const build = (): Observable<number> =>
    fromIterable([0, 1, 2, 3]).pipe(
      interleave((k: number) => fromIterable(values(10 + k).map((i) => k * 100 + i)), { cycleLength: 2, blockLength: 3 }),
    );
  await checkResume(t, build, 1, [1, 9, 25, 40]);
});

test('a checkpoint fails naming the stages around an RxJS operator that holds elements', async (t) => {
  const pipeline = resumable(fromIterable(values(100)).pipe(shuffle(10, { seed: 1 }), rxConcatMap(async (x) => x), batch(5)));
  let failure: unknown;
  await new Promise<void>((resolve, reject) => {
    const sub = pipeline.pipe(consume(async (_b, i) => {
      if (i === 3) {
        try {
          pipeline.checkpoint();
        } catch (error) {
          failure = error;
        }
        setImmediate(() => {
          sub.unsubscribe();
          resolve();
        });
      }
    })).subscribe({ error: reject, complete: resolve });
  });
  t.true(failure instanceof CheckpointError);
  t.regex((failure as Error).message, /between 'shuffle' and 'batch'/);
});

test('a checkpoint fails when the source is not one of ours', (t) => {
  const pipeline = resumable(from(values(10)).pipe(batch(3)));
  let failure: unknown;
  pipeline.subscribe(() => {
    try {
      pipeline.checkpoint();
    } catch (error) {
      failure ??= error;
    }
  });
  t.true(failure instanceof CheckpointError);
  t.regex((failure as Error).message, /source above 'batch'/);
});

test('restoring into a pipeline built differently fails naming the stage', async (t) => {
  const first = await train(() => fromIterable(values(40)).pipe(shuffle(5, { seed: 1 }), batch(4)), 1, { stopAfter: 3 });
  const error = await t.throwsAsync(train(() => fromIterable(values(40)).pipe(batch(4)), 1, { restore: first.state }));
  t.regex(error!.message, /stage #1 of the pipeline is 'fromIterable' \(fromIterable\), but the checkpoint has 'shuffle'/);
});

test('the checkpoint reports what it holds: the shuffle window and the prefetch buffer', async (t) => {
  const first = await train(() => fromIterable(values(200)).pipe(shuffle(30, { seed: 1 }), batch(4), prefetch(2)), 1, { stopAfter: 5 });
  const held = first.state!.held;
  t.is(held['#2 shuffle'], 30);
  t.true((held['#0 prefetch'] ?? 0) <= 2);
  t.is(first.state!.epoch, 0);
  t.is(first.state!.consumed, 5);
});

test('cache: a pass being recorded and a replay resume exactly, also in a process whose cache is empty', async (t) => {
  const build = (): Observable<unknown> => fromIterable(values(60)).pipe(map((x) => ({ x })), cache(), shuffle(16, { seed: 2 }), batch(5), prefetch(2));
  // 12 batches an epoch: stops while recording (epoch 0) and while replaying (epochs 1, 2).
  await checkResume(t, build, 3, [4, 15, 30]);
  // One cache kept across the interruption (the same process): the replay skips to its position.
  const shared = cache<{ x: number }>();
  const sameProcess = (): Observable<unknown> => fromIterable(values(60)).pipe(map((x) => ({ x })), shared, shuffle(16, { seed: 2 }), batch(5));
  await checkResume(t, sameProcess, 3, [20]);
});

test('shard between stages of ours keeps its count across a restore', async (t) => {
  const build = (): Observable<unknown> => fromIterable(values(90)).pipe(shard(3, 1), shuffle(7, { seed: 5 }), batch(4));
  await checkResume(t, build, 2, [2, 5, 9]);
});
