"""Loss terms on hand-made inputs: known values, zeros, gradient routing, weights errors."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from ganlift.losses import LOSSES, LossContext, LossSet
from ganlift.losses.distance import ImageDistance, masked_l1
from ganlift.losses.identity import Identity
from ganlift.losses.perceptual import (
    SSIMDistance,
    VGGPerceptual,
    create_perceptual,
    load_vgg16_features,
    masked_mean,
    vgg16_features,
)
from ganlift.losses.terms import (
    AlbedoRank,
    CodeCycle,
    Cycle,
    Flip,
    NeutralCycle,
    PerturbationA,
    PerturbationB,
    Prior,
    Reconstruction,
)
from ganlift.recipe import load_recipe


def rendered(image, mask=None):
    if mask is None:
        mask = torch.ones_like(image[:, :1])
    return SimpleNamespace(image=image, mask=mask)


def test_registry_holds_every_paper_term():
    assert set(LOSSES.names()) >= {
        "reconstruction", "flip", "perturbation_b", "perturbation_a", "cycle", "prior", "identity", "albedo_rank",
        "code_cycle", "neutral_cycle",
    }


def test_masked_l1_known_values_and_empty_mask():
    a = torch.zeros(2, 3, 4, 4)
    b = torch.full_like(a, 0.5)
    b[:, :, :, 2:] = 2.0  # only outside the mask
    mask = torch.zeros(2, 1, 4, 4)
    mask[..., :2] = 1
    assert torch.isclose(masked_l1(a, b, mask), torch.tensor(0.5))
    assert torch.isclose(masked_l1(a, b), torch.tensor(1.25))
    empty = masked_l1(a, b, torch.zeros_like(mask))
    assert empty == 0 and torch.isfinite(empty)


def test_masked_mean_pools_the_mask_to_feature_size():
    values = torch.arange(4.0).view(1, 1, 2, 2)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :2] = 1  # covers only the top-left feature cell
    assert masked_mean(values, mask) == 0.0


def test_ssim_is_zero_for_equal_images_and_grows_with_structure():
    torch.manual_seed(0)
    ssim = SSIMDistance(scales=3)
    a = torch.rand(2, 3, 32, 32)
    assert ssim(a, a.clone()) < 1e-6
    small = ssim(a, (a + 0.02 * torch.randn_like(a)).clamp(0, 1))
    large = ssim(a, torch.rand_like(a))
    assert 0 < small < large <= 1
    # differences only where the mask is off do not count
    b = a.clone()
    b[..., 16:] = torch.rand_like(b[..., 16:])
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., :8] = 1
    one_scale = SSIMDistance(scales=1)  # windows (radius 3) never reach the changed half
    assert one_scale(a, b, mask) < 1e-6 < one_scale(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ssim_map_equals_kornias_with_its_gradient(dtype):
    import kornia

    g = torch.Generator().manual_seed(3)
    a = torch.rand(2, 3, 24, 20, generator=g, dtype=dtype)
    b = (a + 0.2 * torch.randn(a.shape, generator=g, dtype=dtype)).clamp(0, 1)
    weights = torch.rand(a.shape, generator=g, dtype=dtype)
    ssim = SSIMDistance(window=7)

    def run(fn):
        x, y = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
        out = fn(x, y)
        (out * weights).sum().backward()
        return out.detach(), x.grad, y.grad

    ours = run(ssim.dssim)
    theirs = run(lambda x, y: kornia.losses.ssim_loss(x, y, 7, max_val=1.0, eps=0.0, reduction="none"))
    assert torch.equal(ours[0], theirs[0])  # the same operations on the same values
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for mine, ref in zip(ours[1:], theirs[1:]):
        assert torch.allclose(mine, ref, rtol=0, atol=tol * float(ref.abs().max()))


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """A random-weight VGG16 (features up to relu4_3) saved in torchvision/timm key layout."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    features = vgg16_features()
    for layer in features:
        if isinstance(layer, nn.Conv2d):
            layer.reset_parameters()
    state = {f"features.{k}": v.contiguous() for k, v in features.state_dict().items()}
    state["head.fc.weight"] = torch.zeros(2, 2)  # a classifier is ignored
    path = tmp_path_factory.mktemp("vgg") / "vgg16.safetensors"
    save_file(state, str(path))
    return path


