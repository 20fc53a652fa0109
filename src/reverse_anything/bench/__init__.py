"""``reverse-anything bench``: IDM against its baselines, quality and cost, in one run.

Two tables, as the published IDM claims them (seed paper, Table 1 and the efficiency claims):

* **quality**: ``pinv``, ``tv``, ``ddpm`` (ancestral, 1000 steps), ``ddnm`` (100 DDIM steps),
  ``pnp`` (the prior in a plug-and-play loop) and ``idm`` on a test folder under scrambled block CS at
  one ratio, Y channel, scored by :func:`reverse_anything.evaluate.evaluate_folder` exactly as
  ``reverse-anything eval`` scores them (image ``i`` gets permutation seed ``i``): Y-PSNR,
  SSIM, FID (only with Inception weights and at least 2 images), seconds per image (restorer
  only) and the speed-up over ``ddpm`` and ``ddnm``;
* **efficiency**: one IDM training iteration at T = 3 (the IDM model's architecture, Adam,
  L1 loss) on the same patch batch with memory saving on and off: bytes held for backward
  (saved-tensor hooks), peak process memory, seconds per iteration, and the % reduction.

Outputs, in ``out_dir``: ``bench.md`` (both tables with the command and the hardware),
``psnr_vs_time.png`` (needs matplotlib, the ``plot`` extra), ``grid.png`` (three images:
``A†y``, each method, ground truth) and, with ``json_path``, a JSON document
``{"quality": {METHOD: {"psnr", "ssim", "fid", "seconds_per_image"}}, "memory": {"on_bytes",
"off_bytes", "reduction", "on_seconds_per_iter", "off_seconds_per_iter"}}``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..atomic import atomic_write_text
from ..data import RandomPatchSampler, write_image
from ..evaluate import EvalResult, OperatorFactory, evaluate_folder
from ..figures import labelled_grid
from ..metrics import fid_from_features, load_fid_inception
from ..models.idm import IDM, IDMConfig
from ..physics import CompressedSensing
from ..physics.compressed_sensing import BLOCK_SIZE
from ..profiling import describe_hardware, peak_bytes, saved_bytes, timed
from ..solvers import Restorer, get_restorer
from ..solvers.learned import default_idm_model
from ..solvers.pnp import DEFAULT_PNP_PRIOR
from .report import MEMORY_STEPS, MemoryProfile, _markdown, _reduction, describe_budget, plot_psnr_vs_time

__all__ = [
    "METHODS",
    "BenchReport",
    "MemoryProfile",
    "run_bench",
    "measure_training_memory",
    "build_restorers",
]

METHODS = ("pinv", "tv", "ddpm", "ddnm", "pnp", "idm")
DEFAULT_OUT_DIR = "bench-results"
DEFAULT_RATIO = 0.5  # the CS ratio of the published efficiency claims
BASELINE_PRIOR = DEFAULT_PNP_PRIOR  # the prior the shipped cs IDM was fine-tuned from: ddpm / ddnm / pnp start from it too
GRID_IMAGES = 3
GRID_CROP = 128  # each panel shows the image's central 128×128 at full resolution (keeps grid.png small)

@dataclass(frozen=True)
class BenchReport:
    """What :func:`run_bench` measured: the JSON document, the markdown and the files written."""

    document: dict[str, Any]
    markdown: str
    files: tuple[Path, ...]
    results: dict[str, EvalResult]
    memory: tuple[MemoryProfile, MemoryProfile]


# ----------------------------------------------------------------------------------------------
# quality
# ----------------------------------------------------------------------------------------------
def cs_operators(ratio: float, seed: int = 0) -> OperatorFactory:
    """Scrambled block CS for image ``index`` with permutation seed ``seed + index`` (as ``eval`` does)."""
    return lambda size, index: CompressedSensing(ratio, size, seed=seed, perm_seed=seed + index)


def build_restorers(
    methods: Sequence[str], idm_model: str, ddpm_model: str, ddpm_steps: int, ddnm_steps: int, ddnm_eta: float, device: str,
    pnp_model: str = BASELINE_PRIOR,
) -> dict[str, Restorer]:
    """Every method's restorer from the one registry, loaded before any long run so a missing model fails at once."""
    options: dict[str, dict[str, Any]] = {
        "pinv": {},
        "tv": {},
        "ddpm": {"model": ddpm_model, "steps": ddpm_steps, "device": device},
        "ddnm": {"model": ddpm_model, "steps": ddnm_steps, "eta": ddnm_eta, "device": device},
        "pnp": {"model": pnp_model, "device": device},
        "idm": {"model": idm_model, "device": device},
    }
    unknown = [m for m in methods if m not in options]
    if unknown or not methods:
        raise ValueError(f"bench methods must be among {', '.join(METHODS)}, got {list(methods)}")
    return {method: get_restorer(method, **options[method]) for method in methods}


