#!/usr/bin/env bash
# One GPU lease, one script: train the IDM model and the DDPM baseline prior side by side on
# the same GPU for the same wall time (a fair budget), then run the bench on CUDA with them.
#
#   bash scripts/gpu-lease.sh DATA OUTDIR TRAIN_SECONDS
#
# Step 1 measures each run's seconds per iteration (40 iterations, both running), so the real
# runs get an iteration count whose cosine LR schedule ends inside TRAIN_SECONDS; --time-limit
# is only the hard stop. Everything lands in OUTDIR as three tars (run folders, logs, bench).
# DEVICE=cpu and BENCH_ARGS="--ddpm-steps 10 ..." make a quick local dry run of the same script.
#
# The device machine sees only the repository, so pack the data into an ignored folder first and
# name it in the device tool's `carry` (the repo and .gpu together must stay under 64 MiB):
#   echo /.gpu/ >> .git/info/exclude
#   python scripts/pack-train-for-device.py ../shared/data/train .gpu/train      # 33.5 MiB
#   mkdir -p .gpu/bench && cp $(ls ../shared/data/cbsd68_idm/*.png | head -3) .gpu/bench/
# What the lease of 2026-11-27 ran and measured: results/gpu-lease/README.md.
set -u
DATA=${1:-.gpu/train}
OUTDIR=${2:-${OUT:-out}}
TRAIN_SECONDS=${3:-360}
DEVICE=${DEVICE:-cuda}
BENCH_ARGS=${BENCH_ARGS:-"--limit 3 --memory-batch 16 --memory-patch 128"}
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
RA="python3 -m reverse_anything.cli"
RUNS=runs/lease
mkdir -p "$OUTDIR" "$RUNS"
LOGS=$RUNS/logs; mkdir -p "$LOGS"
began=$(date +%s)
stamp() { echo "[$(( $(date +%s) - began )) s] $*" | tee -a "$LOGS/lease.txt"; }
{ nvidia-smi || true; python3 -c "import torch; print(torch.__version__, torch.cuda.is_available())"; } > "$LOGS/machine.txt" 2>&1
stamp "probe: ${PROBE_ITERS:-40} iterations of each run, side by side"
for m in idm-cs ddpm; do
  $RA train --config configs/$m-gpu.json --data "$DATA" --device "$DEVICE" --out "$RUNS/probe-$m" \
    --iterations ${PROBE_ITERS:-40} --val-every 1000 --checkpoint-every 1000 > "$LOGS/probe-$m.txt" 2>&1 &
done
wait
declare -A ITERS
for m in idm-cs ddpm; do
  ITERS[$m]=$(python3 - "$RUNS/probe-$m/log.csv" "$TRAIN_SECONDS" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
per_it = statistics.median(float(r["seconds"]) for r in rows[len(rows) // 2:])
print(max(100, int(0.9 * float(sys.argv[2]) / per_it)))
PY
  ) || { stamp "probe of $m failed"; cat "$LOGS/probe-$m.txt"; exit 1; }
  stamp "$m: ${ITERS[$m]} iterations in ${TRAIN_SECONDS} s"
done
limit=$(python3 -c "print(round(1.1 * $TRAIN_SECONDS / 60, 2))")
for m in idm-cs ddpm; do
  cmd="$RA train --config configs/$m-gpu.json --data $DATA --device $DEVICE --out $RUNS/$m --iterations ${ITERS[$m]} --time-limit $limit"
  echo "$cmd" > "$LOGS/command-$m.txt"
  $cmd > "$LOGS/train-$m.txt" 2>&1 &
done
if [ "$DEVICE" = cuda ]; then
  timeout 200 python3 -m pytest -q -p no:cacheprovider tests/physics/test_physics_precision.py tests/reversible/test_reversible_cuda.py \
    tests/metrics/test_metrics_psnr_ssim.py -k cuda > "$LOGS/cuda-tests.txt" 2>&1 &
fi
wait
stamp "training done: $(tail -c 300 $LOGS/train-idm-cs.txt | tr '\r' '\n' | tail -2)"
timeout ${BENCH_TIMEOUT:-80} $RA bench --device "$DEVICE" --data "${BENCH_DATA:-.gpu/bench}" --idm-model "$RUNS/idm-cs/model.safetensors" \
  --ddpm-model "$RUNS/ddpm/model.safetensors" --out-dir "$RUNS/bench" --json "$RUNS/bench/bench.json" --quiet $BENCH_ARGS \
  > "$LOGS/bench.txt" 2>&1
stamp "bench exit $?"
tar -cf "$OUTDIR/idm-cs.tar" -C "$RUNS" idm-cs
tar -cf "$OUTDIR/ddpm.tar" -C "$RUNS" ddpm
tar -cf "$OUTDIR/extras.tar" -C "$RUNS" logs bench probe-idm-cs/log.csv probe-ddpm/log.csv
stamp "packed"
