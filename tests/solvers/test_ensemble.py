"""The geometric self-ensemble: exact dihedral views of an operator, and IDM averaged over them."""
from __future__ import annotations

import pytest
import torch

from reverse_anything.data.datasets import dihedral, dihedral_inverse
from reverse_anything.physics import MRI, CompressedSensing, SuperResolution, Tiled
from reverse_anything.solvers import get_restorer
from reverse_anything.solvers.ensemble import ENSEMBLE_SIZES, DihedralView, self_ensemble

OPERATORS = [
    CompressedSensing(0.3, (64, 32), perm_seed=1),  # not square: odd views see a 32 x 64 image
    SuperResolution((64, 32), factor=4),
    MRI((32, 32), acceleration=4),
]


@pytest.mark.parametrize("op", OPERATORS, ids=lambda op: op.name)
@pytest.mark.parametrize("k", range(8))
def test_a_view_is_an_operator_with_its_exact_adjoint(op, k):
    view = DihedralView(op, k)
    x = dihedral(torch.rand(2, 1, *op.image_size, dtype=torch.float64), k)
    y = op.A(torch.rand(2, 1, *op.image_size, dtype=torch.float64))
    torch.testing.assert_close((view.A(x) * y).sum(), (x * view.A_adjoint(y)).sum())
    assert view.family == op.name and view.noise_sigma == op.noise_sigma


@pytest.mark.parametrize("k", range(8))
def test_a_view_measures_the_turned_image_as_the_operator_measures_the_image(k):
    op = CompressedSensing(0.3, (64, 32), perm_seed=2, noise_sigma=0.02)
    x = torch.rand(1, 1, 64, 32, dtype=torch.float64)
    view = DihedralView(op, k)
    torch.testing.assert_close(view.A(dihedral(x, k)), op.A(x))
    y = op.A(x)
    torch.testing.assert_close(view.A(view.A_dagger(y)), y)  # A† of the view is exact: A A† = I for CS
    assert view.noise_sigma == 0.02


def test_the_ensemble_of_an_equivariant_method_is_the_method_itself():
    """pinv on a view, turned back, is pinv on the operator: averaging changes nothing."""
    op = CompressedSensing(0.3, (64, 32), perm_seed=4)
    y = op.A(torch.rand(1, 1, 64, 32, dtype=torch.float64))
    for copies in ENSEMBLE_SIZES:
        torch.testing.assert_close(self_ensemble(lambda view, measured: view.A_dagger(measured), op, y, copies), op.A_dagger(y))


def test_the_ensemble_averages_the_views_turned_back():
    """A method that is not equivariant (it adds a left-to-right ramp) gets the mean of its turned-back outputs."""
    op = CompressedSensing(0.5, (32, 32), perm_seed=0)
    y = op.A(torch.rand(1, 1, 32, 32, dtype=torch.float64))
    ramp = torch.linspace(0, 1, 32, dtype=torch.float64).expand(32, 32)

    def lopsided(view, measured):
        return view.A_dagger(measured) + ramp

    expected = torch.stack([dihedral_inverse(lopsided(DihedralView(op, k), y), k) for k in range(4)]).mean(0)
    torch.testing.assert_close(self_ensemble(lopsided, op, y, 4), expected)
    assert not torch.allclose(expected, lopsided(op, y))


@pytest.mark.parametrize("copies", [0, 3, 16, True, 2.0])
def test_bad_ensemble_sizes_are_refused(copies):
    with pytest.raises(ValueError, match="self-ensemble size must be one of 1, 2, 4, 8"):
        get_restorer("idm", model="cs", self_ensemble=copies)


def test_idm_self_ensemble_is_the_mean_of_the_network_on_each_view():
    restore = get_restorer("idm", model="cs-0.1", self_ensemble=2)
    op = CompressedSensing(0.1, (64, 32), perm_seed=5)
    x = torch.rand(1, 1, 64, 32)
    y = op.A(x)
    network = get_restorer("idm", model="cs-0.1").model
    with torch.no_grad():
        single = network(y, op)
        turned = dihedral_inverse(network(y, DihedralView(op, 1)), 1)
    torch.testing.assert_close(restore(op, y), (single + turned) / 2, rtol=1e-5, atol=1e-5)
    assert (single - turned).abs().max() > 1e-3  # the model is not equivariant: the views disagree


def test_idm_self_ensemble_runs_per_tile_and_per_channel():
    op = Tiled(CompressedSensing(0.3, (32, 32), perm_seed=3), (64, 64), tile=32)
    x = torch.rand(1, 3, 64, 64)
    y = op.A(x)
    restored = get_restorer("idm", model="cs", self_ensemble=4)(op, y)
    assert restored.shape == x.shape and torch.isfinite(restored).all()
    assert not torch.allclose(restored, get_restorer("idm", model="cs")(op, y))
