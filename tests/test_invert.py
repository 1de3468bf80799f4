"""GAN inversion (ganlift.invert), lifting photos (lifter.reconstruct), style mixing, the
figure 5 / figure 9 helpers and ``ganlift reconstruct``, on tiny teachers and lifters."""

from __future__ import annotations

import json
import logging
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import ganlift
from ganlift import export
from ganlift.invert import (
    Inversion,
    OutOfDistributionWarning,
    invert,
    load_code,
    prepare_images,
    residual_threshold,
    save_code,
)
from ganlift.lifter.controls import LiftedSample
from ganlift.lifter.reconstruct import (
    StyleMixingWarning,
    as_codes,
    layer_range,
    mix_styles,
    render_codes,
    transfer_style,
)
from tiny_lifter import TINY_OVERRIDES, tiny_lifter

FAST = {"progress": False, "candidates": 8}


@pytest.fixture(scope="module")
def teacher16():
    return ganlift.load_teacher("synthetic-faces", resolution=16, w_mean_samples=2048)


@pytest.fixture(scope="module")
def stylegan16():
    from ganlift.teachers.stylegan2 import random_stylegan2

    return random_stylegan2(resolution=16, w_dim=32, n_mlp=2, w_mean_samples=512)


@pytest.fixture(scope="module")
def lifter():
    return tiny_lifter()


@pytest.fixture(scope="module")
def sg_lifter(stylegan16):
    from ganlift.lifter.model import Lifter
    from ganlift.recipe import load_recipe

    torch.manual_seed(0)
    return Lifter(stylegan16, load_recipe("synthetic", overrides=TINY_OVERRIDES)).eval()


def _images(teacher, w):
    with torch.no_grad():
        return ((teacher.synthesis(w) + 1) / 2).clamp(0, 1)


# ---------------------------------------------------------------------------- inversion


def test_inversion_recovers_a_known_code(stylegan16):
    w_true = stylegan16.sample_w(2, seed=1234, psi=0.7)
    result = invert(stylegan16, _images(stylegan16, w_true), steps=60, restarts=1, **FAST)
    assert isinstance(result, Inversion) and len(result) == 2
    assert result.codes.shape == (2, stylegan16.w_dim) and result.space == "w"
    assert torch.equal(result.w, result.codes)
    assert result.residual.shape == (2,) and bool((result.residual < 0.01).all()), result.residual
    assert not bool(result.out_of_distribution.any())
    # the code itself comes back, not only its image
    start = ((stylegan16.w_mean - w_true) / stylegan16.w_std).abs().mean(1)
    found = ((result.codes - w_true) / stylegan16.w_std).abs().mean(1)
    assert bool((found < 0.2 * start).all()), (found, start)
    torch.testing.assert_close(result.images, _images(stylegan16, result.codes), atol=1e-5, rtol=0)


def test_inversion_of_a_synthetic_image_recovers_its_pose(teacher16):
    w_true = teacher16.sample_w(2, seed=1234, psi=0.7)  # yaws about -5 and -29 degrees
    result = invert(teacher16, _images(teacher16, w_true), steps=40, restarts=2, progress=False)
    assert bool((result.residual < 0.03).all()), result.residual
    true, found = teacher16.factors(w_true), teacher16.factors(result.codes)
    for angle in ("pitch", "yaw"):  # 16 px images pin the pose down to a few degrees
        assert bool(((found[angle] - true[angle]).abs() < 5.0).all()), (angle, found[angle], true[angle])


def test_inversion_is_seeded_and_batched(teacher16):
    images = _images(teacher16, teacher16.sample_w(3, seed=7))
    a = invert(teacher16, images, steps=3, restarts=3, seed=5, batch_size=2, threshold=1.0, **FAST)
    b = invert(teacher16, list(images), steps=3, restarts=3, seed=5, batch_size=3, threshold=1.0, **FAST)
    torch.testing.assert_close(a.codes, b.codes, atol=1e-5, rtol=0)
    assert a.restart.shape == (3,) and bool((a.restart < 3).all())
    zero = invert(teacher16, images[:1], steps=0, restarts=1, threshold=1.0, **FAST)  # steps=0: the mean code
    torch.testing.assert_close(zero.codes, teacher16.w_mean)


