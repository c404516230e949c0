/**
 * Keras-like training progress: a live bar on a terminal, plain periodic lines elsewhere (CI logs,
 * files), nothing when silent.
 */
import cliProgress from 'cli-progress';
import type { StepResult } from './trainOn.js';

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'silent';

export interface ProgressOptions {
  /** `'auto'` (default): a bar when the stream is a TTY, lines otherwise. */
  mode?: ProgressMode;
  /** Where to write. Default `process.stderr`, so a program's own stdout stays clean. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** In lines mode, the least time between two in-epoch lines, ms. Default 10 000. */
  intervalMs?: number;
}

/** What an epoch's summary line shows. */
export interface EpochSummary {
  readonly epoch: number;
  readonly steps: number;
  readonly loss: number;
  readonly metrics: Readonly<Record<string, number>>;
  /** Validation results, keys as tfjs names them (`val_loss`, `val_acc`). */
  readonly validation?: Readonly<Record<string, number>>;
  readonly samplesPerSec: number;
  /** Input-wait time ÷ wall time of the epoch. */
  readonly inputWait: number;
  readonly wallMs: number;
}

const num = (x: number): string => (Math.abs(x) >= 1000 || x === 0 ? x.toFixed(0) : x.toPrecision(4));
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const secs = (ms: number): string => (ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`);

/** `name value` pairs joined the way Keras prints them. */
function pairs(values: Readonly<Record<string, number>>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k} ${num(v)}`)
    .join('  ');
}

/** One epoch's summary line (also what lines mode prints at each epoch end). */
export function formatEpochLine(summary: EpochSummary, epochs: number): string {
  const parts = [
    `epoch ${summary.epoch + 1}/${epochs}`,
    `${summary.steps} steps`,
    `loss ${num(summary.loss)}`,
    pairs(summary.metrics),
    summary.validation ? pairs(summary.validation) : '',
    `${num(summary.samplesPerSec)} samples/s`,
    `input-wait ${pct(summary.inputWait)}`,
    secs(summary.wallMs),
  ];
  return parts.filter(Boolean).join('  ');
}

/**
 * Shows training progress as `fit` reports it.
 *
 * ```
 * TTY:    epoch 2/10 [██████████░░░░░░░░░░] 60/120 | loss 0.2134 | 8120 samples/s | input-wait 1.2%
 * lines:  epoch 2/10  step 60/120  loss 0.2134  8120 samples/s  input-wait 1.2%      (every intervalMs)
 *         epoch 2/10  120 steps  loss 0.1987  acc 0.9412  val_loss 0.1720  val_acc 0.9512  … 0.5s
 * silent: (nothing)
 * ```
 *
 * @example
 * ```ts
 * const progress = new Progress({ mode: 'lines', stream: process.stdout });
 * progress.begin(5); progress.epochBegin(0, 120); progress.step(result); progress.epochEnd(summary); progress.end();
 * ```
 */
export class Progress {
  readonly mode: Exclude<ProgressMode, 'auto'>;
  private readonly stream: NodeJS.WritableStream & { isTTY?: boolean };
  private readonly intervalMs: number;
  private epochs = 1;
  private epoch = 0;
  private total: number | undefined;
  private steps = 0;
  private samples = 0;
  private waitMs = 0;
  private startedAt = 0;
  private lastLineAt = 0;
  private bar: cliProgress.SingleBar | undefined;
  /** Notes held while the bar is drawn. */
  private readonly pending: string[] = [];

  constructor(options: ProgressOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    const mode = options.mode ?? 'auto';
    this.mode = mode === 'auto' ? (this.stream.isTTY ? 'bar' : 'lines') : mode;
    this.intervalMs = options.intervalMs ?? 10_000;
  }

  /** Training starts: `epochs` in all. */
  begin(epochs: number): void {
    this.epochs = epochs;
  }

  /** An epoch starts; `totalSteps` when known (from `batchesPerEpoch` or the previous epoch). */
  epochBegin(epoch: number, totalSteps?: number): void {
    this.epoch = epoch;
    this.total = totalSteps;
    this.steps = 0;
    this.samples = 0;
    this.waitMs = 0;
    this.startedAt = performance.now();
    this.lastLineAt = this.startedAt;
    if (this.mode !== 'bar') return;
    const known = totalSteps !== undefined && totalSteps > 0;
    this.bar = new cliProgress.SingleBar(
      {
        stream: this.stream,
        format: known
          ? 'epoch {epochs} [{bar}] {value}/{total} | loss {loss} | {sps} samples/s | input-wait {wait}'
          : 'epoch {epochs} step {value} | loss {loss} | {sps} samples/s | input-wait {wait}',
        barCompleteChar: '\u2588',
        barIncompleteChar: '\u2591',
        barsize: 24,
        hideCursor: true,
        clearOnComplete: true,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(known ? totalSteps : 1, 0, { epochs: `${epoch + 1}/${this.epochs}`, loss: '-', sps: '-', wait: '-' });
  }

  /** A step finished. */
  step(result: StepResult): void {
    this.steps++;
    this.samples += result.size;
    this.waitMs += result.waitMs;
    if (this.mode === 'silent') return;
    const now = performance.now();
    const wall = Math.max(now - this.startedAt, 1e-9);
    const sps = num((this.samples / wall) * 1000);
    const wait = pct(this.waitMs / wall);
    if (this.bar) {
      if (this.total === undefined || this.steps > this.total) this.bar.setTotal(Math.max(this.steps, 1));
      this.bar.update(this.steps, { loss: num(result.loss), sps, wait });
    } else if (this.mode === 'lines' && now - this.lastLineAt >= this.intervalMs) {
      this.lastLineAt = now;
      const of = this.total ? `/${this.total}` : '';
      this.write(`epoch ${this.epoch + 1}/${this.epochs}  step ${this.steps}${of}  loss ${num(result.loss)}  ${sps} samples/s  input-wait ${wait}`);
    }
  }

  /** An epoch ended: replaces the bar by (or prints) the epoch's summary line. */
  epochEnd(summary: EpochSummary): void {
    const held = this.pending.splice(0);
    this.stopBar();
    if (this.mode === 'silent') return;
    this.write(formatEpochLine(summary, this.epochs));
    for (const line of held) this.write(line);
  }

  /** Free-form note (checkpoint saved, early stop), shown unless silent. */
  note(line: string): void {
    if (this.mode === 'silent') return;
    // A line written under a live bar would be overdrawn: hold it until the bar goes.
    if (this.bar) this.pending.push(line);
    else this.write(line);
  }

  /** Training ended (or failed): removes the bar. */
  end(): void {
    this.stopBar();
  }

  private stopBar(): void {
    if (!this.bar) return;
    this.bar.stop();
    this.bar = undefined;
    for (const line of this.pending.splice(0)) this.write(line);
  }

  private write(line: string): void {
    this.stream.write(`${line}\n`);
  }
}

/** `fit`'s `progress` option as {@link ProgressOptions}: a mode, options, or `false` for silent. */
export function progressOptions(option: ProgressMode | ProgressOptions | false | undefined): ProgressOptions {
  if (option === false) return { mode: 'silent' };
  if (typeof option === 'string') return { mode: option };
  return option ?? {};
}
