"""IDM ablations at equal short budgets: schedule (Eq. 2 adaptive / cosine / global), T = 1 / 3 / 5,
and memory-saving on vs off.

Every variant trains with the same data, seed, iterations, batch and patch size (the base
settings of ``configs/idm-cs.json``, shortened), then is scored on Set11 (Y, published
protocol) at CS ratios 0.1 / 0.3 / 0.5.  Training seconds per iteration and the activation
bytes autograd holds for backward (one iteration, counted with saved-tensor hooks) are
recorded beside PSNR.  Runs are resumable: a finished variant's model is reused.

    python benchmarks/idm_ablation.py --iterations 400 --out results/ablation

writes ``results/ablation/ablation.json`` and ``ablation.md``.
"""
from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import torch

from reverse_anything.evaluate import evaluate_folder
from reverse_anything.models.checkpoint import load_idm
from reverse_anything.models.idm import IDM, IDMConfig
from reverse_anything.physics import CompressedSensing
from reverse_anything.profiling import describe_hardware
from reverse_anything.solvers import IDMRestorer
from reverse_anything.training import TrainConfig, train

REPO = Path(__file__).resolve().parents[1]

VARIANTS: dict[str, dict] = {
    "adaptive, T=3 (reference)": {"schedule": "adaptive", "steps": 3, "memory_saving": False},
    "cosine, T=3": {"schedule": "cosine", "steps": 3, "memory_saving": False},
    "global learned, T=3": {"schedule": "global", "steps": 3, "memory_saving": False},
    "adaptive, T=1": {"schedule": "adaptive", "steps": 1, "memory_saving": False},
    "adaptive, T=5": {"schedule": "adaptive", "steps": 5, "memory_saving": False},
    "adaptive, T=3, memory saving on": {"schedule": "adaptive", "steps": 3, "memory_saving": True},
}


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-")


def held_bytes(model_config: dict, batch: int, patch: int) -> int:
    """Bytes of unique storages autograd holds for backward after one training forward."""
    torch.manual_seed(0)
    model = IDM(IDMConfig.from_dict(model_config))
    physics = CompressedSensing(0.3, (patch, patch), seed=0, perm_seed=1)
    x = torch.rand(batch, 1, patch, patch)
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor):
        if not isinstance(t, torch.nn.Parameter):
            storage = t.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = (model(physics.A(x), physics) - x).abs().mean()
    loss.backward()
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    return sum(size for ptr, size in storages.items() if ptr not in params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "idm-cs.json"))
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--test-data", default=str(REPO.parent / "shared" / "data" / "set11"))
    parser.add_argument("--out", default=str(REPO / "results" / "ablation"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = json.loads(Path(args.config).read_text())
    base.update(iterations=args.iterations, val_every=args.iterations, checkpoint_every=100, warmup=50)
    rows = []
    for name, overrides in VARIANTS.items():
        run = out / slug(name)
        model_config = {**base["model"], **overrides}
        config = TrainConfig.from_dict({**base, "out": str(run), "model": model_config})
        if not (run / "model.safetensors").is_file():
            train(config, resume=True)
        log = list(csv.DictReader(open(run / "log.csv")))
        seconds = sorted(float(r["seconds"]) for r in log[10:] if not r["val"])
        scores = {}
        for ratio in (0.1, 0.3, 0.5):
            result = evaluate_folder(
                args.test_data,
                lambda size, index, r=ratio: CompressedSensing(r, size, seed=0, perm_seed=index),
                IDMRestorer(str(run / "model")),
                channel="y",
                method=name,
                progress=False,
            )
            scores[f"{ratio:g}"] = {"psnr": result.psnr, "ssim": result.ssim}
        rows.append({
            "variant": name,
            "model": model_config,
            "iterations": args.iterations,
            "seconds_per_iteration": seconds[len(seconds) // 2],
            "held_bytes": held_bytes({**model_config, "operator": "cs"}, base["batch_size"], base["patch_size"]),
            "final_loss": sum(float(r["loss"]) for r in log[-50:]) / len(log[-50:]),
            "set11": scores,
            "parameters": load_idm(run / "model").parameter_count(),
        })
        print(json.dumps(rows[-1]["set11"]), name, flush=True)
    meta = {
        "hardware": describe_hardware(),
        "budget": f"{args.iterations} iterations, batch {base['batch_size']}, patch {base['patch_size']}, CS ratios {base['ratios']} drawn per iteration, data {base['data']}",
        "protocol": "Set11, Y channel, CS block 32 scrambled, perm_seed = image index, PSNR/SSIM as the published protocol",
        "command": f"python benchmarks/idm_ablation.py --iterations {args.iterations}",
        "date": time.strftime("%Y-%m-%d"),
    }
    (out / "ablation.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [
        f"Budget: {meta['budget']}. Test: {meta['protocol']}. Hardware: {meta['hardware']}. Command: `{meta['command']}`.",
        "",
        "| variant | Set11 PSNR 10% | 30% | 50% | SSIM 30% | final train L1 | s / iteration | activation MiB held for backward |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s = r["set11"]
        lines.append(
            f"| {r['variant']} | {s['0.1']['psnr']:.2f} | {s['0.3']['psnr']:.2f} | {s['0.5']['psnr']:.2f} | {s['0.3']['ssim']:.4f} "
            f"| {r['final_loss']:.4f} | {r['seconds_per_iteration']:.3f} | {r['held_bytes'] / 2**20:.1f} |"
        )
    (out / "ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
