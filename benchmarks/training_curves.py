"""Validation PSNR against training minutes, read from training logs (``log.csv``), as a table and a plot.

Each run is a ``LABEL=PATH`` pair (split at the last ``=``); a run continued from another (``--init-from``) is given as
``LABEL=FIRST.csv+SECOND.csv``, whose minutes add up (``FIRST.csv@600``: only up to iteration 600). Minutes are the logged per-iteration
seconds summed (device time for GPU runs, CPU time at the run's thread count for CPU runs: the
label says which). Writes ``OUT.md`` and, with matplotlib installed (the ``plot`` extra), ``OUT.png``.

    python benchmarks/training_curves.py --out results/curves/idm \\
        "IDM T=8 (H200)=results/device-2026-11-29/idm-prior-t8/log.csv+results/device-2026-11-29/idm-prior-t8-more/log.csv"
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path


def curve(spec: str) -> list[tuple[float, dict[str, float]]]:
    """``(minutes, validation scores)`` at every logged validation of the chained logs in ``spec``.

    ``LOG@N`` reads ``LOG`` up to iteration ``N`` (a run whose weights were taken at ``N`` and that went on a little).
    """
    points, elapsed = [], 0.0
    for part in spec.split("+"):
        path, _, last = part.partition("@")
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                if last and int(row["iteration"]) > int(last):
                    break
                elapsed += float(row["seconds"])
                if row.get("val"):
                    points.append((elapsed / 60, json.loads(row["val"])))
    return points


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="LABEL=LOG[+LOG...]")
    parser.add_argument("--out", type=Path, required=True, help="output stem (OUT.md, OUT.png; dots in it are kept)")
    parser.add_argument("--start", action="append", default=[], help="LABEL=JSON of scores at minute 0 (before training)")
    args = parser.parse_args()
    runs = {label: curve(spec) for label, spec in (r.rsplit("=", 1) for r in args.runs)}
    for label, path in (s.rsplit("=", 1) for s in args.start):
        runs[label] = [(0.0, json.loads(Path(path).read_text()))] + runs.get(label, [])
    keys = sorted({k for points in runs.values() for _, scores in points for k in scores})
    lines = ["| run | minutes | " + " | ".join(k.replace("val_psnr@", "") for k in keys) + " |", "|---|---:|" + "---:|" * len(keys)]
    for label, points in runs.items():
        for minutes, scores in points:
            lines.append(f"| {label} | {minutes:.1f} | " + " | ".join(f"{scores[k]:.2f}" if k in scores else "–" for k in keys) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    (args.out.parent / f"{args.out.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[plot]'): no plot written")
        return 0
    figure = Figure(figsize=(4 * len(keys), 3.2))
    FigureCanvasAgg(figure)
    for index, key in enumerate(keys):
        axes = figure.add_subplot(1, len(keys), index + 1)
        for label, points in runs.items():
            xy = [(m, s[key]) for m, s in points if key in s]
            if xy:
                axes.plot(*zip(*xy), marker=".", label=label)
        axes.set_title(key.replace("val_psnr@", "validation PSNR @ "))
        axes.set_xlabel("training minutes")
        axes.set_ylabel("dB")
        axes.grid(alpha=0.3)
    figure.axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(args.out.parent / f"{args.out.name}.png", dpi=90)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
