"""Regenerate every results table of the README with one command.

    python benchmarks/results.py --run        # run missing evaluations, then rebuild the tables
    python benchmarks/results.py              # rebuild the tables from results/eval/*.json only

Each evaluation is the exact ``reverse-anything eval`` command a user would type (printed, and
stored in the table notes); its JSON lands in ``results/eval/NAME.json`` and is reused unless
``--force``.  The tables go to ``results/tables.md`` and between the ``results:start`` /
``results:end`` markers of README.md, together with the hardware, data and protocol.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from reverse_anything.models.checkpoint import shipped_models
from reverse_anything.physics import CompressedSensing
from reverse_anything.solvers.learned import default_idm_model
from reverse_anything.profiling import describe_hardware

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
RATIOS = ("0.1", "0.3", "0.5")
OPT_IN = ("pnp", "idm-x8", "operators-pnp", "operators-idm")  # evaluation groups that --run leaves out unless named with --only
CS_SETS = {"cbsd68_idm": "CBSD68", "set11": "Set11", "div2k256": "DIV2K"}
# The published IDM (T = 3), Table 1 of Chen et al., TPAMI 2025 (idm-method.md §1.1): reference only.
PUBLISHED_IDM = {"cbsd68_idm": (28.69, 34.67, 39.57), "set11": (32.92, 38.85, 42.48), "div2k256": (31.07, 36.98, 41.15)}
# One setting per other operator family (Y channel): (file name, label, flags, image limit, methods).
# All images, except CT (first 5: its sparse-matrix operator makes TV cost ~3 min per image on a CPU).
OTHER_OPERATORS = (
    ("inpainting0.3", "inpainting, 30 % of pixels kept", ["--operator", "inpainting", "--keep-ratio", "0.3"], None),
    ("blur2", "deblurring, Gaussian σ = 2 px, noise σ = 0.01", ["--operator", "blur", "--blur-sigma", "2", "--noise-sigma", "0.01"], None),
    ("sr4", "super-resolution ×4, bicubic", ["--operator", "sr", "--factor", "4", "--sr-kernel", "bicubic"], None),
    ("mri4", "MRI ×4, random lines", ["--operator", "mri", "--acceleration", "4", "--mri-mask", "random"], None),
    ("csnoisy0.3", "CS 30 %, noise σ = 0.03", ["--operator", "cs", "--ratio", "0.3", "--noise-sigma", "0.03"], None),
    ("ct60", "CT, 60 angles", ["--operator", "ct", "--angles", "60"], 5),
)
OPERATOR_SETS = {"cbsd68": "CBSD68", "kodak24": "Kodak24"}  # full-size colour images, scored on Y
NO_IDM = ("ct60",)  # no IDM for CT: 50 CGLS solves of A† per image, ~7 min against TV's 19 s (results/ct-cost/): pinv, tv and pnp only
# Targets of issue #13: idm - tv in dB
TARGET_MARGIN = {"inpainting0.3": 1.5, "blur2": 1.5, "sr4": 1.5, "mri4": 1.5, "csnoisy0.3": 1.0}


@dataclass(frozen=True)
class Job:
    name: str
    args: tuple[str, ...]
    folder: str = "eval"

    @property
    def path(self) -> Path:
        return REPO / "results" / self.folder / f"{self.name}.json"

    def command(self) -> list[str]:
        return ["reverse-anything", "eval", *self.args, "--channel", "y", "--quiet", "--json", str(self.path.relative_to(REPO))]


ENSEMBLE_RATIOS = ("0.1",)  # the self-ensembled idm row: where the margin over tv is short (8x the time per cell)


def cs_job(folder: str, ratio: str, method: str, model: str = "cs", ensemble: int = 1) -> Job:
    """One CS cell; ``idm`` runs the named model (``cs``, one model for every ratio, or a per-ratio fine-tune),
    averaged over ``ensemble`` flipped / rotated views when that is above 1."""
    extra = ("--model", model) if method == "idm" else ()
    extra += ("--self-ensemble", str(ensemble)) if ensemble > 1 else ()
    args = ("--data", f"../shared/data/{folder}", "--operator", "cs", "--ratio", ratio, "--method", method, *extra)
    if ensemble > 1:
        return Job(f"cs{ratio}-{folder}-idm-{model}-x{ensemble}", args)
    if folder == "cbsd68_idm" and method != "idm":  # the classical CBSD68 runs live with the other classical ones
        return Job(f"cs{ratio}_{method}", args, "classical")
    return Job(f"cs{ratio}-{folder}-{method}" + ("" if method != "idm" or model == "cs" else f"-{model}"), args)


def chosen_cs_model(ratio: str) -> str:
    """The shipped model ``--method idm`` picks for scrambled CS at ``ratio`` (a per-ratio fine-tune before ``cs``)."""
    return default_idm_model(CompressedSensing(float(ratio), (64, 64)))


def cs_jobs(methods: tuple[str, ...]) -> list[Job]:
    """Every CS cell of ``methods``; for ``idm``, ``cs`` at every ratio plus the picked model where it differs."""
    jobs = [cs_job(folder, ratio, method) for folder in CS_SETS for ratio in RATIOS for method in methods]
    if "idm" in methods:
        picked = {ratio: chosen_cs_model(ratio) for ratio in RATIOS}
        jobs += [cs_job(folder, ratio, "idm", model) for folder in CS_SETS for ratio, model in picked.items() if model != "cs"]
    return jobs


def ensemble_jobs() -> list[Job]:
    """The picked model with the 8-view self-ensemble, at :data:`ENSEMBLE_RATIOS`."""
    return [cs_job(folder, ratio, "idm", chosen_cs_model(ratio), ensemble=8) for folder in CS_SETS for ratio in ENSEMBLE_RATIOS]


def other_job(name: str, args: list[str], limit: int | None, method: str, folder: str = "cbsd68") -> Job:
    limit_flags = () if limit is None else ("--limit", str(limit))
    args_ = ("--data", f"../shared/data/{folder}", *limit_flags, *args, "--method", method)
    if folder == "cbsd68" and method in ("pinv", "tv") and name != "csnoisy0.3":  # the first classical runs keep their files
        return Job(f"{name}_{method}", args_, "classical")
    return Job(f"{name}-{folder}-{method}", args_, "operators")


def other_jobs(methods: tuple[str, ...] = ("pinv", "tv")) -> list[Job]:
    return [other_job(name, args, limit, method, folder) for folder in OPERATOR_SETS for name, _, args, limit in OTHER_OPERATORS
            for method in methods if not (method == "idm" and name in NO_IDM)]


def load(job: Job) -> dict | None:
    return json.loads(job.path.read_text()) if job.path.is_file() else None


def cell(result: dict | None) -> str:
    return "–" if result is None else f"{result['psnr']:.2f} / {result['ssim']:.4f}"


def cs_table() -> str:
    lines = ["| method | " + " | ".join(f"{CS_SETS[f]} {int(float(r) * 100)}%" for f in CS_SETS for r in RATIOS) + " |",
             "|---|" + "---:|" * (len(CS_SETS) * len(RATIOS))]
    picked = {r: chosen_cs_model(r) for r in RATIOS}
    per_ratio = any(model != "cs" for model in picked.values())
    rows = [("pinv", "`pinv` (A†y)", {}), ("tv", "`tv`", {}), ("pnp", "`pnp` (prior `ddpm-wide`, 60 steps)", {})]
    if per_ratio:
        rows += [("idm", "IDM, one model for every ratio (`cs`)", {}),
                 ("idm", "**IDM (ours, shipped: " + ", ".join(f"`{m}` at {float(r):.0%}" for r, m in picked.items())
                  + "; what `--method idm` picks)**", picked)]
    else:
        rows.append(("idm", "**IDM (ours, shipped)**", {}))
    for method, label, models in rows:
        row = [cell(load(cs_job(f, r, method, models.get(r, "cs")))) for f in CS_SETS for r in RATIOS]
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    ensembled = {job.name: load(job) for job in ensemble_jobs()}
    if any(ensembled.values()):
        row = [cell(load(cs_job(f, r, "idm", picked[r], ensemble=8))) if r in ENSEMBLE_RATIOS else "·" for f in CS_SETS for r in RATIOS]
        lines.append("| IDM shipped, self-ensembled over 8 views (`--self-ensemble 8`, 8× the time) | " + " | ".join(row) + " |")
    lines.append("| IDM published (PSNR only) | " + " | ".join(f"{PUBLISHED_IDM[f][i]:.2f}" for f in CS_SETS for i in range(3)) + " |")
    seconds = [load(cs_job("cbsd68_idm", r, m, picked[r])) for m in ("pinv", "tv", "idm") for r in RATIOS]
    timing = ", ".join(f"{m} {sum(s['seconds_per_image'] for s in seconds[i*3:(i+1)*3] if s) / max(1, sum(1 for s in seconds[i*3:(i+1)*3] if s)):.2f} s"
                       for i, m in enumerate(("pinv", "tv", "idm")))
    lines += ["", f"Seconds per CBSD68 image (mean over ratios, each from its own run; side by side: the speed table below): {timing}."]
    if any(ensembled.values()):
        pairs = [(load(cs_job("cbsd68_idm", r, "idm", picked[r])), load(cs_job("cbsd68_idm", r, "idm", picked[r], ensemble=8))) for r in ENSEMBLE_RATIOS]
        times = "; ".join(f"{float(r):.0%}: {one['seconds_per_image']:.1f} s single, {eight['seconds_per_image']:.1f} s self-ensembled"
                          for r, (one, eight) in zip(ENSEMBLE_RATIOS, pairs) if one and eight)
        lines += ["", "Self-ensembled row: run at " + ", ".join(f"{float(r):.0%}" for r in ENSEMBLE_RATIOS)
                  + " only (`·`: not part of the group; `python benchmarks/results.py --run --only idm-x8`)"
                  + (f"; seconds per CBSD68 image at {times}." if times else ".")]
    missing = [cs_job(f, r, "pnp") for f in CS_SETS for r in RATIOS if load(cs_job(f, r, "pnp")) is None]
    if missing:
        first10 = [REPO / "results" / "pnp" / f"cs{r}-cbsd68_idm-first10-pnp.json" for r in RATIOS]
        scores = " / ".join(f"{json.loads(path.read_text())['psnr']:.2f}" for path in first10 if path.is_file())
        lines += ["", f"`pnp`: {len(missing)} of {len(CS_SETS) * len(RATIOS)} cells not run yet (its seconds per image: the speed table below; "
                  "`python benchmarks/results.py --run --only pnp --jobs 2`)"
                  + (f"; on the first 10 CBSD68 images it scored {scores} dB at 10 / 30 / 50 % (`results/pnp/first10.md`)." if scores else ".")]
    return "\n".join(lines)


def timed_cell(result: dict | None) -> str:
    """PSNR / SSIM, seconds per image, and for a learned method the shipped model that ran (``idm`` picks it per operator)."""
    if result is None:
        return "–"
    model = f" (`{result['model']}`)" if result.get("method") == "idm" and result.get("model") else ""
    return f"{result['psnr']:.2f} / {result['ssim']:.4f}, {result['seconds_per_image']:.1f} s{model}"


def other_table() -> str:
    """Every other operator on CBSD68 and Kodak24: PSNR / SSIM and seconds per image per method, and idm's margin over tv."""
    methods = ("pinv", "tv", "pnp", "idm")
    lines = ["| operator (Y) | set | images | " + " | ".join(f"`{m}`" for m in methods) + " | `idm` − `tv` (target) |",
             "|---|---|---:|" + "---:|" * (len(methods) + 1)]
    for name, label, args, limit in OTHER_OPERATORS:
        for folder, title in OPERATOR_SETS.items():
            results = {m: None if (m == "idm" and name in NO_IDM) else load(other_job(name, args, limit, m, folder)) for m in methods}
            images = f"first {limit}" if limit is not None else next((str(r["n_images"]) for r in results.values() if r), "–")
            margin = ("no IDM" if name in NO_IDM else
                      f"{results['idm']['psnr'] - results['tv']['psnr']:+.2f} ({TARGET_MARGIN[name]:+.1f})" if results["idm"] and results["tv"]
                      else f"– ({TARGET_MARGIN[name]:+.1f})")
            lines.append(f"| {label} | {title} | {images} | " + " | ".join(timed_cell(results[m]) for m in methods) + f" | {margin} |")
    return "\n".join(lines) + ("\n\nEach cell: PSNR (dB) / SSIM, seconds per image on one CPU thread in that cell's own run (runs "
                               "made on different days, some beside training jobs: compare speeds in the side-by-side table below). `–`: not run yet "
                               "(`pnp` and `idm` on every operator are opt-in, hours of CPU: "
                               "`python benchmarks/results.py --run --only operators-pnp` / `--only operators-idm`). "
                               "`idm` takes the shipped model that serves each operator, chosen from the model cards (named in the cell).")


