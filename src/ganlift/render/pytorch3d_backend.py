"""Optional renderer backend on pytorch3d's rasteriser, registered as ``"pytorch3d"``.

Only the z-buffer differs from the ``"torch"`` backend: pytorch3d's ``rasterize_meshes``
(blur radius 0, one face per pixel) picks the face per pixel, and everything else (pose,
transformation map, differentiable barycentrics, texture, shading) is shared, so both backends
follow the same camera convention. It is an oracle for tests and a choice for users who have
pytorch3d; the pure-torch backend needs nothing extra.

Installing pytorch3d: there is no official wheel on the package index for Linux. An
unofficial rebuild, ``pip install easypytorch3d``, imports on CPU with ``torch==2.11.0`` (use
a separate virtual environment); otherwise build it from source
(``pip install "git+https://github.com/facebookresearch/pytorch3d.git"``).
"""

from __future__ import annotations

import torch

from ganlift.render import RENDERERS
from ganlift.render.base import Renderer

INSTALL_HINT = (
    "the 'pytorch3d' renderer needs the pytorch3d package, which is not installed or does not "
    "import with this torch ({error}). Install an unofficial rebuild with "
    "`pip install easypytorch3d` (it needs torch==2.11.0; use a separate virtual environment), "
    "or build it from source: `pip install \"git+https://github.com/facebookresearch/pytorch3d.git\"`. "
    "The default renderer, create('torch', ...), needs nothing extra."
)

# pytorch3d counts a pixel as inside a face only strictly, but our pixel centres sit exactly
# on the grid's vertices in a frontal view (and on the pinned border): a tiny blur radius
# (pytorch3d compares it with squared NDC distances: 1e-12 is ~1e-6 NDC, well under a
# thousandth of a pixel) takes in centres on an edge, like the torch backend's tolerance.
_BLUR = 1e-12


def _import_pytorch3d():
    try:
        from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
        from pytorch3d.structures import Meshes
    except Exception as err:  # ImportError, or a broken binary against this torch
        raise ImportError(INSTALL_HINT.format(error=f"{type(err).__name__}: {err}")) from err
    return Meshes, rasterize_meshes


def available() -> bool:
    """True when pytorch3d imports."""
    try:
        _import_pytorch3d()
    except ImportError:
        return False
    return True


@RENDERERS.register("pytorch3d")
class Pytorch3DRenderer(Renderer):
    """Depth-map renderer on pytorch3d's ``rasterize_meshes``: ``create("pytorch3d", size=64)``.

    Same options and conventions as :class:`ganlift.render.base.Renderer`.

    Raises:
        ImportError: pytorch3d does not import; the message says how to install it.
    """

    name = "pytorch3d"

    def __init__(self, *args, **kwargs) -> None:
        self._meshes, self._rasterize_meshes = _import_pytorch3d()
        super().__init__(*args, **kwargs)

    def rasterize(self, screen: torch.Tensor, faces: torch.Tensor, size: int) -> torch.Tensor:
        B = screen.shape[0]
        verts = screen.reshape(B, -1, 3).float()
        # pytorch3d NDC: +x left, +y up; pixel index i has its centre at 1 - (2 i + 1) / size.
        # Our pixel centre u = i maps there exactly (no half-pixel offset between conventions).
        x = 1.0 - (2.0 * verts[..., 0] + 1.0) / size
        y = 1.0 - (2.0 * verts[..., 1] + 1.0) / size
        ndc = torch.stack([x, y, verts[..., 2]], dim=-1)
        meshes = self._meshes(verts=list(ndc), faces=[faces] * B)
        pix_to_face, _, _, _ = self._rasterize_meshes(
            meshes,
            image_size=size,
            blur_radius=_BLUR,
            faces_per_pixel=1,
            bin_size=None,  # pytorch3d's heuristic (coarse-to-fine above 64 pixels)
            max_faces_per_bin=faces.shape[0],  # a bin can never overflow (no dropped faces)
            perspective_correct=True,  # depth order by the true (perspective) depth, like ours
            cull_backfaces=False,
        )
        face = pix_to_face[..., 0]
        # Packed face ids -> ids within each mesh; -1 stays -1.
        offset = torch.arange(B, device=face.device).view(B, 1, 1) * faces.shape[0]
        return torch.where(face >= 0, face - offset, face).long()


__all__ = ["Pytorch3DRenderer", "available", "INSTALL_HINT"]
