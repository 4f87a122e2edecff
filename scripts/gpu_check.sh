#!/usr/bin/env bash
# The one prepared GPU check (issue 3). Run from the repository root:
#   on the lent H100 (no install; torch + triton already there):  bash scripts/gpu_check.sh
#   on a CPU machine, same code paths, tiny shapes, Triton interpreter:  bash scripts/gpu_check.sh --dry-run
# Stages run one after another, each in its own process under its own time limit, so one failing or hanging
# stage does not stop the others. Everything lands in $OUT (7 files):
#   env.txt check.log profile.log bench.log bench.json summary.txt timings.tar.gz (-> results/timings/<device>/)
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

stage() {  # stage NAME LIMIT_S COMMAND...
  local name=$1 limit=$2 t0 rc
  shift 2
  t0=$(date +%s)
  echo "== $name (limit ${limit}s)"
  timeout -k 10 "$limit" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  echo "   $name: exit $rc after $(( $(date +%s) - t0 ))s$([ $rc -eq 124 ] && echo ' (TIMED OUT)')"
}

{
  date -u
  nvidia-smi 2>&1 || echo "nvidia-smi: not available"
  "$PY" -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'gpu', torch.cuda.get_device_name() if torch.cuda.is_available() else None)"
  "$PY" -c "import triton, numpy; print('triton', triton.__version__, 'numpy', numpy.__version__)"
  git log -1 --format='commit %H %s' 2>/dev/null || true
} >"$OUT/env.txt" 2>&1

stage check 110 "$PY" benchmarks/gpu_check.py check $DRY
grep -E '^(FAIL|checks:)' "$OUT/check.log" | tail -n 40

stage profile 150 "$PY" benchmarks/gpu_check.py profile --out "$WORK/timings" $DRY
grep -E 'roofline|rows in|failed|wrote' "$OUT/profile.log" | tail -n 30
if [ -d "$WORK/timings" ]; then
  tar -czf "$OUT/timings.tar.gz" -C "$WORK/timings" . && echo "   tables: $(cd "$WORK/timings" && ls */ | tr '\n' ' ')"
fi

stage bench 110 "$PY" benchmarks/gpu_check.py bench --json "$OUT/bench.json" --summary "$OUT/summary.txt" $DRY
grep -E 'MoC decode stages|TAH v1|Traceback|Error' "$OUT/bench.log" | tail -n 10

rm -rf "$WORK"
echo "== total $(( $(date +%s) - START ))s; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
echo
cat "$OUT/summary.txt" 2>/dev/null || echo "no summary (bench stage failed: see bench.log)"
