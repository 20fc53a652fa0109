"""Pack a training folder small enough to travel to a device lease (64 MiB with the repo).

Training reads every image as its Y channel rounded to uint8 (``read_image(mode="y")``), so
lossless sources (BMP, PNG, TIFF) are stored as that Y channel in 8-bit grey PNG, which training
reads back bit for bit (checked for every file). JPEGs are copied unchanged: decoding them is
what defines their pixels, and a PNG of their decoded Y would be larger than the JPEG.

    python scripts/pack-train-for-device.py ../shared/data/train .gpu/train
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from tqdm import tqdm

from reverse_anything.data.datasets import list_image_files
from reverse_anything.data.io import read_image, write_image

KEEP_AS_IS = {".jpg", ".jpeg"}


def pack(source: Path, target: Path) -> int:
    """Write the packed copy of ``source`` under ``target``; returns its size in bytes."""
    for path in tqdm(list_image_files(source, recursive=True), desc="packing", unit="image"):
        relative = path.relative_to(source)
        if path.suffix.lower() in KEEP_AS_IS:
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
            continue
        y = read_image(path, mode="y")
        destination = (target / relative).with_suffix(".png")
        destination.parent.mkdir(parents=True, exist_ok=True)
        write_image(destination, y)  # rounds y * 255 back to the uint8 Y it came from
        if not torch.equal(read_image(destination, mode="y"), y):
            raise RuntimeError(f"{destination}: packed Y channel differs from {path}")
    return sum(p.stat().st_size for p in target.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    args = parser.parse_args()
    size = pack(args.source, args.target)
    print(f"{args.target}: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
