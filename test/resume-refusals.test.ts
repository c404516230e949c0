/**
 * Issue 17: a stage that cannot save its state says so when a checkpoint is asked for, naming
 * itself and why (live sockets by their socket, worker threads by their module, operators that
 * hand Observables downstream or follow the clock); fit's 'auto' warns naming it and 'required'
 * fails.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { from, map, type Observable } from 'rxjs';
import { batch, fromIterable, lossy, zipDatasets } from '../src/index.js';
import { bufferTime, groupBy, share, shareReplay, windowTime } from '../src/rxjs.js';
import { fromWorkers } from '../src/workers/fromWorkers.js';
import { fromTcp, fromUdp } from '../connectors/sockets/index.js';
import { fit } from '../src/train/fit.js';
import { CheckpointError, resumable } from '../src/state/index.js';

const values = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Subscribes `source` as a resumable pipeline and asks for a checkpoint after `after` elements (or at once). */
async function refusal(source: Observable<unknown>, after = 1): Promise<unknown> {
  const pipeline = resumable(source);
  return new Promise((resolve, reject) => {
    let seen = 0;
    let done = false;
    const ask = (): void => {
      if (done) return;
      done = true;
      try {
        pipeline.checkpoint();
        resolve(undefined);
      } catch (error) {
        resolve(error);
      }
      setImmediate(() => subscription.unsubscribe());
    };
    const subscription = pipeline.subscribe({
      next: () => {
        if (++seen >= after) ask();
      },
      error: reject,
      complete: ask,
    });
    if (after === 0) ask();
  });
}

function assertRefused(t: import('ava').ExecutionContext, error: unknown, pattern: RegExp): void {
  t.true(error instanceof CheckpointError, String(error));
  t.regex((error as Error).message, pattern);
}

/** A TCP server that writes `lines` to each connection and closes it. */
async function gateway(lines: string[]): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.end(lines.join('\n') + '\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

test('a TCP source refuses, naming its socket', async (t) => {
  const gw = await gateway(values(10).map((i) => JSON.stringify({ i })));
  const error = await refusal(fromTcp({ port: gw.port }).pipe(batch(2)));
  assertRefused(t, error, new RegExp(`'fromTcp' cannot save its state: it reads live data from tcp 127\\.0\\.0\\.1:${gw.port}`));
  await gw.close();
});

test('a UDP source refuses, naming its socket', async (t) => {
  const error = await refusal(fromUdp({ port: 0, name: 'sensors' }).pipe(batch(2)), 0);
  assertRefused(t, error, /'sensors' cannot save its state: it reads live data from udp 127\.0\.0\.1:0/);
});

test('fromWorkers refuses, naming its module', async (t) => {
  const plain = new URL('./fixtures/workers/plain.mjs', import.meta.url);
  const error = await refusal(fromWorkers<number, { perShard: number }>(plain, { workers: 1, credit: 1, args: { perShard: 20 } }).pipe(batch(2)));
  assertRefused(t, error, /'fromWorkers' cannot save its state: its elements come from worker threads running .*plain\.mjs/);
});

test('operators that hand Observables downstream, follow the clock or multicast refuse, naming themselves', async (t) => {
  const cases: [string, Observable<unknown>, RegExp][] = [
    ['groupBy', fromIterable(values(20)).pipe(groupBy((x: number) => x % 2)), /'groupBy' cannot save its state: it hands groups/],
    ['share', fromIterable(values(20)).pipe(share()), /'share' cannot save its state: it multicasts/],
    ['shareReplay', fromIterable(values(20)).pipe(shareReplay(1)), /'shareReplay' cannot save its state/],
    ['lossy', fromIterable(values(20)).pipe(lossy(2)), /'lossy' cannot save its state: what it drops depends on timing/],
    ['bufferTime', fromIterable(values(20)).pipe(bufferTime(1)), /'bufferTime' cannot save its state: its buffers follow the clock/],
    ['windowTime', fromIterable(values(20)).pipe(windowTime(1)), /'windowTime' cannot save its state/],
  ];
  for (const [, source, pattern] of cases) assertRefused(t, await refusal(source), pattern);
});

test('a fan-in names the input that cannot save its position', async (t) => {
  const error = await refusal(zipDatasets({ xs: fromIterable(values(10)), ys: from(values(10)) }));
  assertRefused(t, error, /zipDatasets source 'ys': the pipeline has no stage of ours that can save its position/);
  const inner = await refusal(zipDatasets([fromIterable(values(10)), fromIterable(values(10)).pipe(lossy(1))]));
  assertRefused(t, inner, /zipDatasets source #1: 'lossy' cannot save its state/);
});

const rows = values(24).map((i) => ({ xs: [i / 24, 1 - i / 24], ys: i % 2 }));
function model(): tf.LayersModel {
  const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 2, activation: 'softmax' })] });
  m.compile({ optimizer: tf.train.sgd(0.1), loss: 'sparseCategoricalCrossentropy' });
  return m;
}
const batches = (port: number): Observable<unknown> =>
  fromTcp<{ xs: number[]; ys: number }>({ port }).pipe(
    map((r) => ({ xs: Float32Array.from(r.xs), ys: r.ys })),
    batch(4),
  );

// batchesPerEpoch ends the epoch: fromTcp reconnects by default when the server closes.
test.serial("fit 'auto' warns once naming the socket source and saves the model; 'required' fails naming it", async (t) => {
  await tf.setBackend('cpu');
  const gw = await gateway(rows.map((r) => JSON.stringify(r)));
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }): void => void (w.code === 'RXDATA_PIPELINE_STATE' && warnings.push(w.message));
  process.on('warning', onWarning);
  try {
    await fit(model(), batches(gw.port) as never, { epochs: 1, batchesPerEpoch: 4, progress: false, checkpoint: { dir: mkdtempSync(join(tmpdir(), 'rxdata-refuse-auto-')), everySteps: 2 } }).history;
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  t.is(warnings.length, 1);
  t.regex(warnings[0], new RegExp(`'fromTcp' cannot save its state: it reads live data from tcp 127\\.0\\.0\\.1:${gw.port}`));
  const error = await t.throwsAsync(
    fit(model(), batches(gw.port) as never, { epochs: 1, batchesPerEpoch: 4, progress: false, checkpoint: { dir: mkdtempSync(join(tmpdir(), 'rxdata-refuse-required-')), everySteps: 2, pipeline: 'required' } }).history,
  );
  t.regex(error!.message, /'fromTcp' cannot save its state/);
  t.true((error as Error & { cause?: unknown }).cause instanceof CheckpointError);
  await gw.close();
});