def test_w_plus_shapes(teacher16, stylegan16):
    images = _images(stylegan16, stylegan16.sample_w(2, seed=0))
    plus = invert(stylegan16, images, "w+", steps=2, restarts=2, threshold=1.0, **FAST)
    assert plus.codes.shape == (2, stylegan16.num_ws, stylegan16.w_dim) and plus.space == "w+"
    assert plus.residual.shape == (2,) and plus.images.shape == (2, 3, 16, 16)
    init = stylegan16.sample_w(2, seed=3)[:, None].expand(-1, stylegan16.num_ws, -1)
    again = invert(stylegan16, images, "w+", steps=1, restarts=1, init=init, threshold=1.0, **FAST)
    assert again.codes.shape == init.shape
    single = invert(teacher16, _images(teacher16, teacher16.sample_w(1, seed=0)), "w+", steps=1, threshold=1.0,
                    **FAST)
    assert single.codes.shape == (1, 1, teacher16.w_dim)
    with pytest.raises(ValueError, match="space"):
        invert(stylegan16, images, "z", **FAST)
    with pytest.raises(ValueError, match="init must have shape"):
        invert(stylegan16, images, "w", init=init, **FAST)


# ---------------------------------------------------------------------------- inputs


def test_inputs_of_every_kind_and_size(tmp_path, caplog):
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "wide.png")
    Image.fromarray(rgb[:, :, 0], mode="L").save(tmp_path / "grey.png")
    tensor = torch.from_numpy(rgb).permute(2, 0, 1)
    with caplog.at_level(logging.WARNING, logger="ganlift.invert"):
        batch = prepare_images([tmp_path / "wide.png", str(tmp_path / "grey.png"), Image.fromarray(rgb), rgb,
                                tensor, tensor.float() / 255, (tensor.float() / 255)[None]], 16)  # fmt: skip
    assert batch.shape == (7, 3, 16, 16) and batch.dtype == torch.float32
    assert 0 <= float(batch.min()) and float(batch.max()) <= 1
    torch.testing.assert_close(batch[0], batch[2])  # file, PIL image, array and tensors agree
    torch.testing.assert_close(batch[0], batch[4], atol=1e-6, rtol=0)
    assert "not square" in caplog.text and "30x20" in caplog.text and "centre-cropped" in caplog.text
    square = prepare_images(torch.rand(2, 3, 40, 40), 16)
    assert square.shape == (2, 3, 16, 16)
    for fit in ("stretch", "pad"):
        assert prepare_images(tensor, 16, fit=fit).shape == (1, 3, 16, 16)


@pytest.mark.parametrize("make, error, match", [
    (lambda p: (p / "empty.png").write_bytes(b"") or p / "empty.png", ValueError, r"images: .* is empty"),
    (lambda p: (p / "notes.png").write_text("not an image") and p / "notes.png", ValueError, "not an image"),
    (lambda p: p / "missing.png", FileNotFoundError, "images: no such image file"),
    (lambda p: torch.rand(1, 4, 16, 16), ValueError, "images: images must have 3 channels.*alpha"),
    (lambda p: torch.rand(2, 1, 16, 16), ValueError, "3 channels.*grey"),
    (lambda p: torch.rand(16, 16, 3), ValueError, "3 channels.*channels must come first"),
    (lambda p: Image.new("RGB", (1, 1)), ValueError, "1x1 pixels"),
    (lambda p: torch.rand(3, 1, 1), ValueError, "1x1 pixels"),
    (lambda p: [], ValueError, "images is empty"),
    (lambda p: [torch.rand(3, 8, 8), 5], TypeError, r"images\[1\] must be a file path"),
    (lambda p: torch.full((3, 8, 8), float("nan")), ValueError, "NaN"),
    (lambda p: torch.rand(3, 8, 8) * 2 - 1, ValueError, r"\[0, 1\]"),
    (lambda p: np.zeros((8, 8, 2), np.uint8), ValueError, r"\(H, W, 3\)"),
])  # fmt: skip
def test_bad_inputs_give_named_errors(tmp_path, teacher16, make, error, match):
    with pytest.raises(error, match=match):
        invert(teacher16, make(tmp_path), steps=1, **FAST)


