#!/usr/bin/env bash
# Builds the Kafka mock-cluster harness (librdkafka's mock broker behind a stdin protocol).
# Idempotent: rebuilds only when mock.c is newer than the binary.
set -euo pipefail
cd "$(dirname "$0")"
if [ -x kafka-mock ] && [ kafka-mock -nt mock.c ]; then exit 0; fi
gcc -O1 -Wall -o kafka-mock.tmp mock.c $(pkg-config --cflags --libs rdkafka)
mv kafka-mock.tmp kafka-mock
