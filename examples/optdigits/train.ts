/**
 * `npm run demo`: trains a digit classifier on UCI optdigits through an rxdata pipeline, shows
 * progress, and prints the test accuracy and the pipeline statistics.
 *
 *   npm run demo -- --epochs 20 --batch-size 32 --backend wasm --report report.html --quiet
 *   npm run demo -- --resume      (an interrupted run picking up mid-epoch: examples/optdigits/resume.ts)
 */
import { parseArgs } from 'node:util';
import type { BackendName } from '../../src/train/backend.js';
import { trainOptdigits } from './pipeline.js';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '20' },
    'batch-size': { type: 'string', default: '32' },
    backend: { type: 'string', default: 'auto' },
    report: { type: 'string' },
    quiet: { type: 'boolean', default: false },
    resume: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log('usage: npm run demo -- [--epochs N] [--batch-size N] [--backend auto|tensorflow|wasm|webgpu|cpu] [--report file.html] [--quiet]');
  console.log('       npm run demo -- --resume    (a run killed mid-epoch, resumed from its checkpoint: see docs/resume.md)');
  process.exit(0);
}

if (values.resume) {
  const { resumeDemo } = await import('./resume.js');
  process.exit((await resumeDemo()) ? 0 : 1);
}

const positive = (name: string, text: string): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a positive integer, got '${text}'`);
    process.exit(2);
  }
  return n;
};

const started = performance.now();
const result = await trainOptdigits({
  epochs: positive('epochs', values.epochs),
  batchSize: positive('batch-size', values['batch-size']),
  backend: values.backend as BackendName,
  report: values.report,
  progress: values.quiet ? 'silent' : 'auto',
  log: values.quiet ? false : (line) => console.error(line),
});
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(`test accuracy ${(result.testAccuracy * 100).toFixed(2)}%  (test loss ${result.testLoss.toFixed(4)}, ${result.history.epochs.length} epochs, backend ${result.backend.name}, ${seconds} s)`);
if (!values.quiet) {
  console.log('\npipeline statistics:');
  console.log(result.stats.format());
  if (values.report) console.log(`\nreport: ${values.report}`);
}