def test_bad_options_are_named(teacher16):
    image = torch.rand(1, 3, 16, 16)
    for options, match in (({"steps": -1}, "steps"), ({"restarts": 0}, "restarts"), ({"lr": -1.0}, "lr"),
                           ({"l1": 0, "ssim": 0}, "nothing compares"), ({"fit": "zoom"}, "fit"),
                           ({"perceptual": "lpips"}, "perceptual"), ({"prune": 2.0}, "prune")):  # fmt: skip
        with pytest.raises(ValueError, match=match):
            invert(teacher16, image, **{**FAST, **options})
    with pytest.raises(TypeError, match="teacher must be"):
        invert(object(), image, **FAST)
    with pytest.raises(ValueError, match="lifted > 0 .* must be a Lifter"):
        invert(teacher16, image, lifted=1.0, **FAST)
    with pytest.raises(ValueError, match="lifted"):
        invert(teacher16, image, lifted=-1.0, **FAST)


def test_the_lifted_term_prefers_codes_the_lifter_explains(lifter):
    from ganlift.invert import image_loss
    from ganlift.lifter.networks import resize

    image = _images(lifter.teacher, lifter.sample_w(2, seed=5))  # the teacher's 32 px
    options = {**FAST, "steps": 30, "restarts": 1}

    def own_distance(inversion):  # the lifter renders at 16 px
        with torch.no_grad():
            return image_loss(resize(lifter(inversion.codes).rendered.image, image.shape[-1]), image).mean()

    plain, lifted = invert(lifter, image, **options), invert(lifter, image, lifted=4.0, **options)
    assert own_distance(lifted) < own_distance(plain)
    with pytest.raises(ValueError, match="space='w'"):
        invert(lifter, image, space="w+", lifted=1.0, **FAST)


def test_out_of_distribution_images_warn_and_still_give_a_result(teacher16):
    noise = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    threshold = residual_threshold(teacher16)
    assert 0 < threshold < 0.2 and residual_threshold(teacher16) == threshold  # cached
    with pytest.warns(OutOfDistributionWarning, match=r"residual L1 of 0\.\d+"):
        result = invert(teacher16, noise, steps=5, **FAST)
    assert bool(result.out_of_distribution[0]) and float(result.residual[0]) > threshold
    assert result.codes.shape == (1, teacher16.w_dim) and bool(torch.isfinite(result.codes).all())


def test_codes_round_trip_through_safetensors(tmp_path, teacher16):
    result = invert(teacher16, torch.rand(2, 3, 16, 16), steps=0, restarts=1, threshold=1.0, **FAST)
    save_code(tmp_path / "code.safetensors", result, image="x.png")
    torch.testing.assert_close(load_code(tmp_path / "code.safetensors"), result.codes.cpu())
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a safetensors code file"):
        load_code(tmp_path / "bad.safetensors")


# ---------------------------------------------------------------------------- lifting photos


