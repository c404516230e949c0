/**
 * `npm run bench [-- --quick] [-- --scenario N[,M]] [-- --runs K] [-- --cases PREFIX[,PREFIX]]`
 *
 * Runs every case of every scenario in its own child process (clean peak RSS), alternating the
 * contenders round by round (so load on a shared machine hits all of them alike), drops a
 * warm-up round, and reports medians and ratios as Markdown and JSON under bench/results/.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { median, type CaseSpec, type Sample, type ScenarioDef, type ScenarioReport, type Summary } from './lib.js';
import { overhead } from './scenarios/overhead.js';
import { guide } from './scenarios/guide.js';
import { cpuMap } from './scenarios/cpuMap.js';
import { training } from './scenarios/training.js';
import { shuffleCache } from './scenarios/shuffleCache.js';
import { kafka } from './scenarios/kafka.js';
import { tfdata } from './scenarios/tfdata.js';
import { formats } from './scenarios/formats.js';
import { fleetScenario } from './scenarios/fleet.js';
import { autotune } from './scenarios/autotune.js';

const all: readonly ScenarioDef[] = [overhead, guide, cpuMap, training, shuffleCache, kafka, tfdata, formats, autotune, fleetScenario];

function parseArgs(argv: readonly string[]): { quick: boolean; scenarios: number[]; runs: number; cases: string[] | undefined } {
  let quick = false;
  let scenarios: number[] = all.map((s) => s.id);
  let runs: number | undefined;
  /** Only the cases whose names start so (more runs of the noisiest family, say). */
  let cases: string[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') quick = true;
    else if (a === '--scenario' || a === '-s') scenarios = argv[++i].split(',').map(Number);
    else if (a.startsWith('--scenario=')) scenarios = a.slice(11).split(',').map(Number);
    else if (a === '--runs') runs = Number(argv[++i]);
    else if (a === '--cases') cases = argv[++i].split(',');
    else throw new Error(`unknown argument ${a} (use --quick, --scenario N[,M], --runs K, --cases PREFIX[,PREFIX])`);
  }
  return { quick, scenarios, runs: runs ?? (quick ? 2 : 5), cases };
}

const childPath = fileURLToPath(new URL('./child.ts', import.meta.url));

/** Runs one case in a child process with the same loader flags (tsx) as this one. */
function runChild(scenario: number, spec: CaseSpec, quick: boolean): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, childPath, JSON.stringify({ scenario, case: spec.name, quick })], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), (quick ? 300 : 600) * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('@@result '));
      if (code === 0 && line) resolve(JSON.parse(line.slice(9)) as Sample);
      else reject(new Error(`scenario ${scenario} case ${spec.name} exited ${code}:\n${err.slice(-2000)}${out.slice(-500)}`));
    });
  });
}

function summarize(spec: CaseSpec, samples: readonly Sample[]): Summary {
  const keys = new Set(samples.flatMap((s) => Object.keys(s.metrics ?? {})));
  const metrics: Record<string, number> = {};
  const spread: Record<string, number> = {};
  for (const k of keys) {
    const values = samples.map((s) => s.metrics?.[k] ?? NaN).filter((v) => !Number.isNaN(v));
    metrics[k] = median(values);
    spread[k] = values.length > 1 && metrics[k] !== 0 ? (Math.max(...values) - Math.min(...values)) / Math.abs(metrics[k]) : 0;
  }
  const inflight = samples.map((s) => s.maxInFlight).filter((v): v is number => v !== undefined);
  return {
    spec,
    runs: samples.length,
    ms: median(samples.map((s) => s.ms)),
    items: median(samples.map((s) => s.items)),
    peakRssMiB: Math.max(...samples.map((s) => s.peakRssMiB)),
    baseRssMiB: median(samples.map((s) => s.baseRssMiB)),
    maxInFlight: inflight.length ? Math.max(...inflight) : undefined,
    metrics,
    spread,
    samples: samples.map((s) => s.ms),
  };
}

function machine(): Record<string, string | number> {
  let model = cpus()[0]?.model ?? 'unknown';
  try {
    model = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? model;
  } catch {
    // Not Linux: os.cpus() names it.
  }
  return { node: process.version, cpu: model, cores: cpus().length, platform: `${process.platform} ${process.arch}` };
}

