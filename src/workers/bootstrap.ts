/**
 * The script a worker thread of ours starts from (`new Worker(script, { eval: true })`): it
 * imports the thread's entry module, `.js` once built or `.ts` when running from source.
 *
 * On Node 20 the loader hooks that `--import=tsx` registers apply to the main thread only, so a
 * thread whose `.ts` import fails registers tsx's ESM API itself (when installed) and asks again.
 * The same import is left at `globalThis[Symbol.for('rxdata.workerImport')]` for the entry to load
 * user modules (a `fromWorkers` head) the same way.
 */

/** tsx's ESM API, when installed. */
const tsxApi = ((): string | undefined => {
  try {
    return import.meta.resolve('tsx/esm/api');
  } catch {
    return undefined;
  }
})();

/** The entry module beside `here` (an `import.meta.url`): `name.ts` under tsx, `name.js` once built. */
export function entryBeside(here: string, name: string): URL {
  return new URL(`./${name}${here.endsWith('.ts') ? '.ts' : '.js'}`, here);
}

/** The bootstrap script that imports `entry` in a worker thread, with the tsx fallback. */
export function workerBootstrap(entry: URL): string {
  return `
const tsx = ${JSON.stringify(tsxApi ?? null)};
let registered = false;
const load = (href) => import(href).catch(async (error) => {
  if (!tsx || registered || !error || error.code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw error;
  registered = true;
  (await import(tsx)).register();
  // The failed import is cached under its URL: ask again under another.
  return import(href + (href.includes('?') ? '&' : '?') + 'tsx');
});
globalThis[Symbol.for('rxdata.workerImport')] = load;
load(${JSON.stringify(entry.href)});
`;
}
