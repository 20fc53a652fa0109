"""What an IDM for CT would cost (issue #13: "an IDM model for CT is welcome if its A† cost allows it; say what").

IDM calls ``A†`` inside every step: in the data step and in every injector (``A†(A z)``). CT has no
closed-form ``A†``; ``CT.A_dagger`` solves a least-squares problem by CGLS. This script times, on one
thread, at the CBSD68 size (320×480) and 60 angles:

* building the operator, one ``A``, one ``Aᵀ`` and one ``A†`` (CGLS to its default tolerance), on each product
  path side by side (:mod:`reverse_anything.physics.sparse`: torch's CSR kernel, and SciPy's where installed),
  and what casting the float64 matrices to float32 cost when every product did it (before the cache);
* how many ``A†`` calls the shipped ``any`` model makes per image (counted on a cheap operator of the same
  model, since the count does not depend on the operator), and its network time per image without them;

and projects the seconds per image of an IDM on CT from the two, beside TV's measured time on CT
(``results/classical/ct60_tv.json``). Training would pay that cost per patch and iteration, three times over
(forward, and the backward's recomputation and gradient).

    OMP_NUM_THREADS=1 python benchmarks/ct_cost.py --out results/ct-cost
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from reverse_anything.models.checkpoint import load_idm
from reverse_anything.physics import CT, Inpainting
from reverse_anything.physics.sparse import SparseProducts, scipy_available
from reverse_anything.profiling import describe_hardware

REPO = Path(__file__).resolve().parents[1]


def timed(function, *args):
    start = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - start


def dagger_calls(model, size: tuple[int, int]) -> tuple[int, float]:
    """The ``A†`` calls of one restoration by ``model`` and its seconds, on an inpainting operator (``A†`` ~free)."""
    op = Inpainting(size, keep_ratio=0.3)
    calls = 0
    original = op.A_dagger

    def counting(y):
        nonlocal calls
        calls += 1
        return original(y)

    op.A_dagger = counting  # type: ignore[method-assign]
    y = op.A(torch.rand(1, 1, *size, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        _, seconds = timed(model, y, op)
    return calls, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "results" / "ct-cost")
    parser.add_argument("--size", type=int, nargs=2, default=(320, 480), metavar=("H", "W"))
    parser.add_argument("--angles", type=int, default=60)
    parser.add_argument("--model", default="any")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    size = tuple(args.size)
    op, build_s = timed(CT, size, args.angles)
    x = torch.rand(1, 1, *size, generator=torch.Generator().manual_seed(0))
    paths = {}
    for path in ("torch", "scipy") if scipy_available() else ("torch",):
        op._products = SparseProducts(use_scipy=path == "scipy")
        op.A(x), op.A_adjoint(op.A(x))  # the cast copies, made once
        y, a_s = timed(op.A, x)
        _, adjoint_s = timed(op.A_adjoint, y)
        restored, dagger_s = timed(op.A_dagger, y)
        residual = float((op.A(restored) - y).norm() / y.norm())
        paths[path] = {"A_s": a_s, "A_adjoint_s": adjoint_s, "A_dagger_s": dagger_s, "A_dagger_relative_residual": residual}
    _, cast_s = timed(op.projection.to, torch.float32)
    fastest = min(paths, key=lambda p: paths[p]["A_dagger_s"])
    a_s, adjoint_s, dagger_s, residual = (paths[fastest][k] for k in ("A_s", "A_adjoint_s", "A_dagger_s", "A_dagger_relative_residual"))
    model = load_idm(args.model)
    calls, network_s = dagger_calls(model, size)
    tv_file = REPO / "results" / "classical" / f"ct{args.angles}_tv.json"
    tv_s = json.loads(tv_file.read_text())["seconds_per_image"] if tv_file.is_file() and size == (320, 480) else None
    projected = network_s + calls * dagger_s
    report = {"size": list(size), "angles": args.angles, "build_s": build_s, "paths": paths, "fastest_path": fastest,
              "cast_s": cast_s, "A_s": a_s, "A_adjoint_s": adjoint_s, "A_dagger_s": dagger_s, "A_dagger_relative_residual": residual, "model": args.model, "steps": model.config.steps,
              "A_dagger_calls_per_image": calls, "network_s_per_image": network_s, "projected_idm_s_per_image": projected,
              "tv_s_per_image": tv_s, "hardware": describe_hardware(), "threads": 1,
              "command": "OMP_NUM_THREADS=1 python benchmarks/ct_cost.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ct_cost.json").write_text(json.dumps(report, indent=2) + "\n")
    tv = f"{tv_s:.0f} s" if tv_s is not None else "not measured at this size"
    lines = [
        f"CT cost for an IDM ({args.angles} angles, {size[0]}×{size[1]}, one image; {report['hardware']}).", "",
        "| what | " + " | ".join(f"seconds, {p} products" for p in paths) + " |", "|---|" + "---:|" * len(paths),
        f"| build the operator | {build_s:.1f} |" + " |" * (len(paths) - 1),
        f"| cast S to float32 (every product paid this before the cache) | {cast_s:.2f} |" + " |" * (len(paths) - 1),
        "| A | " + " | ".join(f"{paths[p]['A_s']:.3f}" for p in paths) + " |",
        "| Aᵀ | " + " | ".join(f"{paths[p]['A_adjoint_s']:.3f}" for p in paths) + " |",
        "| A† (CGLS; relative residual) | " + " | ".join(
            f"{paths[p]['A_dagger_s']:.1f} ({paths[p]['A_dagger_relative_residual']:.1e})" for p in paths) + " |",
        f"| `{args.model}` network, per image, without A† (T = {model.config.steps}) | {network_s:.1f} |" + " |" * (len(paths) - 1),
        f"| **projected IDM on CT, per image** ({calls} A† calls on {fastest} products + the network) | **{projected:.0f}** |" + " |" * (len(paths) - 1),
        f"| TV on CT, per image (measured, `results/classical/ct{args.angles}_tv.json`) | {tv} |" + " |" * (len(paths) - 1), "",
        f"`{args.model}` calls A† {calls} times per image (data steps and injectors). Training pays this per patch and "
        "iteration, about three times over (forward, recomputation, backward). Command: `" + report["command"] + "`.",
    ]
    (args.out / "ct_cost.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
