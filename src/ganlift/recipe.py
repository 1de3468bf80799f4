"""Recipes: every setting of a lift (networks, renderer, perturbations, losses, training) as data.

A recipe is a TOML file with the sections below. ``extends = "faces"`` (a registered name or
a path, relative to the extending file) builds on another recipe; tables are merged key by key.
Unknown sections, keys and loss terms are errors that name the key and the allowed ones.

.. code-block:: toml

    extends = "faces"
    name = "my-faces"

    [train]
    steps = 20000

    [losses]
    identity = 0            # a number is the term's weight; 0 turns the term off
    flip = { weight = 2.0 }

Example:
    >>> from ganlift.recipe import load_recipe
    >>> recipe = load_recipe("synthetic", overrides={"train.steps": 10})
    >>> recipe.train.steps
    10
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import inspect
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ganlift.registry import Registry
from ganlift.utils.resources import data_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (a dependency there)
    import tomli as tomllib

__all__ = [
    "Recipe",
    "RECIPES",
    "load_recipe",
    "recommended_recipe",
    "choose_recipe",
    "parse_overrides",
    "LifterSection",
    "RenderSection",
    "TeacherSection",
    "PerturbSection",
    "DistanceSection",
    "TrainSection",
]


@dataclass
class TeacherSection:
    """How the teacher is sampled.

    Attributes:
        truncation: truncation psi for the training codes (paper: 0.7).
        prior: name in ``ganlift.priors.PRIORS`` of the prior on manipulated codes w'.
        prior_samples: mapped samples used once to estimate the prior's statistics.
        prior_seed: seed of those samples (the statistics are saved with the lifter).
    """

    truncation: float = 0.7
    prior: str = "gaussian"
    prior_samples: int = 50_000
    prior_seed: int = 0


@dataclass
class LifterSection:
    """Network sizes and output ranges of the lifter (paper appendix B).

    Attributes:
        resolution: lifting resolution (teacher images are resized to it); a power of two >= 8.
        mlp_width: hidden width of every MLP; 0 means the teacher's ``w_dim`` (paper: 512).
        mlp_layers: layers per MLP (paper: 4).
        decoder_width: channels of the shape/transform decoders at 4x4 (paper: 512); halved
            at every doubling of the resolution down to ``decoder_min_width`` (paper: 16).
        decoder_min_width: smallest decoder width.
        manipulation: form of M's output (see ``ganlift.lifter.networks.StyleManipulation``):
            ``"delta"`` (a neutral code w0 and a rank-limited edit ``B (h(w, L', V') - h(...))``
            of it or of w, see ``perturbation_base``), ``"linear"`` (a zero-initialised
            linear skip plus the MLP: starts at the mean code), ``"residual"`` (``w + MLP``)
            or ``"mlp"`` (the paper's plain MLP).
        manipulation_rank: size of the edit subspace of the ``"delta"`` form.
        manipulation_separate_edit: ``"delta"`` form only: the edit reads its own embeddings
            of w, the light and the view, so it shares no parameter with the neutral code w0.
        perturbation_trains_neutral: ``"delta"`` form only. In w' = w0 + edit, True (the
            paper's M, trained as a whole) lets the perturbation terms move the neutral code
            w0 too; False stops their gradient at w0, so w0 (the canonical texture and shape
            code) learns only from the terms on w's own image and the perturbation terms
            train only the edit.
        perturbation_base: ``"delta"`` form only: the code the perturbed code w' is edited
            from. ``"neutral"``: ``w' = w0 + B (h(w, L', V') - h(w, L0, V0))``, the neutral
            code turned (what M(w, L', V') is in the paper's reading, where w0 = M(w, L0, V0)).
            ``"own"``: ``w' = w + B (h(w, L', V') - h(w, L, V))``, w itself turned from its
            own view and light (:meth:`ganlift.lifter.networks.StyleManipulation.turn`): w0
            keeps little of w's object early in a short run, and G(w') then shows another
            object; w itself keeps it (measured in docs/evaluation.md, "A manipulation that
            turns the object").
        depth_range: canonical depth range (paper: 0.9 .. 1.1).
        depth_mode: ``"range"`` (the paper: tanh of the logits mapped to ``depth_range``) or
            ``"relief"`` (a height field in front of the ``border_depth`` plane, from
            ``depth_range[0]`` to ``border_depth``; rules out the hollow twin of a convex
            object, see ``ganlift.lifter.networks.depth_from_logits``).
        depth_center: subtract each depth map's mean logit before the tanh (official code).
            It ties the background depth to the object's area and relief; off, the decoder
            places both freely.
        depth_prior: the initial shape: a dome rising this many scene units from a plane at
            ``border_depth`` (0 = a flat start, as in the paper). It picks the convex side of
            the convex/concave (hollow-face) ambiguity that images alone leave open.
        depth_prior_width: width (Gaussian sigma, fraction of the image) of that dome.
        border_depth: depth the left/right border columns are pinned to (official: 1.05).
        border_columns: how many columns on each side are pinned (official: 2 at 256).
        max_rotation: rotation range in degrees, +- (paper: 60).
        max_translation: x/y translation range, +- (paper: 0.1).
        max_translation_z: z translation range, +- (official: 0.01).
        light_direction: range of the light direction's dx, dy (+-), d = normalise(dx, dy, 1).
        transform_threshold: depth at or below which a pixel is "object" and T is forced to 1.
        transform_bias: T = sigmoid(logits + bias) before the object is forced to 1 (official
            5: T starts near 1 everywhere, background included; 0 starts at 0.5, where the
            sigmoid still has gradient).
        transform_blur: Gaussian blur kernel size applied to T (official: 21 at 256; odd).
        transform_frame: width in pixels of the outer frame where T is forced to 0.
        min_shading: shading floor when de-lighting the texture into the albedo.
    """

    resolution: int = 256
    mlp_width: int = 512
    mlp_layers: int = 4
    decoder_width: int = 512
    decoder_min_width: int = 16
    manipulation: str = "delta"
    manipulation_rank: int = 16
    manipulation_separate_edit: bool = False
    perturbation_trains_neutral: bool = True
    perturbation_base: str = "neutral"
    depth_range: list = field(default_factory=lambda: [0.9, 1.1])
    depth_mode: str = "range"
    depth_center: bool = True
    depth_prior: float = 0.0
    depth_prior_width: float = 0.3
    border_depth: float = 1.05
    border_columns: int = 2
    max_rotation: float = 60.0
    max_translation: float = 0.1
    max_translation_z: float = 0.01
    light_direction: float = 1.0
    transform_threshold: float = 1.04
    transform_bias: float = 5.0
    transform_blur: int = 21
    transform_frame: int = 1
    min_shading: float = 0.05


@dataclass
class RenderSection:
    """Renderer backend (``ganlift.render.RENDERERS``) and field of view in degrees."""

    renderer: str = "torch"
    fov: float = 10.0


@dataclass
class PerturbSection:
    """Random views and lights for the perturbation losses (paper appendix B).

    Attributes:
        yaw: yaw drawn from U(-yaw, yaw) degrees (paper: 45).
        pitch: pitch drawn from U(-pitch, pitch) degrees (official code: 15; paper text: 10).
        roll: roll drawn from U(-roll, roll) degrees (paper: 0).
        shuffle_light: perturbed light = the batch's predicted lights, shuffled (paper);
            otherwise the predicted light is kept.
        warmup_steps: steps of M's warm-up (ours; 0 = none): at the first step of the terms
            that read the perturbation, M's edit alone is trained on the view cycle of eq. 5
            (rotations, the decoders frozen) with fresh codes, a few MLP passes per step and
            no teacher or render, so that the perturbed views show the requested pitch as
            well as the yaw from their first step (:meth:`ganlift.lifter.Lifter.warm_up_manipulation`).
        warmup_batch: codes per warm-up step.
        warmup_lr: Adam learning rate of the warm-up.
    """

    yaw: float = 45.0
    pitch: float = 15.0
    roll: float = 0.0
    shuffle_light: bool = True
    warmup_steps: int = 0
    warmup_batch: int = 32
    warmup_lr: float = 1e-3


@dataclass
class DistanceSection:
    """The image distance d(a, b) shared by reconstruction, flip and perturbation terms.

    ``d = l1 * L1 + perceptual_weight * perceptual``, masked by the rendered valid-pixel mask.

    Attributes:
        l1: weight of the masked L1 term.
        perceptual: ``"vgg16"`` (paper: timm VGG16 relu2_2/3_3/4_3 at 3 scales), ``"ssim"``
            (structural, no weights, for CPU-sized runs) or ``"none"``.
        perceptual_weight: weight of the perceptual term (paper: 1.0).
        perceptual_weights: local VGG16 weights file (timm or torchvision state dict,
            ``.safetensors`` or ``.pth``); empty = download ``perceptual_repo`` from the Hub.
        perceptual_repo: Hub repository of the VGG16 weights.
        scales: number of image scales (x1, x1/2, x1/4, ...) averaged (paper: 3).
    """

    l1: float = 1.0
    perceptual: str = "vgg16"
    perceptual_weight: float = 1.0
    perceptual_weights: str = ""
    perceptual_repo: str = "timm/vgg16.tv_in1k"
    scales: int = 3


@dataclass
class TrainSection:
    """Optimiser and schedule: the one definition of the training settings and their defaults.

    :class:`ganlift.train.TrainSettings`, what the training loop takes, extends this class
    with the run's seed, the codes' truncation and Adam's weight decay, so a setting left out
    of a recipe has the same default in the recipe and in the loop.

    Attributes:
        steps: training steps (paper: 50k iterations in the official code, 30k in the text).
        batch_size: codes per step (per process under torchrun).
        lr: Adam learning rate (paper: 1e-4).
        lr_decay: fraction of the run, at its end, over which the learning rate falls from
            ``lr`` to 0 along a half cosine (0 = constant, the paper; 1 = cosine over the
            whole run). A function of the step alone, so a resumed run follows it exactly.
        betas: Adam betas.
        grad_clip: clip the global gradient norm to this value; 0 turns clipping off.
        log_every: steps between log lines.
        sample_every: steps between sample grids.
        checkpoint_every: steps between checkpoints.
        num_samples: samples per grid.
        precision: ``"fp32"`` or ``"bf16"`` (autocast of the networks and the teacher; the
            renderer's coordinate maths stays in float32).
        channels_last: channels-last memory format for the lifter's convolutions (GPU).
        compile: ``torch.compile`` backend for the lifter's five networks (``"inductor"``,
            ``"eager"`` ...); empty = not compiled.
    """

    steps: int = 50_000
    batch_size: int = 8
    lr: float = 1e-4
    lr_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    grad_clip: float = 0.0
    log_every: int = 50
    sample_every: int = 1000
    checkpoint_every: int = 5000
    num_samples: int = 8
    precision: str = "fp32"
    channels_last: bool = False
    compile: str = ""


PRECISIONS = ("fp32", "bf16")  # train.precision: float32, or bf16 autocast
PERTURBATION_BASES = ("neutral", "own")  # lifter.perturbation_base: what w' is edited from


_SECTIONS: dict[str, type] = {
    "teacher": TeacherSection,
    "lifter": LifterSection,
    "render": RenderSection,
    "perturb": PerturbSection,
    "distance": DistanceSection,
    "train": TrainSection,
}
_TOP_KEYS = ("name", "description", "extends", *_SECTIONS, "losses")
_PERCEPTUAL = ("vgg16", "ssim", "none")


@dataclass
class Recipe:
    """A complete, validated recipe. Build with :func:`load_recipe` or :meth:`from_dict`.

    Attributes:
        name: recipe name.
        description: one line shown by ``ganlift recipes``.
        teacher, lifter, render, perturb, distance, train: the sections (see their classes).
        losses: loss term name -> options dict with at least ``weight``; terms with weight 0
            are off. Names are registered in :data:`ganlift.losses.LOSSES`.
    """

    name: str = "custom"
    description: str = ""
    teacher: TeacherSection = field(default_factory=TeacherSection)
    lifter: LifterSection = field(default_factory=LifterSection)
    render: RenderSection = field(default_factory=RenderSection)
    perturb: PerturbSection = field(default_factory=PerturbSection)
    distance: DistanceSection = field(default_factory=DistanceSection)
    train: TrainSection = field(default_factory=TrainSection)
    losses: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "recipe") -> "Recipe":
        """Validate a fully resolved recipe dict (no ``extends``) and build the Recipe.

        Raises:
            ValueError: unknown section/key/loss term, wrong type or out-of-range value.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: a recipe must be a table, got {type(data).__name__}")
        _check_keys(data, _TOP_KEYS, source)
        if data.get("extends"):
            raise ValueError(f"{source}: 'extends' must be resolved first; use load_recipe()")
        kwargs: dict[str, Any] = {
            "name": _typed(data.get("name", "custom"), str, f"{source}: name"),
            "description": _typed(data.get("description", ""), str, f"{source}: description"),
        }
        for key, section_cls in _SECTIONS.items():
            table = data.get(key, {})
            if not isinstance(table, Mapping):
                raise ValueError(f"{source}: [{key}] must be a table, got {table!r}")
            kwargs[key] = _build_section(section_cls, table, f"{source}: [{key}]")
        kwargs["losses"] = _build_losses(data.get("losses", {}), f"{source}: [losses]")
        recipe = cls(**kwargs)
        recipe.validate(source)
        return recipe

    def validate(self, source: str = "recipe") -> None:
        """Check value ranges. Raises ValueError naming the key and the allowed values."""
        lf, tr = self.lifter, self.train
        res = lf.resolution
        if res < 8 or res & (res - 1):
            raise ValueError(f"{source}: lifter.resolution must be a power of two >= 8, got {res}")
        if len(lf.depth_range) != 2 or not lf.depth_range[0] < 1.0 < lf.depth_range[1]:
            raise ValueError(
                f"{source}: lifter.depth_range must be [min, max] around 1.0, got {lf.depth_range}"
            )
        if lf.transform_blur < 0 or (lf.transform_blur and lf.transform_blur % 2 == 0):
            raise ValueError(
                f"{source}: lifter.transform_blur must be 0 or an odd kernel size, "
                f"got {lf.transform_blur}"
            )
        if 2 * lf.border_columns >= res or 2 * lf.transform_frame >= res:
            raise ValueError(f"{source}: lifter.border_columns/transform_frame too large for {res}")
        for key in ("mlp_layers", "decoder_width", "decoder_min_width"):
            if getattr(lf, key) < 1:
                raise ValueError(f"{source}: lifter.{key} must be >= 1")
        if lf.manipulation not in ("delta", "linear", "residual", "mlp"):
            raise ValueError(
                f"{source}: lifter.manipulation must be 'delta', 'linear', 'residual' or 'mlp', "
                f"got {lf.manipulation!r}"
            )
        if tr.precision not in PRECISIONS:
            raise ValueError(f"{source}: train.precision must be one of {', '.join(PRECISIONS)}, "
                             f"got {tr.precision!r}")
        if lf.depth_mode not in ("range", "relief"):
            raise ValueError(f"{source}: lifter.depth_mode must be 'range' or 'relief', got {lf.depth_mode!r}")
        if lf.depth_mode == "relief" and not lf.depth_range[0] < lf.border_depth:
            raise ValueError(f"{source}: lifter.depth_mode 'relief' needs depth_range[0] < border_depth")
        if lf.perturbation_base not in PERTURBATION_BASES:
            raise ValueError(f"{source}: lifter.perturbation_base must be one of "
                             f"{', '.join(repr(b) for b in PERTURBATION_BASES)}, got {lf.perturbation_base!r}")
        for key, value, default in (("perturbation_trains_neutral", lf.perturbation_trains_neutral, True),
                                    ("manipulation_separate_edit", lf.manipulation_separate_edit, False),
                                    ("perturbation_base", lf.perturbation_base, "neutral")):
            if value != default and lf.manipulation != "delta":
                raise ValueError(f"{source}: lifter.{key} = {str(value).lower()} needs lifter.manipulation 'delta' "
                                 f"(the form with a neutral code and an edit), got {lf.manipulation!r}")
        pt = self.perturb
        if pt.warmup_steps < 0 or pt.warmup_batch < 1 or pt.warmup_lr <= 0:
            raise ValueError(f"{source}: perturb.warmup_steps >= 0, perturb.warmup_batch >= 1 and "
                             f"perturb.warmup_lr > 0, got {pt.warmup_steps}, {pt.warmup_batch}, {pt.warmup_lr}")
        if pt.warmup_steps and lf.manipulation != "delta":
            raise ValueError(f"{source}: perturb.warmup_steps needs lifter.manipulation 'delta' (it trains the "
                             f"edit), got {lf.manipulation!r}")
        if lf.manipulation_rank < 1:
            raise ValueError(f"{source}: lifter.manipulation_rank must be >= 1, got {lf.manipulation_rank}")
        if lf.mlp_width < 0:
            raise ValueError(f"{source}: lifter.mlp_width must be >= 0 (0 = teacher w_dim)")
        if not 0 < lf.min_shading <= 1:
            raise ValueError(f"{source}: lifter.min_shading must be in (0, 1]")
        if not 0 < self.render.fov < 180:
            raise ValueError(f"{source}: render.fov must be in (0, 180) degrees")
        if self.distance.perceptual not in _PERCEPTUAL:
            raise ValueError(
                f"{source}: distance.perceptual must be one of {', '.join(_PERCEPTUAL)}, "
                f"got {self.distance.perceptual!r}"
            )
        if self.distance.scales < 1:
            raise ValueError(f"{source}: distance.scales must be >= 1")
        if not 0 < self.teacher.truncation <= 1.5:
            raise ValueError(f"{source}: teacher.truncation must be in (0, 1.5]")
        if tr.steps < 0 or tr.batch_size < 1 or tr.lr <= 0:
            raise ValueError(f"{source}: train.steps >= 0, train.batch_size >= 1, train.lr > 0")
        if len(tr.betas) != 2:
            raise ValueError(f"{source}: train.betas must be [beta1, beta2]")
        for key in ("yaw", "pitch", "roll"):
            if not 0 <= getattr(self.perturb, key) <= lf.max_rotation:
                raise ValueError(
                    f"{source}: perturb.{key} must be in [0, lifter.max_rotation="
                    f"{lf.max_rotation}]"
                )
        _check_bounds(self, source)

    # ------------------------------------------------------------------ reading
    def to_dict(self) -> dict:
        """A plain, JSON/TOML-serialisable dict that :meth:`from_dict` turns back into it."""
        out = dataclasses.asdict(self)
        out["losses"] = copy.deepcopy(self.losses)
        return out

    def to_toml(self) -> str:
        """The resolved recipe as TOML text (``tomli_w``).

        TOML has no null: a ``None`` option (a loss option whose default is None) is left
        out, and reading the text back gives that default again, so
        ``Recipe.from_dict(tomllib.loads(r.to_toml())) == r``.
        """
        import tomli_w

        return tomli_w.dumps(_drop_none(self.to_dict()))

    def enabled_losses(self) -> dict[str, dict]:
        """Terms with a non-zero weight: name -> options (``weight`` included)."""
        return {k: dict(v) for k, v in self.losses.items() if float(v.get("weight", 0)) != 0}

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> "Recipe":
        """A copy with ``overrides`` applied (dotted keys or nested tables)."""
        if not overrides:
            return copy.deepcopy(self)
        data = _merge(self.to_dict(), _nest(overrides))
        return Recipe.from_dict(data, source=f"recipe {self.name!r} with overrides")


# Sizes a recipe may ask for: beyond them a lift would allocate gigabytes (a 2**30 resolution,
# a 10001-tap blur) before doing anything useful.
MAX_RESOLUTION = 1024
MAX_WIDTH = 4096
MAX_LAYERS = 32


def _bound(source: str, key: str, value: Any, allowed: str, ok: bool) -> None:
    if not ok:
        raise ValueError(f"{source}: {key} must be {allowed}, got {value!r}")


def _check_bounds(recipe: "Recipe", source: str) -> None:
    """Range checks on sizes, rates and schedules (called by :meth:`Recipe.validate`).

    Raises:
        ValueError: naming the key, the allowed range and the value.
    """
    lf, tr, tc = recipe.lifter, recipe.train, recipe.teacher
    res = lf.resolution
    checks = [
        ("lifter.resolution", res, f"a power of two in [8, {MAX_RESOLUTION}]", 8 <= res <= MAX_RESOLUTION),
        ("lifter.transform_blur", lf.transform_blur,
         f"0 or an odd kernel size <= 2 * lifter.resolution + 1 = {2 * res + 1}", lf.transform_blur <= 2 * res + 1),
        ("lifter.mlp_width", lf.mlp_width, f"in [0, {MAX_WIDTH}] (0 = teacher w_dim)", lf.mlp_width <= MAX_WIDTH),
        ("lifter.mlp_layers", lf.mlp_layers, f"in [1, {MAX_LAYERS}]", 1 <= lf.mlp_layers <= MAX_LAYERS),
        ("lifter.decoder_width", lf.decoder_width, f"in [1, {MAX_WIDTH}]", 1 <= lf.decoder_width <= MAX_WIDTH),
        ("lifter.decoder_min_width", lf.decoder_min_width,
         f"in [1, lifter.decoder_width={lf.decoder_width}]", 1 <= lf.decoder_min_width <= lf.decoder_width),
        ("lifter.depth_prior_width", lf.depth_prior_width, "> 0 (a fraction of the image)", lf.depth_prior_width > 0),
        ("lifter.max_rotation", lf.max_rotation, "in [0, 90] degrees", 0 <= lf.max_rotation <= 90),
        ("lifter.max_translation", lf.max_translation, "in [0, 0.5] scene units", 0 <= lf.max_translation <= 0.5),
        ("lifter.max_translation_z", lf.max_translation_z, "in [0, 0.5] scene units",
         0 <= lf.max_translation_z <= 0.5),
        ("lifter.light_direction", lf.light_direction, "in (0, 10] (the +- range of dx, dy)",
         0 < lf.light_direction <= 10),
        ("render.fov", recipe.render.fov, "in [1, 120] degrees", 1 <= recipe.render.fov <= 120),
        ("teacher.prior_samples", tc.prior_samples, "an integer >= 2", tc.prior_samples >= 2),
        ("train.lr", tr.lr, "in (0, 1]", 0 < tr.lr <= 1),
        ("train.lr_decay", tr.lr_decay, "in [0, 1] (a fraction of the steps)", 0 <= tr.lr_decay <= 1),
        ("train.betas", tr.betas, "two numbers in [0, 1)", len(tr.betas) == 2 and all(0 <= b < 1 for b in tr.betas)),
        ("train.grad_clip", tr.grad_clip, ">= 0 (0 = off)", tr.grad_clip >= 0),
        ("train.log_every", tr.log_every, "an integer >= 1", tr.log_every >= 1),
        ("train.checkpoint_every", tr.checkpoint_every, "an integer >= 1", tr.checkpoint_every >= 1),
        ("train.sample_every", tr.sample_every, "an integer >= 0 (0 = no sample grids)", tr.sample_every >= 0),
        ("train.num_samples", tr.num_samples, "in [1, 64]", 1 <= tr.num_samples <= 64),
        ("train.batch_size", tr.batch_size, "in [1, 4096]", 1 <= tr.batch_size <= 4096),
    ]
    for key, value, allowed, ok in checks:
        _bound(source, key, value, allowed, ok)


# ---------------------------------------------------------------------------- registry
RECIPES = Registry("recipe")

"""Recipe name -> path of a TOML file, a dict or a :class:`Recipe`. Shipped: faces, cats, ..."""


def _register_shipped() -> None:
    try:
        folder = data_dir("recipes")
    except FileNotFoundError:
        return
    for path in sorted(folder.glob("*.toml")):
        RECIPES.register(path.stem, path, overwrite=True)


_register_shipped()


def load_recipe(
    name_or_path: "str | os.PathLike | Recipe | Mapping[str, Any]",
    overrides: Mapping[str, Any] | None = None,
) -> Recipe:
    """Load a recipe by registered name, TOML path, dict or Recipe, then apply ``overrides``.

    Args:
        name_or_path: ``"faces"``, ``"cats"``, ``"synthetic"``, ... (see ``RECIPES.names()``),
            a path to a ``.toml`` file, a dict with the recipe's tables, or a Recipe.
        overrides: ``{"train.steps": 100, "losses.flip.weight": 0}`` or nested tables.

    Returns:
        A validated :class:`Recipe`.

    Raises:
        KeyError: unknown name (with close matches) that is not an existing path either.
        ValueError: invalid content.
    """
    if isinstance(name_or_path, Recipe):
        return name_or_path.with_overrides(overrides)
    data = _resolve(name_or_path, chain=())
    if overrides:
        data = _merge(data, _nest(overrides))
    label = name_or_path if isinstance(name_or_path, (str, os.PathLike)) else "recipe"
    return Recipe.from_dict(data, source=f"recipe {str(label)!r}")


def recommended_recipe(teacher: Any, source: Any = None) -> str:
    """The recipe a teacher is best lifted with.

    In this order: the teacher's ``recommended_recipe`` attribute (zoo teachers set it); the
    one of the registered factory named ``source`` (what the teacher was loaded from); a
    ``"recipe"`` key in ``reference()``; otherwise :func:`choose_recipe` decides from the
    teacher's resolution and name (which says whether a face-identity network applies).

    Args:
        teacher: a Teacher, or anything with a ``name``.
        source: the registered name the teacher was loaded with, if any.
    """
    rec = getattr(teacher, "recommended_recipe", None)
    if callable(rec):
        rec = rec()
    if not rec and isinstance(source, str):
        from ganlift.teachers import TEACHERS

        named = getattr(TEACHERS.get(source), "recommended_recipe", None) if source in TEACHERS else None
        rec = named if isinstance(named, str) else None
    if not rec and hasattr(teacher, "reference"):
        try:
            rec = teacher.reference().get("recipe")
        except Exception:  # a broken reference() must not hide the fallback
            rec = None
    return str(rec) if rec else choose_recipe(teacher)[0]


# Teachers up to this resolution get the CPU-sized recipes (SSIM, no weights to download).
CPU_RESOLUTION = 128
_FACE_NAMES = ("ffhq", "celeba", "face", "human")


def choose_recipe(teacher: Any) -> tuple[str, str]:
    """The shipped recipe for a teacher that names none, and why (for the log).

    Up to ``CPU_RESOLUTION`` pixels: the CPU-sized ``synthetic`` recipe (``synthetic-cats``
    for cats), which needs no weights. Above: the paper's settings, ``faces`` for human faces
    (it needs a face-identity network's weights) and ``cats`` otherwise (the same objective
    without the identity term, which no other category has a network for).

    Returns:
        ``(recipe name, reason)``.
    """
    name = str(getattr(teacher, "name", teacher)).lower()
    resolution = int(getattr(teacher, "resolution", 0) or 0)
    cat = "cat" in name or "afhq" in name
    if resolution and resolution <= CPU_RESOLUTION or name.startswith("synthetic"):
        rec = "synthetic-cats" if cat else "synthetic"
        return rec, (f"{resolution} px teacher: the CPU-sized recipe (SSIM distance, no weights needed)"
                     if resolution else "a synthetic teacher: the CPU-sized recipe")
    if any(k in name for k in _FACE_NAMES) and not cat:
        return "faces", "human faces above 128 px: the paper's FFHQ settings (VGG16 and identity weights)"
    return "cats", (f"{name or 'a teacher'} above 128 px: the paper's settings without the face-identity "
                    "term (VGG16 weights only)")


def parse_overrides(items: "list[str] | str | Mapping[str, Any] | None") -> dict[str, Any]:
    """Parse ``["train.steps=100", "distance.perceptual=ssim"]`` into an overrides dict.

    Values are read as TOML values (numbers, booleans, strings, arrays); anything that is
    not valid TOML is taken as a plain string. A dict is returned as a copy, one string is
    one item, None is no overrides.

    Raises:
        ValueError: an item without ``=``.
    """
    if isinstance(items, Mapping):
        return dict(items)
    out: dict[str, Any] = {}
    for item in [items] if isinstance(items, str) else [str(i) for i in items or []]:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} must look like section.key=value")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        out[key.strip()] = value
    return out


# ---------------------------------------------------------------------------- internals
def _resolve(source: Any, chain: tuple, base_dir: Path | None = None) -> dict:
    """Load ``source`` as a raw dict with its ``extends`` chain merged in."""
    if isinstance(source, Recipe):
        return source.to_dict()
    if isinstance(source, Mapping):
        data, here, label = copy.deepcopy(dict(source)), base_dir, "recipe"
    else:
        path, label = _locate(source, base_dir), str(source)
        if path is None:  # a registered dict or Recipe
            entry = RECIPES.get(str(source))
            return _resolve(entry, chain + (str(source),), base_dir)
        key = str(path.resolve())
        if key in chain:
            raise ValueError(f"recipe {label!r}: 'extends' forms a cycle: {' -> '.join(chain)}")
        chain = chain + (key,)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"recipe {str(path)!r} is not valid TOML: {err}") from None
        data.setdefault("name", path.stem)
        here = path.parent
    parent = data.pop("extends", None)
    if parent:
        if not isinstance(parent, str):
            raise ValueError(f"recipe {label!r}: 'extends' must be a recipe name or path")
        base = _resolve(parent, chain, here)
        base.pop("description", None)
        data = _merge(base, data)
    return data


