#!/bin/bash
# The CPU cache-state timing tables of the compute study (harness.timing.cache_state, harness.fidelity.compute):
# the ops of a training step profiled in fp32 after flushes of 4, 16, 64 and 128 MiB, at 1 thread (cpu-f<MiB>) and
# 2 threads (cpu-2t-f<MiB>). Every row: the median of 3 calls (after one warm-up) in each of 2 passes, median over
# the passes. About 48 min on the quiet 2-core dev VM (the 64 and 128 MiB flushes cost 8-18 ms per call, untimed).
# Usage: bash scripts/profile_cpu_cache_state.sh [OUT_DIR]   (default results/timings)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-results/timings}"
OPS="matmul linear_fwd copy embedding_fwd embedding_bwd rmsnorm_fwd rmsnorm_bwd rotary_fwd rotary_bwd sdpa_fwd
     sdpa_bwd residual_add swiglu_fwd swiglu_bwd cross_entropy_fwd cross_entropy_bwd adamw_step"
for threads in 1 2; do
  for mib in 4 16 64 128; do
    if [ "$threads" = 1 ]; then set_name="cpu-f$mib"; else set_name="cpu-2t-f$mib"; fi
    .venv/bin/python -m harness profile --device cpu --grid quick --threads "$threads" --dtypes float32 \
      --budget-s 0.0002 --passes 2 --cpu-flush-mib "$mib" --out "$OUT" --table-set "$set_name" --ops $OPS
  done
done
