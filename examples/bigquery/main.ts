/**
 * Trains the occupancy classifier (UCI "Occupancy Detection") from a BigQuery table: training
 * batches through the Storage Read API (4 parallel streams), validation through a query.
 *
 *   npx tsx examples/bigquery/main.ts                      # local BigQuery servers (no account)
 *   BIGQUERY_PROJECT=my-project BIGQUERY_TABLE=my-project.sensors.occupancy \
 *     npx tsx examples/bigquery/main.ts --epochs 5         # real BigQuery (ADC credentials)
 *
 * ```
 * fromBigQuery(table, 4 streams) ─▶ map(features) ─▶ shuffle ─▶ batch(64) ─▶ fit(model)
 * fromBigQuery(query … LIMIT 2000) ─▶ map(features) ─▶ batch(512) ─▶ validation
 * ```
 * The table needs the columns Temperature, Humidity, Light, CO2, HumidityRatio (FLOAT64) and
 * Occupancy (INT64 0/1), as in examples/data/occupancy/datatraining.csv.
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { map } from 'rxjs';
import { batch, fit, selectBackend, shuffle, PipelineStats } from '../../src/index.js';
import { fromBigQuery, type BigQueryConnection, type BigQueryRow } from '../../connectors/bigquery/index.js';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '5' },
    streams: { type: 'string', default: '4' },
    quiet: { type: 'boolean', default: false },
  },
});

const FEATURES = ['Temperature', 'Humidity', 'Light', 'CO2', 'HumidityRatio'] as const;
// Rough mean and spread of each feature in the training file: inputs near unit scale.
const MEAN = [20.6, 25.7, 119.5, 606.5, 0.00386];
const STD = [1.02, 5.53, 194.8, 314.3, 0.00085];

const features = (row: BigQueryRow): { xs: number[]; ys: number[] } => ({
  xs: FEATURES.map((name, i) => ((row[name] as number) - MEAN[i]) / STD[i]),
  ys: [row.Occupancy as number],
});

let connection: BigQueryConnection;
let table: string;
let close = async (): Promise<void> => undefined;
if (process.env.BIGQUERY_PROJECT && process.env.BIGQUERY_TABLE) {
  connection = { projectId: process.env.BIGQUERY_PROJECT };
  table = process.env.BIGQUERY_TABLE;
} else {
  // No account needed: local servers that speak BigQuery's REST and Storage Read protocols.
  const { startLocalBigQuery, TABLES } = await import('../../test/harness/bigquery/index.js');
  const local = await startLocalBigQuery();
  connection = local.connection;
  table = TABLES.occupancy;
  close = () => local.close();
  console.error(`local BigQuery: REST ${local.rest.endpoint}, Storage Read ${local.storage.endpoint}`);
}

const backend = await selectBackend('auto', { log: values.quiet ? false : undefined });
const model = tf.sequential({
  layers: [tf.layers.dense({ inputShape: [FEATURES.length], units: 16, activation: 'relu' }), tf.layers.dense({ units: 1, activation: 'sigmoid' })],
});
model.compile({ optimizer: tf.train.adam(0.01), loss: 'binaryCrossentropy', metrics: ['accuracy'] });

const train$ = fromBigQuery({ ...connection, table, streams: Number(values.streams), selectedFields: [...FEATURES, 'Occupancy'] }).pipe(
  map(features),
  shuffle(2048, { seed: 7 }),
  batch(64),
);
const validation$ = fromBigQuery({ ...connection, query: `SELECT ${FEATURES.join(', ')}, Occupancy FROM \`${table}\` LIMIT 2000`, pageSize: 1000 }).pipe(
  map(features),
  batch(512),
);

try {
  const stats = new PipelineStats();
  const run = fit(model, train$, { epochs: Number(values.epochs), validation: validation$, stats, progress: values.quiet ? 'silent' : 'auto' });
  const history = await run.history;
  const last = (key: string): number => history.history[key]?.at(-1) ?? NaN;
  console.log(`backend ${backend.name}, ${history.epochs.length} epochs: loss ${last('loss').toFixed(4)}, validation accuracy ${(last('val_acc') * 100).toFixed(1)}%`);
  if (!values.quiet) console.log(`\npipeline statistics:\n${stats.format()}`);
} finally {
  model.dispose();
  await close();
}