def _locate(source: Any, base_dir: Path | None) -> Path | None:
    """The file for a name or path; None for a registered non-file entry."""
    text = os.fspath(source)
    if text in RECIPES:
        entry = RECIPES.get(text)
        if isinstance(entry, (str, os.PathLike)):
            return Path(entry)
        return None
    candidates = [Path(os.path.expanduser(text))]
    if base_dir is not None and not Path(text).is_absolute():
        candidates.insert(0, base_dir / text)
    for cand in candidates:
        if cand.is_file():
            return cand
    close = difflib.get_close_matches(text, RECIPES.names(), n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise KeyError(
        f"unknown recipe {text!r}: not a registered name and not an existing file.{hint} "
        f"Known recipes: {', '.join(RECIPES.names()) or '(none)'}; or pass a path to a .toml file"
    )


def _merge(base: dict, top: Mapping) -> dict:
    """Deep merge: tables merge key by key, everything else in ``top`` replaces ``base``."""
    out = copy.deepcopy(base)
    for key, value in top.items():
        old = out.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            out[key] = _merge(dict(old), value)
        elif isinstance(old, Mapping) and isinstance(value, (int, float)) and not isinstance(
            value, bool
        ):
            out[key] = _merge(dict(old), {"weight": value})  # `flip = 0` over a term's table
        else:
            out[key] = copy.deepcopy(value)
    return out


def _full_key(key: str) -> str:
    """Expand a short override key: ``steps`` -> ``train.steps`` when only one section has it."""
    if "." in key or key in _TOP_KEYS:
        return key
    owners = [f"{s}.{key}" for s, cls in _SECTIONS.items() if key in {f.name for f in dataclasses.fields(cls)}]
    import ganlift.losses.terms  # noqa: F401  (registers the built-in terms)
    from ganlift.losses import LOSSES

    if key in LOSSES or key in RENAMED_LOSSES:
        owners.append(f"losses.{key}")
    if len(owners) == 1:
        return owners[0]
    if owners:
        raise ValueError(f"override {key!r} is ambiguous; write one of {', '.join(owners)}")
    raise ValueError(f"override {key!r}: unknown key; use section.key, sections: {', '.join(_SECTIONS)}, losses")


def _nest(overrides: Mapping[str, Any], expand: bool = True) -> dict:
    """``{"a.b": 1, "c": {"d": 2}}`` -> ``{"a": {"b": 1}, "c": {"d": 2}}``.

    Keys without a section (``steps``) are expanded when one section has them.
    """
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        parts = (_full_key(str(key)) if expand else str(key)).split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {key!r} conflicts with another override")
        if isinstance(value, Mapping):
            value = _nest(value, expand=False)
            if isinstance(node.get(parts[-1]), dict):
                value = _merge(node[parts[-1]], value)
        node[parts[-1]] = value
    return out


def _check_keys(data: Mapping, allowed: tuple | list, where: str) -> None:
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"{where}: unknown key {key!r}{hint}; allowed keys: {', '.join(allowed)}"
            )


