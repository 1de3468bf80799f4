"""An interactive browser demo of a lifter (Gradio): ``ganlift demo`` and Hugging Face Spaces.

The page has a seed box with a "random" button, yaw/pitch/roll sliders spanning the poses the
lifter's recipe trained on (:meth:`~ganlift.lifter.controls.ControlsMixin.trained_ranges`),
the light's direction and its ambient/diffuse strengths, tabs with the render, depth, normals,
albedo, shading and the teacher's image, a 3D viewer of the textured mesh (GLB, with a
download) and a turntable GIF on demand. An image upload with a "lift this photo" button
fits a code to a photo (:meth:`~ganlift.lifter.controls.ControlsMixin.reconstruct`'s inversion,
with few steps) and gives it the same controls; a photo out of the teacher's distribution gets
the inversion's warning in the page.

A slider move only re-renders: the networks run once per seed
(:meth:`~ganlift.lifter.controls.ControlsMixin.predict`, cached per seed) and every new pose or
light is drawn from the cached maps by the renderer alone
(:meth:`~ganlift.lifter.controls.ControlsMixin.render_maps`), which is what keeps the demo live
on a CPU.

Gradio is an optional extra (``pip install "ganlift[demo]"``); only :func:`build` and
:func:`launch` import it. :class:`DemoSession` holds the logic without any Gradio, and
:func:`write_space` writes a ready-to-push Space folder for a lifter on the Hub.

Example:
    >>> import ganlift
    >>> from ganlift.demo import build
    >>> lifter = ganlift.Lifter.from_pretrained("runs/demo")
    >>> build(lifter).launch()                        # http://127.0.0.1:7860
"""

from __future__ import annotations

import functools
import importlib.metadata
import math
import os
import random
import re
import tempfile
import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganlift.utils.images import to_uint8

EXTRA_HINT = 'the ganlift demo needs Gradio: pip install "ganlift[demo]" (or pip install gradio)'
MAPS = ("render", "depth", "normal", "albedo", "shading", "teacher")
MAX_SEED = 2**32 - 1
POSE = ("yaw", "pitch", "roll")
LIGHT = ("azimuth", "elevation", "ambient", "diffuse")
CONTROLS = POSE + LIGHT
PHOTO_STEPS = 100  # inversion steps of an uploaded photo: a few seconds on a CPU
PHOTO_RESTARTS = 2
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _gradio():
    """Import Gradio, or raise ImportError naming the ``demo`` extra."""
    try:
        import gradio
    except ImportError as err:
        raise ImportError(EXTRA_HINT) from err
    return gradio


def parse_seed(text: Any) -> int:
    """A seed typed in the page: an integer in [0, 2**32 - 1].

    Args:
        text: what the seed box holds (a string, or a number).

    Returns:
        The seed.

    Raises:
        ValueError: with a message for the page when ``text`` is not such an integer.
    """
    value = str(text).strip() if text is not None else ""
    if isinstance(text, float) and text.is_integer():
        value = str(int(text))
    if not re.fullmatch(r"[+-]?\d+", value):
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise ValueError(f"seed must be a whole number between 0 and {MAX_SEED}, got {shown!r}")
    seed = int(value)
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be between 0 and {MAX_SEED}, got {seed}")
    return seed


@dataclass(frozen=True)
class SliderRange:
    """The range and step of one slider of the demo.

    Attributes:
        minimum, maximum: the slider's ends.
        step: the slider's step; predicted values are rounded to it.
    """

    minimum: float
    maximum: float
    step: float

    def check(self, name: str, value: Any) -> float:
        """``value`` as a float, or ValueError (a message for the page) outside the range.

        Args:
            name: the control's name, for the message.
            value: the slider's value.
        """
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number, got {value!r}") from None
        if not math.isfinite(x) or not self.minimum - 1e-9 <= x <= self.maximum + 1e-9:
            raise ValueError(f"{name} must be within [{self.minimum:g}, {self.maximum:g}], got {value!r}")
        return x

    def snap(self, value: float) -> float:
        """``value`` clamped to the range and rounded to the step."""
        x = min(max(float(value), self.minimum), self.maximum)
        x = round(round(x / self.step) * self.step, 6)
        return min(max(x, self.minimum), self.maximum)


