"""Mean PSNR / SSIM over the first N images of several ``eval --json`` results, side by side.

For a method too slow to run on a whole test set yet (``pnp`` with 60 steps), its ``--limit N`` run is
compared with the full runs of the others on exactly the same images (the JSONs hold per-image rows).

    python benchmarks/compare_first.py --limit 10 --out results/pnp/first10.md \\
        tv=results/classical/cs0.5_tv.json idm=results/eval/cs0.5-cbsd68_idm-idm.json \\
        pnp=results/pnp/cs0.5-cbsd68_idm-first10-pnp.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="LABEL=eval.json")
    parser.add_argument("--limit", type=int, required=True)
    parser.add_argument("--out", type=Path, help="append the table to this markdown file")
    args = parser.parse_args()
    rows, names = [], None
    for spec in args.results:
        label, path = spec.split("=", 1)
        document = json.loads(Path(path).read_text())
        images = document["images"][: args.limit]
        if len(images) < args.limit:
            raise SystemExit(f"{path} has {len(images)} images, fewer than --limit {args.limit}")
        these = [image["name"] for image in images]
        if names is not None and these != names:
            raise SystemExit(f"{path}: its first {args.limit} images differ from the others'")
        names = these
        mean = lambda key: sum(image[key] for image in images) / len(images)  # noqa: E731
        rows.append(f"| {label} | {mean('psnr'):.2f} / {mean('ssim'):.4f} | {mean('seconds'):.2f} | `{path}` |")
    operator = json.loads(Path(args.results[0].split("=", 1)[1]).read_text())["operator"]
    table = "\n".join([f"First {args.limit} images ({names[0]} … {names[-1]}), operator {operator.get('operator')} "
                       f"ratio {operator.get('ratio')}:", "", "| method | PSNR / SSIM | s / image | from |", "|---|---:|---:|---|", *rows, ""])
    print(table)
    if args.out is not None:
        with open(args.out, "a") as handle:
            handle.write(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
