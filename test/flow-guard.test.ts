/**
 * The guard: a plain RxJS operator that buffers between a producer of ours and the gate below
 * it is named, once and early; `filter`/`take`/`map` pipelines never trip it.
 */
import test from 'ava';
import { concatMap as rxConcatMap, delay as rxDelay, filter, lastValueFrom, map, take, bufferCount } from 'rxjs';
import { fromIterable, consume, batch, shuffle, prefetch, configureFlowGuard, FlowError } from '../src/index.js';
import { concatMap } from '../src/rxjs.js';
import { sleep } from './helpers.js';

const endless = (name: string) =>
  fromIterable(function* () {
    for (let i = 0; ; i++) yield i;
  }, { name });

/** Collects the guard's warnings while `run` runs. */
async function warningsDuring(run: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const listener = (warning: Error & { code?: string }): void => {
    if (warning.code === 'RXDATA_UNBOUNDED') seen.push(warning.message);
  };
  process.on('warning', listener);
  try {
    await run();
    await sleep(5); // warnings are emitted on the next tick
  } finally {
    process.off('warning', listener);
  }
  return seen;
}

test.serial('a plain RxJS concatMap(async) is named, with both stages and the fix', async (t) => {
  const warnings = await warningsDuring(() =>
    lastValueFrom(endless('readings').pipe(rxConcatMap(async (x: number) => x), take(20), consume(() => sleep(1), { name: 'trainer' }))),
  );
  t.is(warnings.length, 1);
  t.regex(warnings[0], /emitted by "readings" have not reached "trainer"/);
  t.regex(warnings[0], /rxdata\/rxjs/);
});

test.serial('a plain RxJS delay is named too', async (t) => {
  const warnings = await warningsDuring(() => lastValueFrom(endless('ticks').pipe(rxDelay(1), take(60), consume(() => sleep(1), { name: 'slow-sink' }))));
  t.is(warnings.length, 1);
  t.regex(warnings[0], /"ticks".*"slow-sink"/);
});

test.serial('strict mode fails the pipeline with a FlowError instead', async (t) => {
  configureFlowGuard('strict');
  try {
    const error = await t.throwsAsync(
      lastValueFrom(endless('strict-source').pipe(rxConcatMap(async (x: number) => x), take(5000), consume(() => sleep(1), { name: 'strict-sink' }))),
    );
    t.true(error instanceof FlowError);
    t.regex(error!.message, /"strict-source".*"strict-sink"/);
  } finally {
    configureFlowGuard('warn');
  }
});

test.serial('silent for filter, take, map, bufferCount and batch, however much filter drops', async (t) => {
  const warnings = await warningsDuring(async () => {
    await lastValueFrom(endless('filtered').pipe(filter((x: number) => x % 5000 === 0), take(3), consume(() => sleep(1), { name: 'f-sink' })));
    await lastValueFrom(endless('mapped').pipe(map((x: number) => [x]), bufferCount(4), batch(8), take(20), consume(() => sleep(1), { name: 'm-sink' })));
    await lastValueFrom(fromIterable(async function* () {
      for (let i = 0; ; i++) yield i;
    }, { name: 'async-filtered' }).pipe(filter((x: number) => x % 3000 === 0), take(2), consume(() => sleep(1), { name: 'af-sink' })));
  });
  t.deepEqual(warnings, []);
});

test.serial('silent for the rxdata/rxjs concatMap', async (t) => {
  const warnings = await warningsDuring(() =>
    lastValueFrom(endless('ours').pipe(concatMap(async (x: number) => x), take(300), consume(() => undefined, { name: 'ours-sink' }))),
  );
  t.deepEqual(warnings, []);
});

test.serial('silent for a finite pipeline whose stages aggregate and flush on completion', async (t) => {
  const warnings = await warningsDuring(() =>
    lastValueFrom(
      fromIterable(function* () {
        for (let i = 0; i < 20_000; i++) yield { x: [i, i], y: i % 10 };
      }, { name: 'finite' }).pipe(map((e) => e), shuffle(1000, { seed: 1 }), batch(256), prefetch(2), consume(() => undefined, { name: 'agg-sink' })),
    ),
  );
  t.deepEqual(warnings, []);
});
