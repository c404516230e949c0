#!/usr/bin/env node
// rxdata-worker: runs a pipeline head module as a Kafka fleet worker (see docs/fleet.md).
// The command itself lives in the built package; a TypeScript head needs `node --import tsx`.
import '../dist/connectors/kafka/fleet/cli.js';
