#!/usr/bin/env bash
# The one prepared GPU check (issue 3). Run from the repository root:
#   on the lent H100 (nothing to install: torch + triton are there):  bash scripts/gpu_check.sh
#   on a CPU machine, same code paths, tiny shapes, Triton interpreter:  bash scripts/gpu_check.sh --dry-run
# Phase 1 runs the correctness checks (4 groups) and compiles every Triton launch of the profile grid (7 ops)
# in parallel processes, so phases 2-3 (bench: the three targets; profile: the timing tables; timed, one process
# each) find every kernel in Triton's on-disk cache. Each process has its own time limit; one failing or hanging
# process does not stop the rest.
# Worst case (every limit hit) 125 + 100 + 490 s = 12 min; expected about 6-8 min (an H100 run of the
# earlier serial version: checks ~45 s, bench 6.5 s, profile 25 s once compiled; the profile now also times the
# training-step ops and every GEMM/copy shape in fp32, bf16 and fp16: ~3,000 do_bench calls of ~50 ms each).
# Output in $OUT (7 files): env.txt check.log profile.log bench.log bench.json summary.txt
#   timings.tar.gz (unpack into results/timings/: it holds <device>/<op>.csv + meta.json)
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
CHECK="$PY benchmarks/gpu_check.py"

{
  date -u
  nvidia-smi 2>&1 || echo "nvidia-smi: not available"
  $PY -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'gpu', torch.cuda.get_device_name() if torch.cuda.is_available() else None)"
  $PY -c "import triton, numpy; print('triton', triton.__version__, 'numpy', numpy.__version__)"
  git log -1 --format='commit %H %s' 2>/dev/null || true
} >"$OUT/env.txt" 2>&1

echo "== phase 1: checks + compile warm-up (parallel, limit 120 s each)"
T1=$(date +%s)
if [ -n "$DRY" ]; then
  timeout -k 5 120 $CHECK check $DRY >"$WORK/check_all.log" 2>&1
  timeout -k 5 120 $CHECK warm --op moc_decode $DRY >"$WORK/warm_moc_decode.log" 2>&1
else
  for group in moc tah arc row_topk; do
    timeout -k 5 120 $CHECK check --group "$group" >"$WORK/check_$group.log" 2>&1 &
  done
  for op in moc_decode tah_quantize arc_select moc_train tah_dequantize arc_pack arc_unpack; do
    timeout -k 5 120 $CHECK warm --op "$op" >"$WORK/warm_$op.log" 2>&1 &
  done
  wait
fi
for f in "$WORK"/check_*.log "$WORK"/warm_*.log; do echo "##### $(basename "$f")"; cat "$f"; done >"$OUT/check.log" 2>&1
echo "   phase 1: $(( $(date +%s) - T1 ))s; $(grep -c '^PASS' "$OUT/check.log") PASS, $(grep -c '^FAIL' "$OUT/check.log") FAIL"
grep -E '^FAIL|FAILED|Traceback|Error' "$OUT/check.log" | head -n 30

echo "== phase 2: bench (limit 95 s)"
T3=$(date +%s)
timeout -k 5 95 $CHECK bench --json "$OUT/bench.json" --summary "$OUT/summary.txt" $DRY >"$OUT/bench.log" 2>&1
echo "   bench: exit $? after $(( $(date +%s) - T3 ))s"
grep -E 'MoC decode stages|TAH v1|Traceback|Error' "$OUT/bench.log" | tail -n 10

echo "== phase 3: profile (kernels + GEMM/copy: limit 240 s; training-step ops: limit 240 s)"
T2=$(date +%s)
# first every op but the training-step ones (GEMMs in fp32/bf16/fp16 over m 1-16k, n and k 4-32000; copy;
# our kernels), then the training-step ops (attention, norms, rotary, SwiGLU, cross-entropy, embedding,
# AdamW/SGD in forloop/foreach/fused): two processes, so a slow grid cannot lose the other's tables
if [ -n "$DRY" ]; then
  timeout -k 5 240 $CHECK profile --out "$WORK/timings" $DRY >"$OUT/profile.log" 2>&1
else
  KERNEL_OPS=$($PY -c "from kernels.ops import load_all_ops; import benchmarks.gpu_check as g; print(' '.join(n for n in load_all_ops() if n not in g.TRAIN_OPS))")
  timeout -k 5 240 $CHECK profile --out "$WORK/timings" --ops $KERNEL_OPS >"$OUT/profile.log" 2>&1
  echo "   profile (kernels, GEMM, copy): exit $? after $(( $(date +%s) - T2 ))s"
  timeout -k 5 240 $CHECK profile --out "$WORK/timings" --ops train >>"$OUT/profile.log" 2>&1
fi
echo "   profile: exit $? after $(( $(date +%s) - T2 ))s"
grep -E 'roofline|rows in|failed|wrote' "$OUT/profile.log" | tail -n 30
if [ -d "$WORK/timings" ]; then
  tar -czf "$OUT/timings.tar.gz" -C "$WORK/timings" . && echo "   tables: $(cd "$WORK/timings" && ls -d */ && ls */ | tr '\n' ' ')"
fi

rm -rf "$WORK"
echo "== total $(( $(date +%s) - START ))s; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
echo
cat "$OUT/summary.txt" 2>/dev/null || echo "no summary (bench stage failed: see bench.log)"
