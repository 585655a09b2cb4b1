#!/bin/sh
# Measures scikit-learn's reference for the flight-delay model on the same
# split and feature matrix as the Go forest (docs/flights.md), and prints the
# Go figures from build/metrics/flights/metrics.json beside it.
#
#   bench/flightmodel/run.sh            # from the repository root, after `datalab run`
#   BENCH_DIR=/tmp/x bench/flightmodel/run.sh
#
# Needs Debian's python3-sklearn and python3-pandas (installed if missing).
set -eu
cd "$(dirname "$0")/../.."
DIR=${BENCH_DIR:-/tmp/datalab-bench-flightmodel}
mkdir -p "$DIR"
if ! /usr/bin/python3 -c 'import sklearn, pandas' 2>/dev/null; then
	apt-get install -y python3-sklearn python3-pandas
fi
GOTOOLCHAIN=local go build -o .bin/datalab ./cmd/datalab
for v in bts; do
	.bin/datalab features flights --variant "$v" --csv-dir "$DIR/$v"
	/usr/bin/python3 bench/flightmodel/sklearn_reference.py "$DIR/$v" 0 1 2 3 4 >"$DIR/$v/sklearn.json"
	cat "$DIR/$v/sklearn.json"
done
/usr/bin/python3 - build/metrics/flights/metrics.json <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))
for v in ev["variants"]:
    print(f'{v["name"]}: datalab held-out accuracy {v["holdout"]["accuracy"]:.4f}, test rows {v["test_rows"]}')
    for b in v["baselines"]:
        print(f'  baseline {b["name"]}: {b["holdout"]["accuracy"]:.4f}')
PY
