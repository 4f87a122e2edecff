#!/usr/bin/env bash
# The one prepared GPU check (the compute model's GPU tables, the MoC and TAH-Quant kernels). Run from the repository root:
#   on the lent H100 (nothing to install: torch + triton are there):  bash scripts/gpu_check.sh
#     (device `run` with timeout_s 560: the phases' limits sum to 515 s, 555 s with each timeout's 5 s grace)
#   on a CPU machine, same code paths, tiny shapes, Triton interpreter:  bash scripts/gpu_check.sh --dry-run
# Phase 1 runs the correctness checks (4 groups) and compiles every Triton launch of the profile grid (7 ops)
# in parallel processes, so phases 2-3 find every kernel in Triton's on-disk cache. Phase 2 times the kernel
# targets (the MoC decode and TAH-Quant speed targets). Phase 3 writes the timing tables straight into $OUT/timings/<device>/, starting from
# a copy of the committed folder (so rows of dtypes not re-measured, and the best measured ceilings, are kept),
# one process per group in order of need (the bf16 and fp16 GEMMs the compute model prices first), each written op by op: a limit
# hit, or the whole call cut off, loses only the op in progress. Each process has its own time limit; one
# failing or hanging process does not stop the rest.
# Worst case (every limit hit, each with its 5 s grace) 95 + 50 + 410 s = 555 s; expected about 4 min (an H100 run of the earlier serial
# version: checks ~45 s, bench 6.5 s; the profile's ~2,900 do_bench calls at 5 + 20 ms windows ~2 min).
# Output in $OUT: env.txt check.log bench.log bench.json summary.txt profile.log timings/<device>/ (copy that
# folder to results/timings/<device>/)
set -u -o pipefail
cd "$(dirname "$0")/.."
DRY=""
PY=${PYTHON:-python3}
if [ "${1:-}" = "--dry-run" ]; then
  DRY="--dry-run"
  PY=${PYTHON:-.venv/bin/python}
fi
OUT=${OUT:-/tmp/gpu_check_out}
mkdir -p "$OUT"
WORK=$(mktemp -d)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
START=$(date +%s)
# phase limits (s); the Triton interpreter of --dry-run is far slower
L1=90; L2=45
[ -n "$DRY" ] && L1=300 && L2=300
CHECK="$PY benchmarks/gpu_check.py"

{
  date -u
  nvidia-smi 2>&1 || echo "nvidia-smi: not available"
  $PY -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'gpu', torch.cuda.get_device_name() if torch.cuda.is_available() else None)"
  $PY -c "import triton, numpy; print('triton', triton.__version__, 'numpy', numpy.__version__)"
  git log -1 --format='commit %H %s' 2>/dev/null || true
} >"$OUT/env.txt" 2>&1

echo "== phase 1: checks + compile warm-up (parallel, limit ${L1} s each)"
T1=$(date +%s)
if [ -n "$DRY" ]; then
  timeout -k 5 $L1 $CHECK check $DRY >"$WORK/check_all.log" 2>&1
  timeout -k 5 $L1 $CHECK warm --op moc_decode $DRY >"$WORK/warm_moc_decode.log" 2>&1
else
  for group in moc tah arc row_topk; do
    timeout -k 5 $L1 $CHECK check --group "$group" >"$WORK/check_$group.log" 2>&1 &
  done
  for op in moc_decode tah_quantize arc_select moc_train tah_dequantize arc_pack arc_unpack; do
    timeout -k 5 $L1 $CHECK warm --op "$op" >"$WORK/warm_$op.log" 2>&1 &
  done
  wait
fi
for f in "$WORK"/check_*.log "$WORK"/warm_*.log; do echo "##### $(basename "$f")"; cat "$f"; done >"$OUT/check.log" 2>&1
echo "   phase 1: $(( $(date +%s) - T1 ))s; $(grep -c '^PASS' "$OUT/check.log") PASS, $(grep -c '^FAIL' "$OUT/check.log") FAIL"
grep -E '^FAIL|FAILED|Traceback|Error' "$OUT/check.log" | head -n 30

echo "== phase 2: bench (limit ${L2} s)"
T3=$(date +%s)
timeout -k 5 $L2 $CHECK bench --json "$OUT/bench.json" --summary "$OUT/summary.txt" $DRY >"$OUT/bench.log" 2>&1
echo "   bench: exit $? after $(( $(date +%s) - T3 ))s"
grep -E 'MoC decode stages|12-bit selection|tuner choices|TAH v1|Traceback|Error' "$OUT/bench.log" | tail -n 10

echo "== phase 3: profile into $OUT/timings (limits 50-75 s per group, 380 s in all)"
T2=$(date +%s)
TIMINGS="$OUT/timings"
mkdir -p "$TIMINGS"
if [ -z "$DRY" ]; then
  FOLDER=$($PY -c "from kernels.profiler import device_folder; print(device_folder('cuda'))")
  [ -d "results/timings/$FOLDER" ] && cp -r "results/timings/$FOLDER" "$TIMINGS/"
fi
profile() {  # profile LIMIT ARGS...: one process, its own limit, appended to profile.log
  local limit=$1; shift
  local t=$(date +%s)
  timeout -k 5 "$limit" $CHECK profile --out "$TIMINGS" "$@" $DRY >>"$OUT/profile.log" 2>&1
  echo "   profile $*: exit $? after $(( $(date +%s) - t ))s"
}
if [ -n "$DRY" ]; then
  profile 120 --ops matmul copy --dtypes bfloat16
  profile 120 --ops train --dtypes bfloat16
  profile 120 --ops kernels
else
  profile 75 --ops copy matmul --dtypes bfloat16
  profile 75 --ops copy matmul --dtypes float16
  profile 60 --ops train --dtypes bfloat16
  profile 50 --ops kernels
  profile 60 --ops train --dtypes float16 float32
  profile 60 --ops copy matmul --dtypes float32
fi
echo "   profile: $(( $(date +%s) - T2 ))s"
grep -E 'roofline|rows in|failed|wrote' "$OUT/profile.log" | tail -n 30
echo "   tables: $(cd "$TIMINGS" && ls -d */ 2>/dev/null | tr '\n' ' ')"

rm -rf "$WORK"
echo "== total $(( $(date +%s) - START ))s; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
echo
cat "$OUT/summary.txt" 2>/dev/null || echo "no summary (bench stage failed: see bench.log)"
