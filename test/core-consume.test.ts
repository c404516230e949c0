import test from 'ava';
import { lastValueFrom, toArray, take } from 'rxjs';
import { fromIterable, consume, prefetch, ElementError, PipelineStats } from '../src/index.js';
import { counter, range, sleep } from './helpers.js';

test('runs fn one at a time and asks for the next element only when it finishes', async (t) => {
  const { state, endless } = counter();
  const pulledAtStart: number[] = [];
  const out = await lastValueFrom(
    fromIterable(endless).pipe(
      take(5),
      consume(async (x: number) => {
        pulledAtStart.push(state.pulled);
        await sleep(2);
        return x * 2;
      }),
      toArray(),
    ),
  );
  t.deepEqual(out, [0, 2, 4, 6, 8]);
  t.deepEqual(pulledAtStart, [1, 2, 3, 4, 5], 'exactly one element pulled per call');
});

test('concurrency runs several at once; lookahead keeps one ready', async (t) => {
  let running = 0;
  let maxRunning = 0;
  const { state, endless } = counter();
  let maxAhead = 0;
  let finished = 0;
  await lastValueFrom(
    fromIterable(endless).pipe(
      take(30),
      consume(async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        maxAhead = Math.max(maxAhead, state.pulled - finished);
        await sleep(2);
        running--;
        finished++;
      }, { concurrency: 3, lookahead: 1 }),
    ),
  );
  t.is(maxRunning, 3);
  t.true(maxAhead <= 4, `ahead ${maxAhead}`);
});

test('a failing call errors with the element index; synchronous throws too', async (t) => {
  const e = await t.throwsAsync(lastValueFrom(fromIterable(range(5)).pipe(consume(async (x: number) => {
    if (x === 2) throw new Error('step blew up');
  }))));
  t.true(e instanceof ElementError);
  t.regex(e!.message, /consume failed on element #2: step blew up/);
  await t.throwsAsync(lastValueFrom(fromIterable(range(5)).pipe(consume((x: number) => {
    if (x === 1) throw new Error('sync');
  }))), { message: /element #1: sync/ });
});

test('synchronous fn over many elements does not grow the stack', async (t) => {
  const out = await lastValueFrom(fromIterable(range(100_000)).pipe(prefetch(2), consume((x: number) => x), toArray()));
  t.is(out.length, 100_000);
});

test('records input wait time and counts in stats', async (t) => {
  const stats = new PipelineStats();
  const slowSource = fromIterable(async function* () {
    for (let i = 0; i < 5; i++) {
      await sleep(5);
      yield i;
    }
  });
  await lastValueFrom(slowSource.pipe(consume((x: number) => x, { stats, name: 'sink' })));
  const sink = stats.get('sink')!;
  t.is(sink.in, 5);
  t.is(sink.out, 5);
  t.true(sink.waitMs >= 5, `wait ${sink.waitMs}`);
  t.regex(stats.format(), /s:fromIterable/);
});

test('rejects bad options', (t) => {
  t.throws(() => consume(() => 1, { concurrency: 0 }), { instanceOf: RangeError });
  t.throws(() => consume(() => 1, { lookahead: -1 }), { instanceOf: RangeError });
});
