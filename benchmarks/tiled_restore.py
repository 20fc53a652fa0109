"""Large images with a shipped IDM: the whole image measured at once vs measured in tiles.

A whole-image CS measurement makes the network run on the whole image at once, so memory grows
with the image; a tiled measurement (``--tile N`` on the command line) lets the restorer run a
few tiles at a time.  This script restores the same large image both ways, side by side in one
run, and reports the peak memory above the starting level (live tensor bytes, exact; and peak
RSS), seconds, and Y-PSNR.  The image is a shipped example photo resized to ``--size`` (bicubic),
so the script runs on a fresh install.

    python benchmarks/tiled_restore.py --size 1024 --tile 256 --out results/tiled

writes ``results/tiled/tiled.json`` and ``tiled.md``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from reverse_anything.atomic import atomic_write_text
from reverse_anything.data.color import rgb_to_y
from reverse_anything.data.examples import example_images
from reverse_anything.metrics import psnr
from reverse_anything.physics import CompressedSensing, Tiled
from reverse_anything.profiling import LiveTensorPeak, describe_hardware, peak_bytes, timed
from reverse_anything.solvers import get_restorer


def test_image(size: int) -> torch.Tensor:
    """The first shipped example photo as a ``(1, 1, size, size)`` Y image in [0, 1]."""
    with Image.open(example_images()[0]) as photo:
        rgb = np.asarray(photo.convert("RGB").resize((size, size), Image.BICUBIC))
    return rgb_to_y(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255).unsqueeze(0)


def measure(name: str, op, x: torch.Tensor, restore) -> dict:
    y = op.A(x)
    result: dict = {}

    def run() -> None:
        result["x"] = restore(op, y)

    with LiveTensorPeak() as live:
        run()
    result.pop("x")
    rss = peak_bytes(run, torch.device("cpu"))
    seconds = timed(run, torch.device("cpu"))
    score = psnr(result.pop("x").clamp(0, 1), x, data_range=1.0).item()
    return {"mode": name, "live_peak_bytes": live.peak, "rss_peak_bytes": rss, "seconds": seconds, "psnr": score}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1024, help="image side in pixels (default 1024)")
    parser.add_argument("--tile", type=int, default=256, help="tile side (default 256)")
    parser.add_argument("--ratio", type=float, default=0.3)
    parser.add_argument("--model", default="cs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("results/tiled"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x = test_image(args.size)
    restore = get_restorer("idm", model=args.model)
    rows = [
        measure("whole image", CompressedSensing(args.ratio, (args.size, args.size), perm_seed=0), x, restore),
        measure(f"tiles {args.tile}x{args.tile}", Tiled(CompressedSensing(args.ratio, (args.tile, args.tile), perm_seed=0), (args.size, args.size), args.tile), x, restore),
    ]
    whole, tiled = rows
    summary = {
        "setting": {"size": args.size, "tile": args.tile, "ratio": args.ratio, "model": args.model},
        "hardware": describe_hardware("cpu"),
        "rows": rows,
        "live_memory_ratio": tiled["live_peak_bytes"] / whole["live_peak_bytes"],
    }
    mib = 2.0**20
    lines = [
        f"IDM `{args.model}`, CS ratio {args.ratio}, one {args.size}x{args.size} grey image (shipped example photo, resized). "
        f"Hardware: {summary['hardware']}. Command: `python benchmarks/tiled_restore.py --size {args.size} --tile {args.tile}`.",
        "",
        "| measurement | peak live tensors (MiB) | peak RSS (MiB) | seconds | Y-PSNR (dB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        rss = "n/a" if row["rss_peak_bytes"] is None else f"{row['rss_peak_bytes'] / mib:.0f}"
        lines.append(f"| {row['mode']} | {row['live_peak_bytes'] / mib:.0f} | {rss} | {row['seconds']:.1f} | {row['psnr']:.2f} |")
    lines += ["", f"Tiled peak live memory = {100 * summary['live_memory_ratio']:.1f} % of the whole-image run."]
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "tiled.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(args.out / "tiled.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