@dataclass
class Decomposition:
    """What the networks give for one seed (or lifted photo), cached so that slider moves only re-render.

    Attributes:
        seed: the seed, or the key of a lifted photo (``"photo-1"``, ...).
        w: (1, w_dim) its style code.
        maps: the dict of ``lifter.predict(w)`` (view, light, depth, transform, albedo).
        teacher: (1, 3, S, S) the teacher's image of ``w`` in [0, 1].
        seconds: how long the networks took (for a photo, with its inversion).
        residual: a photo's inversion residual (mean L1 in [0, 1]); None for a seed.
        notes: the inversion's warnings for a photo (out of the teacher's distribution).
    """

    seed: int | str
    w: torch.Tensor
    maps: dict[str, torch.Tensor]
    teacher: torch.Tensor
    seconds: float
    residual: float | None = None
    notes: tuple[str, ...] = ()


class DemoSession:
    """The demo's logic, without Gradio: cached decompositions, re-renders and downloads.

    Args:
        lifter: a trained :class:`~ganlift.Lifter` (in eval mode).
        cache_size: how many seeds keep their maps.
        display_size: shown images are enlarged by an integer factor (nearest neighbour) to
            about this many pixels, so every pixel stays exact.
        workdir: folder for the GLB and GIF files (default: a new temporary folder).
    """

    def __init__(
        self,
        lifter: Any,
        cache_size: int = 32,
        display_size: int = 256,
        workdir: str | os.PathLike | None = None,
    ) -> None:
        if cache_size < 1:
            raise ValueError(f"cache_size must be >= 1, got {cache_size}")
        self.lifter = lifter
        self.cache_size = int(cache_size)
        self.display_size = int(display_size)
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="ganlift-demo-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._cache: OrderedDict[int, Decomposition] = OrderedDict()
        self._photos: OrderedDict[str, Decomposition] = OrderedDict()
        self._photo_count = 0
        self._lock = threading.Lock()
        self.ranges = self._ranges()

    # -- controls --------------------------------------------------------------------------
    def _ranges(self) -> dict[str, SliderRange]:
        trained = self.lifter.trained_ranges()
        # Light directions the lifter predicts: |dx|, |dy| up to the recipe's reach, i.e.
        # up to atan(reach) degrees off the view axis in each direction.
        reach = float(self.lifter.recipe.lifter.light_direction)
        light = min(math.degrees(math.atan(reach)), 85.0)
        ranges = {k: SliderRange(-trained[k], trained[k], 1.0) for k in POSE}
        ranges["azimuth"] = SliderRange(-float(math.floor(light)), float(math.floor(light)), 1.0)
        ranges["elevation"] = SliderRange(-float(math.floor(light)), float(math.floor(light)), 1.0)
        ranges["ambient"] = SliderRange(0.0, 1.0, 0.01)
        ranges["diffuse"] = SliderRange(0.0, 1.0, 0.01)
        return ranges

    def check_controls(self, **controls: Any) -> dict[str, float]:
        """The eight slider values as floats, each checked against its range.

        Args:
            **controls: ``yaw``, ``pitch``, ``roll``, ``azimuth``, ``elevation``, ``ambient``,
                ``diffuse``.

        Returns:
            The values by name.

        Raises:
            ValueError: a message for the page naming the control and its range.
        """
        unknown = sorted(set(controls) - set(CONTROLS))
        if unknown:
            raise ValueError(f"unknown controls {', '.join(unknown)}; expected {', '.join(CONTROLS)}")
        missing = [k for k in CONTROLS if k not in controls]
        if missing:
            raise ValueError(f"missing controls {', '.join(missing)}")
        return {k: self.ranges[k].check(k, controls[k]) for k in CONTROLS}

    @staticmethod
    def sample_controls(controls: dict[str, float]) -> dict[str, Any]:
        """The keyword controls of ``lifter.sample``/``render`` for the sliders' values.

        Args:
            controls: the slider values by name (see :meth:`check_controls`).
        """
        return {
            "yaw": controls["yaw"],
            "pitch": controls["pitch"],
            "roll": controls["roll"],
            "light": (controls["azimuth"], controls["elevation"]),
            "ambient": controls["ambient"],
            "diffuse": controls["diffuse"],
        }

    # -- networks, once per seed -----------------------------------------------------------
    def decompose(self, seed: int | str) -> Decomposition:
        """The cached decomposition of ``seed`` (the networks run on the first call only).

        Args:
            seed: the code's seed, as in ``lifter.sample(1, seed)``, or the key of a photo
                lifted with :meth:`lift_photo`.

        Raises:
            ValueError: a photo key that is not (or no longer) cached.
        """
        if isinstance(seed, str):
            with self._lock:
                photo = self._photos.get(seed)
                if photo is None:
                    raise ValueError(f"{seed} is not among the last {self.cache_size} lifted photos: lift it again")
                self._photos.move_to_end(seed)
                return photo
        with self._lock:
            hit = self._cache.get(seed)
            if hit is not None:
                self._cache.move_to_end(seed)
                return hit
        start = time.perf_counter()
        w = self.lifter.codes(1, seed)
        maps = self.lifter.predict(w)
        teacher = self.lifter.teacher_images(w)
        found = Decomposition(seed, w, maps, teacher, time.perf_counter() - start)
        with self._lock:
            self._cache[seed] = found
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return found

    def lift_photo(self, image: Any, steps: int = PHOTO_STEPS, restarts: int = PHOTO_RESTARTS) -> Decomposition:
        """Lift an uploaded photo: invert it into W (as ``lifter.reconstruct`` does), cache its maps.

        The fitted code is then shown like a seed's: ``render``, ``views``, ``mesh`` and
        ``turntable`` take the returned decomposition's ``seed`` (``"photo-1"``, ...).

        Args:
            image: a file path, a PIL image, an array, or Gradio's upload (a dict with a
                ``path``).
            steps, restarts: of the inversion (:func:`ganlift.invert`).

        Returns:
            The :class:`Decomposition`; its ``notes`` hold the inversion's out-of-distribution
            warning (with the residual) when the teacher could not reproduce the photo.

        Raises:
            ValueError: a message for the page when there is no upload or it is not an image.
        """
        from ganlift.invert import OutOfDistributionWarning, invert

        if isinstance(image, dict):
            image = image.get("path") or None
        if image is None or (isinstance(image, str) and not image.strip()):
            raise ValueError("upload a photo first (PNG, JPEG, WebP, ...), then press \"lift this photo\"")
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", OutOfDistributionWarning)
            try:
                inversion = invert(self.lifter, image, "w", int(steps), restarts=int(restarts), progress=False)
            except (ValueError, TypeError, OSError) as err:
                message = str(err).removeprefix("images: ")
                raise ValueError(f"cannot lift this upload: {message}") from None
        notes = []
        for caught_warning in caught:
            if issubclass(caught_warning.category, OutOfDistributionWarning):
                notes.append(str(caught_warning.message).removeprefix("image 0: "))
            else:  # not the demo's to swallow
                warnings.warn_explicit(caught_warning.message, caught_warning.category, caught_warning.filename,
                                       caught_warning.lineno)  # fmt: skip
        w = inversion.codes.to(self.lifter.device)
        maps = self.lifter.predict(w)
        teacher = self.lifter.teacher_images(w)
        with self._lock:
            self._photo_count += 1
            key = f"photo-{self._photo_count}"
            found = Decomposition(key, w, maps, teacher, time.perf_counter() - start,
                                  float(inversion.residual[0]), tuple(notes))  # fmt: skip
            self._photos[key] = found
            while len(self._photos) > self.cache_size:
                self._photos.popitem(last=False)
        return found

    def predicted_controls(self, seed: int | str) -> dict[str, float]:
        """The lifter's own pose and light for ``seed``, snapped to the sliders.

        Args:
            seed: the code's seed.
        """
        from ganlift.lifter.controls import light_to_angles

        maps = self.decompose(seed).maps
        pitch, yaw, roll = (float(v) for v in maps["view"][0, :3])
        light = maps["light"][:1]
        azimuth, elevation = (float(v) for v in light_to_angles(light)[0])
        values = {"yaw": yaw, "pitch": pitch, "roll": roll, "azimuth": azimuth, "elevation": elevation,
                  "ambient": float(light[0, 0]), "diffuse": float(light[0, 1])}  # fmt: skip
        return {k: self.ranges[k].snap(v) for k, v in values.items()}

    # -- the renderer, on every slider move ------------------------------------------------
    def render(self, seed: int | str, **controls: Any):
        """Re-render ``seed``'s cached maps with the sliders' values (no networks).

        Equal to ``lifter.sample(1, seed, **sample_controls(controls))`` (for a photo,
        ``lifter.render(w, ...)`` of its fitted code ``w``).

        Args:
            seed: the code's seed.
            **controls: the slider values, see :meth:`check_controls`.

        Returns:
            The :class:`~ganlift.lifter.controls.LiftedSample`.
        """
        values = self.check_controls(**controls)
        d = self.decompose(seed)
        return self.lifter.render_maps(d.w, d.maps, **self.sample_controls(values))

    def enlarge(self, images: torch.Tensor) -> np.ndarray:
        """One (1, C, H, W) image in [0, 1] as (H*k, W*k, 3) uint8, k = display_size // H.

        Args:
            images: the image (the first of a batch is used).
        """
        array = to_uint8(images[:1])[0]
        k = max(1, self.display_size // max(array.shape[0], 1))
        return np.repeat(np.repeat(array, k, axis=0), k, axis=1) if k > 1 else array

    def views(self, sample: Any, seed: int | str | None = None, only: str | None = None) -> dict[str, np.ndarray]:
        """The shown images of a rendered sample, by tab: render, depth, normal, albedo, shading, teacher.

        Args:
            sample: a :class:`~ganlift.lifter.controls.LiftedSample` of one code.
            seed: its seed, for the teacher's image (from the cache); None leaves it out.
            only: just this tab's image (if it is one of the sample's maps).
        """
        from ganlift.export import depth_to_rgb, normal_to_rgb

        maps = {
            "render": lambda: sample.image,
            "depth": lambda: depth_to_rgb(sample.depth[:1], sample.mask[:1]),
            "normal": lambda: normal_to_rgb(sample.normal[:1], sample.mask[:1]),
            "albedo": lambda: sample.albedo,
            "shading": lambda: sample.shading.clamp(0, 1),
        }
        if seed is not None:
            maps["teacher"] = lambda: self.decompose(seed).teacher
        names = [only] if only is not None else list(maps)
        return {name: self.enlarge(maps[name]()) for name in names if name in maps}

    def light_note(self, sample: Any) -> str:
        """A warning when the light lies beyond the directions the lifter predicts ("" if not)."""
        reach = float(self.lifter.recipe.lifter.light_direction)
        if bool((sample.light[:, 2:].abs() > reach + 1e-6).any()):
            return "this light lies beyond the lights the lifter was trained with: its shading is unchecked"
        return ""

    # -- downloads -------------------------------------------------------------------------
    def mesh(self, seed: int | str) -> Path:
        """The GLB of ``seed``'s canonical textured mesh (+y up), written once per seed.

        Args:
            seed: the code's seed.
        """
        from ganlift import export

        path = self.workdir / f"ganlift-{_slug(seed)}.glb"
        if not path.exists():
            export.to_glb(self.lifter, path, w=self.decompose(seed).w)
        return path

    def turntable(self, seed: int | str, frames: int = 24, fps: float = 12.0, **controls: Any) -> Path:
        """A turntable GIF of ``seed``: yaw swept over the trained range, the other controls fixed.

        Args:
            seed: the code's seed.
            frames: number of frames.
            fps: frames per second.
            **controls: the slider values (see :meth:`check_controls`; yaw is swept).
        """
        from ganlift import export

        values = self.check_controls(**controls)
        options = self.sample_controls(values)
        options.pop("yaw")
        key = "_".join(f"{values[k]:g}" for k in CONTROLS if k != "yaw")
        path = self.workdir / f"ganlift-{_slug(seed)}-turntable-{frames}-{key}.gif"
        if not path.exists():
            images = export.turntable(self.lifter, None, w=self.decompose(seed).w, frames=frames, **options)
            k = max(1, self.display_size // images.shape[-1])
            if k > 1:
                images = images.repeat_interleave(k, dim=-1).repeat_interleave(k, dim=-2)
            export.save_animation(images, path, fps=fps)
        return path


def _slug(seed: int | str) -> str:
    """A file-name part for a seed (``seed5``) or a photo key (``photo-1``)."""
    return f"seed{seed}" if isinstance(seed, int) else re.sub(r"[^\w-]", "_", str(seed))


def _name(seed: int | str) -> str:
    """How the page names a seed (``seed 5``) or a photo (``photo 1``)."""
    return f"seed {seed}" if isinstance(seed, int) else str(seed).replace("-", " ")


# ---------------------------------------------------------------------------- the Gradio app

_LABELS = {
    "yaw": "yaw (degrees, + turns the front to the image's left)",
    "pitch": "pitch (degrees, + tilts down)",
    "roll": "roll (degrees, + turns clockwise)",
    "azimuth": "light azimuth (degrees, + from the right)",
    "elevation": "light elevation (degrees, + from above)",
    "ambient": "ambient strength",
    "diffuse": "diffuse strength",
}


def _describe(seed: int | str, values: dict[str, float]) -> str:
    return (
        f"{_name(seed)} · yaw {values['yaw']:g}° pitch {values['pitch']:g}° roll {values['roll']:g}° · "
        f"light ({values['azimuth']:g}°, {values['elevation']:g}°) ambient {values['ambient']:g} "
        f"diffuse {values['diffuse']:g}"
    )


def build(lifter: Any, *, title: str | None = None, session: DemoSession | None = None):
    """The demo page of a lifter as a Gradio app (``gradio.Blocks``), ready to ``launch()``.

    Args:
        lifter: a trained :class:`~ganlift.Lifter` (put it in eval mode on its device first).
        title: the page's heading (default: names the recipe and the resolution).
        session: the :class:`DemoSession` to use (default: a new one for ``lifter``).

    Returns:
        The ``gradio.Blocks`` app; ``app.launch(server_name=..., server_port=..., share=...)``
        serves it. Its ``ganlift_session`` attribute is the :class:`DemoSession` it uses.

    Raises:
        ImportError: when Gradio is missing (``pip install "ganlift[demo]"``).
    """
    gr = _gradio()
    session = session or DemoSession(lifter)
    ranges = session.ranges
    size = int(lifter.renderer.size or lifter.recipe.lifter.resolution)
    heading = title or f"ganlift: a lifted {lifter.recipe.name!r} generator ({size}x{size})"

    def fail(message: str) -> str:
        gr.Warning(message)
        return f"**Error:** {message}"

    def shown(sample, seed: int | None) -> list:
        views = session.views(sample, seed)
        return [views.get(name, gr.skip()) for name in MAPS]

    def unchanged(loaded, message: str) -> list:
        return [gr.skip(), loaded, gr.skip()] + [gr.skip()] * (len(CONTROLS) + len(MAPS)) + [fail(message)]

    def show(key: int | str, done: str) -> list:
        """Set the sliders to the lifter's prediction for a seed or photo and render it."""
        start = time.perf_counter()
        values = session.predicted_controls(key)
        sample = session.render(key, **values)
        seconds = time.perf_counter() - start
        status = f"{_describe(key, values)} · {done or f'maps and render in {seconds * 1000:.0f} ms'}"
        note = session.light_note(sample)
        if note:
            status += f" · {note}"
        box = str(key) if isinstance(key, int) else gr.skip()
        return [box, key, values] + [values[k] for k in CONTROLS] + shown(sample, key) + [status]

    def load(seed_text: str, loaded: int | str | None):
        """Seed box submitted / random / page load: run the networks once, set the sliders."""
        try:
            seed = parse_seed(seed_text)
        except ValueError as err:
            return unchanged(loaded, str(err))
        return show(seed, "")

    def reset(loaded: int | str | None):
        """Back to the lifter's own prediction for the shown seed or photo."""
        try:
            return show(loaded if loaded is not None else 0, "")
        except ValueError as err:  # a photo no longer cached
            return unchanged(loaded, str(err))

    def lift(upload: Any, loaded: int | str | None):
        """"lift this photo": invert the upload (once), cache its maps, show it like a seed."""
        try:
            found = session.lift_photo(upload)
        except ValueError as err:
            return unchanged(loaded, str(err))
        out = show(found.seed, f"lifted in {found.seconds:.1f} s ({PHOTO_STEPS} inversion steps, "
                               f"residual {found.residual:.4f})")  # fmt: skip
        for note in found.notes:
            gr.Warning(f"out of distribution: {note}")
            out[-1] += f" · **Warning:** {note}"
        return out

    def rerender(showing: str, loaded: int | str | None, *slider_values: float):
        """A slider moved: the renderer only, from the cached maps; only the open tab's image
        is sent (the others follow when their tab is opened)."""
        if loaded is None:
            return [gr.skip()] * (len(MAPS) + 1) + [fail("load a seed or lift a photo first")]
        values = dict(zip(CONTROLS, slider_values))
        start = time.perf_counter()
        try:
            sample = session.render(loaded, **values)
        except (ValueError, TypeError) as err:
            return [gr.skip()] * (len(MAPS) + 1) + [fail(str(err))]
        seconds = time.perf_counter() - start
        checked = session.check_controls(**values)
        status = f"{_describe(loaded, checked)} · re-rendered from cached maps in {seconds * 1000:.0f} ms"
        note = session.light_note(sample)
        if note:
            status += f" · {note}"
        views = session.views(sample, None, only=showing)
        return [checked] + [views.get(name, gr.skip()) for name in MAPS] + [status]

    def open_tab(name: str, loaded: int | str | None, current: dict | None):
        """A tab opened: bring its image up to the controls last rendered (renderer only)."""
        if loaded is None or current is None or name not in MAPS[:-1]:
            return name, gr.skip()
        try:
            return name, session.views(session.render(loaded, **current), None, only=name)[name]
        except ValueError as err:
            gr.Warning(str(err))
            return name, gr.skip()

    def make_mesh(loaded: int | str | None):
        if loaded is None:
            return gr.skip(), gr.skip()
        try:
            path = str(session.mesh(loaded))
        except (ImportError, ValueError, RuntimeError) as err:
            gr.Warning(f"no 3D model: {err}")
            return gr.skip(), gr.skip()
        return path, path

    def make_turntable(loaded: int | str | None, *slider_values: float):
        if loaded is None:
            return gr.skip(), fail("load a seed or lift a photo first")
        values = dict(zip(CONTROLS, slider_values))
        start = time.perf_counter()
        try:
            path = session.turntable(loaded, **values)
        except (ValueError, TypeError) as err:
            return gr.skip(), fail(str(err))
        seconds = time.perf_counter() - start
        return str(path), f"turntable of {_name(loaded)} made in {seconds:.1f} s"

    with gr.Blocks(title="ganlift demo", analytics_enabled=False) as app:
        loaded = gr.State(None)  # the seed (int) or photo key (str) whose maps are shown
        current = gr.State(None)  # the controls last rendered
        gr.Markdown(
            f"## {heading}\n"
            "Pick a seed (or lift a photo), then turn the object and move the light. A slider move "
            "re-renders the cached 3D maps without running the networks."
        )
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                with gr.Row():
                    seed_box = gr.Textbox(value="0", label="seed (press Enter)", elem_id="seed", scale=3)
                    random_button = gr.Button("random", elem_id="random", scale=1, size="sm")
                with gr.Row():
                    photo = gr.Image(label="or a photo to lift (cropped like the teacher's images)", type="filepath",
                                     sources=["upload"], elem_id="photo", height=140, scale=3)  # fmt: skip
                    lift_button = gr.Button("lift this photo", elem_id="lift", scale=1, size="sm")
                sliders = {}
                for name in CONTROLS:
                    r = ranges[name]
                    sliders[name] = gr.Slider(r.minimum, r.maximum, value=0.0 if name in POSE + LIGHT[:2] else 0.5,
                                              step=r.step, label=_LABELS[name], elem_id=name)  # fmt: skip
                reset_button = gr.Button("reset to the lifter's prediction", elem_id="reset", size="sm")
                status = gr.Markdown("loading...", elem_id="status")
            with gr.Column(scale=2, min_width=320):
                images, tabs = {}, {}
                showing = gr.State("render")
                with gr.Tabs(selected="render"):
                    for name in MAPS:
                        with gr.Tab(name, id=name, elem_id=f"tab-{name}") as tabs[name]:
                            images[name] = gr.Image(label=name, format="png", type="numpy", interactive=False,
                                                    height=session.display_size, elem_id=f"out-{name}",
                                                    buttons=["download", "fullscreen"])  # fmt: skip
        with gr.Row():
            with gr.Column():
                model = gr.Model3D(label="textured mesh (GLB, +y up; drag to turn)", elem_id="mesh", height=320)
                model_file = gr.File(label="download the mesh (GLB)", elem_id="mesh-file")
            with gr.Column():
                turntable_button = gr.Button("make a turntable GIF", elem_id="turntable")
                gif = gr.Image(label="turntable", type="filepath", interactive=False, elem_id="gif",
                               height=session.display_size)  # fmt: skip

        slider_list = [sliders[k] for k in CONTROLS]
        image_list = [images[k] for k in MAPS]
        load_outputs = [seed_box, loaded, current, *slider_list, *image_list, status]
        render_outputs = [current, *image_list, status]

        def random_seed() -> str:
            return str(random.randrange(0, 2**31))

        app.load(load, [seed_box, loaded], load_outputs).then(make_mesh, loaded, [model, model_file])
        seed_box.submit(load, [seed_box, loaded], load_outputs).then(make_mesh, loaded, [model, model_file])
        random_button.click(random_seed, None, seed_box).then(load, [seed_box, loaded], load_outputs).then(
            make_mesh, loaded, [model, model_file]
        )
        reset_button.click(reset, loaded, load_outputs)
        # preprocess=False: the handler reads the upload itself, so a file that is not an image
        # gets the demo's own message instead of Gradio's error.
        lift_button.click(lift, [photo, loaded], load_outputs, preprocess=False).then(
            make_mesh, loaded, [model, model_file]
        )
        # preprocess=False: the handlers check the slider values themselves, so a typed value
        # outside a slider's range gets the demo's own message in the status line.
        for slider in slider_list:
            slider.input(rerender, [showing, loaded, *slider_list], render_outputs, trigger_mode="always_last",
                         show_progress="hidden", preprocess=False)  # fmt: skip
        for name, tab in tabs.items():
            tab.select(functools.partial(open_tab, name), [loaded, current], [showing, images[name]],
                       show_progress="hidden")  # fmt: skip
        turntable_button.click(make_turntable, [loaded, *slider_list], [gif, status], preprocess=False)
    app.ganlift_session = session
    return app


def launch(
    lifter: Any,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    block: bool = True,
    **options: Any,
):
    """Build the demo of ``lifter`` and serve it.

    Args:
        lifter: a trained lifter.
        host: the address to listen on (``"0.0.0.0"`` for other machines).
        port: the port (None: Gradio's default, 7860, or the next free one).
        share: also open a temporary public ``*.gradio.live`` link.
        block: keep serving until interrupted; False returns at once.
        **options: further ``gradio.Blocks.launch`` options.

    Returns:
        The launched ``gradio.Blocks`` app (its ``local_url`` is the page).
    """
    app = build(lifter)
    app.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=not block, **options)
    return app


# ---------------------------------------------------------------------------- Spaces

_SPACE_APP = '''"""A Hugging Face Space of the ganlift lifter {repo_id} (written by `ganlift demo --space`)."""

import ganlift
from ganlift.demo import build

lifter = ganlift.Lifter.from_pretrained({repo_id!r}{revision}, device="cpu").eval()
demo = build(lifter)

if __name__ == "__main__":
    demo.launch(server_name="0.0.0.0")
'''

_SPACE_README = """---
title: {title}
emoji: 🧊
colorFrom: indigo
colorTo: gray
sdk: gradio
sdk_version: {sdk_version}
app_file: app.py
pinned: false
license: mit
models:
  - {repo_id}
short_description: {short}
---

# {heading}

An interactive demo of the lifted 3D generator [{repo_id}](https://huggingface.co/{repo_id}),
made with ganlift (LiftedGAN: Shi, Aggarwal and Jain, CVPR 2021).
Pick a seed, turn the object with the yaw, pitch and roll sliders, move the light, look at its
depth, normals, albedo and shading, download the textured mesh or make a turntable GIF.

Run it locally with `pip install -r requirements.txt && python app.py`, or
`ganlift demo --lifter {repo_id}`.

The lifter's teacher is rebuilt from the reference in its `config.json`: synthetic and zoo
teachers need nothing else; a teacher that is a local checkpoint file must be reachable from
the Space (for example in the Space repo, passed as `teacher=` in `app.py`).
"""


def write_space(
    out: str | os.PathLike,
    repo_id: str,
    *,
    revision: str | None = None,
    title: str | None = None,
    requirement: str | None = None,
) -> list[Path]:
    """Write a ready-to-push Hugging Face Space folder for a lifter repo on the Hub.

    The folder holds ``app.py`` (loads the lifter and serves :func:`build`),
    ``requirements.txt`` and ``README.md`` with the Space metadata (``sdk: gradio``,
    ``app_file: app.py``, the model repo). Pushing it stays your step, e.g.
    ``hf upload --repo-type space me/my-demo OUT .``.

    Args:
        out: the folder to write (created; existing files of these names are replaced).
        repo_id: the lifter's Hub model repo, ``"owner/name"``.
        revision: a branch, tag or commit of the lifter repo to pin (default: main).
        title: the Space's title (default: from the repo name).
        requirement: the ganlift line of ``requirements.txt`` (default
            ``ganlift[demo]==<this version>``; use a ``git+https://...`` URL for an unreleased
            version).

    Returns:
        The written files.
    """
    from ganlift import __version__

    if not isinstance(repo_id, str) or not REPO_ID.match(repo_id) or repo_id.count("/") != 1:
        raise ValueError(
            f"--space needs the lifter's Hub repo id 'owner/name', got {repo_id!r} "
            "(a local folder? upload it first with `ganlift push DIR owner/name`)"
        )
    if Path(repo_id).exists():
        raise ValueError(
            f"{repo_id!r} is a local path; a Space loads its lifter from the Hub: upload it with "
            f"`ganlift push {repo_id} owner/name` and pass that repo id"
        )
    try:
        sdk_version = importlib.metadata.version("gradio")
    except importlib.metadata.PackageNotFoundError:
        sdk_version = "6.0.0"  # the oldest Gradio the demo supports
    name = repo_id.split("/", 1)[1]
    title = title or f"ganlift {name}"[:30]
    short = "A lifted 3D GAN: turn it, relight it, get its mesh"
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pin = f", revision={revision!r}" if revision else ""
    requirement = requirement or f"ganlift[demo]=={__version__}"
    files = {
        "app.py": _SPACE_APP.format(repo_id=repo_id, revision=pin),
        "requirements.txt": f"{requirement}\n",
        "README.md": _SPACE_README.format(title=_yaml_text(title), heading=title, repo_id=repo_id,
                                          sdk_version=sdk_version, short=short),  # fmt: skip
    }
    written = []
    for filename, text in files.items():
        path = out / filename
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _yaml_text(text: str) -> str:
    """A one-line YAML scalar: quoted when it holds characters YAML would read otherwise."""
    if re.fullmatch(r"[A-Za-z0-9][\w .-]*", text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
