/**
 * `npm run demo -- --resume`: an interrupted training run that picks up mid-epoch.
 *
 *   run 1 (child process):  fit, checkpoint every 25 steps (model + pipeline.bin) … SIGKILL mid-epoch
 *   run 2 (child process):  fit({ resumeFrom }) → the epoch continues at the checkpoint's batch
 *   then: the batches both runs trained, up to the checkpoint and after it, are compared with the
 *   batches an uninterrupted run gets (same elements, same order, nothing twice, nothing missing).
 *
 * The pipeline: CSV rows → parallelMap(normalise) → shuffle(1024, seeded) → batch(32) → prefetch(2).
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lastValueFrom, toArray, type Observable } from 'rxjs';
import { batch } from '../../operators/batch.js';
import { parallelMap } from '../../operators/parallelMap.js';
import { prefetch } from '../../operators/prefetch.js';
import { shuffle } from '../../operators/shuffle.js';
import { resumable } from '../../src/state/resumable.js';
import type { NDArray } from '../../src/types.js';
import { DATA_DIR, buildModel } from './pipeline.js';
import { readDigits, type DigitRow } from './readRows.js';

const EPOCHS = 3;
const EVERY = 25;
type Example = { readonly xs: Float32Array; readonly ys: number };
type Batch = { readonly xs: NDArray; readonly ys: NDArray };
const normalise = (row: DigitRow): Example => ({ xs: row.pixels.map((v) => v / 16), ys: row.label });

function pipeline(): Observable<Batch> {
  return readDigits(join(DATA_DIR, 'optdigits.tra.csv')).pipe(
    parallelMap(normalise, { concurrency: 4 }),
    shuffle<Example>(1024, { seed: 7 }),
    batch(32),
    prefetch(2),
  );
}

/** A batch's fingerprint: enough to tell any two different batches apart. */
function fingerprint(b: Batch): string {
  let h = 2166136261;
  for (const v of [...b.xs.data, ...b.ys.data]) h = Math.imul(h ^ Math.round(v * 16), 16777619) >>> 0;
  return `${b.ys.shape[0]}:${h.toString(16)}`;
}

/** The child: trains, checkpointing the model and the pipeline; logs each trained batch; dies at KILL_AT. */
async function child(ckpt: string, log: string, killAt: number): Promise<void> {
  const { selectBackend } = await import('../../src/train/backend.js');
  const { fit } = await import('../../src/train/fit.js');
  const { existsSync } = await import('node:fs');
  await selectBackend('auto', { log: false });
  const model = buildModel(42);
  let last = '';
  let step = 0;
  const run = fit(model, pipeline(), {
    epochs: EPOCHS,
    progress: 'silent',
    select: (b: Batch) => {
      last = fingerprint(b);
      return { xs: b.xs, ys: b.ys };
    },
    checkpoint: { dir: ckpt, everySteps: EVERY, pipeline: 'required' },
    resumeFrom: existsSync(join(ckpt, 'latest.json')) ? ckpt : undefined,
    callbacks: {
      onBatchEnd(batchIndex) {
        appendFileSync(log, JSON.stringify({ step, batch: batchIndex, fp: last }) + '\n');
        if (step === killAt) process.kill(process.pid, 'SIGKILL');
      },
    },
  });
  run.events$.subscribe((e) => {
    if (e.type === 'step') step = e.step;
    if (e.type === 'epochBegin') console.log(`  epoch ${e.epoch + 1}/${EPOCHS}`);
    if (e.type === 'checkpoint') console.log(`  checkpoint at step ${e.step} (model + pipeline state)`);
  });
  const history = await run.history;
  if (history.initialEpoch > 0 || killAt === 0) console.log(`  finished: loss ${history.epochs.at(-1)?.loss.toFixed(4)}`);
}

function spawnChild(ckpt: string, log: string, killAt: number): Promise<NodeJS.Signals | null> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', ckpt, log, String(killAt)], { stdio: ['ignore', 'inherit', 'inherit'] });
    p.on('error', reject);
    p.on('exit', (code, signal) => (signal || code === 0 ? resolve(signal) : reject(new Error(`child exited with ${code}`))));
  });
}

const readLog = (path: string): { step: number; batch: number; fp: string }[] =>
  readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { step: number; batch: number; fp: string });

/** The demo: kill a run mid-epoch, resume it, and compare with an uninterrupted run's batches. */
export async function resumeDemo(killAt = 2 * 120 - 120 / 2 + 7): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'rxdata-resume-demo-'));
  try {
    const ckpt = join(dir, 'ckpt');
    console.log(`run 1: training ${EPOCHS} epochs of 120 batches; SIGKILL at step ${killAt} (epoch ${Math.floor((killAt - 1) / 120) + 1}, batch ${((killAt - 1) % 120) + 1})`);
    const signal = await spawnChild(ckpt, join(dir, 'run1.jsonl'), killAt);
    console.log(`  … killed (${signal})`);
    const run1 = readLog(join(dir, 'run1.jsonl'));
    const { name } = JSON.parse(readFileSync(join(ckpt, 'latest.json'), 'utf8')) as { name: string };
    const saved = (JSON.parse(readFileSync(join(ckpt, name, 'state.json'), 'utf8')) as { step: number }).step;
    const pipelineBytes = readFileSync(join(ckpt, name, 'pipeline.bin')).length;
    console.log(`run 2: resuming from ${name} (step ${saved}; pipeline state ${(pipelineBytes / 1024).toFixed(0)} KiB: shuffle window, partial batch, prefetched batches, reader position)`);
    await spawnChild(ckpt, join(dir, 'run2.jsonl'), 0);
    const run2 = readLog(join(dir, 'run2.jsonl'));
    console.log(`  the resumed run's first step is step ${run2[0].step}: batch ${run2[0].batch + 1 + (saved % 120)} of epoch ${Math.floor(saved / 120) + 1}, not batch 1`);

    const data = resumable(pipeline());
    const expected: string[] = [];
    for (let e = 0; e < EPOCHS; e++) for (const b of await lastValueFrom(data.pipe(toArray()))) expected.push(fingerprint(b));
    const trained = [...run1.filter((l) => l.step <= saved), ...run2].map((l) => l.fp);
    const same = trained.length === expected.length && trained.every((fp, i) => fp === expected[i]);
    console.log(
      same
        ? `✓ the two runs together trained exactly the ${expected.length} batches of an uninterrupted run, in its order (steps ${saved + 1}–${killAt} of run 1 were lost with the process and trained again by run 2)`
        : `✗ the trained batches differ from an uninterrupted run's (${trained.length} vs ${expected.length})`,
    );
    return same;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  const [ckpt, log, killAt] = process.argv.slice(3);
  await child(ckpt, log, Number(killAt));
}
