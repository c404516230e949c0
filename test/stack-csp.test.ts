/**
 * CSP: stacking, padding, ragged stacking and unstacking never generate code from strings
 * (`new Function`, `eval`), so they run where a Content-Security-Policy without 'unsafe-eval', or
 * Node's `--disallow-code-generation-from-strings`, forbids it. A child process under that flag
 * runs test/fixtures/csp/stackCases.ts and must give the same batches as this process.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { stackCases } from './fixtures/csp/stackCases.js';

const run = promisify(execFile);

test('stack, padStack, raggedStack, unstack and batch/paddedBatch/unbatch work under --disallow-code-generation-from-strings', async (t) => {
  const script = fileURLToPath(new URL('./fixtures/csp/stackCases.ts', import.meta.url));
  const { stdout } = await run(process.execPath, ['--disallow-code-generation-from-strings', '--import', 'tsx', script], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    timeout: 60_000,
  });
  const child = JSON.parse(stdout) as { refused: boolean; cases: unknown };
  t.true(child.refused, 'the flag is in force in the child: new Function was refused');
  t.deepEqual(child.cases, JSON.parse(JSON.stringify(await stackCases())));
});
