/**
 * Runs one case of one scenario in a fresh process (so its peak RSS is its own): a warm-up run,
 * a full garbage collection, then the measured run; prints one `@@result` line of JSON for the orchestrator.
 * Usage: tsx bench/child.ts '{"scenario":1,"case":"rxdata","quick":false}'
 */
import { collectGarbage, type ScenarioRunner } from './lib.js';

interface ChildArgs {
  scenario: number;
  case: string;
  quick: boolean;
}

const args = JSON.parse(process.argv[2] ?? '{}') as ChildArgs;
const modules: Record<number, () => Promise<ScenarioRunner>> = {
  1: async () => (await import('./scenarios/overhead.js')).runner,
  2: async () => (await import('./scenarios/guide.js')).runner,
  3: async () => (await import('./scenarios/cpuMap.js')).runner,
  4: async () => (await import('./scenarios/training.js')).runner,
  5: async () => (await import('./scenarios/shuffleCache.js')).runner,
  6: async () => (await import('./scenarios/kafka.js')).runner,
  7: async () => (await import('./scenarios/tfdata.js')).runner,
  18: async () => (await import('./scenarios/formats.js')).runner,
  20: async () => (await import('./scenarios/fleet.js')).runner,
  19: async () => (await import('./scenarios/autotune.js')).runner,
};
const load = modules[args.scenario];
if (!load) throw new Error(`no scenario ${args.scenario}`);
const runner = await load();
await runner.run(args.case, { quick: args.quick, warmup: true });
const baseRssMiB = process.memoryUsage().rss / 2 ** 20;
// The measured run starts from a collected heap: the set-up's and the warm-up's garbage is not
// the case's. Measured 2026-12-01 on scenario 6: without it, a major GC of the 100,000 messages
// produced at set-up fell inside 3–6 of 9 runs of either side (GC 57–70 ms against 9–15 ms).
await collectGarbage();
const result = await runner.run(args.case, { quick: args.quick, warmup: false });
// maxRSS is in KiB and covers the whole process lifetime (imports, warm-up and the run).
const peakRssMiB = process.resourceUsage().maxRSS / 1024;
process.stdout.write(`@@result ${JSON.stringify({ ...result, peakRssMiB, baseRssMiB })}\n`);
// Worker pools, sockets or timers a case left behind must not keep the child alive.
process.exit(0);
