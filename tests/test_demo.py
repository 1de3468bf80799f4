"""The browser demo (``ganlift demo``): its logic, the Space folder, and the page in a real browser.

The browser test serves the demo of a tiny lifter on 127.0.0.1 and drives Debian's headless
``chromium`` (``/usr/bin/chromium``) with Playwright for Python; no browser is downloaded.
It skips, saying why, where Gradio, Playwright or the browser are missing, except with
``GANLIFT_REQUIRE_BROWSER=1`` (set by ``.ci/run``), where a missing piece fails it. It saves
a screenshot of the page to ``docs/images/demo.png`` (the docs' picture of the demo);
``GANLIFT_DEMO_LIFTER=DIR`` runs it with a trained lifter instead of the tiny one.
"""

from __future__ import annotations

import io
import os
import re
import socket
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from ganlift.demo import CONTROLS, DemoSession, parse_seed, write_space  # noqa: E402
from ganlift.export import normal_to_rgb  # noqa: E402
from ganlift.utils.images import to_uint8  # noqa: E402
from tiny_lifter import tiny_lifter  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "images" / "demo.png"
# Gradio's queue uses pandas options that pandas 3 deprecates: not ganlift's to fix.
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")


@pytest.fixture(scope="module")
def lifter():
    return tiny_lifter()


def _values(session: DemoSession, seed: int, **changes: float) -> dict[str, float]:
    values = session.predicted_controls(seed)
    values.update(changes)
    return values


# ---------------------------------------------------------------------------- logic, no Gradio


def test_parse_seed_accepts_whole_numbers_and_explains_the_rest():
    assert parse_seed("42") == 42 and parse_seed(" 7 ") == 7 and parse_seed(3) == 3 and parse_seed(5.0) == 5
    assert parse_seed(str(2**32 - 1)) == 2**32 - 1
    for bad in ("abc", "1.5", "", "  ", None, "1e3", "0x10", "-1", str(2**32)):
        with pytest.raises(ValueError, match="seed must be"):
            parse_seed(bad)


def test_render_maps_equals_render_and_checks_its_maps(lifter):
    w = lifter.codes(2, seed=4)
    maps = lifter.predict(w)
    for controls in ({}, {"yaw": 30, "pitch": -10}, {"yaw": 5, "relative": True},
                     {"light": (30, 20), "ambient": 0.3, "diffuse": 0.8}, {"translation": "zero"}):  # fmt: skip
        a, b = lifter.render_maps(w, maps, **controls), lifter.render(w, **controls)
        for name in a.keys():
            torch.testing.assert_close(a[name], b[name], atol=0, rtol=0, msg=name)
    with pytest.raises(ValueError, match="lacks albedo"):
        lifter.render_maps(w, {k: v for k, v in maps.items() if k != "albedo"})
    with pytest.raises(ValueError, match="2 samples but w has 1"):
        lifter.render_maps(w[:1], maps)
    with pytest.raises(ValueError, match="yaw must be a finite angle"):
        lifter.render_maps(w, maps, yaw=120)


def test_slider_moves_rerender_cached_maps_without_the_networks(lifter, monkeypatch, tmp_path):
    session = DemoSession(lifter, workdir=tmp_path)
    calls = []
    predict = lifter.predict
    monkeypatch.setattr(lifter, "predict", lambda w: calls.append(1) or predict(w))
    first = session.render(3, **_values(session, 3))
    for yaw in (-20.0, 0.0, 30.0):
        values = _values(session, 3, yaw=yaw, azimuth=20.0, ambient=0.3)
        shown = session.render(3, **values)
        monkeypatch.setattr(lifter, "predict", predict)
        expected = lifter.sample(1, 3, **DemoSession.sample_controls(values))
        monkeypatch.setattr(lifter, "predict", lambda w: calls.append(1) or predict(w))
        torch.testing.assert_close(shown.image, expected.image, atol=0, rtol=0)
        assert not torch.equal(shown.image, first.image)
    assert len(calls) == 1  # the networks ran once, for the first render of the seed
    views = session.views(shown, 3)
    assert set(views) == {"render", "depth", "normal", "albedo", "shading", "teacher"}
    k = session.display_size // 16
    for name, image in views.items():
        assert image.shape == (16 * k, 16 * k, 3) and image.dtype == np.uint8, name
    np.testing.assert_array_equal(views["render"][::k, ::k], to_uint8(shown.image)[0])


