#!/usr/bin/env bash
# `datalab monitor matches` over a window of a million logged predictions
# on SQLite (issue 17): BenchmarkMonitor1M trains the served variant from
# the mirror once, logs 20,000 predictions drawn from its training matches
# through the prediction log and copies them by SQL into a million rows of
# one day, then times the whole monitor run — version counts, model load,
# reference from the features table, the scan of the million rows, the
# comparison, the page and the JSON. docs/monitoring.md quotes the figure.
#
#   bash bench/monitor/run.sh          # COUNT=3 BENCHTIME=3x
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
: "${DATALAB_MIRROR:=$(cd .. && pwd)/shared/data}"
export DATALAB_MIRROR
go test -run '^$' -bench 'Monitor1M' -benchtime "${BENCHTIME:-3x}" -count "${COUNT:-3}" -benchmem -timeout 30m ./matches/matchmonitor/
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%F)"
