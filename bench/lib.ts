/**
 * What every scenario shares: the case contract between the orchestrator (run.ts) and the child
 * process that runs one case (child.ts), timing, simulated costs and the in-flight counter.
 */

import type * as TF from '@tensorflow/tfjs';

/** The three contenders of every scenario (plus `stage` for isolated measurements of one stage). */
export type Impl = 'rxdata' | 'tfjs-data' | 'loop' | 'stage';

/** What one run of a case reports. `metrics` are per-scenario figures (elements/s, ms…). */
export interface CaseResult {
  /** Wall time of the measured part, in ms. */
  readonly ms: number;
  /** Elements (or records) that reached the sink. */
  readonly items: number;
  /** Most elements pulled from the source and not yet consumed at the sink, when counted. */
  readonly maxInFlight?: number;
  readonly metrics?: Readonly<Record<string, number>>;
}

/** One contender in one scenario. */
export interface CaseSpec {
  readonly name: string;
  readonly impl: Impl;
  /** What the case does, one line, for the tables. */
  readonly label: string;
}

export interface RunOptions {
  readonly quick: boolean;
  /** A shortened run, to warm up the JIT before the measured one. */
  readonly warmup: boolean;
}

/** A scenario module's runnable side (loaded in the child process). */
export interface ScenarioRunner {
  run(caseName: string, options: RunOptions): Promise<CaseResult>;
}

/** What a run of a case came back with, as the orchestrator records it. */
export interface Sample extends CaseResult {
  /** Peak resident set size of the child process, in MiB. */
  readonly peakRssMiB: number;
  /** Resident set size after imports, before the measured run, in MiB. */
  readonly baseRssMiB: number;
}

/** The medians over the runs of one case. */
export interface Summary {
  readonly spec: CaseSpec;
  readonly runs: number;
  readonly ms: number;
  readonly items: number;
  readonly peakRssMiB: number;
  readonly baseRssMiB: number;
  readonly maxInFlight?: number;
  readonly metrics: Readonly<Record<string, number>>;
  /** Each metric's spread over the runs: (max − min) ÷ median, 0 with one run. */
  readonly spread: Readonly<Record<string, number>>;
  /** Every run's wall time, for the JSON. */
  readonly samples: readonly number[];
}

/** A target the issue sets, with what was measured. */
export interface Verdict {
  readonly target: string;
  readonly measured: string;
  readonly holds: boolean | 'pending';
  readonly note?: string;
}

/** A scenario's report: a Markdown table and the target checks. */
export interface ScenarioReport {
  readonly title: string;
  readonly table: string;
  readonly verdicts: readonly Verdict[];
  readonly notes?: readonly string[];
}

/** A scenario module's reporting side (loaded in the orchestrator). */
export interface ScenarioDef {
  readonly id: number;
  readonly title: string;
  cases(quick: boolean): readonly CaseSpec[];
  report(byCase: ReadonlyMap<string, Summary>, quick: boolean): ScenarioReport;
  /** Why the scenario cannot run now (a missing dependency), if so. */
  pending?(): Promise<string | undefined>;
  /** Measured runs at least (full runs): for a scenario whose runs spread widely. */
  readonly minRuns?: number;
}

export const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Burns the CPU for `ms`: work that holds the thread (nothing else runs meanwhile). */
export function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

/**
 * A full garbage collection now, before a clock starts: what set-up and warm-up left behind
 * (scenario 6: 100,000 produced messages) is collected here rather than by a major GC that
 * lands, or not, inside the timed run. Exposes V8's `gc` for this process on first use.
 */
export async function collectGarbage(): Promise<void> {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/**
 * Counts elements pulled at the source and consumed at the sink; `max` is the most in flight.
 * One counter per run: the source calls `pull()`, the sink `consume(n)`.
 */
export class InFlight {
  pulled = 0;
  consumed = 0;
  max = 0;
  pull(): void {
    const d = ++this.pulled - this.consumed;
    if (d > this.max) this.max = d;
  }
  consume(n: number): void {
    this.consumed += n;
  }
}

/** Formats a number for a table: 3 significant digits, thousands grouped. */
export function fmt(x: number | undefined, digits = 3): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  return Number(x.toPrecision(digits)).toString();
}

export const ratio = (x: number, y: number): string => (Number.isFinite(x / y) ? `${(x / y).toFixed(2)}×` : '–');

/** A Markdown table from a header and rows. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

/** The common columns every case row ends with. */
export const memoryCells = (s: Summary): string[] => [fmt(s.peakRssMiB), s.maxInFlight === undefined ? '–' : fmt(s.maxInFlight)];
export const memoryHeader = ['peak RSS MiB', 'max in flight'];

/** Loads the tfjs backend by name, the wasm one from its dist folder as a file path (offline). */
export async function useBackend(name: 'cpu' | 'wasm'): Promise<typeof TF> {
  const tf = await import('@tensorflow/tfjs');
  if (name === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const { createRequire } = await import('node:module');
    const { dirname } = await import('node:path');
    const dist = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    wasm.setWasmPaths(`${dist}/`);
  }
  await tf.setBackend(name);
  await tf.ready();
  return tf;
}
