#!/usr/bin/env bash
# Benchmarks `datalab exp run` against sequential `datalab run --set` (issue
# 13, docs/experiments.md "Benchmark: a sweep against sequential runs").
#
# Run it in a clone whose pipeline is up to date (`make run`, or
# `datalab run` after `go build -o .bin/datalab ./cmd/datalab`):
#
#   bash bench/exp/sweep.sh            # from the clone's root
#
# It measures, on the match stages (report-matches and everything upstream
# of it; the notebooks stage is left out: it takes minutes per run and does
# not depend on the forest parameters except through the models):
#   1. a no-op `datalab run` (everything up to date);
#   2. `datalab exp run report-matches --sweep matches.forests.default.max_depth=4,6,8,10,12`
#      (-j the cores): wall time, and the disk it adds to the whole clone (one
#      du over the tree, so the workspaces' hard links to the sources, data and
#      cache count once);
#   3. the same five values as five sequential `datalab run --set … report-matches`
#      in a copy of the clone (cp -a: its own build/ and cache), wall time
#      and disk added the same way.
# The clone is left with the five experiments (datalab exp gc and remove
# reclaim them); the copy is deleted.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local DATALAB_NO_PROGRESS=${DATALAB_NO_PROGRESS:-1}
DATALAB=${DATALAB:-$PWD/.bin/datalab}
VALUES=${VALUES:-4,6,8,10,12}
KEY=matches.forests.default.max_depth
TARGET=report-matches
# The stages of the no-op run: all by default; NOOP_TARGETS="report-matches
# report-flights" leaves out the notebooks where their kernel is not
# installed (bash .ci/setup notebooks).
read -ra NOOP <<<"${NOOP_TARGETS:-}"
[ -x "$DATALAB" ] || { echo "build datalab first: go build -o .bin/datalab ./cmd/datalab" >&2; exit 1; }

# seconds since the epoch with milliseconds
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# bytes under the given paths of a tree, hard links counted once
usage() { (cd "$1" && shift && du -scb "$@" 2>/dev/null | tail -1 | cut -f1); }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

echo "== cores: $(nproc); $(go version | cut -d' ' -f3); datalab $("$DATALAB" --version 2>/dev/null | awk '{print $NF}')"

echo "== 1. no-op datalab run (everything up to date)"
"$DATALAB" run "${NOOP[@]}" >/dev/null 2>&1 || { echo "datalab run failed: bring the clone up to date first" >&2; exit 1; }
t=$(now)
"$DATALAB" run "${NOOP[@]}" >/dev/null 2>&1
noop=$(elapsed "$t")
echo "no-op datalab run ${NOOP[*]}: ${noop} s"

COPY=$(mktemp -d "${TMPDIR:-/tmp}/datalab-seq-XXXXXX")
trap 'rm -rf "$COPY"' EXIT
# The copy for the sequential runs, made before the sweep so it starts from
# the same state; ../shared (the data mirror) is reached the same way.
cp -a . "$COPY/repo"
[ -e ../shared ] && ln -sfn "$(cd ../shared && pwd)" "$COPY/shared"

echo "== 2. datalab exp run $TARGET --sweep $KEY=$VALUES"
before=$(usage . .)
t=$(now)
"$DATALAB" exp run "$TARGET" --sweep "$KEY=$VALUES" --name bench --force
sweep=$(elapsed "$t")
after=$(usage . .)
sweep_disk=$((after - before))
echo "sweep: ${sweep} s wall; disk added: $(mib "$sweep_disk") (whole clone: $(mib "$before") → $(mib "$after"))"
"$DATALAB" exp show --sort-by served.holdout.accuracy || true

echo "== 3. five sequential datalab run --set $KEY=… $TARGET (in a copy)"
before=$(usage "$COPY/repo" .)
t=$(now)
IFS=, read -ra vals <<<"$VALUES"
for v in "${vals[@]}"; do
  (cd "$COPY/repo" && "$DATALAB" run --set "$KEY=$v" "$TARGET" >/dev/null 2>&1)
done
seq=$(elapsed "$t")
after=$(usage "$COPY/repo" .)
echo "sequential: ${seq} s wall; disk added: $(mib $((after - before))) (only the last value's outs stay in build/)"

echo
echo "| what | wall time | disk added |"
echo "|---|---|---|"
echo "| datalab exp run (${#vals[@]} experiments, -j $(nproc)) | ${sweep} s | $(mib "$sweep_disk") |"
echo "| ${#vals[@]} sequential datalab run --set | ${seq} s | $(mib $((after - before))) |"
echo "| no-op datalab run | ${noop} s | – |"
