#!/usr/bin/env bash
# The notebooks stage's wall and CPU time, beside issue 15's target (≤ 40 s
# warm on 2 cores), in make's compile mode (CGO_ENABLED=0, -trimpath) and,
# for the record, with cgo; each run's pages are compared with the stage's
# outputs (build/notebooks), which must stay byte-identical.
#
# Needs a checkout where `datalab run` (make run) has run: build/parquet,
# build/models and build/notebooks, and .bin/{datalab,gonb,goimports}.
# Knobs: RUNS (2), JOBS (the stage's default: the number of CPUs),
# MODES ("nocgo cgo").
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
RUNS=${RUNS:-2}
MODES=${MODES:-nocgo cgo}
for f in .bin/datalab build/notebooks/model-variants.html; do
  [ -e "$f" ] || { echo "run.sh: $f missing: run 'make run' first" >&2; exit 1; }
done
param() { awk -v k="$1:" '$1 == k {print $2; exit}' datalab.yaml; }
args=(--param "sample=$(param sample)" --param "match_sweep=$(param match_sweep)" --param "flight_sweep=$(param flight_sweep)")
[ -n "${JOBS:-}" ] && args+=(-j "$JOBS")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(nproc) cores, $(uname -sr), $(date -u +%F); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-4s %9s %9s %9s  %s\n' mode run "wall s" "user s" "sys s" "pages"
for mode in $MODES; do
  case $mode in
    nocgo) env=(CGO_ENABLED=0 GOFLAGS=-trimpath) ;;
    cgo) env=(CGO_ENABLED=1 GOFLAGS=) ;;
    *) echo "run.sh: unknown mode $mode (nocgo, cgo)" >&2; exit 2 ;;
  esac
  for i in $(seq "$RUNS"); do
    out=$tmp/$mode-$i
    # Scratch page dirs and no index rebuild: reports/ stays as the pipeline left it.
    env "${env[@]}" /usr/bin/time -f '%e %U %S' -o "$tmp/time" \
      .bin/datalab notebooks run --stable-dir "$out" --out "$tmp/pages-$mode-$i" --reports-dir "" "${args[@]}" >"$tmp/log" 2>&1 ||
      { cat "$tmp/log" >&2; exit 1; }
    same=identical
    for f in build/notebooks/*.html; do
      cmp -s "$f" "$out/$(basename "$f")" || same="DIFFERS: $(basename "$f")"
    done
    read -r wall user sys <"$tmp/time"
    printf '%-6s %-4s %9.1f %9.1f %9.1f  %s\n' "$mode" "$i" "$wall" "$user" "$sys" "$same"
  done
done
echo "target: nocgo wall <= 40 s (issue 15); load after: $(cut -d' ' -f1-3 /proc/loadavg)"
