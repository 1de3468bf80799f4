"""Lift what is not one of the lifter's own samples: photographs and mixed style codes.

* :func:`reconstruct` (``lifter.reconstruct(photo)``): invert the photo into W with
  :func:`ganlift.invert` and lift the fitted code, returning the same
  :class:`~ganlift.lifter.controls.LiftedSample` as ``lifter.sample()``; the code
  (``out.w``) then works with every control, export and turntable.
* :func:`mix_styles` and :func:`transfer_style` (the paper's figure 9): take the coarse,
  middle or fine styles of one code into another (teachers with several w layers,
  ``num_ws > 1``) and re-render the result with the pose and light the lifter controls.
* :func:`render_codes`: render W or W+ codes through the lifter.

A lifter's networks read one code per image (W). A W+ code (one code per synthesis layer) is
rendered with its *anchor* (the mean of its coarse layers, which carry pose and shape in a
StyleGAN2) deciding the view, light, depth and transformation map, while the texture comes
from the teacher's image of the whole W+ code, neutralised layer by layer by the lifter's
manipulation network. For a W+ code whose layers are all equal this is exactly
``lifter.render(w)``.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Sequence

import torch

from ganlift.lifter.controls import LiftedSample

__all__ = [
    "STYLE_LAYERS",
    "reconstruct",
    "layer_range",
    "mix_styles",
    "render_codes",
    "transfer_style",
    "as_codes",
    "StyleMixingWarning",
]

# StyleGAN2's usual split of the per-layer codes (layers of the 4-8 px, 16-32 px and 64+ px blocks).
STYLE_LAYERS: dict[str, tuple[int, int | None]] = {"coarse": (0, 4), "middle": (4, 8), "fine": (8, None)}


class StyleMixingWarning(UserWarning):
    """Style mixing by layer range is impossible for this teacher (one w layer)."""


# ---------------------------------------------------------------------------- photographs


def reconstruct(
    lifter: Any,
    image: Any,
    *,
    steps: int = 200,
    restarts: int = 4,
    seed: int = 0,
    fit: str = "crop",
    lifted: float = 1.0,
    progress: bool = True,
    return_inversion: bool = False,
    invert_options: dict[str, Any] | None = None,
    **controls: Any,
) -> LiftedSample | tuple[LiftedSample, Any]:
    """Lift a photograph: invert it into W, then render the code with the given controls.

    Args:
        lifter: a trained :class:`~ganlift.Lifter`.
        image: one image or a list (paths, PIL images, arrays, tensors; see
            :func:`ganlift.invert.prepare_images`). It should be cropped like the teacher's
            training images (see the "Lift your own photo" docs page).
        steps, restarts, seed, fit, progress: as in :func:`ganlift.invert`.
        lifted: weight of the lifter's own render of the code against the image in the fit
            (:func:`ganlift.invert`'s ``lifted``; 0 fits the teacher's image alone). Of the
            codes that reproduce the image, it picks one the lifter explains in 3D: on
            ``synthetic-faces`` (64x64) the depth error of the lifted photos fell from 0.075
            above the lifter's own error on the true codes to 0.034 below it, at about 3x the
            time (docs: "Lift your own photo").
        return_inversion: also return the :class:`~ganlift.invert.Inversion` (codes,
            residual, the teacher's fitted image).
        invert_options: further keywords of :func:`ganlift.invert` (``lr``, ``prior``,
            ``perceptual``, ...); ``space`` must stay ``"w"``.
        **controls: ``yaw``, ``pitch``, ``roll``, ``light``, ``ambient``, ``diffuse``,
            ``translation``, ``relative`` as in ``lifter.render``.

    Returns:
        :class:`~ganlift.lifter.controls.LiftedSample` of the photo(s) (``out.w`` is the
        fitted (B, w_dim) code), or ``(sample, inversion)`` with ``return_inversion``.
    """
    from ganlift.invert import invert

    options = dict(invert_options or {})
    space = options.pop("space", "w")
    if space != "w":
        raise ValueError(
            f"reconstruct fits codes in W (the lifter reads one code per image), got space={space!r}; "
            "use ganlift.invert(..., space='w+') and ganlift.lifter.reconstruct.render_codes for W+"
        )
    options.setdefault("lifted", lifted)
    inversion = invert(lifter, image, "w", steps, restarts=restarts, seed=seed, fit=fit, progress=progress,
                       **options)  # fmt: skip
    sample = lifter.render(inversion.codes, **controls)
    return (sample, inversion) if return_inversion else sample


# ---------------------------------------------------------------------------- codes


def _num_ws(source: Any) -> int:
    teacher = getattr(source, "teacher", source)
    return int(getattr(teacher, "num_ws", 1))


def _single_layer_fallback(lifter: Any, alpha: float, stacklevel: int = 3) -> float:
    """Check ``alpha`` and warn that a one-layer teacher interpolates instead of mixing.

    The one place that says it, for :func:`transfer_style` and
    :func:`ganlift.export.paper_figures.style_transfer_figure`: a teacher with
    ``num_ws == 1`` has no layer ranges to swap, so both fall back to
    ``(1 - alpha) * content + alpha * style``.

    Args:
        lifter: the lifter whose teacher has one w layer.
        alpha: interpolation weight, in [0, 1].
        stacklevel: as in :func:`warnings.warn`; the default 3 points at the caller of the
            public function that calls this.

    Returns:
        ``alpha`` as a float.

    Raises:
        ValueError: ``alpha`` outside [0, 1].
    """
    if not (0.0 <= float(alpha) <= 1.0):
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    warnings.warn(
        f"style mixing by layer range needs a teacher with several w layers (num_ws > 1) and W+ codes; "
        f"{getattr(lifter.teacher, 'name', 'this teacher')!r} has num_ws = 1, so the content and style "
        f"codes are interpolated instead (alpha = {float(alpha):g})",
        StyleMixingWarning,
        stacklevel=stacklevel,
    )
    return float(alpha)


def layer_range(source: Any, layers: Any = "fine") -> tuple[int, int]:
    """The ``[start, stop)`` layer indices of a named or given style range.

    Args:
        source: a teacher or a lifter (for ``num_ws``).
        layers: ``"coarse"``, ``"middle"``, ``"fine"`` (StyleGAN2's layers 0-3, 4-7 and 8+
            for teachers of 64 px and more; smaller teachers split their layers in thirds),
            a ``(start, stop)`` pair or a ``range``.

    Returns:
        ``(start, stop)`` with ``0 <= start < stop <= num_ws``.
    """
    n = _num_ws(source)
    if isinstance(layers, str):
        if layers not in STYLE_LAYERS:
            raise ValueError(f"layers must be one of {', '.join(STYLE_LAYERS)} or (start, stop), got {layers!r}")
        if n >= 10:
            start, stop = STYLE_LAYERS[layers]
            stop = n if stop is None else stop
        else:
            cuts = [0, round(n / 3), round(2 * n / 3), n]
            index = list(STYLE_LAYERS).index(layers)
            start, stop = cuts[index], cuts[index + 1]
    elif isinstance(layers, range):
        if layers.step != 1:
            raise ValueError(f"layers must be a contiguous range, got {layers!r}")
        start, stop = layers.start, layers.stop
    else:
        try:
            start, stop = (int(v) for v in layers)
        except (TypeError, ValueError) as err:
            raise ValueError(f"layers must be a name or (start, stop), got {layers!r}") from err
    if not (0 <= start < stop <= n):
        raise ValueError(f"layers {layers!r} gives [{start}, {stop}), outside the teacher's {n} layers (or empty)")
    return int(start), int(stop)


def _plus(codes: torch.Tensor, num_ws: int, w_dim: int, name: str) -> torch.Tensor:
    """(B, w_dim) or (B, num_ws, w_dim) -> (B, num_ws, w_dim)."""
    if codes.dim() == 1:
        codes = codes[None]
    if codes.dim() == 2 and codes.shape[1] == w_dim:
        return codes[:, None, :].expand(-1, num_ws, -1)
    if codes.dim() == 3 and codes.shape[1:] == (num_ws, w_dim):
        return codes
    raise ValueError(f"{name} must have shape (B, {w_dim}) or (B, {num_ws}, {w_dim}), got {tuple(codes.shape)}")


def mix_styles(source: Any, content: torch.Tensor, style: torch.Tensor, layers: Any = "fine") -> torch.Tensor:
    """Style mixing: ``content`` with the per-layer codes of ``layers`` taken from ``style``.

    Args:
        source: a teacher or a lifter (for ``num_ws`` and ``w_dim``).
        content: (B, w_dim) or (B, num_ws, w_dim) codes (B may be 1 to broadcast).
        style: (B, w_dim) or (B, num_ws, w_dim) codes (B may be 1 to broadcast).
        layers: see :func:`layer_range`.

    Returns:
        (B, num_ws, w_dim) W+ codes.
    """
    teacher = getattr(source, "teacher", source)
    n, d = _num_ws(teacher), int(teacher.w_dim)
    if n < 2:
        raise ValueError(
            f"style mixing by layer needs a teacher with several w layers (num_ws > 1); "
            f"{getattr(teacher, 'name', 'this teacher')!r} has num_ws = {n} (use transfer_style, which "
            "interpolates the codes instead)"
        )
    a, b = _plus(content, n, d, "content"), _plus(style, n, d, "style")
    if a.shape[0] != b.shape[0] and 1 not in (a.shape[0], b.shape[0]):
        raise ValueError(f"content and style must have the same batch size (or 1), got {a.shape[0]} and {b.shape[0]}")
    batch = max(a.shape[0], b.shape[0])
    start, stop = layer_range(teacher, layers)
    out = a.expand(batch, -1, -1).clone()
    out[:, start:stop] = b.expand(batch, -1, -1)[:, start:stop]
    return out


def render_codes(lifter: Any, codes: torch.Tensor, *, anchor_layers: Any = "coarse", **controls: Any) -> LiftedSample:
    """Render W codes (B, w_dim) or W+ codes (B, num_ws, w_dim) through the lifter.

    W codes go to ``lifter.render``. For W+ codes (see the module docstring) the anchor, the
    mean of the ``anchor_layers`` codes, decides view, light, depth and transformation map;
    the albedo comes from the teacher's image of the whole W+ code after the lifter's
    manipulation network has neutralised each layer (identity view, frontal light).

    Args:
        lifter: a trained lifter.
        codes: (B, w_dim) or (B, num_ws, w_dim).
        anchor_layers: the layers whose mean code is the anchor (see :func:`layer_range`).
        **controls: as in ``lifter.render``.

    Returns:
        :class:`~ganlift.lifter.controls.LiftedSample`; its ``w`` is the (B, w_dim) anchor, and
        ``canonical_albedo`` the canonical albedo of the W+ code.
    """
    from ganlift.render.shading import frontal_light

    codes = torch.as_tensor(codes, dtype=torch.float32).to(lifter.device)
    if codes.dim() <= 2:
        return lifter.render(codes, **controls)
    teacher = lifter.teacher
    n, d = _num_ws(teacher), int(teacher.w_dim)
    codes = _plus(codes, n, d, "codes")
    if not bool(torch.isfinite(codes).all()):
        raise ValueError("codes contain NaN or infinite values")
    start, stop = layer_range(teacher, anchor_layers)
    anchor = codes[:, start:stop].mean(dim=1)
    batch = codes.shape[0]
    with torch.no_grad():
        p = lifter.decompose(anchor)
        light0 = frontal_light(p["light"][:, 0], p["light"][:, 1])
        flat = codes.reshape(batch * n, d)
        w0 = lifter.manipulate(
            flat, light0.repeat_interleave(n, dim=0), torch.zeros(batch * n, 6, device=flat.device)
        ).reshape(batch, n, d)
        albedo = lifter.delit_albedo(lifter.teacher_image(w0), p["depth"], p["light"])
    _check_controls(controls)
    return lifter.render_maps(anchor, {**p, "albedo": albedo}, **controls)


_VIEW_KEYS = ("yaw", "pitch", "roll", "translation", "relative")
_LIGHT_KEYS = ("light", "ambient", "diffuse")


def _check_controls(controls: dict[str, Any]) -> None:
    unknown = sorted(set(controls) - set(_VIEW_KEYS) - set(_LIGHT_KEYS))
    if unknown:
        raise TypeError(f"unknown controls {unknown}; allowed: {', '.join(_VIEW_KEYS + _LIGHT_KEYS)}")


def transfer_style(
    lifter: Any,
    content: Any,
    style: Any,
    *,
    layers: Any = "fine",
    alpha: float = 0.5,
    **controls: Any,
) -> LiftedSample:
    """Re-render ``content`` with the ``layers`` styles of ``style`` (paper figure 9).

    The pose and light come from the controls (or the lifter's prediction for the mixed
    code). A teacher with one w layer (``num_ws == 1``, such as the synthetic teachers)
    cannot mix by layer: it warns (:class:`StyleMixingWarning`) and interpolates instead,
    ``(1 - alpha) * content + alpha * style``.

    Args:
        lifter: a trained lifter.
        content, style: codes, seeds, inversions or images (see :func:`as_codes`); one of
            them may be a single code that is broadcast.
        layers: the styles taken from ``style`` (see :func:`layer_range`).
        alpha: interpolation weight of the single-layer fallback, in [0, 1].
        **controls: as in ``lifter.render``.

    Returns:
        :class:`~ganlift.lifter.controls.LiftedSample`.
    """
    a, b = as_codes(lifter, content, "content"), as_codes(lifter, style, "style")
    if a.shape[0] != b.shape[0] and 1 not in (a.shape[0], b.shape[0]):
        raise ValueError(f"content and style must have the same number of codes (or 1), got {a.shape[0]} and {b.shape[0]}")
    if _num_ws(lifter) < 2:
        alpha = _single_layer_fallback(lifter, alpha)
        a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
        batch = max(a.shape[0], b.shape[0])
        mixed = a.expand(batch, -1) + alpha * (b.expand(batch, -1) - a.expand(batch, -1))
        return lifter.render(mixed, **controls)
    return render_codes(lifter, mix_styles(lifter, a, b, layers), **controls)


def _is_image(x: Any) -> bool:
    from PIL import Image

    import numpy as np

    return isinstance(x, (str, os.PathLike, Image.Image, np.ndarray))


def as_codes(lifter: Any, x: Any, name: str = "codes", **invert_options: Any) -> torch.Tensor:
    """Turn codes, seeds, inversions or images into codes for ``lifter``.

    Args:
        lifter: a lifter.
        x: an integer seed or a list of seeds (drawn with the recipe's truncation); a code
            (w_dim,), (B, w_dim) or (B, num_ws, w_dim); an :class:`~ganlift.invert.Inversion`;
            or images (paths, PIL images, arrays, (B, 3, H, W) tensors), inverted into W
            with :func:`ganlift.invert`.
        name: the argument's name for error messages.
        **invert_options: keywords of :func:`ganlift.invert` for images.

    Returns:
        (B, w_dim) or (B, num_ws, w_dim) codes on the lifter's device.
    """
    from ganlift.invert import Inversion, invert

    teacher = lifter.teacher
    d, n = int(teacher.w_dim), _num_ws(teacher)
    if isinstance(x, Inversion):
        return x.codes.to(lifter.device)
    if isinstance(x, bool):
        raise TypeError(f"{name} must be a seed, codes, an inversion or images, got a bool")
    if isinstance(x, int):
        return lifter.codes(1, x)
    if isinstance(x, Sequence) and not isinstance(x, str) and len(x) > 0 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in x
    ):
        return torch.cat([lifter.codes(1, v) for v in x])
    if isinstance(x, torch.Tensor):
        is_code = (x.dim() in (1, 2) and x.shape[-1] == d) or (x.dim() == 3 and x.shape[1:] == (n, d))
        if is_code:
            codes = x.to(lifter.device, torch.float32)
            codes = codes[None] if codes.dim() == 1 else codes
            if not bool(torch.isfinite(codes).all()):
                raise ValueError(f"{name} contains NaN or infinite values")
            return codes
        if x.dim() in (3, 4):
            return invert(lifter, x, **invert_options).codes
        raise ValueError(
            f"{name} must be a code (w_dim={d},), (B, {d}), (B, {n}, {d}) or an image tensor, got {tuple(x.shape)}"
        )
    if _is_image(x) or (isinstance(x, (list, tuple)) and len(x) > 0):
        return invert(lifter, x, **invert_options).codes
    raise TypeError(f"{name} must be a seed, a list of seeds, codes, an Inversion or images, got {type(x).__name__}")
