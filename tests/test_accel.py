"""GPU-readiness options on the CPU: bf16 autocast, channels-last, torch.compile (eager)."""

import torch

import ganlift
from ganlift.render import create

TINY = {"lifter.resolution": 16, "lifter.mlp_width": 16, "lifter.decoder_width": 16,
        "lifter.decoder_min_width": 8, "teacher.prior_samples": 200, "train.log_every": 1,
        "train.sample_every": 0, "train.checkpoint_every": 2, "train.batch_size": 2}
FULL = {"losses.perturbation_a.start": 0, "losses.perturbation_b.start": 0, "losses.cycle.start": 0,
        "losses.prior.start": 0}


def _lift(**train):
    overrides = {**TINY, **FULL, **{f"train.{k}": v for k, v in train.items()}}
    return ganlift.lift("synthetic-faces", recipe="synthetic-full", steps=2, overrides=overrides, evaluate=False,
                        progress=False,
                        device="cpu", teacher_options={"resolution": 16})


def test_bf16_autocast_trains_and_keeps_the_renderer_in_float32():
    lifter = _lift(precision="bf16")
    assert all(torch.isfinite(p).all() for p in lifter.parameters())
    # Under autocast the renderer still projects in float32: identical to the fp32 render.
    r = create("torch", size=16)
    depth = torch.full((1, 1, 16, 16), 1.0) - 0.02 * torch.rand(1, 1, 16, 16)
    albedo, view = torch.rand(1, 3, 16, 16), torch.tensor([[5.0, 30.0, 0, 0.01, 0, 0]])
    plain = r.render(albedo, depth, None, view, None)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto = r.render(albedo, depth, None, view, None)
    assert auto.image.dtype == torch.float32 and torch.equal(auto.mask, plain.mask)
    assert torch.allclose(auto.image, plain.image)


def test_channels_last_and_compile_train_with_unchanged_state_dict_keys():
    plain = _lift()
    fast = _lift(channels_last=True, compile="eager")
    assert list(fast.state_dict()) == list(plain.state_dict())
    # Same maths in another memory layout: float differences only, which Adam's normalised
    # steps (at most about lr = 1e-3 each) can grow to a few 1e-3 over two steps.
    for (name, a), b in zip(plain.state_dict().items(), fast.state_dict().values()):
        assert (a - b).abs().max() < 4e-3, name


def test_precision_is_validated():
    import pytest
    from ganlift.recipe import load_recipe

    with pytest.raises(ValueError, match="train.precision must be"):
        load_recipe("synthetic", {"train.precision": "fp8"})
