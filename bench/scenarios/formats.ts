/**
 * Scenario 18, file formats: the same rows (64 float features and an integer label) stored as
 * CSV, TFRecord (tf.train.Example), Parquet (snappy) and Arrow IPC, each read by `fromFiles`
 * into a no-op step; rows/s. Parquet and Arrow also as columns (`output: 'columns'`, one batch of
 * NDArrays per row group / record batch). pyarrow's `read_table` on the same Parquet file is the
 * native reference, where a Python with pyarrow is found (`RXDATA_PYTHON`, the repository's .venv, python3).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { from, lastValueFrom, map } from 'rxjs';
import * as arrow from 'apache-arrow';
import { consume } from '../../operators/consume.js';
import { writeTFRecord } from '../../connectors/files/writeTFRecord.js';
import { fromFiles, serializeExample, writeParquet } from '../../connectors/files/index.js';
import type { NDArray } from '../../src/types.js';
import { InFlight, fmt, memoryCells, memoryHeader, ratio, table, type CaseResult, type CaseSpec, type RunOptions, type ScenarioDef, type ScenarioRunner } from '../lib.js';

const FEATURES = 64;
const rowsFor = (o: RunOptions): number => (o.warmup ? 10_000 : o.quick ? 20_000 : 100_000);
const ROW_GROUP = 10_000;
const names = Array.from({ length: FEATURES }, (_, j) => `f${j}`);

/** Feature j of row i: exact in float32, so every format holds the same values. */
const feature = (i: number, j: number): number => ((i * 31 + j * 7) % 1000) / 8;

/** Writes the four files for `n` rows once per machine (kept in the temp dir between runs). */
async function files(n: number): Promise<Record<'csv' | 'tfrecord' | 'parquet' | 'arrow', string>> {
  const dir = join(tmpdir(), `rxdata-bench-formats-${n}`);
  const out = { csv: join(dir, 'rows.csv'), tfrecord: join(dir, 'rows.tfrecord'), parquet: join(dir, 'rows.parquet'), arrow: join(dir, 'rows.arrow') };
  if (Object.values(out).every(existsSync)) return out;
  mkdirSync(dir, { recursive: true });
  const lines = [[...names, 'label'].join(',')];
  for (let i = 0; i < n; i++) lines.push([...names.map((_, j) => feature(i, j)), i % 10].join(','));
  writeFileSync(out.csv, lines.join('\n') + '\n');
  const rows = (): Iterable<Record<string, number>> => ({
    *[Symbol.iterator]() {
      for (let i = 0; i < n; i++) {
        const row: Record<string, number> = {};
        for (let j = 0; j < FEATURES; j++) row[names[j]] = feature(i, j);
        row.label = i % 10;
        yield row;
      }
    },
  });
  await lastValueFrom(from(rows()).pipe(writeParquet(out.parquet, { rowGroupSize: ROW_GROUP, types: { ...Object.fromEntries(names.map((f) => [f, 'FLOAT'])), label: 'INT32' } })));
  await lastValueFrom(
    from(rows()).pipe(
      map((r) => serializeExample({ x: Float32Array.from(names, (f) => r[f]), label: { int64: [r.label] } })),
      writeTFRecord(out.tfrecord),
    ),
  );
  const batches: arrow.RecordBatch[] = [];
  for (let start = 0; start < n; start += ROW_GROUP) {
    const size = Math.min(ROW_GROUP, n - start);
    const columns: Record<string, Float32Array | Int32Array> = {};
    for (let j = 0; j < FEATURES; j++) columns[names[j]] = Float32Array.from({ length: size }, (_, k) => feature(start + k, j));
    columns.label = Int32Array.from({ length: size }, (_, k) => (start + k) % 10);
    batches.push(...arrow.tableFromArrays(columns).batches);
  }
  writeFileSync(out.arrow, arrow.tableToIPC(new arrow.Table(batches), 'file'));
  return out;
}

/** A Python with pyarrow and numpy, or undefined. */
function python(): string | undefined {
  return [process.env.RXDATA_PYTHON, fileURLToPath(new URL('../../.venv/bin/python', import.meta.url)), 'python3'].find(
    (p): p is string => !!p && spawnSync(p, ['-c', 'import pyarrow, numpy'], { stdio: 'ignore' }).status === 0,
  );
}

const PYARROW = `import json, resource, sys, time
import numpy as np, pyarrow.parquet as pq
t0 = time.perf_counter()
rows = 0
f = pq.ParquetFile(sys.argv[1])
for g in range(f.num_row_groups):
    t = f.read_row_group(g)
    xs = np.column_stack([t.column(i).to_numpy() for i in range(t.num_columns - 1)])
    rows += xs.shape[0]
ms = (time.perf_counter() - t0) * 1000
print(json.dumps({"ms": ms, "rows": rows, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))`;

