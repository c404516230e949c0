/**
 * Micro-bench of batch's stacking (src/stack.ts): elements/s through fromIterable → batch(256),
 * for the element shapes that take different paths. Run: `npx tsx bench/stack.ts`. Prints the
 * median of 5 runs per case, by CPU time (user + system: steadier than wall time on a shared
 * machine). Not part of `npm test`; used to check that stack.ts changes keep speed.
 */
import { count, lastValueFrom } from 'rxjs';
import { fromIterable } from '../src/fromIterable.js';
import { batch } from '../operators/batch.js';

const POOL = 1024;
const floats = Array.from({ length: POOL }, (_, i) => Float32Array.from({ length: 64 }, (_, k) => i + k / 64));
const numberArrays = Array.from({ length: POOL }, (_, i) => Array.from({ length: 64 }, (_, k) => i + k / 64));
const wide = Array.from({ length: POOL }, (_, i) => Object.fromEntries(Array.from({ length: 64 }, (_, k) => [`f${k}`, i + k / 64])));

const cases: { name: string; n: number; make: (i: number) => unknown }[] = [
  { name: '{ xs: Float32Array(64), ys: int }', n: 1_000_000, make: (i) => ({ xs: floats[i & (POOL - 1)], ys: i & 7 }) },
  { name: '{ x, y } numbers (overhead scenario rows)', n: 2_000_000, make: (i) => ({ x: i * 0.5, y: i & 7 }) },
  { name: 'number[64]', n: 200_000, make: (i) => numberArrays[i & (POOL - 1)] },
  { name: '64 numeric fields (CSV row)', n: 200_000, make: (i) => wide[i & (POOL - 1)] },
  { name: 'Float32Array(64)', n: 1_000_000, make: (i) => floats[i & (POOL - 1)] },
];

function* elements(n: number, make: (i: number) => unknown): Generator<unknown> {
  for (let i = 0; i < n; i++) yield make(i);
}

for (const c of cases) {
  const times: number[] = [];
  for (let run = 0; run < 5; run++) {
    const c0 = process.cpuUsage();
    await lastValueFrom(fromIterable(elements(c.n, c.make)).pipe(batch(256), count()));
    const used = process.cpuUsage(c0);
    times.push((used.user + used.system) / 1000);
  }
  times.sort((a, b) => a - b);
  const ms = times[2];
  console.log(`${c.name.padEnd(44)} ${(c.n / ms / 1000).toFixed(2).padStart(7)} M elements/s  (median ${ms.toFixed(0)} ms CPU for ${c.n})`);
}