def speed_section() -> list[str]:
    """The side-by-side timing of every method (``benchmarks/speed.py``), where it has been run."""
    speed = REPO / "results" / "speed" / "speed.md"
    if not speed.is_file():
        return []
    return ["### Seconds per image, side by side", "", speed.read_text().strip(), "",
            "Read the ratios: they were measured side by side and carry across loads; the absolute seconds move with the "
            "machine and what else runs on it.", ""]


def commands_block(jobs: list[Job]) -> str:
    """The exact command behind every cell (as recorded in its JSON), folded away under the tables."""
    lines = []
    for job in jobs:
        result = load(job)
        if result is not None:
            lines.append(result.get("command") or shlex.join(job.command()))
    return ("<details><summary>The command behind each cell (run from the repository root)</summary>\n\n```bash\n"
            + "\n".join(lines) + "\n```\n\n</details>")


def model_note() -> str:
    """One line per shipped IDM file in the CS table (``cs`` and the per-ratio models picked before it): what it
    serves and how it was trained."""
    weights = REPO / "src" / "reverse_anything" / "weights"
    in_table = {"cs"} | {chosen_cs_model(r) for r in RATIOS}
    names = {name: stem for name, stem in shipped_models().items() if name in in_table}
    if not names:
        return "No IDM model is shipped yet."
    lines = []
    for stem in dict.fromkeys(names.values()):
        info = json.loads((weights / f"{stem}.json").read_text())["training"]
        cfg = info.get("train_config", {})
        served = ", ".join(f"`{name}`" for name, s in names.items() if s == stem)
        ratios = cfg.get("ratios", [])
        span = f"ratio {ratios[0]}" if len(ratios) == 1 else f"every ratio in {ratios}"
        init = info.get("init_from")
        origin = (f"fine-tuned from `{init['model']}` ({init.get('iterations')} iterations, {init.get('train_minutes')} min) by "
                  if init else "")
        total = (f" ({init['train_minutes'] + info['train_minutes']:.1f} min in all)"
                 if init and isinstance(init.get("train_minutes"), float) and isinstance(info.get("train_minutes"), float) else "")
        config = json.loads((weights / f"{stem}.json").read_text())["config"]
        stages = info.get("stages")
        data = "../shared/data/train" if cfg.get("data") == ".gpu/train" else cfg.get("data")
        if init and init.get("model") in names:  # a per-ratio fine-tune of a model in this table, in one run or several
            runs = stages or [{"iterations": info.get("iterations"), "minutes": info.get("train_minutes"),
                               "batch": cfg.get("batch_size"), "patch": cfg.get("patch_size")}]
            done = "; then ".join(f"{r['iterations']} iterations, batch {r['batch']} of {r['patch']}² ({r['minutes']} min)" for r in runs)
            lines.append(f"- `{stem}` ({served}; {span}): `{init['model']}` fine-tuned at {span} alone"
                         f"{f' in {len(runs)} runs' if len(runs) > 1 else ''}: {done}; Y patches of `{data}` (CBSD432 + T91), "
                         f"{info.get('hardware', 'CPU')}; commands and logs in `weights/TRAINING.md`.")
            continue
        if config.get("backbone") == "prior" and stages:  # a chain of runs, each on its own hardware
            prior_info = json.loads((weights / "ddpm-wide.json").read_text())["training"]
            by_place: dict[str, list[dict]] = {}
            for stage in stages:
                by_place.setdefault(stage["hardware"], []).append(stage)
            runs = "; then ".join(f"{' + '.join(str(s['iterations']) for s in group)} iterations on {place} "
                                  f"({sum(s['minutes'] for s in group):.1f} min, batch {group[0]['batch']} of {group[0]['patch']}²)"
                                  for place, group in by_place.items())
            lines.append(f"- `{stem}` ({served}; {span}): IDM (T = {config['steps']}) built on the DDPM prior `ddpm-wide` "
                         f"({prior_info['iterations']} iterations, {prior_info['train_minutes']} min on {prior_info['hardware'].split(';')[0]}), "
                         f"fine-tuned end to end in {len(stages)} runs on Y patches of `../shared/data/train` (CBSD432 + T91): {runs}; "
                         "commands and logs in `weights/TRAINING.md`.")
            continue
        if config.get("backbone") == "prior":
            prior_info = json.loads((weights / "ddpm-wide.json").read_text())["training"]
            origin = (f"IDM (T = {config['steps']}) built on the DDPM prior `ddpm-wide` ({prior_info['iterations']} iterations, "
                      f"{prior_info['train_minutes']} min on {prior_info['hardware'].split(';')[0]}), fine-tuned end to end in two runs, "
                      f"{init.get('iterations')} + ") if init else origin
            total = f" ({init['train_minutes'] + info['train_minutes']:.1f} min of IDM fine-tuning)" if init else total
        lines.append(f"- `{stem}` ({served}; {span}): {origin}{info.get('iterations')} iterations, batch {cfg.get('batch_size')}, "
                     f"{cfg.get('patch_size')}² Y patches of `{data}` (CBSD432 + T91), "
                     f"{info.get('hardware', 'CPU')}, {info.get('train_minutes', '?')} min{total}; command and log in `weights/TRAINING.md`.")
    return "Shipped IDM models:\n\n" + "\n".join(lines)


