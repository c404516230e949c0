// `signal` on the file sources: an abort fails the source with an AbortError naming it, and
// closes what it holds (counted in /proc/self/fd), on the stream path and the CSV byte path.
import test from 'ava';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { lastValueFrom, toArray, type Observable } from 'rxjs';
import { AbortError, PipelineStats, consume, fromFiles, fromImageFolder } from '../src/index.js';
import { sleep } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rxdata-abort-'));

/** Descriptors this process holds open on files under `dir`. */
const openUnder = (root: string): number => {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(root)) n++;
    } catch {
      // Closed between the listing and the readlink.
    }
  }
  return n;
};

/** Runs `source` into a consumer that aborts after `after` elements; returns the error and the count. */
async function abortAfter<T>(make: (signal: AbortSignal) => Observable<T>, after: number, stats = new PipelineStats()) {
  const controller = new AbortController();
  let seen = 0;
  let openAtAbort = 0;
  const done = lastValueFrom(
    make(controller.signal).pipe(
      consume(
        async () => {
          if (++seen === after) {
            openAtAbort = openUnder(dir);
            controller.abort(new Error('enough'));
          }
          await sleep(0);
        },
        { stats },
      ),
      toArray(),
    ),
  );
  const error = await done.then(
    () => undefined,
    (e: unknown) => e,
  );
  return { error, seen, openAtAbort };
}

async function closedSoon(t: import('ava').ExecutionContext, root: string): Promise<void> {
  for (let i = 0; i < 100 && openUnder(root) > 0; i++) await sleep(10);
  t.is(openUnder(root), 0, 'every file handle closed');
}

const big = join(dir, 'big.csv');
writeFileSync(big, ['a,b,y', ...Array.from({ length: 200_000 }, (_, i) => `${i},${i / 8},${i % 2}`)].join('\n'));

for (const [label, options] of [
  ['the CSV byte path', { format: 'csv', labels: ['y'] }],
  ['the csv-parse path', { format: 'csv' }],
  ['lines', { format: 'lines' }],
] as const) {
  test.serial(`fromFiles (${label}): abort fails with an AbortError naming the source and closes the file`, async (t) => {
    const { error, seen, openAtAbort } = await abortAfter((signal) => fromFiles(big, { ...options, signal } as never), 100);
    t.true(error instanceof AbortError, String(error));
    t.is((error as AbortError).message, `fromFiles(${big}): aborted`);
    t.is(((error as AbortError).cause as Error).message, 'enough');
    t.is(openAtAbort, 1, 'the file was open when the signal aborted');
    t.true(seen < 200_000);
    await closedSoon(t, dir);
  });
}

test.serial('fromFiles: an aborted signal opens nothing; no signal, no change', async (t) => {
  const controller = new AbortController();
  controller.abort();
  const error = await t.throwsAsync(lastValueFrom(fromFiles(big, { format: 'lines', signal: controller.signal })));
  t.true(error instanceof AbortError);
  t.is(openUnder(dir), 0);
  const small = join(dir, 'small.txt');
  writeFileSync(small, 'a\nb\n');
  t.deepEqual(await lastValueFrom(fromFiles(small, { format: 'lines', signal: new AbortController().signal }).pipe(toArray())), ['a', 'b']);
});

test.serial('fromImageFolder: abort fails with an AbortError, reads no further image and closes its files', async (t) => {
  const root = join(dir, 'images');
  for (const name of ['cats', 'dogs']) {
    mkdirSync(join(root, name), { recursive: true });
    for (let i = 0; i < 20; i++) {
      const png = new PNG({ width: 64, height: 64 });
      png.data.fill(i * 10);
      writeFileSync(join(root, name, `${i}.png`), PNG.sync.write(png));
    }
  }
  const stats = new PipelineStats();
  const { error, seen } = await abortAfter((signal) => fromImageFolder(root, { size: [8, 8], signal }), 3, stats);
  t.true(error instanceof AbortError, String(error));
  t.is((error as AbortError).message, `fromImageFolder(${root}): aborted`);
  t.is(seen, 3);
  const read = stats.get('fromImageFolder')!.out;
  await sleep(50);
  t.is(stats.get('fromImageFolder')!.out, read, 'nothing read after the abort');
  t.true(read < 40);
  t.is(stats.get('fromImageFolder')!.skipped, 0, 'a cancelled read is no bad image');
  await closedSoon(t, root);
});
