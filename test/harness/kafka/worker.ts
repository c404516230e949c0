/**
 * A training worker for the delivery tests, run as its own process:
 *   node --import tsx worker.ts <bootstrap> <topic> <groupId> <outFile> <stepMs> <idleMs>
 * Reads the topic in a consumer group, "trains" on batches of 10 (sleeps stepMs), appends each
 * trained record as `partition:offset` to outFile, acknowledges, and exits after idleMs without
 * records. Killing it mid-step (SIGKILL) is what the at-least-once test does.
 */
import { appendFileSync } from 'node:fs';
import { bufferCount, lastValueFrom, defaultIfEmpty } from 'rxjs';
import { consume } from '../../../src/index.js';
import { acknowledge, fromKafka } from '../../../connectors/kafka/index.js';
import { fastGroup } from './helpers.js';

const [bootstrap, topic, groupId, outFile, stepMs, idleMs] = process.argv.slice(2);
const kafka = fromKafka<{ i: number }>({
  ...fastGroup,
  brokers: bootstrap,
  topics: topic,
  groupId,
  decode: 'json',
  mode: 'streaming',
  idleTimeoutMs: Number(idleMs),
  highWaterMark: 20,
  commitIntervalMs: 200,
});
await lastValueFrom(
  kafka.pipe(
    bufferCount(10),
    consume(async (records) => {
      await new Promise((resolve) => setTimeout(resolve, Number(stepMs)));
      appendFileSync(outFile, records.map((r) => `${r.partition}:${r.offset}\n`).join(''));
      return records;
    }),
    acknowledge(),
    defaultIfEmpty(null),
  ),
);
process.stdout.write('done\n');
