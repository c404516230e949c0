/**
 * A training report a person would rather look at than read: one self-contained HTML file with
 * inline SVG charts (loss and validation curves, metrics, input wait per step), no scripts, no
 * network.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { EpochLog, FitHistory } from './fitTypes.js';
import type { PipelineStats } from '../stats.js';

export interface ReportOptions {
  title?: string;
  /** The pipeline statistics, shown as a table. */
  stats?: PipelineStats;
  /** Extra facts for the header (dataset, test accuracy…). */
  facts?: Readonly<Record<string, string | number>>;
}

interface Series {
  readonly name: string;
  readonly color: string;
  readonly points: readonly (readonly [number, number])[];
  /** Thin and faint (raw per-step values) rather than a bold line with markers. */
  readonly faint?: boolean;
  readonly markers?: boolean;
  /** Draw as a filled area down to zero. */
  readonly area?: boolean;
}

const escape = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** "Nice" tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const label = (v: number): string => (Math.abs(v) >= 1000 ? v.toFixed(0) : Number(v.toPrecision(3)).toString());

/** A line chart as an SVG string. */
/** How a chart shows values above its top: `xs` of points drawn at the edge, and a note saying so. */
interface Clipping {
  readonly xs: readonly number[];
  readonly note: string;
}

function lineChart(title: string, series: readonly Series[], opts: { xLabel: string; yLabel?: string; yMin?: number; yMax?: number; percent?: boolean; clipped?: Clipping }): string {
  const W = 560;
  const H = 260;
  const m = { l: 56, r: 16, t: 34, b: 42 };
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return '';
  let x0 = Math.min(...all.map((p) => p[0]));
  let x1 = Math.max(...all.map((p) => p[0]));
  if (x1 === x0) {
    x0 -= 1;
    x1 += 1;
  }
  let y0 = opts.yMin ?? Math.min(...all.map((p) => p[1]));
  let y1 = opts.yMax ?? Math.max(...all.map((p) => p[1]));
  if (y1 === y0) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const pad = (y1 - y0) * 0.05;
  if (opts.yMin === undefined) y0 -= pad;
  if (opts.yMax === undefined) y1 += pad;
  const sx = (x: number): number => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y: number): number => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const fmtY = (v: number): string => (opts.percent ? `${label(v * 100)}%` : label(v));
  const parts: string[] = [];
  parts.push(`<text x="${m.l}" y="20" class="ct">${escape(title)}</text>`);
  for (const t of ticks(y0, y1)) {
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" class="grid"/>`);
    parts.push(`<text x="${m.l - 6}" y="${(sy(t) + 4).toFixed(1)}" class="tick" text-anchor="end">${fmtY(t)}</text>`);
  }
  for (const t of ticks(x0, x1, 6)) {
    parts.push(`<text x="${sx(t).toFixed(1)}" y="${H - m.b + 16}" class="tick" text-anchor="middle">${label(t)}</text>`);
  }
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" class="axis"/>`);
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 8}" class="al" text-anchor="middle">${escape(opts.xLabel)}</text>`);
  if (opts.yLabel) parts.push(`<text transform="translate(14 ${(m.t + H - m.b) / 2}) rotate(-90)" class="al" text-anchor="middle">${escape(opts.yLabel)}</text>`);
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${sx(p[0]).toFixed(1)} ${sy(p[1]).toFixed(1)}`).join('');
    if (s.area) {
      const base = sy(Math.max(y0, 0)).toFixed(1);
      const first = sx(s.points[0][0]).toFixed(1);
      const last = sx(s.points[s.points.length - 1][0]).toFixed(1);
      parts.push(`<path d="${d}L${last} ${base}L${first} ${base}Z" fill="${s.color}" fill-opacity="0.18" stroke="none"/>`);
    }
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.faint ? 1 : 2.2}" stroke-opacity="${s.faint ? 0.35 : 1}" stroke-linejoin="round"/>`);
    if (s.markers) for (const p of s.points) parts.push(`<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="3.2" fill="#fff" stroke="${s.color}" stroke-width="2"/>`);
  }
  if (opts.clipped && opts.clipped.xs.length) {
    // Values above the axis sit on its top edge: an upward triangle marks each, and a note counts them.
    const top = sy(y1);
    for (const x of opts.clipped.xs) {
      const cx = sx(x);
      parts.push(`<path class="clip" d="M${(cx - 3.5).toFixed(1)} ${(top + 6).toFixed(1)}L${cx.toFixed(1)} ${top.toFixed(1)}L${(cx + 3.5).toFixed(1)} ${(top + 6).toFixed(1)}Z"/>`);
    }
    parts.push(`<text x="${W - m.r}" y="${m.t - 4}" class="note" text-anchor="end">▲ ${escape(opts.clipped.note)}</text>`);
  }
  // Legend, right-aligned in the title row.
  let lx = W - m.r;
  for (const s of [...series].reverse()) {
    const w = 18 + s.name.length * 6.6;
    lx -= w + 10;
    parts.push(`<line x1="${lx}" x2="${lx + 14}" y1="16" y2="16" stroke="${s.color}" stroke-width="${s.faint ? 1.5 : 3}" stroke-opacity="${s.faint ? 0.5 : 1}"/>`);
    parts.push(`<text x="${lx + 18}" y="20" class="lg">${escape(s.name)}</text>`);
  }
  return `<svg class="chart" viewBox="0 0 ${W} ${H}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="${escape(title)}">${parts.join('')}</svg>`;
}