def test_reconstruct_returns_a_lifted_sample_that_every_control_accepts(lifter, tmp_path):
    photo = _images(lifter.teacher, lifter.codes(1, seed=3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfDistributionWarning)  # a few steps only
        out, inversion = lifter.reconstruct(photo, steps=4, restarts=2, progress=False, return_inversion=True,
                                            yaw=20, light=(30, 20), invert_options={"candidates": 8})  # fmt: skip
    assert isinstance(out, LiftedSample) and isinstance(inversion, Inversion)
    assert out.image.shape == (1, 3, 16, 16) and out.w.shape == (1, lifter.w_dim)
    torch.testing.assert_close(out.w, inversion.codes)
    assert float(out.view[0, 1]) == pytest.approx(20.0)
    # the fitted code works with every control, the exports and the turntable
    again = lifter.render(out.w, yaw=-20, pitch=10, roll=5, light=(-30, 10), ambient=0.3, diffuse=0.7)
    assert torch.isfinite(again.image).all() and float(again.view[0, 0]) == pytest.approx(10.0)
    torch.testing.assert_close(lifter.render(out.w, yaw=20, light=(30, 20)).image, out.image)
    assert export.to_obj(lifter, tmp_path / "photo.obj", out.w)[0].is_file()
    assert export.turntable(lifter, None, out.w, frames=4).shape == (4, 3, 16, 16)
    with pytest.raises(ValueError, match="W"):
        lifter.reconstruct(photo, steps=1, progress=False, invert_options={"space": "w+"})


# ---------------------------------------------------------------------------- style mixing


def test_style_mixing_by_layer_and_the_w_plus_render(sg_lifter, stylegan16):
    n = stylegan16.num_ws
    assert layer_range(stylegan16, "coarse") == (0, 2) and layer_range(stylegan16, "fine") == (4, 6)
    assert layer_range(stylegan16, (1, 3)) == (1, 3)
    with pytest.raises(ValueError, match="layers"):
        layer_range(stylegan16, (4, 9))
    w = sg_lifter.codes(2, seed=1)
    mixed = mix_styles(sg_lifter, w[:1], w[1:], "fine")
    assert mixed.shape == (1, n, stylegan16.w_dim)
    assert torch.equal(mixed[0, :4], w[0].expand(4, -1)) and torch.equal(mixed[0, 4:], w[1].expand(2, -1))
    # a W+ code whose layers are all equal renders exactly like its W code
    plain = sg_lifter.render(w, yaw=15, light=(20, 10))
    plus = render_codes(sg_lifter, w[:, None].expand(-1, n, -1), yaw=15, light=(20, 10))
    torch.testing.assert_close(plus.image, plain.image, atol=1e-5, rtol=0)
    out = transfer_style(sg_lifter, w[:1], w[1:], layers="coarse", yaw=-10)
    assert out.image.shape == (1, 3, 16, 16) and float(out.view[0, 1]) == pytest.approx(-10.0)
    with pytest.raises(TypeError, match="unknown controls"):
        render_codes(sg_lifter, mixed, spin=3)


def test_single_layer_teachers_say_mixing_needs_w_plus(lifter):
    with pytest.raises(ValueError, match="num_ws > 1"):
        mix_styles(lifter, lifter.codes(1, seed=0), lifter.codes(1, seed=1))
    with pytest.warns(StyleMixingWarning, match="num_ws > 1.*interpolated"):
        out = transfer_style(lifter, 0, 1, alpha=0.5, yaw=10)
    expected = lifter.render((lifter.codes(1, seed=0) + lifter.codes(1, seed=1)) / 2, yaw=10)
    torch.testing.assert_close(out.image, expected.image)


def test_as_codes_reads_seeds_codes_and_inversions(lifter):
    assert as_codes(lifter, 3).shape == (1, lifter.w_dim)
    assert as_codes(lifter, [1, 2, 3]).shape == (3, lifter.w_dim)
    assert as_codes(lifter, torch.zeros(lifter.w_dim)).shape == (1, lifter.w_dim)
    with pytest.raises(TypeError, match="seed"):
        as_codes(lifter, 2.5)


# ---------------------------------------------------------------------------- figures


def test_figure_5_and_figure_9_layouts(lifter, sg_lifter, tmp_path):
    fig5 = export.interpolation_figure(lifter, tmp_path / "fig5.png", a=0, b=1, steps=5)
    assert (tmp_path / "fig5.png").is_file()
    width, height = fig5.size
    assert width > 5 * 18 and height > 3 * 18  # 5 columns, 3 rows (frontal, rotated, shape)
    frames = export.interpolation_animation(lifter, tmp_path / "fig5.gif", 0, 1, frames=4)
    assert frames.shape == (4, 3, 16, 3 * 16 + 4) and (tmp_path / "fig5.gif").is_file()
    fig9 = export.style_transfer_figure(sg_lifter, tmp_path / "fig9.png", content=[0, 1], style=[2, 3],
                                        yaws=[-20, 20], labels=False)  # fmt: skip
    # 1 + 2 styles x 2 yaws columns (plus group gaps), 1 + 2 content rows, 16 px tiles
    assert fig9.size == (2 + 5 * 18 + 2 * 6, 3 * 18 + 2)
    with pytest.warns(StyleMixingWarning):
        export.style_transfer_figure(lifter, None, content=[0], style=[1], yaws=[0])
    rec = export.reconstruction_figure(lifter, None, lifter.codes(2, seed=0), labels=False)
    assert rec.size[1] == 2 * 18 + 2


# ---------------------------------------------------------------------------- command line


def test_cli_reconstruct_writes_its_files_and_keeps_existing_ones(lifter, tmp_path, capsys):
    from ganlift.cli import main

    folder = tmp_path / "lifter"
    lifter.save_pretrained(folder)
    photo = tmp_path / "photo.png"
    Image.fromarray((_images(lifter.teacher, lifter.codes(1, seed=2))[0] * 255).byte().permute(1, 2, 0).numpy()).save(photo)
    out = tmp_path / "out"
    argv = ["reconstruct", "--lifter", str(folder), "--image", str(photo), "--out", str(out), "--steps", "2",
            "--restarts", "1", "--frames", "3", "--quiet", "--device", "cpu"]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(argv) == 0
    for name in ("code.safetensors", "depth.png", "normal.png", "turntable.gif", "relight.gif", "mesh.obj",
                 "mesh.mtl", "mesh.png", "input.png", "fit.png", "render.png", "overview.png", "reconstruct.json"):
        assert (out / name).is_file(), name
    assert load_code(out / "code.safetensors").shape == (1, lifter.w_dim)
    report = json.loads((out / "reconstruct.json").read_text())
    assert report["residual_l1"] >= 0 and "threshold" in report
    assert Image.open(out / "turntable.gif").n_frames == 3
    capsys.readouterr()
    before = (out / "depth.png").stat().st_mtime_ns
    argv[argv.index("--steps") + 1] = "0"
    assert main(argv) == 1  # refuses to overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "depth.png").stat().st_mtime_ns == before
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(argv + ["--overwrite", "--mesh-format", "ply"]) == 0
    assert (out / "mesh.ply").is_file()


# ---------------------------------------------------------------------------- docs


def test_photo_page_code_runs(lifter, tmp_path, monkeypatch):
    """docs/photo.md's Python blocks, on a tiny lifter with two inversion steps."""
    import sys

    from test_docs import DOCS, code_blocks

    monkeypatch.chdir(tmp_path)
    for name, seed in (("photo.png", 1), ("other.png", 2)):
        image = _images(lifter.teacher, lifter.codes(1, seed=seed))[0]
        Image.fromarray((image * 255).round().byte().permute(1, 2, 0).numpy()).save(name)
    real = sys.modules["ganlift.invert"].invert

    def quick(teacher, images, space="w", steps=None, **options):
        return real(teacher, images, space, 2, **{**options, "progress": False, "candidates": 4})

    monkeypatch.setattr(sys.modules["ganlift.invert"], "invert", quick)
    monkeypatch.setattr(ganlift, "invert", quick)
    shrink = {'ganlift.Lifter.from_pretrained("runs/demo")': "_tiny", "frames=24": "frames=4", "steps=7": "steps=3",
              "yaws=[-30, 0, 30]": "yaws=[0]"}  # fmt: skip
    blocks = []
    for code in code_blocks(DOCS / "photo.md"):
        for old, new in shrink.items():
            code = code.replace(old, new)
        blocks.append(code)
    assert len(blocks) >= 4 and "_tiny" in blocks[0]
    namespace: dict = {"__name__": "docs_photo", "_tiny": lifter}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two steps fit badly; single-w teachers interpolate
        for i, code in enumerate(blocks):
            try:
                exec(compile(code, f"photo.md[block {i}]", "exec"), namespace)
            except Exception as err:  # pragma: no cover - the message is the point
                raise AssertionError(f"photo.md block {i} failed:\n{code}") from err
    assert (tmp_path / "fig5.png").is_file() and (tmp_path / "fig9.png").is_file()
