/**
 * A CPU profile of part of a run, summed by where the time went: what bounds a case, measured
 * (V8's sampling profiler through `node:inspector`, in the same process, on the running code).
 */
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time by group, as % of the profiled time, largest first. */
export interface ProfileSummary {
  readonly ms: number;
  /** By source file (repository-relative), package (`rxjs`, `@tensorflow/tfjs-core`…), or V8's own entries (`(garbage collector)`). */
  readonly byFile: readonly { readonly name: string; readonly pct: number }[];
  /** By function (`name file:line`). */
  readonly byFunction: readonly { readonly name: string; readonly pct: number }[];
}

const repo = fileURLToPath(new URL('..', import.meta.url));

/** Where a frame's code lives, for grouping: a repository path, a package name, `node:` internals, or V8's own entries. */
function fileOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg) return pkg[1];
  if (path.startsWith(repo)) return path.slice(repo.length);
  if (path.startsWith('node:')) return 'node: internals';
  return path;
}

/** Runs `f` under the sampling profiler (sampling every `intervalUs`) and sums self time. */
export async function profiled<T>(f: () => Promise<T>, intervalUs = 200): Promise<{ result: T; summary: ProfileSummary }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
  await session.post('Profiler.start');
  const t0 = performance.now();
  let result: T;
  let profile: Profile;
  try {
    result = await f();
  } finally {
    ({ profile } = (await session.post('Profiler.stop')) as unknown as { profile: Profile });
    session.disconnect();
  }
  const ms = performance.now() - t0;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const files = new Map<string, number>();
  const functions = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const dt = profile.timeDeltas[i] ?? 0;
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    // The inspector session's own native call (starting and stopping this profile): not the run's time.
    if (functionName === 'dispatch' && !url) continue;
    total += dt;
    const file = fileOf(url, functionName);
    files.set(file, (files.get(file) ?? 0) + dt);
    const fn = url ? `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}` : functionName || '(native)';
    functions.set(fn, (functions.get(fn) ?? 0) + dt);
  }
  const top = (m: Map<string, number>): { name: string; pct: number }[] =>
    [...m.entries()].map(([name, t]) => ({ name, pct: (100 * t) / Math.max(total, 1) })).sort((a, b) => b.pct - a.pct);
  return { result, summary: { ms, byFile: top(files), byFunction: top(functions) } };
}

/** Profile shares as case metrics (`self% <group>`), the top `n` of each kind, so they travel in a sample's JSON. */
export function profileMetrics(summary: ProfileSummary, n = 6): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { name, pct } of summary.byFile.slice(0, n)) out[`self% file ${name}`] = pct;
  for (const { name, pct } of summary.byFunction.slice(0, n)) out[`self% fn ${name}`] = pct;
  return out;
}

/** The profile shares found in a case's metrics, as one line for a report (`a 31 %, b 12 %…`). */
export function profileLine(metrics: Readonly<Record<string, number>>, kind: 'file' | 'fn', n = 6): string {
  const prefix = `self% ${kind} `;
  return Object.entries(metrics)
    .filter(([k]) => k.startsWith(prefix))
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${k.slice(prefix.length)} ${v.toFixed(0)} %`)
    .join(', ');
}