async function main(): Promise<void> {
  const { quick, scenarios, runs, cases } = parseArgs(process.argv.slice(2));
  const started = new Date();
  const loadBefore = loadavg();
  const reports: { def: ScenarioDef; report?: ScenarioReport; pending?: string; summaries: Summary[] }[] = [];
  for (const id of scenarios) {
    const def = all.find((s) => s.id === id);
    if (!def) throw new Error(`no scenario ${id}`);
    const pending = await def.pending?.();
    if (pending) {
      // One line, and the rest of the bench runs.
      console.log(`\n${def.id}. ${def.title}: skipped: ${pending}`);
      reports.push({ def, pending, summaries: [] });
      continue;
    }
    const specs = def.cases(quick).filter((spec) => !cases || cases.some((prefix) => spec.name.startsWith(prefix)));
    if (specs.length === 0) throw new Error(`scenario ${id} has no case named ${cases!.join(' or ')}…`);
    const samples = new Map<string, Sample[]>(specs.map((s) => [s.name, []]));
    // Round 0 warms the disk cache and the machine, and is dropped (a quick run skips it).
    const rounds = quick ? runs : Math.max(runs, def.minRuns ?? 0) + 1;
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round, so no contender always runs first (or last) under load.
      const order = specs.map((_, i) => specs[(i + round) % specs.length]);
      for (const spec of order) {
        const t0 = performance.now();
        const sample = await runChild(def.id, spec, quick);
        const keep = quick || round > 0;
        if (keep) samples.get(spec.name)!.push(sample);
        process.stderr.write(`  s${def.id} round ${round}${keep ? '' : ' (warm-up)'} ${spec.name}: ${sample.ms.toFixed(1)} ms, peak ${sample.peakRssMiB.toFixed(0)} MiB (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
      }
    }
    const summaries = specs.map((s) => summarize(s, samples.get(s.name)!));
    const report = def.report(new Map(summaries.map((s) => [s.spec.name, s])), quick);
    reports.push({ def, report, summaries });
    console.log(`\n${renderScenario(def, report)}`);
  }

  const m = machine();
  const loadAfter = loadavg();
  const header = [
    `# rxdata benchmarks${quick ? ' (quick)' : ''}`,
    '',
    `${started.toISOString()} · Node ${m.node} · ${m.cpu} · ${m.cores} cores · ${m.platform} · ` +
      `load average ${loadBefore[0].toFixed(2)} before, ${loadAfter[0].toFixed(2)} after · ` +
      `medians of ${runs} runs${quick ? '' : ' after a warm-up round'}, each case in its own process, contenders alternating.`,
  ];
  const verdictRows = reports.flatMap(({ def, report, pending }) =>
    pending
      ? [`| ${def.id}. ${def.title} | – | pending: ${pending} | – |`]
      : (report?.verdicts ?? []).map((v) => `| ${def.id}. ${v.target} | ${v.measured} | ${v.holds === 'pending' ? 'pending' : v.holds ? 'holds' : 'does not hold'} | ${v.note ?? ''} |`),
  );
  const md = [
    ...header,
    '',
    '## Targets',
    '',
    '| target | measured | verdict | note |',
    '| --- | ---: | --- | --- |',
    ...verdictRows,
    '',
    ...reports.map(({ def, report, pending }) => (report ? renderScenario(def, report) : `## ${def.id}. ${def.title}\n\npending: ${pending}\n`)),
  ].join('\n');
  const dir = fileURLToPath(new URL('./results', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const partial = scenarios.length !== all.length;
  const base = `${quick ? 'quick' : partial ? `scenario-${scenarios.join('-')}` : 'latest'}${cases ? `-${cases.join('-').replace(/[^\w-]/g, '')}` : ''}`;
  writeFileSync(`${dir}/${base}.md`, `${md}\n`);
  writeFileSync(
    `${dir}/${base}.json`,
    `${JSON.stringify(
      {
        started: started.toISOString(),
        machine: m,
        loadavg: { before: loadBefore, after: loadAfter },
        quick,
        runs,
        scenarios: reports.map(({ def, report, pending, summaries }) => ({ id: def.id, title: def.title, pending, verdicts: report?.verdicts, cases: summaries })),
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\n## Targets\n\n${verdictRows.join('\n')}\n\nwrote bench/results/${base}.md and ${base}.json`);
}

function renderScenario(def: ScenarioDef, report: ScenarioReport): string {
  return [`## ${def.id}. ${report.title}`, '', report.table, '', ...(report.notes ?? []).map((n) => `- ${n}`), ''].join('\n');
}

await main();
