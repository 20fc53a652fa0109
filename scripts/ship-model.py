"""Ship a trained model inside the package: weights, config, log and the commands that made it.

    python scripts/ship-model.py checkpoints/idm-cs-0.5 idm-cs-0.5 --names cs-0.5 \\
        --command "reverse-anything train --config configs/idm-cs-0.5-finetune.json --time-limit 62 --threads 1"

Copies ``RUN/model.safetensors`` to ``weights/STEM.safetensors``, ``RUN/model.json`` to
``weights/STEM.json`` (with the ``--command`` lines added to its training record, so the file
says how to reproduce it) and ``RUN/log.csv`` to ``results/training-logs/STEM.log.csv`` (in the repository,
not the wheel), then points every
``--names`` entry of ``weights/models.json`` at ``STEM``. The model is loaded once first, so a
broken export is refused before anything is replaced.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from reverse_anything.atomic import atomic_output, atomic_write_text
from reverse_anything.models.checkpoint import MODEL_FORMAT, load_ddpm, load_idm

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "src" / "reverse_anything" / "weights"
LOGS = REPO / "results" / "training-logs"


def ship(run: Path, stem: str, names: list[str], commands: list[str], weights: Path = WEIGHTS, logs: Path = LOGS) -> None:
    document = json.loads((run / "model.json").read_text())
    loader = load_idm if document.get("format") == MODEL_FORMAT else load_ddpm
    loader(run / "model")  # refuses a broken or foreign export before anything is replaced
    document["training"]["commands"] = commands
    logs.mkdir(parents=True, exist_ok=True)
    for source, target in ((run / "model.safetensors", weights / f"{stem}.safetensors"), (run / "log.csv", logs / f"{stem}.log.csv")):
        with atomic_output(target) as temporary:
            shutil.copyfile(source, temporary)
    atomic_write_text(weights / f"{stem}.json", json.dumps(document, indent=2) + "\n")
    registry_path = weights / "models.json"
    registry = json.loads(registry_path.read_text())
    registry["models"].update({name: stem for name in names})
    atomic_write_text(registry_path, json.dumps(registry, indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="training folder holding model.safetensors, model.json, log.csv")
    parser.add_argument("stem", help="file name inside the package's weights/ folder, without suffix")
    parser.add_argument("--names", nargs="+", required=True, help="shipped names that load this model")
    parser.add_argument("--command", action="append", required=True, help="a command that trained it (repeat, in order)")
    args = parser.parse_args()
    ship(args.run, args.stem, args.names, args.command)
    print(f"shipped {args.stem} as {', '.join(args.names)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
