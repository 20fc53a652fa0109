"""CompressedSensing: the published IDM protocol, reproducibility and the padding mechanism."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from reverse_anything.physics import CompressedSensing


def _rand(shape, seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("ratio, rows", [(0.1, 103), (0.3, 308), (0.5, 512), (1.0, 1024)])
def test_rows_are_orthonormal_and_follow_the_protocol_count(ratio, rows):
    op = CompressedSensing(ratio, (32, 32))
    assert op.phi.shape == (rows, 1024) and op.n_measurements == rows and op.ratio == ratio
    assert torch.allclose(op.phi @ op.phi.T, torch.eye(rows, dtype=torch.float64), atol=1e-12)


def test_rows_of_a_lower_ratio_are_the_first_rows_of_a_higher_one():
    low, high = CompressedSensing(0.1, (32, 32), seed=4), CompressedSensing(0.3, (32, 32), seed=4)
    assert torch.allclose(low.phi, high.phi[: low.n_measurements], atol=1e-12)


def test_ratio_that_lands_on_a_whole_number_is_not_rounded_up():
    assert CompressedSensing(0.1, (10, 10), block_size=10).n_measurements == 10  # 0.1*100 = 10.000000000000002


def test_same_seed_gives_bit_identical_measurements():
    x = _rand((2, 3, 40, 56), 0)
    first = CompressedSensing(0.3, (40, 56), block_size=16, seed=11)
    second = CompressedSensing(0.3, (40, 56), block_size=16, seed=11)
    assert torch.equal(first.A(x), second.A(x))


_DIGEST_SCRIPT = """
import hashlib, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from reverse_anything.physics import CompressedSensing
x = torch.randn(2, 3, 40, 56, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
op = CompressedSensing(0.3, (40, 56), block_size=16, seed=11)
print(hashlib.sha256(op.A(x).numpy().tobytes() + op.phi.numpy().tobytes()).hexdigest())
"""


def test_same_seed_gives_bit_identical_measurements_across_processes_and_thread_counts():
    """Fresh interpreters on 1 and 2 threads (nothing cached, nothing shared) measure the same bytes as this one."""
    import hashlib
    import subprocess
    import sys

    x = _rand((2, 3, 40, 56), 0)
    op = CompressedSensing(0.3, (40, 56), block_size=16, seed=11)
    here = hashlib.sha256(op.A(x).numpy().tobytes() + op.phi.numpy().tobytes()).hexdigest()
    runs = [
        subprocess.run([sys.executable, "-c", _DIGEST_SCRIPT, str(threads)], capture_output=True, text=True, check=True).stdout.strip()
        for threads in (1, 2)
    ]
    assert runs == [here, here]


def test_different_seeds_or_permutations_differ():
    x = _rand((1, 1, 32, 32), 1)
    base = CompressedSensing(0.3, (32, 32), block_size=8, seed=0)
    other_perm = CompressedSensing(0.3, (32, 32), block_size=8, seed=0, perm_seed=1)
    other_matrix = CompressedSensing(0.3, (32, 32), block_size=8, seed=1, perm_seed=0)
    assert torch.equal(base.phi, other_perm.phi)
    assert not torch.allclose(base.A(x), other_perm.A(x))
    assert not torch.allclose(base.phi, other_matrix.phi)


def test_scrambled_operator_is_the_published_formula():
    """A(z) = z.flat[perm].reshape(-1, B²) @ Φᵀ, perm = randperm(H·W) from perm_seed on CPU."""
    op = CompressedSensing(0.25, (32, 48), block_size=16, seed=3, perm_seed=9)
    x = _rand((2, 1, 32, 48), 2)
    perm = torch.randperm(32 * 48, generator=torch.Generator().manual_seed(9))
    expected = x.flatten(1)[:, perm].reshape(2, 1, -1, 256) @ op.phi.T
    assert torch.allclose(op.A(x), expected, atol=1e-13)


def test_plain_operator_measures_raster_blocks():
    op = CompressedSensing(0.25, (32, 48), block_size=16, seed=3, scramble=False)
    x = _rand((1, 1, 32, 48), 3)
    blocks = F.unfold(x, kernel_size=16, stride=16)  # (1, 256, 6): blocks in raster order
    assert torch.allclose(op.A(x), (blocks.transpose(1, 2) @ op.phi.T).unsqueeze(1), atol=1e-13)


def test_plain_padding_is_zero_padding_right_and_bottom():
    ragged = CompressedSensing(0.3, (70, 33), block_size=16, seed=5, scramble=False)
    padded = CompressedSensing(0.3, (80, 48), block_size=16, seed=5, scramble=False)
    x = _rand((2, 2, 70, 33), 4)
    assert torch.allclose(ragged.A(x), padded.A(F.pad(x, (0, 15, 0, 10))), atol=1e-13)


def test_scrambled_padding_is_zeros_at_the_end_of_the_permuted_vector():
    op = CompressedSensing(0.3, (70, 33), block_size=16, seed=5, perm_seed=6)
    x = _rand((1, 1, 70, 33), 5)
    perm = torch.randperm(70 * 33, generator=torch.Generator().manual_seed(6))
    permuted = torch.cat([x.flatten()[perm], torch.zeros(10 * 256 - 70 * 33, dtype=torch.float64)])
    assert op.n_blocks == 10
    assert torch.allclose(op.A(x), (permuted.view(10, 256) @ op.phi.T)[None, None], atol=1e-13)


@pytest.mark.parametrize("scramble", [True, False])
def test_pseudo_inverse_differs_from_adjoint_only_where_blocks_hold_padding(scramble):
    op = CompressedSensing(0.5, (40, 40), block_size=16, scramble=scramble)
    y = op.A(_rand((1, 1, 40, 40), 6))
    dagger, adjoint = op.A_dagger(y), op.A_adjoint(y)
    real = op.slot_to_pixel.view(op.n_blocks, -1) >= 0
    full_pixels = op.slot_to_pixel.view(op.n_blocks, -1)[real.all(dim=1)].flatten()
    assert len(op.partial_blocks) > 0
    assert torch.allclose(dagger.flatten()[full_pixels], adjoint.flatten()[full_pixels], atol=1e-13)
    assert not torch.allclose(dagger, adjoint)


def test_with_permutation_matches_a_fresh_operator_and_shares_phi():
    op = CompressedSensing(0.3, (40, 56), block_size=16, seed=2)
    x = _rand((2, 1, 40, 56), 7)
    before = op.A(x)
    twin = op.with_permutation(123)
    fresh = CompressedSensing(0.3, (40, 56), block_size=16, seed=2, perm_seed=123)
    assert twin.phi.data_ptr() == op.phi.data_ptr()
    assert twin.config() == fresh.config()
    assert torch.equal(twin.A(x), fresh.A(x))
    y = fresh.A(x)
    assert torch.equal(twin.A_dagger(y), fresh.A_dagger(y))
    assert torch.equal(op.A(x), before)  # the original keeps its permutation


def test_with_permutation_needs_a_scrambled_operator():
    with pytest.raises(ValueError, match="scramble"):
        CompressedSensing(0.3, (32, 32), block_size=8, scramble=False).with_permutation(1)


def test_float32_and_module_to_work():
    op = CompressedSensing(0.3, (40, 56), block_size=8)
    x = _rand((1, 1, 40, 56), 8)
    expected = op.A(x)
    assert torch.allclose(op.A(x.float()).double(), expected, atol=1e-5)
    op32 = CompressedSensing(0.3, (40, 56), block_size=8).to(torch.float32)
    assert op32.phi.dtype == torch.float32 and op32.slot_to_pixel.dtype == torch.long
    assert torch.allclose(op32.A_dagger(op32.A(x.float())).double(), op.A_dagger(expected), atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ratio": 0.0}, "ratio"),
        ({"ratio": 1.5}, "ratio"),
        ({"ratio": -0.1}, "ratio"),
        ({"noise_sigma": -0.1}, "noise_sigma"),
        ({"block_size": 64}, "larger than"),
        ({"block_size": 0}, "block_size"),
        ({"image_size": (0, 32)}, "image_size"),
    ],
)
def test_bad_parameters_raise(kwargs, message):
    arguments = {"ratio": 0.1, "image_size": (40, 33), "block_size": 8, **kwargs}
    with pytest.raises(ValueError, match=message):
        CompressedSensing(**arguments)


def test_block_as_wide_as_one_image_side_is_allowed():
    op = CompressedSensing(0.5, (16, 40), block_size=32)
    y = op.A(_rand((1, 1, 16, 40), 9))
    assert torch.allclose(op.A(op.A_dagger(y)), y, atol=1e-12)