def test_vgg_perceptual_from_a_local_file(vgg_file):
    perc = create_perceptual("vgg16", weights=str(vgg_file), scales=3)
    assert isinstance(perc, VGGPerceptual)
    assert all(not p.requires_grad for p in perc.parameters())
    perc.train()
    assert not perc.training  # frozen backbone stays in eval mode
    torch.manual_seed(0)
    a = torch.rand(2, 3, 32, 32)
    assert perc(a, a.clone()) < 1e-8
    d = perc(a, torch.rand_like(a))
    # squared distances of unit vectors lie in [0, 4]
    assert 0 < d <= 4
    # gradients reach the images, not the backbone
    x = a.clone().requires_grad_(True)
    perc(x, torch.rand_like(a)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in perc.parameters())


def test_vgg_perceptual_runs_a_target_once_and_without_gradient(vgg_file):
    perc = create_perceptual("vgg16", weights=str(vgg_file), scales=2)
    calls = []
    perc.features[0].register_forward_hook(lambda m, i, o: calls.append((i[0].shape[0], torch.is_grad_enabled())))
    torch.manual_seed(1)
    target = torch.rand(2, 3, 32, 32)
    renders = [torch.rand(2, 3, 32, 32, requires_grad=True) for _ in range(2)]
    mask = (torch.rand(2, 1, 32, 32) > 0.3).float()
    got = [perc(x, target, mask) for x in renders]  # reconstruction and flip share G(w)
    # the target's 2 scales ran once, without gradient; each render's 2 scales with it
    assert sorted(calls, key=str) == sorted([(2, False)] * 2 + [(2, True)] * 4, key=str)
    sum(got).backward()
    # the same values and gradients as one joint pass of both images (a target with grad)
    for x, value in zip(renders, got):
        y = x.detach().clone().requires_grad_(True)
        want = perc(y, target.clone().requires_grad_(True), mask)
        want.backward()
        assert torch.allclose(value, want, rtol=1e-5, atol=1e-7)
        assert torch.allclose(x.grad, y.grad, rtol=1e-4, atol=1e-9)
    target.add_(0.1)  # changed in place: not the cached target any more
    calls.clear()
    perc(renders[0], target)
    assert (2, False) in calls
    # an image compared with gradient, then as a detached target (perturbations (a), (b))
    calls.clear()
    teacher = torch.rand(2, 3, 32, 32, requires_grad=True)
    first = perc(teacher, target)
    second = perc(renders[1], teacher.detach())
    assert [c for c in calls if not c[1]] == []  # G(w')'s taps were reused, not recomputed
    assert torch.allclose(second, perc(renders[1].detach(), teacher.detach().clone()), rtol=1e-5)
    assert first.requires_grad and second.requires_grad


def test_vgg_weights_errors(tmp_path, vgg_file, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError) as err:
        load_vgg16_features("", repo="nobody/no-such-repo")
    msg = str(err.value)
    assert "distance.perceptual_weights" in msg and '"ssim"' in msg and '"none"' in msg
    with pytest.raises(RuntimeError, match="does not exist"):
        load_vgg16_features(str(tmp_path / "missing.pth"))
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, wrong)
    with pytest.raises(ValueError, match="missing keys"):
        load_vgg16_features(str(wrong))


def test_image_distance_is_l1_plus_weighted_perceptual():
    torch.manual_seed(0)
    a, b = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    ssim = SSIMDistance(scales=2)
    d = ImageDistance(l1=2.0, perceptual=ssim, perceptual_weight=0.5)
    assert torch.isclose(d(a, b), 2.0 * masked_l1(a, b) + 0.5 * ssim(a, b))
    assert d(a, a) < 1e-6
    recipe = load_recipe("synthetic")
    assert isinstance(ImageDistance.from_recipe(recipe.distance).perceptual, SSIMDistance)
    none = ImageDistance.from_recipe(load_recipe("synthetic", {"distance.perceptual": "none"}).distance)
    assert none.perceptual is None and torch.isclose(none(a, b), masked_l1(a, b))


