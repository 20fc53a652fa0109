"""benchmarks/: the reversible-memory benchmark runs end to end and its memory figures say what the engine claims; the CT cost projection adds up."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    if str(BENCHMARKS) not in sys.path:  # as when run as a script: shared helpers (idm_cases.py) import by name
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def test_reversible_memory_quick_run_writes_json_and_markdown(tmp_path: Path) -> None:
    out = tmp_path / "reversible"
    _load("reversible_memory").main(["--quick", "--out", str(out)])
    report = json.loads(out.with_suffix(".json").read_text())
    rows = report["rows"]
    assert {(r["suite"], r["size"], r["method"]) for r in rows} == {
        (suite, size, method)
        for suite, sizes in (("depth", (2, 4, 8)), ("steps", (1, 2, 3)))
        for size in sizes
        for method in ("plain", "checkpoint", "reversible")
    }
    for suite in ("depth", "steps"):
        held = {r["size"]: r["saved_bytes"] for r in rows if r["suite"] == suite and r["method"] == "reversible"}
        plain = {r["size"]: r["saved_bytes"] for r in rows if r["suite"] == suite and r["method"] == "plain"}
        assert len(set(held.values())) == 1, f"{suite}: memory held by the engine grows with size: {held}"
        assert all(held[size] < plain[size] for size in held)
        assert plain[max(plain)] > 2 * plain[min(plain)]  # plain autograd does grow, so the check above can fail
        figures = report["summary"]["time"][suite]
        assert figures["recompute_floor_ratio"] > 1 and figures["ratio"] > 0
    table = out.with_suffix(".md").read_text()
    assert "| depth (couplings) | 8 | reversible |" in table and "recomputation alone puts the floor" in table


def test_channels_last_quick_run_compares_the_same_model_in_both_layouts(tmp_path: Path) -> None:
    out = tmp_path / "layout"
    _load("channels_last").main(["--quick", "--threads", "1", "--out", str(out)])
    report = json.loads(out.with_suffix(".json").read_text())
    (run,) = report["runs"]
    losses = run["first_step_loss"]
    assert set(losses) == {"NCHW", "channels_last"}
    assert abs(losses["NCHW"] - losses["channels_last"]) <= 1e-5 * abs(losses["NCHW"])  # same weights, same batch
    seconds = run["seconds_per_step"]
    assert run["speedup_channels_last"] == seconds["NCHW"] / seconds["channels_last"]
    assert "| 1 |" in out.with_suffix(".md").read_text()


def test_ct_cost_counts_the_pseudo_inverse_calls_and_projects_from_them(tmp_path: Path) -> None:
    out = tmp_path / "ct"
    _load("ct_cost").main(["--out", str(out), "--size", "32", "32", "--angles", "8"])
    report = json.loads((out / "ct_cost.json").read_text())
    assert report["A_dagger_calls_per_image"] >= report["steps"] >= 1  # at least the data step of every step
    assert report["projected_idm_s_per_image"] == report["network_s_per_image"] + report["A_dagger_calls_per_image"] * report["A_dagger_s"]
    assert report["A_dagger_relative_residual"] < 1e-2 and report["tv_s_per_image"] is None  # TV was timed at 320x480 only
    assert "projected IDM on CT" in (out / "ct_cost.md").read_text()


def test_the_showcase_settings_are_rows_of_the_readme_tables() -> None:
    """The demo and the web page start at SHOWCASE_SETTINGS, said to be the README tables' settings: each is a row."""
    from reverse_anything.cli import build_parser
    from reverse_anything.cli.operators import operator_config
    from reverse_anything.evaluate import SHOWCASE_SETTINGS
    from reverse_anything.physics import build_operator, sized_operator_config

    results = _load("results")
    rows = [flags for _, _, flags, _ in results.OTHER_OPERATORS] + [["--operator", "cs", "--ratio", r] for r in results.RATIOS]

    def built(config: dict) -> dict:
        return build_operator(config).config()

    tables = []
    for flags in rows:
        args = build_parser().parse_args(["eval", "--data", ".", *flags])
        tables.append(built(operator_config(args, (64, 64))))  # with the row's noise, as eval builds it
    for setting in SHOWCASE_SETTINGS:
        assert built(sized_operator_config(dict(setting), (64, 64))) in tables, setting