def _centre(image: Tensor, side: int = GRID_CROP) -> Tensor:
    """The central ``side``×``side`` of a ``(C, H, W)`` image (all of a smaller side)."""
    height, width = image.shape[-2:]
    top, left = max(0, (height - side) // 2), max(0, (width - side) // 2)
    return image[..., top : top + side, left : left + side]


class _Keeper:
    """``observe`` callback of the evaluations: keeps grid images and FID features as they stream by."""

    def __init__(self, feature_fn: Callable[[Tensor], Tensor] | None) -> None:
        self.feature_fn = feature_fn
        self.grid: dict[str, dict[str, Tensor]] = {}  # image name -> method / "truth" -> (1, H, W)
        self.real: dict[str, Tensor] = {}  # image name -> features
        self.generated: dict[str, list[Tensor]] = {}  # method -> features
        self.method = ""

    def __call__(self, name: str, truth: Tensor, restored: Tensor) -> None:
        if name in self.grid or len(self.grid) < GRID_IMAGES:
            cells = self.grid.setdefault(name, {"truth": _centre(truth[0].cpu())})
            cells[self.method] = _centre(restored[0].detach().cpu())
        if self.feature_fn is not None:
            with torch.no_grad():
                if name not in self.real:
                    self.real[name] = self.feature_fn(truth).cpu()
                self.generated.setdefault(self.method, []).append(self.feature_fn(restored.clamp(0, 1)).cpu())


def _fid_column(keeper: _Keeper, methods: Sequence[str], no_fid_reason: str | None) -> dict[str, float | str]:
    """FID per method, or ``"n/a (reason)"``."""
    if no_fid_reason is not None:
        return {m: f"n/a ({no_fid_reason})" for m in methods}
    if len(keeper.real) < 2:
        return {m: f"n/a (FID needs at least 2 images, got {len(keeper.real)})" for m in methods}
    real = torch.cat(list(keeper.real.values()))
    return {m: fid_from_features(real, torch.cat(keeper.generated[m])) for m in methods}


# ----------------------------------------------------------------------------------------------
# efficiency
# ----------------------------------------------------------------------------------------------
def measure_training_memory(
    config: IDMConfig, patches: Tensor, ratio: float, reps: int = 3, device: str | torch.device = "cpu", seed: int = 0
) -> tuple[MemoryProfile, MemoryProfile]:
    """One IDM training iteration (forward, L1 loss, backward, Adam) at T = 3, memory saving on and off.

    Both models start from the same weights and see the same ``patches`` and operator.
    Bytes held for backward are counted on the first iteration (which also creates the
    gradient buffers), the peak on the second (after Adam has made its state, so only the
    iteration's own memory counts), and the time is the median of ``reps`` further
    iterations, on and off interleaved so load changes hit both alike.
    """
    device = torch.device(device)
    x0 = patches.to(device)
    physics = CompressedSensing(ratio, tuple(x0.shape[-2:]), seed=0).to(device)
    y = physics.A(x0)
    steps: dict[bool, Callable[[], None]] = {}
    held: dict[bool, int] = {}
    peaks: dict[bool, int | None] = {}
    for memory_saving in (True, False):
        torch.manual_seed(seed)
        model = IDM(dataclasses.replace(config, steps=MEMORY_STEPS, memory_saving=memory_saving)).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

        def loss(model: IDM = model) -> Tensor:
            return (model(y, physics) - x0).abs().mean()

        def step(loss: Callable[[], Tensor] = loss, optimizer: torch.optim.Optimizer = optimizer) -> None:
            optimizer.zero_grad(set_to_none=False)  # keep the gradient buffers: the peak counts the iteration
            loss().backward()
            optimizer.step()

        held[memory_saving] = saved_bytes(loss, model)
        optimizer.step()
        peaks[memory_saving] = peak_bytes(step, device)
        steps[memory_saving] = step
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(max(1, reps)):
        for memory_saving in (True, False):
            times[memory_saving].append(timed(steps[memory_saving], device))
    on, off = (MemoryProfile(flag, held[flag], peaks[flag], statistics.median(times[flag])) for flag in (True, False))
    return on, off


def _grid(keeper: _Keeper, results: dict[str, EvalResult]) -> Tensor:
    """Rows of (A†y, each method, truth) for the first images (central crops), labelled with their whole-image PSNR."""
    rows = []
    for index, (name, cells) in enumerate(keeper.grid.items()):
        row = []
        for method, result in results.items():
            label = "A†y (pinv)" if method == "pinv" else method
            row.append((f"{label} {result.rows[index].psnr:.2f} dB", cells[method]))
        rows.append([*row, (f"{name} (truth)", cells["truth"])])
    return labelled_grid(rows, title=f"central {GRID_CROP}×{GRID_CROP} of each image (PSNR of the whole image)")


# ----------------------------------------------------------------------------------------------
# the whole run
# ----------------------------------------------------------------------------------------------
def run_bench(
    data: str | os.PathLike[str],
    ratio: float = DEFAULT_RATIO,
    limit: int | None = None,
    fid_weights: str | os.PathLike[str] | None = None,
    idm_model: str | None = None,
    ddpm_model: str = BASELINE_PRIOR,
    pnp_model: str = BASELINE_PRIOR,
    out_dir: str | os.PathLike[str] = DEFAULT_OUT_DIR,
    json_path: str | os.PathLike[str] | None = None,
    ddpm_steps: int = 1000,
    ddnm_steps: int = 100,
    ddnm_eta: float = 0.85,
    methods: Sequence[str] = METHODS,
    device: str = "cpu",
    memory_batch: int = 8,
    memory_patch: int = 64,
    memory_reps: int = 3,
    progress: bool = True,
    command: str = "",
) -> BenchReport:
    """Measure both tables and write ``bench.md``, ``psnr_vs_time.png``, ``grid.png`` (and the JSON)."""
    if not 0 < ratio <= 1:
        raise ValueError(f"CS ratio must be in (0, 1], got {ratio}")
    if not Path(data).is_dir():
        raise ValueError(f"{data}: no such folder of test images (bench --data FOLDER)")
    if memory_patch % BLOCK_SIZE or memory_patch < BLOCK_SIZE or memory_batch < 1:
        raise ValueError(f"memory patches must be a multiple of {BLOCK_SIZE} and the batch >= 1, got {memory_patch}, {memory_batch}")
    if "idm" not in methods:
        raise ValueError("the bench needs the idm method (its model defines the efficiency table)")
    out_dir = Path(out_dir)
    if json_path is not None and not (Path(json_path).parent.is_dir() or Path(json_path).parent.resolve() == out_dir.resolve()):
        raise ValueError(f"{json_path}: directory {Path(json_path).parent} does not exist")
    torch_device = torch.device(device)
    no_fid_reason = "no --fid-weights given" if fid_weights is None else None
    feature_fn = None
    if fid_weights is not None:
        network = load_fid_inception(fid_weights, torch_device)
        feature_fn = lambda images: network(images.float())  # noqa: E731
    probe = CompressedSensing(ratio, (BLOCK_SIZE, BLOCK_SIZE))
    idm_model = idm_model or default_idm_model(probe)  # what `restore --method idm` picks at this ratio
    restorers = build_restorers(methods, idm_model, ddpm_model, ddpm_steps, ddnm_steps, ddnm_eta, device, pnp_model)
    idm_config: IDMConfig = restorers["idm"].model.config  # type: ignore[union-attr]
    # refuse a model for another ratio now, not after an hour of ddpm sampling
    restorers["idm"].model.check_physics(probe)  # type: ignore[union-attr]
    out_dir.mkdir(parents=True, exist_ok=True)  # likewise an output folder that cannot be made
    steps = {"pinv": "—", "tv": "—", "ddpm": str(ddpm_steps), "ddnm": str(ddnm_steps), "idm": str(idm_config.steps)}
    if "pnp" in restorers:
        steps["pnp"] = str(restorers["pnp"].settings_for(probe).iterations)  # type: ignore[attr-defined]

    keeper = _Keeper(feature_fn)
    results: dict[str, EvalResult] = {}
    for method, restorer in restorers.items():
        keeper.method = method
        results[method] = evaluate_folder(
            data, cs_operators(ratio), restorer, channel="y", limit=limit, progress=progress, method=method,
            device=torch_device, observe=keeper,
        )
        if progress:
            print(f"{method}: {results[method].psnr:.2f} dB, {results[method].seconds_per_image:.3f} s/image", flush=True)
    fid = _fid_column(keeper, list(results), no_fid_reason)

    sampler = RandomPatchSampler(data, memory_patch, memory_batch, mode="y", seed=0, progress=False)
    memory = measure_training_memory(idm_config, sampler.next_batch(), ratio, memory_reps, torch_device)

    files = [out_dir / "bench.md", out_dir / "grid.png"]
    plot_note = plot_psnr_vs_time(results, out_dir / "psnr_vs_time.png")
    if plot_note is None:
        files.append(out_dir / "psnr_vs_time.png")
    elif progress:
        print(plot_note)
    models = [f"idm {describe_budget(idm_model, getattr(restorers['idm'].model, 'training_info', {}))}"]
    if {"ddpm", "ddnm"} & set(restorers):
        prior = restorers["ddpm" if "ddpm" in restorers else "ddnm"].model
        models.append(f"ddpm / ddnm prior {describe_budget(ddpm_model, getattr(prior, 'training_info', {}))}")
    if "pnp" in restorers:
        models.append(f"pnp prior {describe_budget(pnp_model, getattr(restorers['pnp'].model, 'training_info', {}))}")
    context = {
        "models": "; ".join(models),
        "command": command, "hardware": describe_hardware(torch_device), "ratio": ratio, "idm_config": idm_config,
        "memory_batch": memory_batch, "memory_patch": memory_patch, "memory_reps": memory_reps, "plot_note": plot_note,
    }
    markdown = _markdown(results, fid, steps, memory, context)
    atomic_write_text(files[0], markdown)
    grid = _grid(keeper, results)
    write_image(files[1], grid[:1] if bool((grid == grid[:1]).all()) else grid)  # grey panels and text: one channel
    on, off = memory
    document = {
        "quality": {
            method: {
                "psnr": result.psnr,
                "ssim": result.ssim,
                "fid": fid[method] if isinstance(fid[method], float) else None,
                "seconds_per_image": result.seconds_per_image,
            }
            for method, result in results.items()
        },
        "memory": {
            "on_bytes": on.saved_bytes,
            "off_bytes": off.saved_bytes,
            "reduction": _reduction(on.saved_bytes, off.saved_bytes),
            "on_seconds_per_iter": on.seconds_per_iter,
            "off_seconds_per_iter": off.seconds_per_iter,
        },
    }
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(document, indent=2) + "\n")
        files.append(Path(json_path))
    return BenchReport(document, markdown, tuple(files), results, memory)