def test_reconstruction_and_flip_read_their_renders():
    target = torch.full((1, 3, 4, 4), 0.5)
    image = target.clone()
    image[..., 0] = 1.0  # first column off by 0.5 -> L1 = 0.5 / 4
    mask = torch.ones(1, 1, 4, 4)
    d = ImageDistance(perceptual=None)
    ctx = LossContext(target=target, rendered=rendered(image, mask), flipped=rendered(target.clone(), mask))
    assert torch.isclose(Reconstruction(d)(ctx), torch.tensor(0.125))
    assert Flip(d)(ctx) == 0
    mask[..., 0] = 0
    assert Reconstruction(d)(ctx) == 0


def test_perturbation_terms_route_gradients():
    d = ImageDistance(perceptual=SSIMDistance(scales=1))
    teacher_p = torch.rand(2, 3, 8, 8, requires_grad=True)
    render_p = torch.rand(2, 3, 8, 8, requires_grad=True)
    re_render = torch.rand(2, 3, 8, 8, requires_grad=True)
    ctx = LossContext(teacher_perturbed=teacher_p, perturbed_target=rendered(render_p), re_rendered=rendered(re_render))
    PerturbationA(d)(ctx).backward()  # G(w') follows the stopped render
    assert teacher_p.grad.abs().sum() > 0 and render_p.grad is None and re_render.grad is None
    teacher_p.grad = None
    PerturbationB(d)(ctx).backward()  # the re-estimated render follows the stopped G(w')
    assert re_render.grad.abs().sum() > 0 and teacher_p.grad is None and render_p.grad is None


def test_cycle_known_value_in_unit_space():
    view_p = torch.tensor([[10.0, -20.0, 0.0, 0.01, 0.0, 0.0]])
    est = view_p + torch.tensor([[6.0, 0.0, 0.0, 0.05, 0.0, 0.0]])  # 6 deg = 0.1 unit
    light = torch.tensor([[0.5, 0.5, 0.2, -0.1]])
    ctx = LossContext(view_estimate_m=est, view_perturb=view_p, light_estimate_m=light.clone(), light_perturb=light,
                      view_scale=torch.tensor([60.0, 60, 60, 0.1, 0.1, 0.01]),
                      light_scale=torch.tensor([0.5, 0.5, 1.0, 1.0]))
    assert torch.isclose(Cycle()(ctx), torch.tensor(0.01 / 3))  # translation ignored
    assert torch.isclose(Cycle(rotation_only=False)(ctx), torch.tensor((0.01 + 0.25) / 6))
    ctx.light_estimate_m = light + torch.tensor([[0.05, 0.0, 0.0, 0.0]])  # 0.1 unit of ambient
    assert torch.isclose(Cycle()(ctx), torch.tensor(0.01 / 3 + 0.01 / 4))


def test_neutral_cycle_known_value_in_unit_space():
    # 6 deg of pitch = 0.1 unit, 3 deg of roll = 0.05 unit; translations are not compared
    view = torch.tensor([[6.0, 0.0, 3.0, 0.05, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.05, 0.0]])
    light = torch.tensor([[0.9, 0.4, 0.2, 0.0], [0.3, 0.1, 0.0, -0.1]])  # intensities not compared
    ctx = LossContext(view_estimate_neutral=view, light_estimate_neutral=light,
                      view_scale=torch.tensor([60.0, 60, 60, 0.1, 0.1, 0.01]),
                      light_scale=torch.tensor([1.0, 1.0, 0.5, 0.5]))
    rotation = (0.1**2 + 0.05**2) / 6
    direction = (0.4**2 + 0.2**2) / 4
    assert torch.isclose(NeutralCycle()(ctx), torch.tensor(rotation + direction))
    assert torch.isclose(NeutralCycle(light=False)(ctx), torch.tensor(rotation))
    still = LossContext(view_estimate_neutral=torch.zeros(2, 6), light_estimate_neutral=torch.zeros(2, 4),
                        view_scale=ctx.view_scale, light_scale=ctx.light_scale)
    assert NeutralCycle()(still) == 0


