"""``resample_steps``: a trained IDM's weights rebuilt for another number of steps."""
from __future__ import annotations

import pytest
import torch

from reverse_anything.models.checkpoint import load_unique_state_dict, unique_state_dict
from reverse_anything.models.idm import IDM, IDMConfig
from reverse_anything.models.step_count import matched_schedule_s, resample_steps, source_step

SMALL = dict(channels=(8, 32), depth=(1, 1), embed_dim=8, learn_consistency=True)


def _model(steps: int, seed: int = 0) -> IDM:
    torch.manual_seed(seed)
    model = IDM(IDMConfig(steps=steps, **SMALL))
    with torch.no_grad():
        for parameter in model.parameters():  # every weight distinct, so a wrong mapping shows
            parameter.copy_(torch.randn_like(parameter))
    return model


def test_source_steps_keep_the_start_step_and_spread_evenly():
    assert [source_step(t, 8, 4) for t in range(1, 5)] == [2, 4, 6, 8]
    assert [source_step(t, 8, 3) for t in range(1, 4)] == [3, 5, 8]
    assert [source_step(t, 2, 4) for t in range(1, 5)] == [1, 1, 2, 2]  # more steps: each old step serves two
    with pytest.raises(ValueError, match="outside"):
        source_step(5, 8, 4)


@pytest.mark.parametrize("new_steps", [2, 3, 6])
def test_resampled_weights_load_strictly_into_a_model_of_the_new_length(new_steps):
    tensors = resample_steps(unique_state_dict(_model(4)), 4, new_steps)
    load_unique_state_dict(IDM(IDMConfig(steps=new_steps, **SMALL)), tensors)  # raises on a missing or extra name


def test_each_new_step_takes_the_old_steps_weights():
    old, new = _model(4), IDM(IDMConfig(steps=2, **SMALL))
    load_unique_state_dict(new, resample_steps(unique_state_dict(old), 4, 2))
    old_steps = {c.F.t: c for c in old.chain.couplings}  # DiffusionStep.t: the step it runs
    for coupling in new.chain.couplings:
        source = old_steps[2 * coupling.F.t]
        assert torch.equal(coupling.v_logit, source.v_logit) and torch.equal(coupling.F.consistency, source.F.consistency)
        injector, old_injector = (m.F.backbone.down_stages[1].sequence.couplings[0].G for m in (coupling, source))
        assert torch.equal(injector.to_features[coupling.F.t - 1].weight, old_injector.to_features[source.F.t - 1].weight)
    assert torch.equal(new.schedule.phi.head.bias, old.schedule.phi.head.bias[[1, 3]])
    assert torch.equal(new.help_scale, old.help_scale)


def test_the_same_length_is_the_identity_and_bad_lengths_are_refused():
    tensors = unique_state_dict(_model(3))
    assert resample_steps(tensors, 3, 3).keys() == tensors.keys()
    with pytest.raises(ValueError, match=">= 1"):
        resample_steps(tensors, 3, 0)
    with pytest.raises(ValueError, match="beyond"):
        resample_steps(tensors, 2, 1)  # the weights hold 3 steps, not 2


def test_the_matched_schedule_starts_a_shorter_chain_at_the_old_level():
    from reverse_anything.diffusion.schedules import CosineSchedule

    levels = lambda steps, s: CosineSchedule(steps, s)(torch.zeros(1, 1, 8, 8))[0]  # noqa: E731
    assert matched_schedule_s(8, 2.0, 8) == pytest.approx(2.0, abs=1e-4)
    s = matched_schedule_s(8, 2.0, 4)
    assert s < 2.0  # fewer steps need larger betas to reach the same noise
    eight, four = levels(8, 2.0), levels(4, s)
    assert four[-1].item() == pytest.approx(eight[-1].item(), abs=1e-4)
    torch.testing.assert_close(four, eight[::2], atol=0.03, rtol=0)  # the 4 levels nearly repeat the even 8 ones
    assert levels(4, 2.0)[-1].item() > eight[-1].item() + 0.1  # what keeping s would have done
    assert matched_schedule_s(8, 2.0, 12) > 2.0


def test_a_global_schedule_keeps_its_learned_factors_per_step():
    torch.manual_seed(0)
    old = IDM(IDMConfig(steps=4, schedule="global", **SMALL))
    with torch.no_grad():
        old.schedule.raw.copy_(torch.arange(4.0))
    new = IDM(IDMConfig(steps=2, schedule="global", **SMALL))
    load_unique_state_dict(new, resample_steps(unique_state_dict(old), 4, 2))
    assert new.schedule.raw.tolist() == [1.0, 3.0]  # steps 2 and 4 of the old chain
