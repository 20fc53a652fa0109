"""The injector's two orders of the same formula, timed side by side: as published, and on the coarse grid.

``models.blocks.Injector`` computes ``PixelUnshuffle_r(conv1x1([z, A†(A z), A†y]))`` with
``z = conv1x1(PixelShuffle_r(f))`` by running both 1x1 maps on the ``H/r x W/r`` grid (``Injector.published_order``
switches back). This script restores held-out crops (the last files of ``train/``, Y) with the shipped ``blur`` model in
both orders, and times training steps (forward and backward, batch of crops) in both, alternating the order
run by run after one untimed warm-up each, on ``--threads`` threads; it checks the outputs agree. Prints and
writes JSON + markdown.

    python benchmarks/injector_order.py --threads 1 --out results/injector-order
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from idm_cases import held_out_images, measure, missing_data, operator_for, write_report
from reverse_anything.models.blocks import Injector
from reverse_anything.models.checkpoint import load_idm
from reverse_anything.profiling import describe_hardware

ORDERS = ("published", "coarse grid")
MODEL, BLUR = "blur", {"operator": "blur", "sigma": 2.0, "noise_sigma": 0.01}  # the README table's deblurring setting


def set_order(model: torch.nn.Module, order: str) -> None:
    for module in model.modules():
        if isinstance(module, Injector):
            module.published_order = order == "published"


def timed_runs(model: torch.nn.Module, run, repeats: int) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Mean seconds of ``run()`` in each order over ``repeats`` alternating rounds, after one warm-up each."""
    seconds, outputs = dict.fromkeys(ORDERS, 0.0), {}
    for order in ORDERS:
        set_order(model, order)
        outputs[order] = run()
    for round_ in range(repeats):
        for order in ORDERS[round_ % 2:] + ORDERS[:round_ % 2]:
            set_order(model, order)
            began = time.perf_counter()
            run()
            seconds[order] += time.perf_counter() - began
    set_order(model, "coarse grid")
    return {order: s / repeats for order, s in seconds.items()}, outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="crop side for the restores (default 256)")
    parser.add_argument("--train-size", type=int, default=128, help="crop side for the training steps (default 128)")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("results/injector-order"))
    args = parser.parse_args(argv)
    if missing_data("injector_order"):
        return 2
    torch.set_num_threads(args.threads)
    model = load_idm(MODEL)
    config = BLUR
    crops = torch.cat(held_out_images(2, args.size))
    op = operator_for(config, (args.size, args.size), 0)
    y = measure(op, crops, 0)
    with torch.no_grad():
        restore_s, restored = timed_runs(model.eval(), lambda: model(y, op), args.repeats)
    patches = torch.cat(held_out_images(2, args.train_size))
    train_op = operator_for(config, (args.train_size, args.train_size), 0)
    train_y = measure(train_op, patches, 0)
    model.train()

    def step() -> torch.Tensor:
        model.zero_grad(set_to_none=True)
        loss = (model(train_y, train_op) - patches).abs().mean()
        loss.backward()
        return loss.detach()

    train_s, losses = timed_runs(model, step, args.repeats)
    difference = float((restored["published"] - restored["coarse grid"]).abs().max())
    results = {"model": MODEL, "operator": config, "threads": args.threads, "hardware": describe_hardware(),
               "restore": {"images": 2, "size": args.size, "seconds_per_batch": restore_s,
                           "speed_up": restore_s["published"] / restore_s["coarse grid"], "max_abs_difference": difference},
               "train_step": {"batch": 2, "size": args.train_size, "seconds": train_s,
                              "speed_up": train_s["published"] / train_s["coarse grid"],
                              "loss_difference": float((losses["published"] - losses["coarse grid"]).abs())},
               "command": " ".join(["python", "benchmarks/injector_order.py", *(sys.argv[1:] if argv is None else argv)])}
    r, t = results["restore"], results["train_step"]
    table = "\n".join([
        f"The injector's formula in its published order and on the coarse grid, side by side (alternating, {args.repeats} "
        f"rounds after a warm-up); model `{MODEL}`, {config['operator']}; {results['hardware']}. "
        f"Command: `{results['command']}`.", "",
        "| what | published s | coarse grid s | speed-up | outputs differ by |", "|---|---:|---:|---:|---:|",
        f"| restore 2 held-out crops of {args.size}² | {restore_s['published']:.2f} | {restore_s['coarse grid']:.2f} | "
        f"{r['speed_up']:.2f}× | {difference:.1e} (max abs) |",
        f"| training step, 2 × {args.train_size}² (forward + backward) | {train_s['published']:.2f} | "
        f"{train_s['coarse grid']:.2f} | {t['speed_up']:.2f}× | {t['loss_difference']:.1e} (loss) |", ""])
    write_report(args.out, "injector_order", results, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