def test_session_checks_the_controls_and_caches_few_seeds(lifter, tmp_path):
    session = DemoSession(lifter, cache_size=2, workdir=tmp_path)
    ranges = lifter.trained_ranges()
    assert session.ranges["yaw"].maximum == ranges["yaw"] and session.ranges["pitch"].minimum == -ranges["pitch"]
    values = _values(session, 0)
    assert set(values) == set(CONTROLS)
    for name, value in values.items():
        r = session.ranges[name]
        assert r.minimum <= value <= r.maximum, name
    yaw = f"{ranges['yaw']:g}"
    with pytest.raises(ValueError, match=rf"yaw must be within \[-{yaw}, {yaw}\], got 500"):
        session.render(0, **{**values, "yaw": 500})
    with pytest.raises(ValueError, match="ambient must be a number"):
        session.render(0, **{**values, "ambient": "lots"})
    with pytest.raises(ValueError, match="missing controls diffuse"):
        session.render(0, **{k: v for k, v in values.items() if k != "diffuse"})
    for seed in (1, 2, 3):
        session.decompose(seed)
    assert session.decompose(3) is session.decompose(3)
    assert len(session._cache) == 2


def test_mesh_and_turntable_downloads(lifter, tmp_path):
    from PIL import Image

    session = DemoSession(lifter, workdir=tmp_path)
    glb = session.mesh(5)
    assert glb.suffix == ".glb" and glb.read_bytes()[:4] == b"glTF"
    gif = session.turntable(5, frames=6, **_values(session, 5))
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames > 1 and im.size == (256, 256)  # equal frames merge


def _teacher_photo(lifter, seed: int):
    """A photo the teacher made (at its own resolution, as a PIL image) and its code."""
    from PIL import Image

    w = lifter.codes(1, seed)
    with torch.no_grad():
        image = ((lifter.teacher.synthesis(w) + 1) / 2).clamp(0, 1)
    return Image.fromarray(to_uint8(image)[0]), w


