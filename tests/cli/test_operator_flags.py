"""Operator flags become ``{"operator": name, **given flags}``: the CLI adds no defaults of its own."""
from __future__ import annotations

import argparse

import pytest
import torch

from reverse_anything.cli import build_parser, operator_config, operator_for_image
from reverse_anything.cli.operators import OPERATOR_FLAGS, OPERATORS
from reverse_anything.physics import CompressedSensing, Inpainting, build_operator, operator_class, operator_defaults


def _args(*flags: str) -> argparse.Namespace:
    return build_parser().parse_args(["eval", "--data", ".", *flags])


def test_only_the_given_flags_reach_the_config():
    assert operator_config(_args(), (64, 64)) == {"operator": "cs", "image_size": (64, 64)}
    config = operator_config(_args("--operator", "mri", "--acceleration", "8", "--mri-mask", "equispaced", "--noise-sigma", "0.01"), (64, 64))
    assert config == {"operator": "mri", "image_size": (64, 64), "acceleration": 8.0, "mask": "equispaced", "noise_sigma": 0.01}
    assert operator_config(_args("--no-scramble"), (64, 64))["scramble"] is False


@pytest.mark.parametrize("name", [name for name in OPERATORS if name != "matrix"])
def test_no_flags_build_the_constructors_defaults(name):
    built = operator_for_image(_args("--operator", name), (64, 64))
    size = {} if name == "denoising" else {"image_size": (64, 64)}
    direct = build_operator({"operator": name, **size})
    assert built.config() == direct.config()


def test_each_flag_sets_a_parameter_of_every_operator_it_applies_to():
    for flag in OPERATOR_FLAGS:
        for name in flag.operators:
            assert flag.keyword in operator_defaults(name) or flag.keyword == "matrix", (flag.flag, name)


def test_help_shows_the_defaults_of_the_constructors(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["restore", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"cs: sampling ratio in (0, 1] (default {operator_defaults('cs')['ratio']})" in text
    assert f"mri: fully sampled centre fraction (default {operator_defaults('mri')['center_fraction']})" in text


def test_the_defaults_live_in_the_constructors():
    op = CompressedSensing(image_size=(32, 32))
    assert op.ratio == operator_defaults("cs")["ratio"] and op.block_size == operator_defaults("cs")["block_size"]
    assert Inpainting((8, 8)).config()["keep_ratio"] == 0.3
    with pytest.raises(ValueError, match="needs image_size"):
        CompressedSensing(0.3)
    with pytest.raises(ValueError, match="unknown operator"):
        operator_class("nope")


def test_a_flag_for_another_operator_is_refused():
    from reverse_anything.cli.common import UsageError

    with pytest.raises(UsageError, match="--factor does not apply to --operator cs"):
        operator_config(_args("--factor", "4"), (64, 64))


def test_a_bad_kernel_file_names_the_flag(tmp_path):
    with pytest.raises(ValueError, match="--kernel: a kernel file must be .npy"):
        operator_config(_args("--operator", "blur", "--kernel", str(tmp_path / "k.txt")), (64, 64))


def test_the_matrix_flag_reads_the_file(tmp_path):
    import numpy as np

    np.save(tmp_path / "m.npy", np.eye(16)[:8])
    op = operator_for_image(_args("--operator", "matrix", "--matrix", str(tmp_path / "m.npy")), (4, 4))
    assert op.A(torch.ones(1, 1, 4, 4)).shape[-1] == 8


@pytest.mark.parametrize("name", [name for name in OPERATORS if name not in ("matrix", "ct")])
def test_a_per_image_seed_reaches_cs_only(name):
    """Evaluation passes every image its ``perm_seed``; an operator without a permutation builds as without it."""
    seeded = operator_for_image(_args("--operator", name), (64, 64), perm_seed=7)
    plain = operator_for_image(_args("--operator", name), (64, 64))
    assert (seeded.config() == plain.config()) == (name != "cs")
    if name == "cs":
        assert seeded.config()["perm_seed"] == 7