def test_self_ensemble_scores_every_case_with_the_model_idm_picks(tmp_path: Path) -> None:
    module = _load("self_ensemble")
    if not (_load("idm_cases").DATA / "train").is_dir():
        pytest.skip("needs the project's shared data (../shared/data/train)")
    from reverse_anything.solvers.learned import default_idm_model

    out = tmp_path / "se"
    assert module.main(["--size", "32", "--holdout", "1", "--out", str(out)]) == 0
    report = json.loads((out / "self-ensemble.json").read_text())
    assert list(report["cases"]) == [label for label, _ in module.CASES]
    for label, config in module.CASES:
        entry = report["cases"][label]
        assert entry["model"] == default_idm_model(module.operator_for(config, (32, 32), 0))
        assert sorted(entry["by_views"], key=int) == ["1", "2", "4", "8"]
        assert all(10 < row["psnr"] < 60 and row["seconds_per_image"] > 0 for row in entry["by_views"].values())
    assert "gain x2 / x4 / x8" in (out / "self-ensemble.md").read_text()


def test_precision_compares_fp32_and_bf16_side_by_side_with_the_model_idm_picks(tmp_path: Path) -> None:
    module = _load("precision")
    if not (_load("idm_cases").DATA / "train").is_dir():
        pytest.skip("needs the project's shared data (../shared/data/train)")
    from reverse_anything.solvers.learned import default_idm_model

    out = tmp_path / "precision"
    assert module.main(["--size", "64", "--holdout", "2", "--cases", "CS 10", "SR", "--out", str(out)]) == 0
    report = json.loads((out / "precision.json").read_text())
    assert list(report["cases"]) == ["CS 10 %", "SR ×4 bicubic"] and report["threads"] == 1 and report["images"] == 2
    for label, config in module.CASES:
        if label in report["cases"]:
            entry = report["cases"][label]
            assert entry["model"] == default_idm_model(module.operator_for(config, (64, 64), 0))
            fp32, bf16 = entry["by_precision"]["fp32"], entry["by_precision"]["bf16"]
            assert 10 < fp32["psnr"] < 60 and abs(bf16["psnr"] - fp32["psnr"]) < 0.5
            assert 35 < entry["psnr_bf16_against_fp32"] < 200  # close, yet not the same computation
            assert entry["speed_up"] == pytest.approx(fp32["seconds_per_image"] / bf16["seconds_per_image"])
            assert 10 < entry["tv"]["psnr"] < 60
            assert entry["tv_time_over_bf16"] == pytest.approx(entry["tv"]["seconds_per_image"] / bf16["seconds_per_image"])
    assert "| SR ×4 bicubic | `sr` |" in (out / "precision.md").read_text()


def test_step_count_sets_a_re_stepped_model_beside_the_shipped_one_and_tv(tmp_path: Path) -> None:
    module = _load("step_count")
    if not (_load("idm_cases").DATA / "train").is_dir():
        pytest.skip("needs the project's shared data (../shared/data/train)")
    from reverse_anything.models.checkpoint import load_idm, load_unique_state_dict, save_idm, unique_state_dict
    from reverse_anything.models.idm import IDM, IDMConfig
    from reverse_anything.models.step_count import matched_schedule_s, resample_steps

    shipped = load_idm("cs-0.3")
    settings = {**shipped.config.to_dict(), "steps": 4, "schedule_s": matched_schedule_s(8, shipped.config.schedule_s, 4)}
    four = IDM(IDMConfig.from_dict(settings))
    load_unique_state_dict(four, resample_steps(unique_state_dict(shipped), 8, 4))
    save_idm(four, tmp_path / "t4")
    out = tmp_path / "steps"
    assert module.main(["--case", "CS 30 %", "--models", "cs-0.3", str(tmp_path / "t4.safetensors"), "--size", "64",
                        "--holdout", "2", "--out", str(out)]) == 0
    report = json.loads((out / "step-count.json").read_text())
    assert [row["steps"] for row in report["rows"]] == [8, 4] and report["case"] == "CS 30 %" and report["images"] == 2
    assert all(10 < row["psnr"] < 60 and row["seconds_per_image"] > 0 for row in report["rows"] + [report["tv"]])
    assert report["rows"][0]["psnr"] > report["rows"][1]["psnr"]  # the re-stepped model is not fine-tuned yet
    assert "| `cs-0.3` | 8 |" in (out / "step-count.md").read_text()
    assert module.main(["--case", "CS", "--models", "cs-0.3"]) == 2  # several cases match: refused