def eval_threads() -> int | None:
    """The torch thread count the recorded evaluations ran with (they all use the same)."""
    counts = {json.loads(p.read_text()).get("torch_threads") for p in (REPO / "results").glob("*/*.json")} - {None}
    return counts.pop() if len(counts) == 1 else None


def build_tables() -> str:
    parts = [
        f"Hardware: {describe_hardware(threads=eval_threads())}, no GPU. Protocol (as published by Chen et al.): Y channel (OpenCV full-range BT.601) of the "
        "8-bit image, CS with 32×32 blocks, scrambled, one permutation per image (`perm_seed` = image index), "
        "no border shaving; output clamped to [0, 1] and compared as float with the uint8 truth, MAX = 255; "
        "SSIM = scikit-image defaults on Y. Each cell is PSNR (dB) / SSIM; every number comes from the command "
        "recorded in `results/eval/*.json` and `results/classical/*.json` (regenerate all: `python benchmarks/results.py --run`).",
        "",
        "### Compressed sensing (Y-PSNR / SSIM)",
        "",
        model_note(),
        "",
        cs_table(),
        "",
        "### Every other operator",
        "",
        other_table(),
        "",
        *speed_section(),
        commands_block(cs_jobs(("pinv", "tv", "pnp", "idm")) + ensemble_jobs() + other_jobs(("pinv", "tv", "pnp", "idm"))),
    ]
    notes = {
        "ablation": "At 400 iterations every variant is far from converged (50 % scores below 30 %), so read this table for "
        "memory, for T, and for the fact that memory saving leaves the result bit-identical; schedule differences are "
        "within noise. Seconds per iteration were measured while other jobs shared the machine and are noisy.",
        "reversible": "",
        "tiled": "Measured with an earlier model named `cs-0.3` (376 k parameters, trained from scratch, removed on 2026-11-29; not "
        "today's `cs-0.3`); the tiling itself does not depend on the model.",
        "layout": "Command: `python benchmarks/channels_last.py` (1 and 2 threads in one run; `--memory-saving` for the "
        "reversible engine on). The shipped models were trained in NCHW with one thread per job (two jobs side by "
        "side on the two cores); read the row of your thread count before choosing `--memory-format`.",
    }
    denoise = REPO / "results" / "denoise" / "denoise.md"
    if denoise.is_file():
        parts += ["", "### The DDPM priors as Gaussian denoisers (one step), beside TV", "", denoise.read_text().strip(),
                  "", "Target (issue #12): the prior ≥ TV + 1.5 dB at σ = 25 on both sets."]
    threads = REPO / "results" / "threads" / "threads.md"
    if threads.is_file():
        parts += ["", "### CPU threads: torch's default against one thread, idle and beside a busy process", "", threads.read_text().strip(),
                  "", "The command line therefore sets `OMP_WAIT_POLICY=PASSIVE` unless you set it (`reverse_anything/launch.py`); "
                  "`--threads N` on every command sets the count. The tables above ran with `OMP_NUM_THREADS=1`."]
    curves = REPO / "results" / "device-2026-11-29"
    if (curves / "idm_curves.png").is_file():
        parts += ["", "### Training curves: validation PSNR against training minutes", "",
                  "IDM on the prior at T = 3 / 5 / 8 (the equal-GPU-time pilot, iteration 0 = the prior as a T-step solver before "
                  "fine-tuning) and the IDM trained from scratch on the CPU; then the priors "
                  "(`results/device-2026-11-29/README.md` has the tables and commands).", "",
                  "![IDM curves](results/device-2026-11-29/idm_curves.png)", "", "![prior curves](results/device-2026-11-29/prior_curves.png)"]
    for key, title, path in (("ablation", "### IDM ablations (equal short budgets)", REPO / "results" / "ablation" / "ablation.md"),
                             ("reversible", "### Reversible engine: memory and time per training step", REPO / "results" / "reversible_memory.md"),
                             ("tiled", "### Large images: whole-image vs tiled measurement (`--tile`)", REPO / "results" / "tiled" / "tiled.md"),
                             ("layout", "### Memory layout: channels_last vs NCHW for IDM training", REPO / "results" / "channels_last.md")):
        if path.is_file():
            parts += ["", title, "", path.read_text().strip()] + (["", notes[key]] if notes[key] else [])
    bench = REPO / "results" / "bench" / "bench.md"
    if bench.is_file():
        quality = json.loads((bench.parent / "bench.json").read_text())["quality"]
        ddpm_minutes = f"{quality['ddpm']['seconds_per_image'] / 60:.0f} minutes" if "ddpm" in quality else "long"
        parts += ["", "### IDM vs the DDPM baseline (`reverse-anything bench`)", "",
                  "Measured on 2026-11-30 with the model `--method idm` picks at the ratio (named under Models below), every "
                  "diffusion baseline on the prior that model starts from (`ddpm-wide`), 5 images (the 1000-step `ddpm` row takes "
                  f"{ddpm_minutes} per image on "
                  "one CPU thread). Targets (issue #12): IDM ≥ 15× faster than `ddpm`, ≥ 5× than `ddnm`, faster than `pnp` at "
                  "higher PSNR, memory saving ≥ 93.8 % less.", "",
                  bench.read_text().strip(),
                  "", "![before/after](results/bench/grid.png)", "", "![PSNR vs time](results/bench/psnr_vs_time.png)"]
    return "\n".join(parts) + "\n"


