#!/usr/bin/env bash
# One GPU lease, one script: train the wide DDPM prior, then fine-tune IDMs built on it (T = 3, 5, 8
# side by side for the same wall time: the equal-budget pilot of the number of steps).
#
#   bash scripts/device-prior-idm.sh DATA OUTDIR PRIOR_SECONDS IDM_SECONDS
#
# PRIOR_CONFIG picks the prior's config (default configs/ddpm-wide-gpu.json; configs/ddpm-deep-gpu.json grows the
# shipped ddpm-wide to 3 / 2 / 1 blocks per scale and trains it on the whole chain), and STEPS="" skips the IDM phase:
#   PRIOR_CONFIG=configs/ddpm-deep-gpu.json STEPS= bash scripts/device-prior-idm.sh .gpu/train $OUT 480 0
#
# Each phase first measures seconds per iteration in a short eager probe, so the real run gets an
# iteration count whose cosine LR ends inside its seconds; --time-limit is only the hard stop.
# The prior runs with --compile (falling back to eager if compiling fails), bf16 autocast and EMA
# weights (configs/ddpm-wide-gpu.json); the IDMs start from it with --init-prior
# (configs/idm-prior-t{3,5,8}.json). Results land in OUTDIR as tars of at most ~12 MB each.
# A CPU dry run of the same script: DEVICE=cpu SMALL="--batch-size 2 --patch-size 64" COMPILE= bash ...
# Pack the data first (it must travel inside the repo, see scripts/gpu-lease.sh):
#   python scripts/pack-train-for-device.py ../shared/data/train .gpu/train
set -u
DATA=${1:-.gpu/train}
OUTDIR=${2:-${OUT:-out}}
PRIOR_SECONDS=${3:-240}
IDM_SECONDS=${4:-170}
DEVICE=${DEVICE:-cuda}
SMALL=${SMALL:-}
COMPILE=${COMPILE---compile}
STEPS=${STEPS-3 5 8}
PRIOR_CONFIG=${PRIOR_CONFIG:-configs/ddpm-wide-gpu.json}
NAME=$(basename "$PRIOR_CONFIG" -gpu.json)  # ddpm-wide, ddpm-deep: the run folder and the tar that comes back
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
RA="python3 -m reverse_anything.cli"
RUNS=runs/device
LOGS=$RUNS/logs
mkdir -p "$OUTDIR" "$LOGS"
began=$(date +%s)
stamp() { echo "[$(( $(date +%s) - began )) s] $*" | tee -a "$LOGS/lease.txt"; }
iterations_for() {  # LOG SECONDS -> iterations whose median pace fits 92 % of SECONDS
  python3 - "$1" "$2" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
per_it = statistics.median(float(r["seconds"]) for r in rows[len(rows) // 2:])
print(max(50, int(0.92 * float(sys.argv[2]) / per_it)))
PY
}
pack() { tar -cf "$OUTDIR/$1.tar" -C "$RUNS" "${@:2}" 2>/dev/null; }
{ nvidia-smi || true; python3 -c "import torch; print(torch.__version__, torch.cuda.is_available())"; } > "$LOGS/machine.txt" 2>&1

stamp "prior probe: 30 eager iterations"
$RA train --config "$PRIOR_CONFIG" --data "$DATA" --device "$DEVICE" --out "$RUNS/probe-ddpm" --iterations 30 \
  --val-every 1000 --checkpoint-every 1000 $SMALL > "$LOGS/probe-ddpm.txt" 2>&1 || { stamp "prior probe failed"; tail -5 "$LOGS/probe-ddpm.txt"; }
PRIOR_ITERS=$(iterations_for "$RUNS/probe-ddpm/log.csv" "$PRIOR_SECONDS") || PRIOR_ITERS=8000
limit=$(python3 -c "print(round(1.08 * $PRIOR_SECONDS / 60, 2))")
cmd="$RA train --config $PRIOR_CONFIG --data $DATA --device $DEVICE --out $RUNS/$NAME --iterations $PRIOR_ITERS --time-limit $limit $COMPILE $SMALL"
stamp "prior: $cmd"
echo "$cmd" > "$LOGS/command-$NAME.txt"
if [ "$DEVICE" = cuda ]; then
  nice timeout 200 python3 -m pytest -q -p no:cacheprovider tests/physics/test_physics_precision.py tests/reversible/test_reversible_cuda.py \
    tests/metrics/test_metrics_psnr_ssim.py -k cuda > "$LOGS/cuda-tests.txt" 2>&1 &
fi
$cmd > "$LOGS/train-$NAME.txt" 2>&1
if [ $? -ne 0 ] && [ -n "$COMPILE" ]; then
  stamp "prior with $COMPILE failed: $(tail -c 400 "$LOGS/train-$NAME.txt" | tr '\r\n' '  ')"
  rm -rf "$RUNS/$NAME"
  cmd="${cmd/ $COMPILE/}"
  cmd="${cmd/--iterations $PRIOR_ITERS/--iterations $(( PRIOR_ITERS * 3 / 4 ))}"
  echo "$cmd" >> "$LOGS/command-$NAME.txt"
  stamp "prior again, eager: $cmd"
  $cmd > "$LOGS/train-$NAME-eager.txt" 2>&1
fi
stamp "prior done: $(tail -c 300 "$LOGS/train-$NAME.txt" | tr '\r' '\n' | tail -2 | tr '\n' ' ')"
PRIOR=$RUNS/$NAME/model.safetensors
[ -f "$PRIOR" ] || { stamp "no prior exported; the IDMs start from the shipped one"; PRIOR=ddpm; }
rm -f "$RUNS/$NAME/checkpoint.safetensors"  # 4x the weights (Adam + EMA): too large to come back
pack "$NAME" "$NAME" probe-ddpm/log.csv

[ -n "$STEPS" ] && stamp "IDM probe: 12 iterations of T = $STEPS side by side"
for T in $STEPS; do
  $RA train --config configs/idm-prior-t$T.json --data "$DATA" --device "$DEVICE" --init-prior "$PRIOR" --out "$RUNS/probe-idm-t$T" \
    --iterations 12 --val-every 1000 --checkpoint-every 1000 $SMALL > "$LOGS/probe-idm-t$T.txt" 2>&1 &
done
wait
limit=$(python3 -c "print(round(1.08 * $IDM_SECONDS / 60, 2))")
for T in $STEPS; do
  iters=$(iterations_for "$RUNS/probe-idm-t$T/log.csv" "$IDM_SECONDS") || iters=500
  cmd="$RA train --config configs/idm-prior-t$T.json --data $DATA --device $DEVICE --init-prior $PRIOR --out $RUNS/idm-prior-t$T --iterations $iters --time-limit $limit $SMALL"
  echo "$cmd" > "$LOGS/command-idm-prior-t$T.txt"
  stamp "IDM T=$T: $cmd"
  $cmd > "$LOGS/train-idm-prior-t$T.txt" 2>&1 &
done
wait
for T in $STEPS; do
  stamp "IDM T=$T done: $(tail -c 300 "$LOGS/train-idm-prior-t$T.txt" | tr '\r' '\n' | tail -2 | tr '\n' ' ')"
  rm -f "$RUNS/idm-prior-t$T/checkpoint.safetensors"
  pack idm-prior-t$T idm-prior-t$T "probe-idm-t$T/log.csv"
done
wait
pack extras logs
stamp "packed"
ls -la "$OUTDIR"