def _typed(value: Any, kind: type, where: str) -> Any:
    """Check ``value`` against the type of a default; ints are accepted as floats."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is list and isinstance(value, tuple):
        return list(value)
    if kind is bool and not isinstance(value, bool):
        raise ValueError(f"{where} must be true or false, got {value!r}")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{where} must be a {kind.__name__}, got {value!r}")
    if kind is float and not math.isfinite(value):
        raise ValueError(f"{where} must be finite, got {value!r}")
    return value


def _build_section(cls: type, table: Mapping, where: str) -> Any:
    defaults = cls()
    names = [f.name for f in dataclasses.fields(cls)]
    _check_keys(table, names, where)
    values = {}
    for name in names:
        default = getattr(defaults, name)
        value = table.get(name, default)
        values[name] = _typed(value, type(default), f"{where} {name}")
        if isinstance(default, list):
            values[name] = [_typed(v, float, f"{where} {name}[]") for v in values[name]]
    return cls(**values)


def _loss_options(name: str, where: str) -> dict[str, Any]:
    """The options (keyword -> default) that the loss term ``name`` accepts."""
    import ganlift.losses.terms  # noqa: F401  (registers the built-in terms)
    from ganlift.losses import LOSSES

    try:
        term = LOSSES.get(name)
    except KeyError as err:
        raise ValueError(f"{where}: {err.args[0]}") from None
    options = getattr(term, "recipe_options", None)
    if options is None:
        options = {
            p.name: p.default
            for p in inspect.signature(term).parameters.values()
            if p.kind is p.KEYWORD_ONLY and p.default is not p.empty
        }
    return dict(options)


# Keys before the perturbation terms were named after eq. 4 of the paper: the old
# "perturb_a" was the paper's (b) and the old "perturb_b" its (a).
RENAMED_LOSSES = {"perturb_a": "perturbation_b", "perturb_b": "perturbation_a"}
# Every term's schedule (LossSet): off before ``start``, then its weight ramps up linearly
# over ``ramp`` steps.
SCHEDULE_KEYS = {"start": 0, "ramp": 0}


def _renamed(table: Mapping, where: str) -> dict:
    """``table`` with old loss names replaced by the new ones (a DeprecationWarning each);
    an old key wins over the new one it maps to, since it was written on top of it."""
    import warnings

    out = dict(table)
    for old, new in RENAMED_LOSSES.items():
        if old in out:
            warnings.warn(f"{where}: loss {old!r} is now called {new!r} (paper eq. 4); "
                          "the old name will stop working in a later release", DeprecationWarning,
                          stacklevel=3)
            out[new] = out.pop(old)
    return out


def _build_losses(table: Any, where: str) -> dict:
    if not isinstance(table, Mapping):
        raise ValueError(f"{where} must be a table of loss terms")
    out = {}
    for name, spec in _renamed(table, where).items():
        here = f"{where} {name}"
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            spec = {"weight": spec}
        if not isinstance(spec, Mapping):
            raise ValueError(f"{here} must be a weight or a table with 'weight', got {spec!r}")
        options = _loss_options(name, where)
        allowed = ["weight", *SCHEDULE_KEYS, *options]
        _check_keys(spec, allowed, here)
        entry = {"weight": _typed(spec.get("weight", 0.0), float, f"{here} weight")}
        for key, default in SCHEDULE_KEYS.items():
            value = _typed(spec.get(key, default), int, f"{here} {key}")
            if value < 0:
                raise ValueError(f"{here} {key} must be a step count >= 0, got {value}")
            entry[key] = value
        for key, default in options.items():
            value = spec.get(key, default)
            entry[key] = value if default is None else _typed(value, type(default), f"{here} {key}")
        if entry["weight"] < 0:
            raise ValueError(f"{here} weight must be >= 0, got {entry['weight']}")
        out[name] = entry
    return out


def _drop_none(value: Any) -> Any:
    """``value`` without the None entries of its tables (TOML has no null)."""
    if isinstance(value, Mapping):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_drop_none(v) for v in value]
    return value