def test_a_lifted_photo_gets_the_controls_of_a_seed(lifter, tmp_path):
    session = DemoSession(lifter, workdir=tmp_path)
    photo, _ = _teacher_photo(lifter, 7)
    path = tmp_path / "photo.png"
    photo.save(path)
    start = time.perf_counter()
    found = session.lift_photo({"path": str(path)})  # Gradio's upload, unprocessed
    print(f"\nlift of a {photo.size[0]} px photo: {time.perf_counter() - start:.2f} s, residual {found.residual:.4f}")
    assert found.seed == "photo-1" and found.notes == () and found.residual < 0.05
    assert session.decompose("photo-1") is found
    w = found.w
    maps = lifter.predict(w)
    for changes in ({}, {"yaw": 30.0, "azimuth": -20.0, "ambient": 0.3}, {"pitch": -10.0, "roll": 5.0}):
        values = _values(session, "photo-1", **changes)
        shown = session.render("photo-1", **values)
        controls = DemoSession.sample_controls(values)
        expected = lifter.render_maps(w, maps, **controls)
        torch.testing.assert_close(shown.image, expected.image, atol=0, rtol=0)
        torch.testing.assert_close(shown.image, lifter.render(w, **controls).image, atol=0, rtol=0)
    views = session.views(shown, "photo-1")
    assert set(views) == {"render", "depth", "normal", "albedo", "shading", "teacher"}
    np.testing.assert_array_equal(views["teacher"][:: session.display_size // 16, :: session.display_size // 16],
                                  to_uint8(lifter.teacher_images(w))[0])  # fmt: skip
    assert session.mesh("photo-1").name == "ganlift-photo-1.glb"
    assert session.turntable("photo-1", frames=4, **values).suffix == ".gif"


def test_a_noise_photo_warns_and_a_bad_upload_explains(lifter, tmp_path):
    session = DemoSession(lifter, workdir=tmp_path)
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    found = session.lift_photo(noise, steps=20)
    assert len(found.notes) == 1 and "out of the teacher's distribution" in found.notes[0]
    assert f"residual L1 of {found.residual:.4f}" in found.notes[0]
    session.render(found.seed, **_values(session, found.seed, yaw=10.0))  # still shown, with the warning
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    for bad, message in ((None, "upload a photo first"), ({"path": None}, "upload a photo first"),
                         (str(text), "not an image file"), (str(tmp_path / "gone.png"), "no such image file"),
                         (np.zeros((2, 2, 3), np.uint8), "cannot lift this upload")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            session.lift_photo(bad)
    with pytest.raises(ValueError, match="photo-9 is not among"):
        session.render("photo-9", **_values(session, 0))


def test_space_folder_for_a_hub_lifter(tmp_path, monkeypatch):
    from ganlift import __version__
    from ganlift.cli import main

    out = tmp_path / "space"
    assert main(["demo", "--lifter", "me/ganlift-faces", "--revision", "v1", "--space", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "app.py", "requirements.txt"]
    readme = (out / "README.md").read_text(encoding="utf-8")
    header = re.match(r"---\n(.*?)\n---\n", readme, re.S)
    assert header, readme[:200]
    meta = dict(line.split(": ", 1) for line in header.group(1).splitlines() if ": " in line)
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and re.fullmatch(r"\d+\.\d+\.\d+.*", meta["sdk_version"])
    assert "  - me/ganlift-faces" in header.group(1)
    app = (out / "app.py").read_text(encoding="utf-8")
    compile(app, "app.py", "exec")
    assert "from_pretrained('me/ganlift-faces', revision='v1'" in app and "build(lifter)" in app
    assert (out / "requirements.txt").read_text().splitlines() == [f"ganlift[demo]=={__version__}"]
    write_space(out, "me/ganlift-faces", requirement="ganlift[demo] @ git+https://example.org/ganlift.git")
    assert (out / "requirements.txt").read_text().startswith("ganlift[demo] @ git+")
    # A local folder is not a Space's lifter.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "demo").mkdir(parents=True)
    for bad in ("runs/demo", "not a repo", "a/b/c"):
        with pytest.raises(ValueError, match="Hub repo id|local path"):
            write_space(tmp_path / "x", bad)


def test_missing_gradio_names_the_extra(lifter, monkeypatch, capsys):
    import ganlift.demo
    from ganlift.cli import main

    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio -> ImportError
    with pytest.raises(ImportError, match=re.escape('pip install "ganlift[demo]"')):
        ganlift.demo.build(lifter)
    assert main(["demo", "--lifter", "runs/nothing-here"]) == 1
    assert 'pip install "ganlift[demo]"' in capsys.readouterr().err


# ---------------------------------------------------------------------------- in a browser


def _require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("GANLIFT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"GANLIFT_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served():
    """The demo served on 127.0.0.1 (a free port): (app, url, lifter)."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        _require(False, 'gradio is not installed (pip install "ganlift[demo]")')
    from ganlift.demo import build

    trained = os.environ.get("GANLIFT_DEMO_LIFTER")
    if trained:
        import ganlift

        model = ganlift.Lifter.from_pretrained(trained, device="cpu").eval()
    else:
        model = tiny_lifter()
    app = build(model)
    app.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield app, app.local_url, model
    finally:
        app.close()


@pytest.fixture(scope="module")
def page(served):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require(False, "playwright is not installed (pip install playwright; the browser is Debian's chromium)")
    _require(CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 1000})
            # Nothing but the local server: no fonts or scripts from the network.
            tab.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("http://127.0.0.1", "data:", "blob:"))
                      else route.abort())  # fmt: skip
            yield tab
        finally:
            browser.close()


def _shown(page, selector: str) -> np.ndarray:
    """The pixels of the image the page shows in ``selector`` (its PNG, decoded)."""
    from PIL import Image

    src = page.get_attribute(f"{selector} img", "src")
    response = page.request.get(src)
    assert response.ok, (src, response.status)
    return np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"))


def _controls(page) -> dict[str, float]:
    return {name: float(page.input_value(f"#{name} input[type=number]")) for name in CONTROLS}


def _wait_status(page, text: str, timeout: float = 30_000) -> str:
    page.wait_for_function("t => (document.querySelector('#status')?.innerText || '').includes(t)", arg=text,
                           timeout=timeout)  # fmt: skip
    return page.inner_text("#status")


def _same(shown: np.ndarray, expected: torch.Tensor) -> None:
    reference = to_uint8(expected[:1])[0]
    k = shown.shape[0] // reference.shape[0]
    assert shown.shape == (reference.shape[0] * k, reference.shape[1] * k, 3)
    diff = np.abs(shown[::k, ::k].astype(int) - reference.astype(int))
    assert diff.max() <= 1, f"the shown image differs from lifter.sample by up to {diff.max()} levels"


def _wait_same(page, selector: str, expected: torch.Tensor, timeout: float = 30.0) -> None:
    """Wait until the image in ``selector`` shows ``expected`` (it updates asynchronously)."""
    deadline = time.perf_counter() + timeout
    while True:
        try:
            page.wait_for_selector(f"{selector} img", timeout=timeout * 1000)
            return _same(_shown(page, selector), expected)
        except AssertionError:
            if time.perf_counter() > deadline:
                raise
            page.wait_for_timeout(200)


def test_demo_in_a_real_browser(served, page, tmp_path):
    app, url, model = served
    start = time.perf_counter()
    page.goto(url)
    status = _wait_status(page, "seed 0 ·", timeout=60_000)
    assert "maps and render" in status
    before = page.get_attribute("#out-render img", "src")
    initial = _controls(page)
    _same(_shown(page, "#out-render"), model.sample(1, 0, **DemoSession.sample_controls(initial)).image)

    # Move two sliders with the keyboard, as a user would: yaw to its end, the light 3 steps.
    page.focus("#yaw input[type=range]")
    page.keyboard.press("End")
    page.focus("#azimuth input[type=range]")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    controls = _controls(page)
    assert controls["yaw"] == model.trained_ranges()["yaw"] != initial["yaw"]
    assert controls["azimuth"] == min(initial["azimuth"] + 3, 45)
    moved = time.perf_counter()
    _wait_status(page, f"yaw {controls['yaw']:g}° pitch {controls['pitch']:g}° roll {controls['roll']:g}° · "
                       f"light ({controls['azimuth']:g}°")  # fmt: skip
    page.wait_for_function("s => document.querySelector('#out-render img')?.src !== s", arg=before)
    print(f"\nslider move to new image in the browser: {time.perf_counter() - moved:.2f} s "
          f"(3 queued moves), status: {page.inner_text('#status')}")  # fmt: skip
    assert "re-rendered from cached maps" in page.inner_text("#status")
    expected = model.sample(1, 0, **DemoSession.sample_controls(controls))
    _same(_shown(page, "#out-render"), expected.image)
    # Slider moves send only the open tab's image; opening a tab brings its image up to date.
    page.get_by_role("tab", name="normal").click()
    _wait_same(page, "#out-normal", normal_to_rgb(expected.normal, expected.mask))

    # The turntable on demand and the mesh viewer, then the screenshot for the docs.
    page.get_by_role("tab", name="render").click()
    page.click("#turntable")
    _wait_status(page, "turntable of seed 0 made")
    page.wait_for_selector("#gif img")
    page.wait_for_selector("#mesh canvas")
    assert page.locator("#mesh-file").inner_text().count(".glb") >= 1
    page.wait_for_timeout(500)  # let the 3D viewer draw a frame

    # The docs' picture is re-taken only when asked (GANLIFT_DEMO_SCREENSHOT=1): a test run must
    # not rewrite a file of the checkout.
    shot = SCREENSHOT if os.environ.get("GANLIFT_DEMO_SCREENSHOT") else tmp_path / "demo.png"
    page.screenshot(path=str(shot), full_page=True)

    # Bad input: a message in the page, never a stack trace.
    page.fill("#seed textarea", "abc")
    page.keyboard.press("Enter")
    assert "seed must be a whole number" in _wait_status(page, "Error")
    page.wait_for_function(  # the warning toast says it too
        "() => document.body.innerText.split('seed must be a whole number').length > 2")
    page.fill("#pitch input[type=number]", "500")
    page.keyboard.press("Enter")
    assert "pitch must be within" in _wait_status(page, "pitch must be within")
    body = page.inner_text("body")
    assert "Traceback" not in body and 'File "' not in body
    # Upload a photo the teacher made and lift it: the sliders then act on its fitted code.
    photo, _ = _teacher_photo(model, 11)
    photo.save(tmp_path / "photo.png")
    page.set_input_files("#photo input[type=file]", str(tmp_path / "photo.png"))
    page.wait_for_selector("#photo img")
    page.click("#lift")
    status = _wait_status(page, "photo 1 ·", timeout=60_000)
    assert "lifted in" in status and "Warning" not in status
    page.focus("#yaw input[type=range]")
    page.keyboard.press("Home")
    controls = _controls(page)
    _wait_status(page, f"photo 1 · yaw {controls['yaw']:g}°")
    w = app.ganlift_session.decompose("photo-1").w
    _wait_same(page, "#out-render", model.render(w, **DemoSession.sample_controls(controls)).image)
    # The random button loads a new seed and its image.
    src = page.get_attribute("#out-render img", "src")
    page.click("#random")
    page.wait_for_function("s => document.querySelector('#out-render img')?.src !== s", arg=src)
    seed = parse_seed(page.input_value("#seed textarea"))
    status = _wait_status(page, f"seed {seed} ·")
    assert "maps and render" in status
    print(f"browser test took {time.perf_counter() - start:.1f} s")
