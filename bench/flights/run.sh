#!/usr/bin/env bash
# Benchmarks the flight streaming stack on loopback (see main.go) and prints
# the figures docs/flights-streaming.md quotes. Run from the repository root
# after `datalab data pull spark-flight-delay-3.3.3 distances`.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
go build -o .bin/flights-bench ./bench/flights
for rate in 250 500 1000; do
  .bin/flights-bench -rate "$rate" -duration "${DURATION:-20s}" -backlog "${BACKLOG:-20000}" "$@"
done
