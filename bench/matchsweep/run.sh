#!/bin/bash
# The validation-year sweeps of docs/experiments.md ("Finding a better served
# match model"): 180 + 32 candidates (the second grid repeats 3), about 25 min
# on a shared 2-core machine. Output: bench/matchsweep/results-2021.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${DATALAB_MIRROR:?set DATALAB_MIRROR to the data mirror}"
out=bench/matchsweep/results-2021.txt
go build -o .bin/matchsweep ./bench/matchsweep
{
  echo "## grid 1: feature sets × depth × min instances × feature subset, 300 trees"
  .bin/matchsweep -variants form3,elo3,diff3 -trees 300 -depths 4,6,8,10,12 -mins 20,50,100,200 -subsets sqrt,onethird,all
  echo "## grid 2: deeper trees, fewer instances per leaf, 500 trees"
  .bin/matchsweep -variants diff3,form3 -trees 300,500 -depths 10,12,14,16 -mins 10,20 -subsets onethird
} >"$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out"
