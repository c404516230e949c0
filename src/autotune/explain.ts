/**
 * What the tuner chose, when and why, as data (for the training report) and as text (the section
 * `stats.format()` prints after its table).
 */
import type { Decision, Tuner } from './tuner.js';

/** Where one tuned stage stands. */
export interface TunedStage {
  readonly stage: string;
  /** The option tuned: `concurrency`, `prefetch`, `cycleLength`… */
  readonly knob: string;
  readonly kind: 'parallelism' | 'buffer' | 'workers';
  readonly value: number;
  readonly min: number;
  /** The ceiling, which the documented in-flight bound uses. */
  readonly max: number;
  /** Measured mean size of one element held, in bytes (0 before any was measured). */
  readonly bytesPerElement: number;
  /** Elements held per unit of the value (a worker: its credit). */
  readonly perUnit: number;
  /** The newest decision that changed the value (or the start), with its reason. */
  readonly last: Decision | undefined;
}

/** The tuner's state and log, for reports. */
export interface AutotuneSummary {
  readonly ramBudget: number;
  /** Bytes the tuned stages may hold at their current values. */
  readonly heldBytes: number;
  /** Bytes they could hold at their ceilings. */
  readonly ceilingBytes: number;
  readonly stages: readonly TunedStage[];
  /** The log, oldest first (`dropped` older ones left out). */
  readonly decisions: readonly Decision[];
  readonly dropped: number;
}

export function summarize(tuner: Tuner): AutotuneSummary {
  const stages = tuner.allKnobs.map((k): TunedStage => {
    let last: Decision | undefined;
    for (let i = tuner.decisions.length - 1; i >= 0 && !last; i--) {
      const d = tuner.decisions[i];
      if (d.stage === k.stage.name && d.knob === k.spec.label && d.action !== 'hold') last = d;
    }
    return { stage: k.stage.name, knob: k.spec.label, kind: k.spec.kind, value: k.value, min: k.spec.min, max: k.spec.max, bytesPerElement: k.bytesPerElement, perUnit: k.spec.perUnit ?? 1, last };
  });
  return {
    ramBudget: tuner.ramBudget,
    heldBytes: stages.reduce((n, s) => n + s.value * s.perUnit * s.bytesPerElement, 0),
    ceilingBytes: stages.reduce((n, s) => n + s.max * s.perUnit * s.bytesPerElement, 0),
    stages,
    decisions: [...tuner.decisions],
    dropped: tuner.dropped,
  };
}

export const formatBytes = (n: number): string => {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 2 ** 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 2 ** 30) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${(n / 2 ** 30).toFixed(2)} GiB`;
};

const seconds = (ms: number): string => `+${(ms / 1000).toFixed(2)} s`;

/** One decision as a line: when, where, what, why. */
export function formatDecision(d: Decision): string {
  const move = d.action === 'hold' || d.action === 'start' ? `${d.to}` : `${d.from} → ${d.to}`;
  return `${seconds(d.atMs)}  ${d.stage}.${d.knob}  ${d.action} ${move}: ${d.reason}${d.bottleneck ? ` [saw ${d.bottleneck}]` : ''}`;
}

/** Decisions `format()` lists (the newest); the summary keeps more. */
const SHOWN = 30;

/** The text section of `stats.format()`. */
export function formatSummary(s: AutotuneSummary): string {
  const header = ['tuned stage', 'option', 'value', 'range', 'bytes/elt', 'last change'];
  const rows = s.stages.map((t) => [t.stage, t.knob, String(t.value), `${t.min}–${t.max}`, t.bytesPerElement ? formatBytes(t.bytesPerElement) : '-', t.last ? `${seconds(t.last.atMs)} ${t.last.action}: ${t.last.reason}` : '-']);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => (i === 2 ? c.padStart(widths[i]) : i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  const shown = s.decisions.slice(-SHOWN);
  const hidden = s.dropped + s.decisions.length - shown.length;
  return [
    `autotune: memory budget ${formatBytes(s.ramBudget)}; the tuned stages hold at most ${formatBytes(s.heldBytes)} at their current values (${formatBytes(s.ceilingBytes)} at their ceilings)`,
    fmt(header),
    ...rows.map(fmt),
    `decisions${hidden ? ` (${hidden} older left out)` : ''}:`,
    ...shown.map((d) => `  ${formatDecision(d)}`),
  ].join('\n');
}

export function formatTuner(tuner: Tuner): string {
  return formatSummary(summarize(tuner));
}

const escape = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/**
 * The summary as an HTML section (a table of the tuned stages and the decision log) for the
 * training report; self-contained, no scripts.
 */
export function renderAutotuneHtml(s: AutotuneSummary): string {
  const stageRows = s.stages
    .map((t) => `<tr><td>${escape(t.stage)}</td><td>${escape(t.knob)}</td><td>${t.value}</td><td>${t.min}–${t.max}</td><td>${t.bytesPerElement ? formatBytes(t.bytesPerElement) : '-'}</td><td>${t.last ? escape(`${seconds(t.last.atMs)} ${t.last.action}: ${t.last.reason}`) : '-'}</td></tr>`)
    .join('');
  const log = s.decisions
    .slice(-200)
    .map((d) => `<tr><td>${seconds(d.atMs)}</td><td>${escape(`${d.stage}.${d.knob}`)}</td><td>${d.action}</td><td>${d.action === 'hold' || d.action === 'start' ? d.to : `${d.from} → ${d.to}`}</td><td>${escape(d.reason)}</td><td>${escape(d.bottleneck ?? '')}</td></tr>`)
    .join('');
  return `<h2>Autotune</h2>
<p>Memory budget ${formatBytes(s.ramBudget)}; the tuned stages hold at most ${formatBytes(s.heldBytes)} at their current values (${formatBytes(s.ceilingBytes)} at their ceilings).</p>
<table><tr><th>stage</th><th>option</th><th>value</th><th>range</th><th>bytes/element</th><th>last change</th></tr>${stageRows}</table>
<table><tr><th>when</th><th>where</th><th>action</th><th>value</th><th>why</th><th>bottleneck seen</th></tr>${log}</table>`;
}
