/**
 * The public surface: the root entry exports exactly the checked-in list (growth is deliberate:
 * edit test/exports.root.txt with the change), the flow kit lives at `rxdata/kit` and not at the
 * root, and every subpath in package.json "exports" points at a build output of a source file
 * that exists and loads. The check maps `dist/X.js` back to `X.ts` with tsconfig's outDir and
 * rootDir instead of building (a build takes minutes on a small machine).
 */
import { existsSync, readFileSync } from 'node:fs';
import test from 'ava';
import * as root from '../src/index.js';
import * as kit from '../src/kit.js';

const repo = new URL('../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, repo), 'utf8');

/** Flow machinery for authors of sources and operators: in `rxdata/kit`, never at the root. */
const KIT_ONLY = [
  'Demand', 'Valve', 'Outbox', 'currentScope', 'runInScope', 'scoped', 'subscribeBehind', 'subscribeTied',
  'produce', 'produceComplete', 'pumpLoop', 'trampoline', 'MAX_OVERSHOOT', 'overshootError',
  'SLICE_MS', 'sliceSpent', 'yieldTurn', 'nextTurn', 'GUARD_THRESHOLD',
  'stageFor', 'declareCardinality', 'derivesCardinality', 'CARDINALITY', 'withSignal', 'abortError',
  'registerStage', 'refuseCheckpoint', 'tunerFor',
];
/** In both: the two easy ways to write a source, and the error helpers connectors use. */
const SHARED = ['fromIterable', 'pushSource', 'messageOf', 'redactUrl', 'redactSecrets', 'safeCause', 'urlSecrets'];

const sorted = (names: Iterable<string>): string[] => [...names].sort();

test('the root entry exports exactly test/exports.root.txt', (t) => {
  const expected = read('test/exports.root.txt').split('\n').filter(Boolean);
  const actual = sorted(Object.keys(root));
  const added = actual.filter((n) => !expected.includes(n));
  const removed = expected.filter((n) => !actual.includes(n));
  t.deepEqual({ added, removed }, { added: [], removed: [] }, 'the root entry changed: if on purpose, update test/exports.root.txt');
  t.deepEqual(actual, sorted(expected), 'test/exports.root.txt is sorted, one name a line');
});

test('the flow kit is at rxdata/kit and not at the root; the kit exports exactly its list', (t) => {
  const atRoot = KIT_ONLY.filter((name) => name in root);
  t.deepEqual(atRoot, [], 'kit names leaked to the root entry');
  t.deepEqual(sorted(Object.keys(kit)), sorted([...KIT_ONLY, ...SHARED]));
  for (const name of SHARED) t.is((kit as Record<string, unknown>)[name], (root as Record<string, unknown>)[name], name);
  // Type-only kit names: `npm run typecheck` fails if the root ever exports them again (each
  // line below must be an error), or if the kit stops exporting them.
  const types: [kit.Gate?, kit.FlowScope?, kit.Ledger?, kit.PushSink<number>?] = [];
  // @ts-expect-error Gate is the kit's, not the root's
  types.push(undefined as unknown as root.Gate);
  // @ts-expect-error FlowScope is the kit's, not the root's
  types.push(undefined as unknown as root.FlowScope);
  // @ts-expect-error Ledger is the kit's, not the root's
  types.push(undefined as unknown as root.Ledger);
  t.is(types.length, 3);
});

test('every subpath in package.json "exports" maps to a source file that exists and loads', async (t) => {
  const pkg = JSON.parse(read('package.json')) as { main: string; types: string; exports: Record<string, { types: string; default: string }> };
  const tsconfig = JSON.parse(read('tsconfig.json')) as { compilerOptions: { outDir: string; rootDir: string }; include: string[] };
  t.is(tsconfig.compilerOptions.outDir, 'dist');
  t.is(tsconfig.compilerOptions.rootDir, '.');
  t.deepEqual(Object.keys(pkg.exports).sort(), ['.', './bigquery', './kafka', './kit', './rxjs', './sockets']);
  t.is(pkg.main, pkg.exports['.'].default);
  t.is(pkg.types, pkg.exports['.'].types);
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const built = /^\.\/dist\/(.+)\.js$/.exec(target.default);
    t.truthy(built, `${subpath}: "default" should be ./dist/….js, is ${target.default}`);
    const stem = built![1];
    t.is(target.types, `./dist/${stem}.d.ts`, `${subpath}: "types" beside "default"`);
    t.true(tsconfig.include.includes(stem.split('/')[0]), `${subpath}: ${stem}.ts is outside tsconfig's "include", so it is never built`);
    const source = new URL(`${stem}.ts`, repo);
    t.true(existsSync(source), `${subpath}: ${stem}.ts does not exist`);
    const loaded = (await import(source.href)) as Record<string, unknown>;
    t.true(Object.keys(loaded).length > 0, `${subpath}: ${stem}.ts exports nothing`);
  }
  t.is((await import(new URL('src/kit.ts', repo).href)).Valve, kit.Valve);
});
