#!/usr/bin/env bash
# Random forest benchmark on flights-3m: datalab vs scikit-learn
# RandomForestClassifier vs XGBoost XGBRFClassifier, same machine, same CSV
# export, one run. Prints (and writes to $BENCH_DIR/table.md) fit seconds,
# predict rows/s, accuracy and peak RSS of each, with ratios to datalab.
#
#   bench/forest/run.sh                    # uses the mirror beside the repo
#   DATALAB_MIRROR=/path/to/data bench/forest/run.sh
#   BENCH_DIR=/tmp/fb THREADS=2 SEEDS=5 bench/forest/run.sh
#
# Each system fits SEEDS times (accuracy varies ~0.5 pp between seeds on this
# data); the table shows median times and mean accuracy.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local

MIRROR=${DATALAB_MIRROR:-$(cd .. && pwd)/shared/data}
DATA=${FLIGHTS3M:-$MIRROR/flights/vega/flights-3m.parquet}
WORK=${BENCH_DIR:-build/bench/forest}
THREADS=${THREADS:-2}
SEEDS=${SEEDS:-5}
PY=/usr/bin/python3
LOAD_BEFORE=$(cut -d" " -f1-3 /proc/loadavg)

if [[ ! -f $DATA ]]; then
  echo "flights-3m not found at $DATA: set DATALAB_MIRROR or FLIGHTS3M" >&2
  exit 1
fi

# Peers are Debian packages; install what is missing (needs root).
missing=()
$PY -c 'import sklearn' 2>/dev/null || missing+=(python3-sklearn)
$PY -c 'import xgboost' 2>/dev/null || missing+=(python3-xgboost)
$PY -c 'import pandas' 2>/dev/null || missing+=(python3-pandas)
[[ -x /usr/bin/time ]] || missing+=(time)
if ((${#missing[@]})); then
  echo "installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

mkdir -p "$WORK"
go build -o "$WORK/forestbench" ./bench/forest
"$WORK/forestbench" export -in "$DATA" -out "$WORK"

# One process per system so /usr/bin/time -v measures each one's peak RSS.
run() {
  local name=$1
  shift
  echo "running $name" >&2
  /usr/bin/time -v -o "$WORK/$name.time" "$@" >"$WORK/$name.json"
}
run datalab env GOMAXPROCS="$THREADS" "$WORK/forestbench" fit -seeds "$SEEDS" -train "$WORK/train.csv" -test "$WORK/test.csv"
run sklearn $PY bench/forest/peers.py sklearn "$WORK/train.csv" "$WORK/test.csv" "$THREADS" "$SEEDS"
run xgbrf $PY bench/forest/peers.py xgbrf "$WORK/train.csv" "$WORK/test.csv" "$THREADS" "$SEEDS"

{
  echo "Measured $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))," \
    "load average before the run: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  "$WORK/forestbench" report -dir "$WORK" datalab sklearn xgbrf
} | tee "$WORK/table.md"
