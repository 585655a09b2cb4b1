#!/usr/bin/env bash
# flights-3m (3M rows, as `datalab ingest` writes it) into the flight
# training table, beside DuckDB's scan of the same file in the same run
# (issue 15's anchor: DuckDB with 2 threads counts rows, distinct origins and
# routes, and sums three columns). Prints each figure and the ratio to
# DuckDB; docs/performance.md keeps the table.
#
#   bash bench/read/run.sh            # ingests flights-3m from the mirror once
#   DATALAB_BENCH_FLIGHTS3M=build/parquet/flights3m.parquet bash bench/read/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
: "${DATALAB_MIRROR:=$(cd .. && pwd)/shared/data}"
export DATALAB_MIRROR
count=${COUNT:-5}
out=$(CGO_ENABLED=1 go test -run '^$' -bench 'Flights3M' -benchtime "${BENCHTIME:-3x}" -count "$count" -benchmem \
  ./flights/flightfeat/ | tee /dev/stderr)
echo
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%F)"
awk '
  /^Benchmark/ {
    name = $1; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name)
    for (i = 2; i <= NF; i++) if ($(i+1) == "ns/op") { t[name] = t[name] " " $i; n[name]++; s[name] += $i }
    for (i = 2; i <= NF; i++) if ($(i+1) == "B/op") b[name] = $i
  }
  END {
    duck = s["DuckDBScanFlights3M"] / n["DuckDBScanFlights3M"]
    printf "%-26s %10s %10s %8s\n", "benchmark (mean of runs)", "s/op", "MB/op", "× DuckDB"
    for (k in s) printf "%-26s %10.3f %10.0f %8.2f\n", k, s[k] / n[k] / 1e9, b[k] / 1e6, (s[k] / n[k]) / duck
  }' <<<"$out" | sort
