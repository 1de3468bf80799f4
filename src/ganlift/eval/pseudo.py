"""Pseudo ground truth for GAN teachers by analysis-by-synthesis.

A trained GAN has no 3D truth. The paper (LiftedGAN, table 2) scores a lift of a StyleGAN2
against a 3D reconstruction fitted to each GAN sample; here the reconstruction is the
synthetic teacher the GAN was trained on (:class:`~ganlift.teachers.synthetic.SyntheticTeacher`):
its code is optimised until its render matches the GAN image, and depth, pose, light and the
novel-view / relighting truth come from the fitted synthetic object.

* :func:`fit_synthetic`: the batched, seeded fitter (returns a :class:`Fit`).
* :class:`PseudoTruth`: a teacher-like wrapper (GAN + synthetic model) that
  :func:`ganlift.eval.evaluate` scores against like a synthetic teacher; its metrics carry
  ``"pseudo": True`` and the fit residuals.

How the fit works (see :func:`fit_synthetic`)::

    starts:  the best `restarts` of `candidates` random codes by L1 at the coarse size
    stage 1: Adam on the factor coordinates u at `coarse` px (`steps` steps, prune to the
             best start of each image after `prune * steps`)
    stage 2: Adam at the full resolution (`refine` steps, smaller learning rate)
    loss:    L1 + (1 - SSIM) / 2 (ganlift.invert.image_loss) + prior * mean(u ** 2)

Example:
    >>> gan = ganlift.load_teacher("gan-faces-64")
    >>> truth = PseudoTruth(gan, "synthetic-faces")
    >>> metrics = evaluate(lifter, truth, n=256)       # metrics["pseudo"] is True
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ganlift.invert import Rows, _check_int, image_loss, optimise_rows

Tensor = torch.Tensor

SPACES = ("f", "u", "w")
F_LIMIT = 0.995  # |f| bound of the factor parametrisation (u up to atanh(0.995) / gain)
FIT_FORMAT = "ganlift-pseudo-truth-fits"
FIT_FORMAT_VERSION = 1

# Defaults tuned on held-out synthetic images (seed 1 codes, benchmarks/fitter.py; ``refine``
# raised from 50 to 100 on 32 seed-2 codes of each teacher: depth 0.091 -> 0.066 on faces,
# 0.095 -> 0.078 on cats, 1.7x the time; the seed 1 benchmark then moved 0.109 -> 0.082 and
# 0.081 -> 0.061).
DEFAULTS: dict[str, Any] = {
    "steps": 40,
    "refine": 100,
    "coarse": 32,
    "restarts": 3,
    "candidates": 1024,
    "prune": 0.25,
    "lr": 0.1,
    "refine_lr": 0.06,
    "l1": 1.0,
    "ssim": 1.0,
    "prior": 1e-3,
    "space": "u",
}


@dataclass
class Fit:
    """The result of :func:`fit_synthetic`.

    Attributes:
        codes: (N, w_dim) fitted codes of the synthetic model (render them with
            ``model.synthesis(codes)``; truth with ``model.ground_truth(codes)``).
        residual: (N,) mean absolute difference in [0, 1] image units between the fitted
            render and the image, at the model's resolution.
        loss: (N,) the final objective of each kept code (at the last stage's size).
        seconds: wall time of the fit.
        settings: the fitter settings used (JSON-ready).
    """

    codes: Tensor
    residual: Tensor
    loss: Tensor
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.codes.shape[0])


# ---------------------------------------------------------------------------- checks


def _check_number(name: str, value: Any, low: float = 0.0, high: float = math.inf) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not low <= value <= high:
        raise ValueError(f"{name} must be a number in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def _check_model(model: Any) -> None:
    from ganlift.teachers.synthetic import SyntheticTeacher

    if not isinstance(model, SyntheticTeacher):
        raise TypeError(
            f"model must be a SyntheticTeacher (e.g. ganlift.load_teacher('synthetic-faces')), got {type(model).__name__}"
        )


def _check_images(images: Any, resolution: int) -> Tensor:
    """(N, 3, R, R) in [-1, 1] -> float tensor in [0, 1]."""
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        raise TypeError(f"images must be a float tensor (N, 3, R, R) in [-1, 1], got {type(images).__name__}")
    if images.dim() != 4 or images.shape[1] != 3 or images.shape[0] == 0:
        raise ValueError(f"images must have shape (N, 3, R, R) with N >= 1, got {tuple(images.shape)}")
    if images.shape[-2:] != (resolution, resolution):
        raise ValueError(
            f"images must be {resolution}x{resolution} (the model's resolution), got {tuple(images.shape[-2:])}"
        )
    if not bool(torch.isfinite(images).all()):
        raise ValueError("images contain NaN or infinite values")
    return ((images.detach().float() + 1.0) / 2.0).clamp(0.0, 1.0)


def _settings(options: dict[str, Any]) -> dict[str, Any]:
    """Validated fitter settings (DEFAULTS overridden by ``options``)."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"unknown fitter option(s) {unknown}; known: {sorted(DEFAULTS)}")
    s = {**DEFAULTS, **options}
    for name, low in (("steps", 0), ("refine", 0), ("coarse", 8), ("restarts", 1), ("candidates", 1)):
        _check_int(name, s[name], low)
    if s["candidates"] < s["restarts"]:
        raise ValueError(f"candidates ({s['candidates']}) must be >= restarts ({s['restarts']})")
    _check_number("prune", s["prune"], 0.0, 1.0)
    for name in ("lr", "refine_lr", "l1", "ssim", "prior"):
        _check_number(name, s[name])
    if s["l1"] == 0 and s["ssim"] == 0:
        raise ValueError("l1 and ssim are both 0: nothing compares the images")
    if s["space"] not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {s['space']!r}")
    return s


# ---------------------------------------------------------------------------- parametrisation


def _to_w(model: Any, p: Tensor, space: str) -> Tensor:
    """Parameters (B, P) -> codes w (B, w_dim).

    ``"u"``: the factor coordinates of :meth:`SyntheticTeacher.mixed` (P = n_factors); the
    readout rows are orthonormal, so ``w = mu + sigma * ((u * u_std) @ readout)`` is the code
    with these factors and no component in the readout's null space (which changes nothing).
    ``"w"``: the standardised code ``(w - mu) / sigma`` (P = w_dim), as :func:`ganlift.invert`.
    """
    if space == "f":
        p = torch.atanh(p.clamp(-F_LIMIT, F_LIMIT)) / _gains(model)
        space = "u"
    if space == "u":
        return model.w_mean + model.w_std * ((p * model.u_std) @ model.readout)
    return model.w_mean + model.w_std * p


def _from_w(model: Any, w: Tensor, space: str) -> Tensor:
    """Codes w (B, w_dim) -> parameters (B, P) (the inverse of :func:`_to_w` on its range)."""
    if space == "f":
        return torch.tanh(_gains(model) * model.mixed(w)).clamp(-F_LIMIT, F_LIMIT)
    if space == "u":
        return model.mixed(w)
    return (w - model.w_mean) / model.w_std


def _gains(model: Any) -> Tensor:
    """The tanh gain of every factor (n_factors,)."""
    return model.w_mean.new_tensor([spec.gain for spec in model.factor_specs])


def at_resolution(model: Any, size: int) -> Any:
    """The same synthetic model (identical buffers) drawing ``size`` x ``size`` images.

    Args:
        model: a SyntheticTeacher.
        size: the new resolution (>= 8).

    Returns:
        ``model`` itself when ``size`` is its resolution, else a new SyntheticTeacher.
    """
    from ganlift.teachers.synthetic import SyntheticTeacher

    if size == model.resolution:
        return model
    options = {k: v for k, v in model.reference().items() if k not in ("name", "resolution", "seed")}
    options["w_mean_samples"] = 2  # the statistics are copied below, not re-estimated
    copy = SyntheticTeacher(model.kind, resolution=size, seed=model.seed, name=model.name, **options)
    copy.w_mean_samples = model.w_mean_samples
    copy.load_state_dict(model.state_dict())
    return copy.to(model.w_mean.device)


def _render01(model: Any, w: Tensor) -> Tensor:
    """``model.synthesis(w)`` in [0, 1]. (B, 3, R, R)."""
    return ((model.synthesis(w) + 1.0) / 2.0).clamp(0.0, 1.0)


def _resize(images: Tensor, size: int) -> Tensor:
    """Area-downsample (or bilinear-upsample) (B, C, S, S) images to ``size``."""
    if images.shape[-1] == size:
        return images
    if images.shape[-1] > size:
        return F.interpolate(images, size=(size, size), mode="area")
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


# ---------------------------------------------------------------------------- fitting


def _objective(model: Any, p: Tensor, target: Tensor, s: dict[str, Any]) -> Tensor:
    """Per-row loss: image_loss(render, target) + prior * mean(p ** 2). (R,)."""
    image = _render01(model, _to_w(model, p, s["space"]))
    return image_loss(image, target, s["l1"], s["ssim"]) + s["prior"] * p.pow(2).mean(1)


def _run_stage(
    model: Any, rows: Rows, targets: Tensor, steps: int, lr: float, s: dict[str, Any],
    prune_step: int, bar: Any,
) -> None:
    """Optimise ``rows`` for ``steps`` Adam steps against ``targets`` at the model's size
    (:func:`ganlift.invert.optimise_rows`; ``space="f"`` keeps the factors inside the tanh range)."""

    def report(step: int, rows: Rows) -> None:
        bar.update(1)
        if step % 10 == 0:
            bar.set_postfix(loss=f"{float(rows.best_loss.mean()):.4f}")

    project = (lambda p: p.clamp(-F_LIMIT, F_LIMIT)) if s["space"] == "f" else None
    optimise_rows(rows, lambda p, owner: _objective(model, p, targets[owner], s), steps, lr, targets.shape[0],
                  prune_step, project=project, report=report)


@torch.no_grad()
def _starts(model: Any, targets: Tensor, s: dict[str, Any], seed: int) -> Rows:
    """The best ``restarts`` of ``candidates`` seeded random codes per target, by L1.

    Args:
        model: the synthetic model at the comparison size.
        targets: (B, 3, S, S) in [0, 1] at the model's size.

    Returns:
        Rows (B * restarts) in the fitter's parametrisation.
    """
    pool_w = model.sample_w(s["candidates"], seed=seed)
    pool = torch.cat([_render01(model, pool_w[i : i + 64]) for i in range(0, pool_w.shape[0], 64)])
    # Mean absolute difference of every target to every candidate (B, candidates).
    dist = torch.cdist(targets.flatten(1), pool.flatten(1), p=1.0) / targets[0].numel()
    best = dist.topk(s["restarts"], dim=1, largest=False).indices  # (B, restarts)
    return Rows.start(_from_w(model, pool_w[best.flatten()], s["space"]), targets.shape[0], s["restarts"])


def _fit_chunk(
    model: Any, coarse_model: Any, targets: Tensor, s: dict[str, Any], seed: int, bar: Any
) -> tuple[Tensor, Tensor]:
    """Fit one chunk of targets (B, 3, R, R) in [0, 1]. Returns codes (B, w_dim), loss (B,)."""
    b = targets.shape[0]
    small = _resize(targets, coarse_model.resolution)
    rows = _starts(coarse_model, small, s, seed)
    prune_step = int(round(s["prune"] * s["steps"])) if s["restarts"] > 1 else -1
    _run_stage(coarse_model, rows, small, s["steps"], s["lr"], s, prune_step, bar)
    with torch.no_grad():
        rows.keep(rows.best(b))
        rows.p = rows.best_p.clone()
    if coarse_model is not model and s["refine"] > 0:
        rows.best_loss = torch.full_like(rows.best_loss, math.inf)  # a new size: a new objective
        _run_stage(model, rows, targets, s["refine"], s["refine_lr"], s, -1, bar)
    return _to_w(model, rows.best_p, s["space"]).detach(), rows.best_loss


def fit_synthetic(
    model: Any,
    images: Tensor,
    *,
    seed: int = 0,
    batch_size: int = 256,
    progress: bool = True,
    **options: Any,
) -> Fit:
    """Fit the synthetic model's code to each image (analysis-by-synthesis).

    Optimises, for every image at once (in chunks of ``batch_size``), the factor coordinates
    ``u`` of the synthetic model so that ``model.synthesis(code)`` matches the image: first at
    ``coarse`` pixels (``steps`` steps from the best ``restarts`` of ``candidates`` seeded
    random codes, pruned to the best start after ``prune * steps``), then ``refine`` steps at
    the model's resolution.

    Why ``u`` and not ``w``: every factor (yaw, a shape width, a colour) reads one coordinate
    of ``u`` and every coordinate of ``w`` moves all factors at once, so Adam's
    per-coordinate step sizes match the problem in ``u`` (each factor gets its own scale) and
    not in ``w`` (one scale for a mix of factors of very different sensitivity). On
    held-out synthetic images (16 faces, seed 1 codes, same budget) ``u`` reached depth
    error 0.187 and yaw error 1.46 deg where ``w`` reached 0.213 and 2.54 deg. Optimising
    the factors' tanh values themselves (``space="f"``, no saturation) did not help
    (0.146 against 0.140 for ``u``). ``"w"`` and ``"f"`` stay available for comparisons.

    Args:
        model: a :class:`~ganlift.teachers.synthetic.SyntheticTeacher`.
        images: (N, 3, R, R) images in [-1, 1] (a GAN's samples), R = ``model.resolution``.
        seed: seed of the random starting codes (fits are reproducible).
        batch_size: images fitted together.
        progress: show a tqdm progress bar.
        **options: fitter settings, defaults in :data:`DEFAULTS`: ``steps`` (coarse steps),
            ``refine`` (full-resolution steps), ``coarse`` (coarse size in pixels; at or
            above the model's resolution there is one stage at full size), ``restarts``,
            ``candidates``, ``prune`` (fraction of ``steps``), ``lr``, ``refine_lr``, ``l1``,
            ``ssim``, ``prior`` (weight of ``mean(p ** 2)`` of the parameters), ``space``
            (``"u"`` factor coordinates, ``"f"`` the factors' tanh values in (-1, 1), ``"w"``
            the standardised code).

    Returns:
        :class:`Fit` with ``codes`` (N, w_dim) and ``residual`` (N,) mean L1 in [0, 1].

    Raises:
        TypeError: ``model`` is not a SyntheticTeacher, ``images`` not a float tensor, or an
            unknown option.
        ValueError: a bad shape or option value, naming the argument.
    """
    from tqdm.auto import tqdm

    _check_model(model)
    targets = _check_images(images, model.resolution).to(model.w_mean.device)
    _check_int("batch_size", batch_size, 1)
    if seed is None or isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    settings = {**_settings(options), "seed": seed}
    s = dict(settings)
    coarse_model = at_resolution(model, min(s["coarse"], model.resolution))
    if coarse_model is model:  # one stage at full size: the refine steps join it
        s.update(steps=s["steps"] + s["refine"], refine=0)
    start = time.perf_counter()
    n = targets.shape[0]
    codes, losses = [], []
    total = math.ceil(n / batch_size) * (s["steps"] + s["refine"])
    # enable_grad: the fitter may run inside evaluate()'s no_grad (PseudoTruth fits lazily).
    with torch.enable_grad(), tqdm(total=total, desc=f"fit {model.name}", disable=not progress, leave=False) as bar:
        for i in range(0, n, batch_size):
            c, loss = _fit_chunk(model, coarse_model, targets[i : i + batch_size], s, seed, bar)
            codes.append(c)
            losses.append(loss)
    codes_all = torch.cat(codes)
    with torch.no_grad():
        residual = torch.cat([
            (_render01(model, codes_all[i : i + 64]) - targets[i : i + 64]).abs().mean(dim=(1, 2, 3))
            for i in range(0, n, 64)
        ])
    return Fit(codes=codes_all, residual=residual, loss=torch.cat(losses),
               seconds=time.perf_counter() - start, settings=settings)


# ---------------------------------------------------------------------------- pseudo truth


def w_key(w: Tensor) -> str:
    """Cache key of one code: sha1 of its float32 bytes (and shape). ``w``: (w_dim,) or (num_ws, w_dim)."""
    data = w.detach().float().cpu().contiguous()
    return hashlib.sha1(repr(tuple(data.shape)).encode() + data.numpy().tobytes()).hexdigest()


class FitMismatchError(ValueError):
    """A saved fit file does not belong to this GAN, model or sample set."""


class PseudoTruth:
    """A GAN teacher whose 3D truth is a synthetic object fitted to each of its samples.

    It behaves like a synthetic teacher for :func:`ganlift.eval.evaluate`: ``sample_w``,
    ``synthesis`` and ``mapping`` are the GAN's; ``ground_truth`` and ``render_truth`` come
    from the synthetic model's code fitted (:func:`fit_synthetic`) to ``gan.synthesis(w)``.
    Fits are cached per code (:func:`w_key`), so repeated calls on the same codes never
    refit; :meth:`precompute` / :meth:`save_fits` / :meth:`load_fits` store them.

    Args:
        gan: the GAN teacher (any :class:`~ganlift.teachers.Teacher`).
        model: the synthetic model it imitates: a SyntheticTeacher, or a registered name
            (``"synthetic-faces"``), loaded at the GAN's resolution.
        seed: seed of the fitter's random starts.
        batch_size: images fitted together.
        progress: show the fitter's progress bar.
        **options: fitter settings (see :data:`DEFAULTS`).

    Attributes:
        pseudo: always True (how :func:`ganlift.eval.evaluate` recognises pseudo truth).
        fit_calls: number of times the fitter ran (a cache that works keeps this low).
    """

    pseudo = True

    def __init__(self, gan: Any, model: Any, *, seed: int = 0, batch_size: int = 256,
                 progress: bool = True, **options: Any) -> None:
        if not callable(getattr(gan, "synthesis", None)) or not callable(getattr(gan, "sample_w", None)):
            raise TypeError(f"gan must be a ganlift Teacher, got {type(gan).__name__}")
        if isinstance(model, str):
            from ganlift.teachers.loading import load_teacher

            model = load_teacher(model, resolution=int(gan.resolution))
        _check_model(model)
        self.gan, self.model = gan, model
        self.settings = {**_settings(options), "seed": _check_int("seed", seed, 0)}
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.progress = progress
        self.fit_calls = 0
        self._codes: dict[str, Tensor] = {}
        self._residual: dict[str, float] = {}

    # -- the teacher side (the GAN's) ---------------------------------------------------------
    @property
    def name(self) -> str:
        return getattr(self.gan, "name", "gan")

    def __getattr__(self, attr: str) -> Any:
        # z_dim, w_dim, num_ws, resolution, w_mean, w_std, mapping, truncate, ...: the GAN's.
        if attr.startswith("_") or attr in ("gan", "model"):
            raise AttributeError(attr)
        return getattr(self.gan, attr)

    @property
    def fov(self) -> float:
        """The synthetic model's field of view (the truth is rendered with it)."""
        return self.model.fov

    def sample_w(self, n: int, seed: int | None = None, psi: float = 1.0) -> Tensor:
        """The GAN's codes ``(n, w_dim)``."""
        return self.gan.sample_w(n, seed=seed, psi=psi)

    def synthesis(self, w: Tensor, return_features: bool = False) -> Any:
        """The GAN's images (see :meth:`Teacher.synthesis`)."""
        return self.gan.synthesis(w, return_features=return_features)

    def reference(self) -> dict[str, Any]:
        """The GAN's reference plus ``"pseudo_truth"``: the model and the fitter settings."""
        ref = dict(self.gan.reference()) if callable(getattr(self.gan, "reference", None)) else {"name": self.name}
        ref["pseudo_truth"] = {"model": self.model.reference(), **self.settings}
        return ref

    # -- fits ---------------------------------------------------------------------------------
    def _target_images(self, w: Tensor) -> Tensor:
        """GAN images of ``w`` at the model's resolution, in [-1, 1]. (B, 3, R, R)."""
        with torch.no_grad():
            images = self.gan.synthesis(w).float()
        return _resize(images, self.model.resolution).clamp(-1.0, 1.0)

    def fitted_codes(self, w: Tensor) -> Tensor:
        """The synthetic codes fitted to ``gan.synthesis(w)``, fitting only uncached codes.

        Args:
            w: (B, w_dim) or (B, num_ws, w_dim) GAN codes.

        Returns:
            (B, model.w_dim) synthetic codes.
        """
        keys = [w_key(row) for row in w]
        todo = sorted({i for i, k in enumerate(keys) if k not in self._codes})
        if todo:
            fit = self.fit(w[todo])
            self._remember([keys[i] for i in todo], fit.codes, fit.residual)
        return torch.stack([self._codes[k] for k in keys]).to(self.model.w_mean.device)

    def _remember(self, keys: list[str], codes: Tensor, residual: Tensor) -> None:
        """Cache fitted ``codes`` (N, model.w_dim) and ``residual`` (N,) under ``keys``."""
        for j, key in enumerate(keys):
            self._codes[key] = codes[j].detach().float().cpu()
            self._residual[key] = float(residual[j])

    def fit(self, w: Tensor) -> Fit:
        """Run the fitter on ``gan.synthesis(w)`` (no cache). Returns a :class:`Fit`."""
        self.fit_calls += 1
        options = {k: v for k, v in self.settings.items() if k != "seed"}
        return fit_synthetic(self.model, self._target_images(w), seed=self.settings["seed"],
                             batch_size=self.batch_size, progress=self.progress, **options)

    def residuals(self, w: Tensor) -> Tensor:
        """Per-sample fit residuals (B,) (mean L1 in [0, 1]) of ``w``, fitting if needed."""
        self.fitted_codes(w)
        return torch.tensor([self._residual[w_key(row)] for row in w])

    def residual_summary(self, w: Tensor) -> dict[str, float]:
        """``{"residual_median", "residual_mean", "residual_max"}`` of the fits of ``w``."""
        r = self.residuals(w)
        return {"residual_median": float(r.median()), "residual_mean": float(r.mean()),
                "residual_max": float(r.max())}

    # -- truth --------------------------------------------------------------------------------
    @torch.no_grad()
    def ground_truth(self, w: Tensor, size: int | None = None) -> dict[str, Tensor]:
        """The fitted synthetic object's truth (same keys and shapes as
        :meth:`SyntheticTeacher.ground_truth`), for GAN codes ``w`` (B, w_dim)."""
        return self.model.ground_truth(self.fitted_codes(w), size=size)

    @torch.no_grad()
    def render_truth(self, w: Tensor, view: Tensor | None = None, light: Tensor | None = None,
                     size: int | None = None) -> dict[str, Tensor]:
        """The fitted object at any view and light (see :meth:`SyntheticTeacher.render_truth`).

        With ``view`` and ``light`` both None, ``"image"`` is the GAN's own image (resized to
        ``size``), so reconstruction scores compare against the real teacher image; the mask
        and depth are the fitted object's.

        Returns:
            dict with image (B, 3, S, S) in [-1, 1], mask (B, 1, S, S), depth (B, 1, S, S).
        """
        return self.render_truth_views(w, [(view, light)], size)[0]

    @torch.no_grad()
    def render_truth_views(self, w: Tensor, requests: Sequence[tuple[Tensor | None, Tensor | None]],
                           size: int | None = None) -> list[dict[str, Tensor]]:
        """:meth:`render_truth` for several ``(view, light)`` requests of the same codes: the
        codes are looked up and the fitted objects' maps drawn once
        (:meth:`SyntheticTeacher.render_truth_views`)."""
        outs = self.model.render_truth_views(self.fitted_codes(w), requests, size)
        for out, (view, light) in zip(outs, requests):
            if view is None and light is None:
                out["image"] = _resize(self.gan.synthesis(w).float(), out["image"].shape[-1]).to(out["image"])
        return outs

    # -- stored fits --------------------------------------------------------------------------
    def _gan_sha(self) -> str:
        ref = self.gan.reference() if callable(getattr(self.gan, "reference", None)) else {}
        return str(ref.get("sha256") or "")

    def precompute(self, n: int = 256, seed: int = 0, psi: float = 1.0) -> Fit:
        """Fit the ``n`` codes ``sample_w(n, seed, psi)`` that evaluate draws, and cache them."""
        w = self.sample_w(n, seed=seed, psi=psi)
        fit = self.fit(w)
        self._remember([w_key(row) for row in w], fit.codes, fit.residual)
        return fit

    def save_fits(self, path: str | os.PathLike, n: int = 256, seed: int = 0, psi: float = 1.0) -> Path:
        """Write the fits of ``sample_w(n, seed, psi)`` (fitting what is not cached) to safetensors.

        The file holds ``codes`` (n, model.w_dim) and ``residual`` (n,); its header the
        format, n, seed, psi, the GAN file's sha256 (when its reference has one), a sha256
        of the GAN codes, the model reference and the fitter settings.

        Returns:
            The path written (atomically).
        """
        import json

        from safetensors.torch import save_file

        from ganlift.utils.io import atomic_path

        w = self.sample_w(n, seed=seed, psi=psi)
        codes = self.fitted_codes(w).detach().float().cpu().contiguous()
        meta = {
            "format": FIT_FORMAT, "version": str(FIT_FORMAT_VERSION), "n": str(n), "seed": str(seed),
            "psi": repr(float(psi)), "gan_sha256": self._gan_sha(), "w_sha256": _codes_sha(w),
            "model": json.dumps(self.model.reference(), sort_keys=True),
            "settings": json.dumps(self.settings, sort_keys=True),
        }
        path = Path(path)
        with atomic_path(path) as tmp:
            save_file({"codes": codes, "residual": self.residuals(w).float().contiguous()}, str(tmp), metadata=meta)
        return path

    def load_fits(self, path: str | os.PathLike) -> int:
        """Read fits written by :meth:`save_fits` into the cache.

        Checks the format, the code shapes, the GAN file's sha256 (when both the file and
        this GAN know one) and the sha256 of the re-drawn GAN codes.

        Returns:
            The number of fits loaded.

        Raises:
            FileNotFoundError: no such file.
            FitMismatchError: the file is not a fit file or does not match this GAN / model
                (the message names what differs).
        """
        import json

        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such fit file: {str(path)!r}")
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        except Exception as err:  # safetensors raises several kinds
            raise FitMismatchError(f"{str(path)!r} is not a safetensors fit file: {err}") from err
        if meta.get("format") != FIT_FORMAT or "codes" not in tensors or "residual" not in tensors:
            raise FitMismatchError(f"{str(path)!r} is not a pseudo-truth fit file (format {meta.get('format')!r})")
        n, seed, psi = int(meta["n"]), int(meta["seed"]), float(meta["psi"])
        codes, residual = tensors["codes"], tensors["residual"]
        if tuple(codes.shape) != (n, self.model.w_dim) or tuple(residual.shape) != (n,):
            raise FitMismatchError(
                f"{str(path)!r}: codes have shape {tuple(codes.shape)} and residual {tuple(residual.shape)}; "
                f"this model needs ({n}, {self.model.w_dim}) and ({n},)"
            )
        mine, theirs = self._gan_sha(), meta.get("gan_sha256", "")
        if mine and theirs and mine != theirs:
            raise FitMismatchError(
                f"{str(path)!r} was fitted to the GAN file with sha256 {theirs}, not to this GAN ({mine})"
            )
        model_ref = json.dumps(self.model.reference(), sort_keys=True)
        if meta.get("model") and meta["model"] != model_ref:
            raise FitMismatchError(f"{str(path)!r} holds fits of the model {meta['model']}, not {model_ref}")
        w = self.sample_w(n, seed=seed, psi=psi)
        if meta.get("w_sha256") and meta["w_sha256"] != _codes_sha(w):
            raise FitMismatchError(
                f"{str(path)!r}: the GAN codes sample_w({n}, seed={seed}, psi={psi:g}) differ from those "
                "the file was fitted to (another GAN or mapping network)"
            )
        self._remember([w_key(row) for row in w], codes, residual)
        return n


def with_truth(teacher: Any, progress: bool = True) -> Any:
    """What :func:`ganlift.eval.evaluate` scores against: the teacher itself when it has 3D
    ground truth (the synthetic teachers), its pseudo truth for a shipped GAN teacher
    (:func:`pseudo_truth_for`), else None."""
    if callable(getattr(teacher, "ground_truth", None)):
        return teacher
    return pseudo_truth_for(teacher, progress=progress)


def pseudo_truth_for(teacher: Any, progress: bool = True) -> PseudoTruth | None:
    """The pseudo truth of a zoo GAN teacher, or None for a teacher that has none.

    A teacher loaded from a zoo entry with ``pseudo_truth = {"model": name, "fits": file}``
    (the shipped ``gan-*`` teachers) carries that spec as ``teacher.pseudo_truth``; the packaged
    fits of the evaluation codes (``sample_w(256, seed=0)``) are loaded, so scoring those codes
    fits nothing. Other codes are fitted on demand.
    """
    spec = getattr(teacher, "pseudo_truth", None)
    if isinstance(teacher, PseudoTruth):
        return teacher
    if not spec:
        return None
    truth = PseudoTruth(teacher, spec["model"], progress=progress)
    if spec.get("fits"):
        from ganlift.zoo import PACKAGED_DIR

        truth.load_fits(PACKAGED_DIR / spec["fits"])
    return truth


def _codes_sha(w: Tensor) -> str:
    """sha256 of a batch of codes' float32 bytes."""
    return hashlib.sha256(w.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()


__all__ = ["Fit", "fit_synthetic", "PseudoTruth", "pseudo_truth_for", "with_truth", "FitMismatchError", "DEFAULTS", "at_resolution", "w_key"]
