#!/usr/bin/env bash
# robust_barrier.sh DIR STEP RUN RUNS: used by robust_concurrent.yml before each
# step; run RUN marks STEP reached and waits (at most 60 s) until RUNS runs have.
set -euo pipefail
dir=$1 step=$2 run=$3 runs=$4
mkdir -p "$dir"
touch "$dir/$step.$run"
for _ in $(seq 600); do
  reached=$(find "$dir" -maxdepth 1 -name "$step.*" | wc -l)
  if ((reached >= runs)); then
    exit 0
  fi
  sleep 0.1
done
echo "robust_barrier: only $reached of $runs runs reached step $step" >&2
exit 1
