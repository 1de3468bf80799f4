"""Pictures of a lifter next to its teacher: training sample grids and the model card's sample.

:func:`preview_columns` (training grids, ``samples/step_XXXXXX.png``): one row per code, one
column per kind of picture: teacher image G(w), neutral image G(w0), the lifter's render,
albedo, canonical depth (near = bright), normals, and a grey shaded render of the predicted
shape (geometry alone, fixed light). Columns the lifter cannot provide are left out.

:func:`card_sample` (``sample.png`` of a saved lifter): the teacher's images above the
lifter's renders of the same codes.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from ganlift.export.figures import normal_to_rgb
from ganlift.utils.images import save_grid
from ganlift.utils.outputs import OutputFields

# A fixed light from the upper left for the grey "shape" column: (ambient, diffuse, dx, dy).
SHAPE_LIGHT = (0.15, 0.85, 0.5, 0.5)


def _fit(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (B, C, H, W) to size x size (area-like when shrinking) and make it 3-channel."""
    if images.shape[-1] != size or images.shape[-2] != size:
        images = F.interpolate(images.float(), size=(size, size), mode="bilinear",
                               align_corners=False, antialias=images.shape[-1] > size)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return images.float()


def _normalise(depth: torch.Tensor) -> torch.Tensor:
    """Per-image min-max of a depth map, inverted so the nearest point is white."""
    flat = depth.flatten(1)
    lo = flat.min(1).values.view(-1, 1, 1, 1)
    hi = flat.max(1).values.view(-1, 1, 1, 1)
    return 1.0 - (depth - lo) / (hi - lo).clamp_min(1e-8)


def _teacher_and_render(lifter: torch.nn.Module, teacher: torch.nn.Module, w: torch.Tensor):
    """``(out, teacher images, render)``: images in [0, 1] at the render's size S.

    Returns:
        The lifter's output (an :class:`~ganlift.utils.outputs.OutputFields`, a
        :class:`~ganlift.lifter.model.LifterOutput` for a Lifter), (B, 3, S, S) teacher images
        and (B, 3, S, S) renders.

    Raises:
        TypeError: ``lifter(w)`` returned something else than an OutputFields.
    """
    out = lifter(w)
    if not isinstance(out, OutputFields):  # one type to read, not dicts and objects by guess
        raise TypeError(f"the lifter's forward(w) must return a LifterOutput or another "
                        f"ganlift.utils.outputs.OutputFields, got {type(out).__name__}")
    render = out["image_pm1"]
    size = render.shape[-1]
    return out, _fit((teacher.synthesis(w) + 1) / 2, size), _fit((render + 1) / 2, size)


@torch.no_grad()
def card_sample(lifter: torch.nn.Module, n: int = 8, seed: int = 0) -> torch.Tensor | None:
    """The model card's sample: teacher images above the lifter's renders of the same codes.

    Codes come from ``lifter.sample_w`` (the recipe's truncation) or, for a lifter without
    one, ``lifter.teacher.sample_w``.

    Args:
        lifter: a module with ``teacher`` and ``forward(w)`` (an output with ``image_pm1`` in
            [-1, 1], see :func:`preview_columns`).
        n: codes (images per row).
        seed: seed of the codes.

    Returns:
        (2n, 3, S, S) in [0, 1], or None when the lifter has no teacher that samples codes.
    """
    teacher = getattr(lifter, "teacher", None)
    if teacher is None or not hasattr(teacher, "sample_w"):
        return None
    device = next((p.device for p in lifter.parameters()), torch.device("cpu"))
    was_training = lifter.training
    lifter.eval()
    try:
        w = (getattr(lifter, "sample_w", None) or teacher.sample_w)(n, seed=seed).to(device)
        _, target, render = _teacher_and_render(lifter, teacher, w)
    finally:
        lifter.train(was_training)
    return torch.cat([target, render]).clamp(0, 1).cpu()


@torch.no_grad()
def preview_columns(lifter: torch.nn.Module, teacher: torch.nn.Module,
                    w: torch.Tensor) -> torch.Tensor:
    """Pictures of ``w`` side by side.

    Args:
        lifter: a Lifter, or a module whose ``forward(w)`` returns another
            :class:`~ganlift.utils.outputs.OutputFields` with a field ``image_pm1`` in
            [-1, 1] and, of a :class:`~ganlift.lifter.model.LifterOutput`'s other fields,
            those it predicts (``texture``, ``albedo``, ``depth``, ``rendered``, ...).
        teacher: the teacher (``synthesis(w)`` -> [-1, 1]).
        w: (B, w_dim) codes.

    Returns:
        (B, K, 3, S, S) in [0, 1], S the lifter's render size.
    """
    was_training = lifter.training
    lifter.eval()
    try:
        out, target, render = _teacher_and_render(lifter, teacher, w)
        size = render.shape[-1]
        cols = [target]
        texture = out.get("texture")  # G(w0): the neutral image the albedo comes from
        if texture is not None:
            cols.append(_fit(texture, size))
        cols.append(render)
        albedo = out.get("albedo")
        if albedo is not None:
            cols.append(_fit(albedo, size))
        depth = out.get("depth")
        if depth is not None:
            cols.append(_fit(_normalise(depth), size))
        rendered = out.get("rendered")  # a Rendered: normal and mask
        if rendered is not None:
            cols.append(_fit(normal_to_rgb(rendered.normal, rendered.mask), size))  # as every export colours it
        renderer = getattr(lifter, "renderer", None)
        if renderer is not None and depth is not None:
            grey = torch.full((depth.shape[0], 3, *depth.shape[-2:]), 0.8, device=depth.device)
            light = torch.tensor(SHAPE_LIGHT, device=depth.device).expand(depth.shape[0], 4)
            shaded = renderer.render(grey, depth, transform=out.get("transform"), view=out.get("view"),
                                     light=light)
            cols.append(_fit(shaded.image, size))
    finally:
        lifter.train(was_training)
    return torch.stack([c.clamp(0, 1).cpu() for c in cols], dim=1)


def save_preview(path: str | os.PathLike, lifter: torch.nn.Module, teacher: torch.nn.Module,
                 w: torch.Tensor) -> None:
    """Write the grid of :func:`preview_columns` as a PNG (atomically)."""
    cols = preview_columns(lifter, teacher, w)
    b, k = cols.shape[:2]
    save_grid(cols.reshape(b * k, *cols.shape[2:]), path, nrow=k)