async function read(kind: string, n: number): Promise<CaseResult> {
  const paths = await files(n);
  if (kind === 'pyarrow') {
    const py = python();
    if (!py) throw new Error('no Python with pyarrow');
    const out = spawnSync(py, ['-c', PYARROW, paths.parquet], { encoding: 'utf8' });
    if (out.status !== 0) throw new Error(out.stderr);
    const r = JSON.parse(out.stdout) as { ms: number; rows: number; rss: number };
    return { ms: r.ms, items: r.rows, metrics: { pythonPeakRssMiB: r.rss } };
  }
  const flight = new InFlight();
  const sink = { value: 0 };
  const t0 = performance.now();
  const step = (rows: number): void => {
    flight.consume(rows);
  };
  if (kind === 'csv') {
    await lastValueFrom(
      fromFiles(paths.csv, { format: 'csv', labels: ['label'] }).pipe(
        consume((r) => {
          flight.pull();
          sink.value += r.xs[0];
          step(1);
        }),
      ),
    );
  } else if (kind === 'tfrecord') {
    const spec = { x: { type: 'float', shape: [FEATURES] }, label: { type: 'int64', shape: [] } } as const;
    await lastValueFrom(
      fromFiles(paths.tfrecord, { format: 'tfrecord', example: spec }).pipe(
        consume((r) => {
          flight.pull();
          sink.value += r.x[0];
          step(1);
        }),
      ),
    );
  } else if (kind === 'parquet-rows' || kind === 'arrow-rows') {
    const format = kind === 'parquet-rows' ? 'parquet' : 'arrow';
    await lastValueFrom(
      fromFiles<Record<string, number>>(format === 'parquet' ? paths.parquet : paths.arrow, { format }).pipe(
        consume((r) => {
          flight.pull();
          sink.value += r.f0;
          step(1);
        }),
      ),
    );
  } else {
    const format = kind === 'parquet-columns' ? 'parquet' : 'arrow';
    await lastValueFrom(
      fromFiles(format === 'parquet' ? paths.parquet : paths.arrow, { format, output: 'columns' }).pipe(
        consume((b) => {
          const label = b.label as NDArray;
          for (let k = 0; k < label.data.length; k++) flight.pull();
          sink.value += (b.f0 as NDArray).data[0];
          step(label.data.length);
        }),
      ),
    );
  }
  return { ms: performance.now() - t0, items: flight.consumed, maxInFlight: flight.max };
}

export const runner: ScenarioRunner = {
  async run(caseName, options) {
    const n = rowsFor(options);
    const result = await read(caseName, n);
    if (result.items !== n) throw new Error(`${caseName}: ${result.items} of ${n} rows reached the step`);
    return { ...result, metrics: { ...result.metrics, rowsPerS: (n / result.ms) * 1000 } };
  },
};

const baseCases: readonly CaseSpec[] = [
  { name: 'csv', impl: 'rxdata', label: "fromFiles(csv, labels) → row { xs, ys }" },
  { name: 'tfrecord', impl: 'rxdata', label: 'fromFiles(tfrecord, example) → parsed Example' },
  { name: 'parquet-rows', impl: 'rxdata', label: 'fromFiles(parquet) → row object (hyparquet, snappy)' },
  { name: 'parquet-columns', impl: 'rxdata', label: "fromFiles(parquet, output: 'columns') → NDArrays per row group" },
  { name: 'arrow-rows', impl: 'rxdata', label: 'fromFiles(arrow) → row object (apache-arrow, IPC file)' },
  { name: 'arrow-columns', impl: 'rxdata', label: "fromFiles(arrow, output: 'columns') → NDArrays per record batch" },
];
const pyarrowCase: CaseSpec = { name: 'pyarrow', impl: 'loop', label: 'pyarrow ParquetFile.read_row_group → numpy, per group (native, C++)' };

export const formats: ScenarioDef = {
  id: 18,
  title: `File formats: ${FEATURES} float features + label per row, read into a no-op step (rows/s)`,
  cases: () => (python() ? [...baseCases, pyarrowCase] : baseCases),
  report(by, quick) {
    const csv = by.get('csv')!;
    const all = [...baseCases, pyarrowCase].map((c) => by.get(c.name)).filter((s) => s !== undefined);
    const rows = all.map((s) => [s.spec.name, s.spec.label, fmt(s.items), fmt(s.ms), fmt(s.metrics.rowsPerS), ratio(s.metrics.rowsPerS, csv.metrics.rowsPerS), ...memoryCells(s)]);
    const py = by.get('pyarrow');
    return {
      title: `${formats.title}${quick ? ' (quick)' : ''}`,
      table: table(['case', 'reader', 'rows', 'median ms', 'rows/s', '÷ CSV', ...memoryHeader], rows),
      verdicts: [],
      notes: [
        py ? `pyarrow: its own process; its peak RSS ${fmt(py.metrics.pythonPeakRssMiB)} MiB (the table's RSS is the Node parent's).` : 'pyarrow: skipped, no Python with pyarrow found (RXDATA_PYTHON, .venv/bin/python, python3).',
        `Files written once per size under the temp dir by rxdata's own writers (CSV text, writeTFRecord, writeParquet with ${ROW_GROUP}-row groups, apache-arrow tableToIPC with ${ROW_GROUP}-row batches).`,
      ],
    };
  },
};