def test_speed_times_every_method_side_by_side_with_the_model_idm_picks(tmp_path: Path) -> None:
    module = _load("speed")
    if not all((module.DATA / folder).is_dir() for folder in module.SET_NAMES):
        pytest.skip("needs the project's shared data (../shared/data)")
    from reverse_anything.solvers.learned import default_idm_model

    out = tmp_path / "speed"
    assert module.main(["--images", "1", "--size", "64", "--cases", "CS 10", "MRI", "CT", "--sets", "cbsd68_idm", "cbsd68", "--out", str(out)]) == 0
    report = json.loads((out / "speed.json").read_text())
    assert [(e["label"], e["set"]) for e in report["cases"]] == [
        ("CS 10 %", "cbsd68_idm"), ("MRI ×4 random lines", "cbsd68"), ("CT, 60 angles", "cbsd68")]
    ct = report["cases"].pop()  # no IDM serves CT: the other three are timed, the ratios left empty
    assert ct["model"] is None and set(ct["by_method"]) == {"pinv", "tv", "pnp"} and ct["tv_time_over_idm"] is None
    assert ct["idm_gflop_per_image"] is None
    assert "| CT, 60 angles | CBSD68 | 64×64 |" in (out / "speed.md").read_text()
    for entry in report["cases"]:
        assert entry["size"] == "64×64" and entry["model"] == default_idm_model(module.operator_for(entry["operator"], (64, 64), 0))
        seconds = {m: entry["by_method"][m]["seconds_per_image"] for m in module.METHODS}
        assert all(s > 0 for s in seconds.values()) and all(10 < entry["by_method"][m]["psnr"] < 60 for m in ("tv", "pnp", "idm"))
        assert entry["tv_time_over_idm"] == pytest.approx(seconds["tv"] / seconds["idm"])
        assert 3 < entry["idm_gflop_per_image"] < 12  # 8 steps of ~0.85 GFLOP at 64², not counted as zero or twice
        assert entry["pnp_time_over_idm"] == pytest.approx(seconds["pnp"] / seconds["idm"])
    assert "| MRI ×4 random lines | CBSD68 | 64×64 |" in (out / "speed.md").read_text()
    # --update re-runs one row and keeps the others, in the benchmark's order
    assert module.main(["--images", "1", "--size", "64", "--cases", "CS 10", "--sets", "cbsd68_idm", "--out", str(out), "--update"]) == 0
    updated = json.loads((out / "speed.json").read_text())
    assert [(e["label"], e["set"]) for e in updated["cases"]] == [
        ("CS 10 %", "cbsd68_idm"), ("MRI ×4 random lines", "cbsd68"), ("CT, 60 angles", "cbsd68")]
    assert updated["cases"][0]["command"].endswith("--update") and not updated["cases"][1]["command"].endswith("--update")
    assert updated["cases"][1] == report["cases"][1] and "; then " in updated["command"]
    with pytest.raises(SystemExit):  # another thread count or image count than the report's
        module.main(["--images", "2", "--size", "64", "--cases", "CS 10", "--sets", "cbsd68_idm", "--out", str(out), "--update"])
    with pytest.raises(SystemExit):
        module.main(["--size", "40"])


def test_injector_order_times_both_orders_of_the_same_function(tmp_path: Path) -> None:
    module = _load("injector_order")
    if not (_load("idm_cases").DATA / "train").is_dir():
        pytest.skip("needs the project's shared data (../shared/data)")
    assert module.main(["--size", "32", "--train-size", "32", "--repeats", "1", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "injector_order.json").read_text())
    restore, step = report["restore"], report["train_step"]
    assert restore["max_abs_difference"] < 1e-4 and step["loss_difference"] < 1e-5
    assert restore["speed_up"] == pytest.approx(restore["seconds_per_batch"]["published"] / restore["seconds_per_batch"]["coarse grid"])
    assert step["speed_up"] == pytest.approx(step["seconds"]["published"] / step["seconds"]["coarse grid"])
    assert "| restore 2 held-out crops of 32² |" in (tmp_path / "injector_order.md").read_text()