def run_jobs(jobs: list[Job], parallel: int) -> None:
    """Run the evaluations, ``parallel`` at a time; with more than one, each gets one thread (OMP_NUM_THREADS=1)."""
    if parallel < 1:
        raise SystemExit(f"--jobs must be >= 1, got {parallel}")
    environment = {**os.environ, **({"OMP_NUM_THREADS": "1"} if parallel > 1 else {})}

    def run(job: Job) -> None:
        job.path.parent.mkdir(parents=True, exist_ok=True)
        print("$", shlex.join(job.command()), flush=True)
        subprocess.run(job.command(), cwd=REPO, check=True, env=environment)

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        for future in [pool.submit(run, job) for job in jobs]:
            future.result()  # the first failure stops the run with its command's error


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="run the evaluations whose JSON is missing")
    parser.add_argument("--force", action="store_true", help="with --run: rerun every evaluation")
    parser.add_argument("--only", choices=["classical", "idm", "pnp", "idm-x8", "operators-pnp", "operators-idm"],
                        help="with --run: only these evaluations (pnp, ~8 CPU-hours for the three CS sets, and the operators-* "
                             "groups, hours each, run only when named)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="with --run: evaluations at once, each on one thread (default 1: one at a time, torch's threads)")
    parser.add_argument("--match", action="append", default=[],
                        help="with --run: only the evaluations whose file name contains this text (repeatable: any of them)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if results/tables.md or the README's tables differ from what the JSON gives")
    args = parser.parse_args()
    jobs = {"classical": cs_jobs(("pinv", "tv")) + other_jobs(), "idm": cs_jobs(("idm",)), "pnp": cs_jobs(("pnp",)), "idm-x8": ensemble_jobs(),
            "operators-pnp": other_jobs(("pnp",)), "operators-idm": other_jobs(("idm",))}
    if args.run:
        chosen = [args.only] if args.only else [group for group in jobs if group not in OPT_IN]  # pnp's CPU-hours: asked for by name
        todo = [job for group in chosen for job in jobs[group] if (args.force or not job.path.is_file())
                and (not args.match or any(text in job.name for text in args.match))]
        run_jobs(todo, args.jobs)
    tables = build_tables()
    readme = (REPO / "README.md").read_text()
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    head, rest = readme.split(start)
    _, tail = rest.split(end)
    new_readme = f"{head}{start}\n{tables}{end}{tail}"
    if args.check:
        stale = [name for name, old, new in (("results/tables.md", (REPO / "results" / "tables.md").read_text(), tables),
                                             ("README.md", readme, new_readme)) if old != new]
        print("tables " + (f"differ from the JSON: {', '.join(stale)}" if stale else "match the JSON"))
        return 1 if stale else 0
    (REPO / "results" / "tables.md").write_text(tables)
    (REPO / "README.md").write_text(new_readme)
    print(tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