/** A moving average over `window` points, to show a trend through noisy per-step values. */
function smooth(points: readonly (readonly [number, number])[], window: number): [number, number][] {
  const out: [number, number][] = [];
  let sum = 0;
  for (let i = 0; i < points.length; i++) {
    sum += points[i][1];
    if (i >= window) sum -= points[i - window][1];
    out.push([points[i][0], sum / Math.min(i + 1, window)]);
  }
  return out;
}

/** At most `max` points, evenly picked, so a long run's file stays small. */
function thin<T>(items: readonly T[], max = 1500): T[] {
  if (items.length <= max) return [...items];
  const stride = items.length / max;
  return Array.from({ length: max }, (_, i) => items[Math.floor(i * stride)]);
}

/** Lower is better for losses and errors; higher for the rest (accuracy, AUC, …). */
const isLossLike = (name: string): boolean => /loss|error|mse|mae|crossentropy/i.test(name);

/** The validation quantities any epoch has, `val_loss` first. */
function validationNames(epochs: readonly EpochLog[]): string[] {
  const names = [...new Set(epochs.flatMap((e) => Object.keys(e.validation ?? {})))];
  return names.sort((a, b) => Number(b === 'val_loss') - Number(a === 'val_loss'));
}

/** The epoch with the best value of `name` (lowest loss, highest otherwise); the earliest on a tie. */
function bestEpoch(epochs: readonly EpochLog[], name: string): { epoch: number; value: number } | undefined {
  let best: { epoch: number; value: number } | undefined;
  for (const e of epochs) {
    const value = e.validation?.[name];
    if (value === undefined || Number.isNaN(value)) continue;
    if (!best || (isLossLike(name) ? value < best.value : value > best.value)) best = { epoch: e.epoch, value };
  }
  return best;
}

/**
 * The run's input wait: waited ÷ wall time over the epochs after the first, which warms up
 * (V8 compiling, caches filling, files opened) and would skew the average; the first shown apart.
 * With one epoch there is nothing else to average.
 */
function inputWaitSummary(epochs: readonly EpochLog[]): { average: number; note: string } {
  const ratio = (list: readonly EpochLog[]): number => list.reduce((n, e) => n + e.waitMs, 0) / Math.max(list.reduce((n, e) => n + e.wallMs, 0), 1e-9);
  const [first, ...rest] = epochs;
  if (!first) return { average: 0, note: 'no epochs' };
  if (rest.length === 0) return { average: ratio(epochs), note: `one epoch, warm-up included` };
  const span = rest.length === 1 ? `epoch ${rest[0].epoch + 1}` : `epochs ${rest[0].epoch + 1}–${rest.at(-1)!.epoch + 1}`;
  return { average: ratio(rest), note: `average of ${span}; warm-up epoch ${first.epoch + 1} excluded: ${(ratio([first]) * 100).toFixed(1)}%` };
}

const COLORS = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2'];

/**
 * Renders a training history as a self-contained HTML page.
 *
 * ```
 * FitHistory ─▶ header cards (final loss, best and last val metrics, samples/s, input wait after warm-up, backend)
 *            ─▶ SVG: loss per step + per epoch + validation │ metrics per epoch │ input wait per step
 *            ─▶ per-epoch table, pipeline statistics table
 * ```
 *
 * @example
 * ```ts
 * const html = renderReport(await run.history, { title: 'optdigits MLP', stats: run.stats });
 * ```
 */
