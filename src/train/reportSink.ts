/**
 * The `report` option of `fit`: the HTML report written once training ends, and said so.
 */
import type { PipelineStats } from '../stats.js';
import type { FitHistory, FitOptions } from './fitTypes.js';
import type { Progress } from './progress.js';
import { writeReport } from './report.js';

/** Writes the report `options.report` asks for (nothing without it) and notes where it went. */
export async function writeRunReport(options: Pick<FitOptions<unknown>, 'report' | 'reportTitle'>, history: FitHistory, stats: PipelineStats, progress: Progress): Promise<void> {
  if (!options.report) return;
  await writeReport(options.report, history, { title: options.reportTitle, stats });
  progress.note(`report written to ${options.report}`);
}
