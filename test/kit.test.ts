/** docs/kit.md's example (examples/kit/stages.ts): a source and a gated operator written with `rxdata/kit` obey demand like ours. */
import { readFileSync } from 'node:fs';
import test from 'ava';
import { from, lastValueFrom, take, tap, toArray } from 'rxjs';
import { AbortError, LimitError, PipelineStats, consume } from '../src/index.js';
import { MAX_OVERSHOOT } from '../src/kit.js';
import { countTo, mapSerial } from '../examples/kit/stages.js';
import { sleep } from './helpers.js';

test('docs/kit.md shows examples/kit/stages.ts as it is (imports from rxdata/kit)', (t) => {
  const doc = readFileSync(new URL('../docs/kit.md', import.meta.url), 'utf8');
  const file = readFileSync(new URL('../examples/kit/stages.ts', import.meta.url), 'utf8');
  const block = /<!-- example: examples\/kit\/stages\.ts -->\n```ts\n([\s\S]*?)```/.exec(doc);
  t.truthy(block, 'the marked code block is in docs/kit.md');
  t.is(block![1], file.replace("'../../src/kit.js'", "'rxdata/kit'"));
});

test('countTo → mapSerial(async) → consume(slow): in order, never more than the stated bounds in flight', async (t) => {
  let pulled = 0;
  let consumed = 0;
  let peak = 0;
  const stats = new PipelineStats();
  const out: number[] = [];
  await lastValueFrom(
    countTo(200).pipe(
      tap(() => {
        pulled++;
        peak = Math.max(peak, pulled - consumed);
      }),
      mapSerial(async (x: number) => {
        await sleep(0);
        return x * 2;
      }),
      consume(
        async (x: number) => {
          out.push(x);
          await sleep(1);
          consumed++;
        },
        { stats },
      ),
    ),
  );
  t.deepEqual(out, Array.from({ length: 200 }, (_, i) => 2 * i));
  // mapSerial's 1 + consume's 1 (concurrency 1, no lookahead).
  t.true(peak <= 2, `peak ${peak}`);
  const names = stats.snapshot().map((s) => s.name);
  t.true(names.includes('countTo') && names.includes('mapSerial'), names.join(', '));
});

test('countTo(Infinity) under take(5): stops; each subscription counts again (cold)', async (t) => {
  const source = countTo(Infinity).pipe(mapSerial(async (x: number) => x));
  t.deepEqual(await lastValueFrom(source.pipe(take(5), toArray())), [0, 1, 2, 3, 4]);
  t.deepEqual(await lastValueFrom(source.pipe(take(3), toArray())), [0, 1, 2]);
  t.deepEqual(await lastValueFrom(countTo(0).pipe(mapSerial(async (x: number) => x), toArray())), []);
});

test('mapSerial: fn failing fails the stream; a producer that ignores demand fails it past MAX_OVERSHOOT', async (t) => {
  await t.throwsAsync(
    lastValueFrom(countTo(10).pipe(mapSerial(async (x: number) => {
      if (x === 3) throw new Error('bad 3');
      return x;
    }))),
    { message: 'bad 3' },
  );
  // A plain RxJS array source pushes everything at once: kept up to the limit, then a LimitError.
  const error = await t.throwsAsync(lastValueFrom(from(Array.from({ length: MAX_OVERSHOOT + 2 }, (_, i) => i)).pipe(mapSerial(async (x: number) => x))));
  t.true(error instanceof LimitError, String(error));
  // Below the limit, the same source is mapped in full, in order.
  t.deepEqual(await lastValueFrom(from([1, 2, 3]).pipe(mapSerial(async (x: number) => x + 1), toArray())), [2, 3, 4]);
});

test('countTo({ signal }): an abort fails it with an AbortError naming it', async (t) => {
  const controller = new AbortController();
  const error = await t.throwsAsync(
    lastValueFrom(
      countTo(Infinity, { signal: controller.signal }).pipe(
        consume(async (x: number) => {
          if (x === 4) controller.abort();
          await sleep(0);
        }),
      ),
    ),
    { instanceOf: AbortError },
  );
  t.is(error?.message, 'countTo: aborted');
});
