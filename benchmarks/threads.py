"""CPU threads: torch's default against one thread, on an idle machine and beside one busy process.

Each measurement runs in a fresh Python process (thread settings and OpenMP's wait policy are read
when torch starts), restores one 256×256 Y image with ``idm`` (the shipped ``cs`` model, CS 30 %)
and with ``tv``, and reports the median of 3 timed runs after one warm-up. "Busy" starts one
process that spins on one core for the duration (what another user's job, or a training run,
does to a shared machine). Settings compared:

* ``default``: torch's own thread count, OpenMP's default (active, spinning) wait policy;
* ``default, passive``: the same with ``OMP_WAIT_POLICY=PASSIVE`` (idle threads sleep);
* ``1 thread``: ``--threads 1``.

    python benchmarks/threads.py --out results/threads
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

WORKER = r"""
import json, statistics, sys, time, torch
threads = int(sys.argv[1])
if threads:
    torch.set_num_threads(threads)
from reverse_anything.data import example_images, read_image
from reverse_anything.physics import CompressedSensing
from reverse_anything.solvers import get_restorer
x = read_image(example_images()[0], "y")[None, :, :256, :256]
op = CompressedSensing(0.3, tuple(x.shape[-2:]))
y = op.A(x)
out = {"threads": torch.get_num_threads()}
for method in ("idm", "tv"):
    restore = get_restorer(method)
    times = []
    for run in range(4):
        began = time.perf_counter()
        with torch.no_grad():
            restore(op, y)
        times.append(time.perf_counter() - began)
    out[method] = statistics.median(times[1:])
print(json.dumps(out))
"""

SPINNER = "import time\nend = time.time() + float(__import__('sys').argv[1])\nwhile time.time() < end:\n    pass\n"

SETTINGS = {"default": ({}, 0), "default, passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, 0), "1 thread": ({}, 1)}


def measure(env_extra: dict, threads: int, busy: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env.update(env_extra)
    spinner = subprocess.Popen([sys.executable, "-c", SPINNER, "600"]) if busy else None
    try:
        if spinner:
            time.sleep(0.5)
        done = subprocess.run([sys.executable, "-c", WORKER, str(threads)], env=env, capture_output=True, text=True, check=True)
    finally:
        if spinner:
            spinner.kill()
            spinner.wait()
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/threads"))
    args = parser.parse_args()
    rows = []
    for condition in ("idle", "busy"):
        for name, (env_extra, threads) in SETTINGS.items():
            result = measure(env_extra, threads, busy=condition == "busy")
            rows.append({"condition": condition, "setting": name, **result})
            print(json.dumps(rows[-1]), flush=True)
    cores = os.cpu_count()
    lines = [f"Seconds per 256×256 Y image (CS 30 %, median of 3 after a warm-up), each setting in a fresh process; "
             f"{cores} logical CPUs, torch {torch.__version__}. 'busy': one process spinning on one core beside it. "
             f"Command: `python benchmarks/threads.py`.", "",
             "| condition | setting | torch threads | idm s | tv s | idm vs 1 thread | tv vs 1 thread |", "|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        one = next(r for r in rows if r["condition"] == row["condition"] and r["setting"] == "1 thread")
        lines.append(f"| {row['condition']} | {row['setting']} | {row['threads']} | {row['idm']:.2f} | {row['tv']:.2f} | "
                     f"{row['idm'] / one['idm']:.2f}× | {row['tv'] / one['tv']:.2f}× |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "threads.json").write_text(json.dumps({"rows": rows, "cpus": cores, "torch": torch.__version__}, indent=2) + "\n")
    (args.out / "threads.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