def test_code_cycle_known_value_in_normalised_units():
    w = torch.zeros(2, 4)
    scale = torch.tensor([1.0, 1.0, 2.0, 2.0])
    own = w + torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])  # 1 std off in 1 of 8: 1/8
    back = w + torch.tensor([[0.0, 0.0, 4.0, 0.0], [0.0, 0.0, 0.0, 2.0]])  # (2^2 + 1^2) / 8
    ctx = LossContext(w=w, code_own=own, code_return=back, code_scale=scale)
    assert torch.isclose(CodeCycle()(ctx), torch.tensor(1 / 8 + 5 / 8))
    assert torch.isclose(CodeCycle(round_trip=False)(ctx), torch.tensor(1 / 8))
    assert torch.isclose(CodeCycle(own_view=False)(ctx), torch.tensor(5 / 8))
    assert CodeCycle(own_view=False).requires == ("w", "code_scale", "code_return")
    assert CodeCycle(round_trip=False)(LossContext(w=w, code_own=w.clone(), code_scale=scale)) == 0
    with pytest.raises(ValueError, match="own_view or round_trip"):
        CodeCycle(own_view=False, round_trip=False)


def test_prior_term_uses_the_gaussian_penalty():
    from ganlift.priors.gaussian import GaussianPrior

    prior = GaussianPrior(mean=torch.zeros(4), std=torch.full((4,), 2.0))
    w = torch.full((3, 4), 2.0)  # (w - mu)^2 / (2 sigma^2) = 4 / 8 per element
    ctx = LossContext(w_perturb=w, prior_penalty=prior.penalty)
    assert torch.isclose(Prior()(ctx), torch.tensor(0.5))
    ctx = LossContext(w_perturb=torch.zeros(3, 4), prior_penalty=prior.penalty)
    assert Prior()(ctx) == 0


def test_albedo_rank_known_values():
    term = AlbedoRank(size=64, blur=5)
    flat = torch.full((3, 3, 16, 16), 0.4)
    mask = torch.ones(3, 1, 16, 16)
    assert term(LossContext(albedo=flat, object_mask=mask)) < 1e-6  # no high frequencies
    torch.manual_seed(0)
    pattern = torch.rand(1, 3, 16, 16)
    same = pattern.expand(3, -1, -1, -1).clone()
    high = term.high_pass(same, mask).flatten(1)
    # identical maps: rank one, nuclear norm = Frobenius norm
    assert torch.isclose(term(LossContext(albedo=same, object_mask=mask)), high.norm(), rtol=1e-4)
    different = torch.rand(3, 3, 16, 16)
    h = term.high_pass(different, mask).flatten(1)
    value = term(LossContext(albedo=different, object_mask=mask))
    assert h.norm() < value <= h.norm(dim=1).sum() + 1e-5
    # the mask removes what is outside the object, pooling caps the matrix width
    assert term(LossContext(albedo=different, object_mask=torch.zeros_like(mask))) == 0
    assert AlbedoRank(size=8).high_pass(different, mask).shape == (3, 1, 8, 8)