export function renderReport(history: FitHistory, options: ReportOptions = {}): string {
  const title = options.title ?? 'rxdata training report';
  const epochs = history.epochs;
  const steps = thin(history.steps);
  const last = epochs.at(-1);
  const window = Math.max(1, Math.round(history.steps.length / 60));

  const stepLoss = steps.map((s) => [s.step, s.loss] as const);
  const lossSeries: Series[] = [
    { name: 'loss / step', color: COLORS[0], points: stepLoss, faint: true },
    { name: 'loss / epoch', color: COLORS[0], points: epochs.map((e) => [e.step, e.loss] as const), markers: true },
  ];
  const valLoss = epochs.filter((e) => e.validation?.val_loss !== undefined).map((e) => [e.step, e.validation!.val_loss] as const);
  if (valLoss.length) lossSeries.push({ name: 'val_loss', color: COLORS[1], points: valLoss, markers: true });

  const metricNames = [...new Set(epochs.flatMap((e) => [...Object.keys(e.metrics), ...Object.keys(e.validation ?? {}).filter((k) => k !== 'val_loss')]))];
  const metricSeries: Series[] = metricNames.map((name, i) => ({
    name,
    color: name.startsWith('val_') ? COLORS[1 + (i % 2) * 2] : COLORS[(2 + i) % COLORS.length],
    points: epochs.flatMap((e) => {
      const v = name.startsWith('val_') ? e.validation?.[name] : e.metrics[name];
      return v === undefined ? [] : [[e.epoch + 1, v] as const];
    }),
    markers: true,
  }));

  const waitPoints = history.steps.map((s) => [s.step, s.waitMs / Math.max(s.waitMs + s.stepMs, 1e-9)] as const);
  const waitSeries: Series[] = [
    { name: 'input wait / step', color: COLORS[3], points: thin(waitPoints), area: true, faint: true },
    { name: `avg of ${window}`, color: COLORS[3], points: thin(smooth(waitPoints, window)) },
  ];
  const maxWait = Math.max(0.1, ...waitPoints.map((p) => p[1]));

  const totalSamples = epochs.reduce((n, e) => n + e.samples, 0);
  const trainMs = epochs.reduce((n, e) => n + e.wallMs, 0);
  const wait = inputWaitSummary(epochs);
  const card = (k: string, v: string, note = ''): string => `<div class="card"><div class="k">${escape(k)}</div><div class="v">${escape(v)}</div>${note ? `<div class="n">${escape(note)}</div>` : ''}</div>`;
  const fmtMetric = (k: string, v: number): string => (isLossLike(k) || v > 1 || v < 0 ? v.toFixed(4) : `${(v * 100).toFixed(2)}%`);
  const cards = [
    card('epochs', `${epochs.length}`, `${history.steps.length} steps, stopped: ${history.stopped}`),
    last ? card('final loss', last.loss.toFixed(4), `epoch ${last.epoch + 1}`) : '',
    ...validationNames(epochs).map((k) => {
      const best = bestEpoch(epochs, k)!;
      const lastValue = last?.validation?.[k];
      const lastNote = lastValue === undefined ? '' : ` · last ${fmtMetric(k, lastValue)} (epoch ${last!.epoch + 1})`;
      return card(`best ${k}`, fmtMetric(k, best.value), `epoch ${best.epoch + 1}${lastNote}`);
    }),
    card('throughput', `${Math.round((totalSamples / Math.max(trainMs, 1e-9)) * 1000)} samples/s`, `${(history.wallMs / 1000).toFixed(1)} s wall`),
    card('input wait', `${(wait.average * 100).toFixed(1)}%`, `${wait.average > 0.05 ? 'input-bound (> 5 %)' : 'compute-bound (≤ 5 %)'}; ${wait.note}`),
    card('backend', history.backend),
    ...Object.entries(options.facts ?? {}).map(([k, v]) => card(k, typeof v === 'number' ? label(v) : v)),
  ].join('');

  const cols = ['epoch', 'steps', 'loss', ...metricNames.filter((n) => !n.startsWith('val_')), ...(valLoss.length ? ['val_loss'] : []), ...metricNames.filter((n) => n.startsWith('val_')), 'samples/s', 'input wait', 'time'];
  const rows = epochs
    .map((e) => {
      const val = (k: string): string => {
        const v = k.startsWith('val_') ? e.validation?.[k] : e.metrics[k];
        return v === undefined ? '' : v.toFixed(4);
      };
      const cells = [
        String(e.epoch + 1),
        String(e.steps),
        e.loss.toFixed(4),
        ...metricNames.filter((n) => !n.startsWith('val_')).map(val),
        ...(valLoss.length ? [val('val_loss')] : []),
        ...metricNames.filter((n) => n.startsWith('val_')).map(val),
        Math.round(e.samplesPerSec).toString(),
        `${(e.inputWait * 100).toFixed(1)}%`,
        `${(e.wallMs / 1000).toFixed(2)} s`,
      ];
      return `<tr>${cells.map((c) => `<td>${escape(c)}</td>`).join('')}</tr>`;
    })
    .join('');

  // Early steps' losses dwarf the rest: cap the axis at the 98th percentile so the curves stay readable.
  const sortedLoss = history.steps.map((x) => x.loss).sort((a, b) => a - b);
  const lossCap = Math.max(sortedLoss[Math.floor(sortedLoss.length * 0.98)] ?? 0, ...epochs.map((e) => e.loss), ...valLoss.map((p) => p[1]));
  const lossTop = lossCap * 1.05;
  const clipped = lossSeries.map((x) => (x.faint ? { ...x, points: x.points.map(([a, b]) => [a, Math.min(b, lossTop)] as const) } : x));
  const above = history.steps.filter((x) => x.loss > lossTop).length;
  const clipping: Clipping | undefined = above
    ? { xs: stepLoss.filter(([, b]) => b > lossTop).map(([a]) => a), note: `${above} point${above === 1 ? '' : 's'} above p98 (${label(lossTop)}), drawn at the top edge` }
    : undefined;
  const throughput: Series[] = [{ name: 'samples/s', color: COLORS[4], points: epochs.map((e) => [e.epoch + 1, e.samplesPerSec] as const), markers: true }];
  const charts = [
    lineChart('Loss', clipped, { xLabel: 'step', yLabel: 'loss', yMin: 0, yMax: lossTop || undefined, clipped: clipping }),
    metricSeries.length ? lineChart('Metrics per epoch', metricSeries, { xLabel: 'epoch', yLabel: [...new Set(metricNames.map((n) => n.replace(/^val_/, '')))].join(' / ') }) : '',
    lineChart('Input wait per step', waitSeries, { xLabel: 'step', yLabel: 'wait ÷ (wait + step)', yMin: 0, yMax: Math.min(1, maxWait * 1.1), percent: true }),
    lineChart('Throughput per epoch', throughput, { xLabel: 'epoch', yLabel: 'samples/s', yMin: 0 }),
  ].filter(Boolean);

  const statsTable = options.stats ? `<h2>Pipeline statistics</h2><pre>${escape(options.stats.format())}</pre>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)}</title>
<style>
:root { color-scheme: light; --fg:#0f172a; --mut:#64748b; --line:#e2e8f0; --bg:#f8fafc; }
* { box-sizing: border-box; }
body { margin: 0; padding: 28px 32px 40px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
h1 { margin: 0 0 4px; font-size: 22px; } h2 { font-size: 15px; margin: 28px 0 10px; color: #334155; }
.sub { color: var(--mut); margin-bottom: 18px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 10px 14px; min-width: 140px; }
.card .k { color: var(--mut); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .v { font-size: 20px; font-weight: 600; margin-top: 2px; } .card .n { color: var(--mut); font-size: 12px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 14px; margin-top: 20px; }
.chart { width: 100%; height: auto; background: #fff; border: 1px solid var(--line); border-radius: 10px; }
.chart .ct { font-weight: 600; font-size: 13px; fill: var(--fg); } .chart .tick { font-size: 10.5px; fill: var(--mut); }
.chart .al { font-size: 11px; fill: var(--mut); } .chart .lg { font-size: 11px; fill: #334155; }
.chart .grid { stroke: var(--line); stroke-width: 1; } .chart .axis { stroke: #94a3b8; stroke-width: 1; }
.chart .clip { fill: #b91c1c; } .chart .note { font-size: 10.5px; fill: #b91c1c; }
table { border-collapse: collapse; background: #fff; border: 1px solid var(--line); border-radius: 10px; overflow: hidden; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 12px; text-align: right; border-bottom: 1px solid var(--line); } th { background: #f1f5f9; font-weight: 600; font-size: 12px; color: #334155; }
tr:last-child td { border-bottom: none; }
pre { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; overflow-x: auto; font-size: 12px; }
</style></head>
<body>
<h1>${escape(title)}</h1>
<div class="sub">rxdata · ${escape(new Date().toISOString().replace('T', ' ').slice(0, 19))} UTC · backend ${escape(history.backend)}</div>
<div class="cards">${cards}</div>
<div class="charts">${charts.join('\n')}</div>
<h2>Epochs</h2>
<table><thead><tr>${cols.map((c) => `<th>${escape(c)}</th>`).join('')}</tr></thead><tbody>${rows}</tbody></table>
${statsTable}
</body></html>
`;
}

/**
 * Writes {@link renderReport}'s page to `path` (creating its directory).
 *
 * ```
 * history ─▶ renderReport ─▶ path.html (self-contained: inline CSS and SVG)
 * ```
 *
 * @example
 * ```ts
 * await writeReport('out/report.html', await run.history, { stats: run.stats });
 * ```
 */
export async function writeReport(path: string, history: FitHistory, options: ReportOptions = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, renderReport(history, options));
}
