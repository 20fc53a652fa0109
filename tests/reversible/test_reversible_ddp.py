"""Two gloo processes under DDP get the gradients one process gets on the full batch."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from reverse_anything.reversible import AdditiveCoupling, LeapfrogCoupling, ReversibleSequence
from reversible_toys import ConvBlock, NestedStep, assert_close_relative

WORLD_SIZE = 2
BATCH = 4


def _model() -> nn.Module:
    """Both levels memory-saving, with a block shared by two couplings."""
    torch.manual_seed(0)
    shared = ConvBlock(2)
    couplings = [AdditiveCoupling(shared, ConvBlock(2)), AdditiveCoupling(ConvBlock(2), shared)]
    couplings.append(LeapfrogCoupling(NestedStep(2, inner_depth=2)))
    return ReversibleSequence(couplings).double()


def _batch() -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, 4, 6, 6, dtype=torch.float64, generator=generator)
    weights = torch.randn(BATCH, 4, 6, 6, dtype=torch.float64, generator=generator)
    return x, weights


def _loss(model: nn.Module, x: Tensor, weights: Tensor) -> Tensor:
    """Mean over the samples given, so equal shards average to the full-batch loss."""
    return (model(x.requires_grad_()) * weights).sum() / x.shape[0]


def _ddp_worker(rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD_SIZE, timeout=timedelta(seconds=60)
    )
    try:
        model = DistributedDataParallel(_model())
        x, weights = _batch()
        shard = slice(rank * BATCH // WORLD_SIZE, (rank + 1) * BATCH // WORLD_SIZE)
        _loss(model, x[shard], weights[shard]).backward()
        grads = {name: param.grad for name, param in model.module.named_parameters()}
        torch.save(grads, Path(out_dir) / f"grads_rank{rank}.pt")
        dist.barrier()  # neither rank tears gloo down while the other still talks to it
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_process_ddp_matches_single_process_full_batch(tmp_path: Path) -> None:
    mp.spawn(_ddp_worker, args=(str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=WORLD_SIZE, join=True)

    model = _model()
    x, weights = _batch()
    _loss(model, x, weights).backward()
    expected = {name: param.grad for name, param in model.named_parameters()}
    for rank in range(WORLD_SIZE):
        got = torch.load(tmp_path / f"grads_rank{rank}.pt", weights_only=True)
        assert got.keys() == expected.keys()
        for name, grad in expected.items():
            assert got[name] is not None, f"rank {rank}: {name} got no gradient"
            assert_close_relative(got[name], grad, 1e-10, f"rank {rank}: {name}")