class Flat(nn.Module):
    """A stand-in embedding network: the image itself, flattened."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(x * self.scale).flatten(1)


def test_identity_known_value_selection_and_empty_selection():
    term = Identity(Flat(), size=4, yaw_range=25.0)
    term.train()
    assert not term.network.training and not term.network.scale.requires_grad
    texture = torch.rand(3, 3, 4, 4)
    render = texture.clone()
    render[1] = torch.rand(3, 4, 4)  # sample 1 differs
    render[2] = 1 - texture[2]  # sample 2 differs but is out of range
    yaw = torch.tensor([[0.0, 10.0, 0, 0, 0, 0], [0.0, -24.0, 0, 0, 0, 0], [0.0, 30.0, 0, 0, 0, 0]])
    ctx = LossContext(texture=texture, perturbed=rendered(render), view_perturb=yaw)
    e = term.embed(torch.stack([texture[1], render[1]]))
    expected = ((e[0] - e[1]) ** 2).sum() / 2  # mean over the two samples in range
    assert torch.isclose(term(ctx), expected)
    ctx = LossContext(texture=texture, perturbed=rendered(render), view_perturb=yaw * 0 + 40.0)
    empty = term(ctx)
    assert empty == 0 and torch.isfinite(empty)


def test_identity_from_a_timm_name_and_weights_file(tmp_path):
    import timm
    from safetensors.torch import save_file

    net = timm.create_model("test_resnet", pretrained=False, num_classes=16)
    path = tmp_path / "face.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    term = Identity(model="test_resnet", weights=str(path), embedding_dim=16, size=32)
    assert all(not p.requires_grad for p in term.parameters())
    with pytest.raises(RuntimeError) as err:
        Identity(model="test_resnet", weights="", embedding_dim=16)
    assert "losses.identity.weights" in str(err.value) and "losses.identity = 0" in str(err.value)
    with pytest.raises(ValueError, match="do not fit"):
        Identity(model="test_resnet", weights=str(path), embedding_dim=8)


class Const(nn.Module):
    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, ctx):
        return torch.tensor(self.value)


def test_lossset_weighted_total_named_terms_and_nan():
    ls = LossSet({"a": Const(2.0), "b": Const(3.0)}, {"a": 0.5, "b": 2.0})
    total, terms = ls(LossContext())
    assert total == 7.0 and terms == {"a": 2.0, "b": 3.0}
    with pytest.raises(FloatingPointError, match="b"):
        LossSet({"a": Const(1.0), "b": Const(float("nan"))})(LossContext())
    with pytest.raises(ValueError, match="unknown terms"):
        LossSet({"a": Const(1.0)}, {"c": 1.0})


def test_lossset_from_recipe_builds_only_enabled_terms():
    cats = load_recipe("cats", {"distance.perceptual": "ssim"})
    ls = LossSet.from_recipe(cats)
    assert set(ls.terms) == {"reconstruction", "flip", "perturbation_b", "perturbation_a", "cycle", "prior", "albedo_rank"}
    assert ls.weights["flip"] == 4.0 and ls.weights["prior"] == 0.1
    # the image terms share one distance (one perceptual network)
    assert ls.terms["reconstruction"].distance is ls.terms["perturbation_a"].distance
    assert set(LossSet.from_recipe(load_recipe("synthetic")).terms) == {"reconstruction", "flip", "albedo_rank"}
    assert set(LossSet.from_recipe(load_recipe(cats, {"flip": 0})).terms) == set(ls.terms) - {"flip"}
    # identity switched on without weights: the error says how to fix it
    with pytest.raises(RuntimeError, match="losses.identity.weights"):
        LossSet.from_recipe(load_recipe("synthetic", {"identity": 1.0}))
    with pytest.raises(RuntimeError, match="distance.perceptual_weights"):
        LossSet.from_recipe(load_recipe("synthetic", {"distance.perceptual": "vgg16",
                                                      "distance.perceptual_repo": "nobody/none"}))


def test_custom_registered_term_in_a_recipe():
    @LOSSES.register("_test_const", overwrite=True)
    class ConstTerm(nn.Module):
        def __init__(self, *, value: float = 1.0):
            super().__init__()
            self.value = value

        def forward(self, ctx):
            return torch.tensor(self.value)

    recipe = load_recipe("synthetic", {"losses": {"_test_const": {"weight": 2.0, "value": 3.0}}})
    ls = LossSet.from_recipe(recipe)
    assert ls.terms["_test_const"](None) == 3.0 and ls.weights["_test_const"] == 2.0
    with pytest.raises(ValueError, match="allowed keys: weight, start, ramp, value"):
        load_recipe("synthetic", {"losses": {"_test_const": {"valeu": 3.0}}})


def test_loss_context_is_lazy_and_names_what_it_has():
    calls = []
    ctx = LossContext(lazy={"x": lambda: calls.append(1) or 5}, y=2)
    assert calls == [] and "x" in ctx and ctx.computed() == ["y"]
    assert ctx.x == 5 and ctx.x == 5 and calls == [1]
    with pytest.raises(AttributeError, match="provides: x, y"):
        ctx.z
