"""Vectorised hard z-buffer rasteriser for depth-grid meshes, in pure PyTorch.

Two stages:

1. :func:`rasterize_grid` / :func:`rasterize_triangles` (no gradient) find, for every output
   pixel, the front-most triangle whose closed interior holds the pixel centre. Scan
   conversion in tensors: each triangle's pixel rows are cut by its barycentric half-planes
   into exact spans of pixel centres, and all (pixel, 1/z, face) candidates go through one
   ``scatter_reduce("amax")`` z-buffer. No Python loop runs over pixels or triangles (only
   over fixed-size chunks, which bound memory), and the work follows the covered area.
2. :func:`barycentrics` recomputes, differentiably, the barycentric weights of each pixel
   centre in its winning triangle from the projected vertices, perspective-corrected, and the
   interpolated depth. Gradients reach the vertices (hence depth, transformation map and view)
   through these weights; the choice of triangle itself is piecewise constant.

On the CPU both entry points hand over to the compiled z-buffer of
:mod:`ganlift.render.native` (one C loop per triangle, the same inside and depth rule) when
it can be built; the code here is what runs otherwise, and on CUDA.

Pixel convention (see :mod:`ganlift.render.camera`): pixel ``(u, v)`` has its centre at the
integer coordinates ``(u, v)``; screen vertices are ``(u, v, z)`` in those pixel units.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange

from ganlift.render import native

# Faces per chunk of the per-face stage, rows or pixels per chunk of the expansions:
# they bound the peak memory at a few tens of MB.
_FACE_CHUNK = 1 << 18
_CHUNK = 1 << 20


def grid_faces(height: int, width: int, device=None) -> torch.Tensor:
    """Triangles of the depth-grid mesh: two per pixel quad.

    Vertex ``i * width + j`` is pixel ``(u=j, v=i)``. Quad ``q = i * (width - 1) + j`` with
    corners ``a=(i, j)``, ``b=(i, j+1)``, ``c=(i+1, j)``, ``d=(i+1, j+1)`` gives faces
    ``2q = (a, b, c)`` and ``2q+1 = (b, d, c)`` (split along the b-c diagonal; both wind the
    same way on screen).

    Returns:
        (2 * (height - 1) * (width - 1), 3) long vertex indices.
    """
    idx = torch.arange(height * width, device=device).view(height, width)
    a, b = idx[:-1, :-1], idx[:-1, 1:]
    c, d = idx[1:, :-1], idx[1:, 1:]
    f0 = torch.stack([a, b, c], dim=-1)
    f1 = torch.stack([b, d, c], dim=-1)
    return torch.stack([f0, f1], dim=2).reshape(-1, 3)


def grid_triangles(screen: torch.Tensor) -> torch.Tensor:
    """Corner positions of the grid mesh's faces, in :func:`grid_faces` order.

    Slicing the grid is cheaper than gathering with the face table.

    Args:
        screen: (B, H, W, C) per-vertex values.

    Returns:
        (B, F, 3, C) with ``F = 2 * (H - 1) * (W - 1)``.
    """
    a, b = screen[:, :-1, :-1], screen[:, :-1, 1:]
    c, d = screen[:, 1:, :-1], screen[:, 1:, 1:]
    f0 = torch.stack([a, b, c], dim=-2)
    f1 = torch.stack([b, d, c], dim=-2)
    tri = torch.stack([f0, f1], dim=3)  # (B, H-1, W-1, 2, 3, C)
    return tri.reshape(screen.shape[0], -1, 3, screen.shape[-1])


def grid_corners(screen: torch.Tensor) -> torch.Tensor:
    """Corners of the grid mesh's faces, one contiguous row per coordinate.

    Args:
        screen: (B, H, W, 3) projected vertices ``(u, v, z)``.

    Returns:
        (9, B * F) rows ``u0, u1, u2, v0, v1, v2, z0, z1, z2`` in :func:`grid_faces` order
        (batch-major), ``F = 2 * (H - 1) * (W - 1)``.
    """
    B, H, W, _ = screen.shape
    out = screen.new_empty(9, B, H - 1, W - 1, 2)
    for c in range(3):
        g = screen[..., c]
        a, b, cc, d = g[:, :-1, :-1], g[:, :-1, 1:], g[:, 1:, :-1], g[:, 1:, 1:]
        for k, (first, second) in enumerate(((a, b), (b, d), (cc, cc))):
            out[3 * c + k, ..., 0] = first
            out[3 * c + k, ..., 1] = second
    return out.view(9, -1)


@torch.no_grad()
def rasterize_triangles(
    tri: torch.Tensor,
    height: int,
    width: int,
    znear: float = 1e-2,
    tol: float = 1e-4,
    min_area: float = 1e-8,
) -> torch.Tensor:
    """Front-most triangle per pixel centre (hard z-buffer).

    Args:
        tri: (B, F, 3, 3) triangle corners in screen space ``(u, v, z)``: pixel units, z the
            camera-frame depth (positive in front of the camera).
        height: output height in pixels.
        width: output width in pixels.
        znear: triangles with a corner at ``z <= znear`` are dropped (explicit near plane).
        tol: a pixel centre counts as inside when every barycentric weight is ``>= -tol``
            (closes cracks between neighbours from rounding; ties go to the nearer face).
        min_area: triangles with a smaller screen area (pixels^2) are dropped as degenerate.

    Returns:
        (B, height, width) long face index in ``0 .. F-1``, or -1 where no triangle covers the
        pixel centre. Both windings are accepted (no back-face culling).
    """
    lib = native.for_tensor(tri)
    if lib is not None:
        return native.zbuffer_triangles(tri, height, width, znear, tol, min_area, lib)
    B, F = tri.shape[:2]
    # Row ``3 * coordinate + corner`` (u0, u1, u2, v0, ...), one column per (sample, face).
    corners = rearrange(tri, "b f corner uvz -> (uvz corner) (b f)")
    return rasterize_corners(corners, B, F, height, width, znear=znear, tol=tol, min_area=min_area)


@torch.no_grad()
def rasterize_grid(
    screen: torch.Tensor,
    height: int,
    width: int,
    znear: float = 1e-2,
    tol: float = 1e-4,
    min_area: float = 1e-8,
) -> torch.Tensor:
    """:func:`rasterize_triangles` for the grid mesh of projected vertices (B, S, S, 3).

    Returns:
        (B, height, width) long face index in :func:`grid_faces` order, -1 on the background.
    """
    lib = native.for_tensor(screen)
    if lib is not None:
        return native.zbuffer_grid(screen, height, width, znear, tol, min_area, lib)
    B, S = screen.shape[0], screen.shape[1]
    F = 2 * (S - 1) * (screen.shape[2] - 1)
    return rasterize_corners(grid_corners(screen), B, F, height, width, znear=znear, tol=tol, min_area=min_area)


@torch.no_grad()
def rasterize_corners(
    corners: torch.Tensor,
    batch: int,
    faces: int,
    height: int,
    width: int,
    znear: float = 1e-2,
    tol: float = 1e-4,
    min_area: float = 1e-8,
) -> torch.Tensor:
    """The z-buffer on faces given as (9, batch * faces) corner rows (see :func:`grid_corners`).

    Scan conversion without loops over triangles or pixels. Each triangle's pixel rows (from
    its bounding box) are cut by its three barycentric half-planes into the exact span of
    pixel centres inside it, and every (pixel, 1/z, face) candidate goes into one
    ``scatter_reduce("amax")`` keyed by pixel, with 1/z (as float32 bits) and the face id
    packed into one int64 so the nearest face wins and ties resolve the same way every time.
    Rows and pixels are enumerated in dense "slots" (the first rows of every triangle, the
    first pixels of every span), which covers a smooth mesh's small triangles with no
    gathers; taller triangles and wider spans get their remaining rows/pixels through
    ``repeat_interleave``. Work follows the area triangles cover, not their bounding boxes.
    Other arguments and the result as in :func:`rasterize_triangles`.
    """
    B, F = batch, faces
    dev = corners.device
    if B * F >= 2**31:
        raise ValueError(f"too many triangles for one call: {B} x {F}")
    c = corners if corners.dtype in (torch.float32, torch.float64) else corners.float()
    packed = torch.full((B * height * width,), -1, dtype=torch.long, device=dev)
    # Chunks of faces bound the memory of the per-face tables (~100 bytes per face).
    for s in range(0, B * F, _FACE_CHUNK):
        _draw(c[:, s : s + _FACE_CHUNK], s, F, height, width, znear, tol, min_area, packed)
    face = torch.where(packed >= 0, (packed & 0xFFFFFFFF) % F, packed)
    return face.view(B, height, width)


def _draw(c, start, F, height, width, znear, tol, min_area, packed) -> None:
    """Scan-convert faces ``start ..`` given as (9, m) corner rows into ``packed``."""
    dev = c.device
    u0, u1, u2, v0, v1, v2, z0, z1, z2 = c.unbind(0)
    pad = 1e-3  # widen boxes a hair so centres on a box edge are not lost to rounding
    lo_v = (torch.minimum(torch.minimum(v0, v1), v2) - pad).ceil_().clamp_min_(0)
    hi_v = (torch.maximum(torch.maximum(v0, v1), v2) + pad).floor_().clamp_max_(height - 1)
    lo_u = (torch.minimum(torch.minimum(u0, u1), u2) - pad).ceil_().clamp_min_(0)
    hi_u = (torch.maximum(torch.maximum(u0, u1), u2) + pad).floor_().clamp_max_(width - 1)
    du1, dv1, du2, dv2 = u1 - u0, v1 - v0, u2 - u0, v2 - v0
    area = du1 * dv2 - dv1 * du2
    abs_area = area.abs()
    ok = (
        (hi_v >= lo_v)
        & (hi_u >= lo_u)
        & (torch.minimum(torch.minimum(z0, z1), z2) > znear)
        & (abs_area > min_area)
        & (abs_area < float("inf"))
    )
    # Faces that fail get zero rows and never draw; no compaction (usually all pass).
    rows = torch.where(ok, hi_v - lo_v + 1, 0).long()

    # Half-planes: b1 = p1x*dx + p1y*dy, b2 = p2x*dx + p2y*dy, b0 = 1 - b1 - b2 with (dx, dy)
    # the pixel centre minus corner 0. "b_i + tol >= 0" reads a*dx + ay*dy + c >= 0: a lower
    # (a > 0) or upper (a < 0) bound dx >= or <= alpha + beta*dy in each row. a == 0 (an
    # edge parallel to the rows) bounds only the rows, which the bounding box already does.
    inv = torch.where(ok, area, 1).reciprocal_()
    p1x, p1y, p2x, p2y = dv2 * inv, du2 * -inv, dv1 * -inv, du1 * inv
    t = [u0, v0, lo_u, hi_u, lo_v]
    # 1/z is affine on screen: 1/z = iz0 + gx*dx + gy*dy.
    iz0 = torch.where(ok, z0, 1).reciprocal_()
    iz1 = torch.where(ok, z1, 1).reciprocal_() - iz0
    iz2 = torch.where(ok, z2, 1).reciprocal_() - iz0
    t += [iz0, p1x * iz1 + p2x * iz2, p1y * iz1 + p2y * iz2]
    ninf = torch.full_like(u0, float("-inf"))
    pinf = torch.full_like(u0, float("inf"))
    zero = torch.zeros_like(u0)
    lows, highs = [], []
    for a, ay, const in ((p1x, p1y, tol), (p2x, p2y, tol), (-(p1x + p2x), -(p1y + p2y), 1.0 + tol)):
        pos, neg = a > 0, a < 0
        inv_a = torch.where(pos | neg, a, 1).reciprocal_().neg_()
        alpha, beta = inv_a * const, ay * inv_a
        lows.append((torch.where(pos, alpha, ninf), torch.where(pos, beta, zero)))
        highs.append((torch.where(neg, alpha, pinf), torch.where(neg, beta, zero)))
    for bounds in (lows, highs):
        t += [x for x, _ in bounds] + [y for _, y in bounds]
    # t: u0, v0, lo_u, hi_u, lo_v, iz0, gx, gy, lower alpha x3, beta x3, upper alpha x3, beta x3
    fid = torch.arange(start, start + u0.numel(), device=dev)
    base = (fid // F) * (height * width)

    # The first rows of every face, densely; then the remaining rows of taller faces.
    for j in range(_ROW_SLOTS):
        span, g0, key0 = _row_spans(t, base, t[4] + j, width)
        _emit(packed, torch.where(rows > j, span, 0), g0, t[6], key0, fid)
    tall = (rows > _ROW_SLOTS).nonzero().squeeze(1)
    for part in _split(tall, rows.index_select(0, tall) - _ROW_SLOTS):
        extra = rows.index_select(0, part) - _ROW_SLOTS
        n_rows = int(extra.sum())
        owner = torch.repeat_interleave(part, extra, output_size=n_rows)
        first = torch.repeat_interleave(torch.cumsum(extra, 0) - extra, extra, output_size=n_rows)
        j = _ROW_SLOTS + torch.arange(n_rows, device=dev) - first
        tt = [x.index_select(0, owner) for x in t]
        span, g0, key0 = _row_spans(tt, base.index_select(0, owner), tt[4] + j.to(tt[4].dtype), width)
        _emit(packed, span, g0, tt[6], key0, fid.index_select(0, owner))


# Dense row slots per triangle and pixel slots per span; the rest goes through
# repeat_interleave. A smooth mesh's triangles mostly cover 0 or 1 pixel; 1 and 1 measured
# fastest there (2 and 2 is ~10% faster on per-pixel-noise meshes, ~25% slower on smooth ones).
_ROW_SLOTS = 1
_PIXEL_SLOTS = 1


def _split(idx: torch.Tensor, counts: torch.Tensor) -> list[torch.Tensor]:
    """Split ``idx`` into consecutive parts of about ``_CHUNK`` total ``counts`` each."""
    if idx.numel() == 0:
        return []
    ends = torch.cumsum(counts, 0)
    total = int(ends[-1])
    if total <= _CHUNK:
        return [idx]
    cuts = torch.searchsorted(ends, torch.arange(_CHUNK, total, _CHUNK, device=idx.device), right=True)
    bounds = sorted(set([0, *cuts.clamp(1, idx.numel()).tolist(), idx.numel()]))
    return [idx[s:e] for s, e in zip(bounds[:-1], bounds[1:])]


def _row_spans(t: list[torch.Tensor], base: torch.Tensor, y: torch.Tensor, width: int):
    """Pixel span of row ``y`` inside each face (t: the face table of rasterize_corners).

    Returns:
        span (m,) long pixel count (may be <= 0: empty), g0 (m,) 1/z at the span's first
        pixel, key0 (m,) long flat pixel index of the first pixel (valid only if span > 0).
    """
    dy = y - t[1]
    lo = torch.maximum(torch.maximum(torch.addcmul(t[8], t[11], dy), torch.addcmul(t[9], t[12], dy)),
                       torch.addcmul(t[10], t[13], dy))
    hi = torch.minimum(torch.minimum(torch.addcmul(t[14], t[17], dy), torch.addcmul(t[15], t[18], dy)),
                       torch.addcmul(t[16], t[19], dy))
    x0 = torch.maximum(lo.add_(t[0]).ceil_(), t[2])
    x1 = torch.minimum(hi.add_(t[0]).floor_(), t[3])
    span = (x1 - x0).long() + 1
    g0 = torch.addcmul(torch.addcmul(t[5], t[6], x0 - t[0]), t[7], dy)
    key0 = base + y.long() * width + x0.long()  # in int64: exact for any image size
    return span, g0, key0


def _emit(packed, span, g0, gx, key0, fid) -> None:
    """Scatter the pixels of spans as packed (1/z bits, face id) into the z-buffer."""
    for k in range(_PIXEL_SLOTS):
        valid = span > k
        _scatter(packed, torch.where(valid, key0 + k, 0), g0 + gx * k if k else g0, fid, valid)
    wide = (span > _PIXEL_SLOTS).nonzero().squeeze(1)
    for part in _split(wide, span.index_select(0, wide) - _PIXEL_SLOTS):
        extra = span.index_select(0, part) - _PIXEL_SLOTS
        n = int(extra.sum())
        owner = torch.repeat_interleave(part, extra, output_size=n)
        first = torch.repeat_interleave(torch.cumsum(extra, 0) - extra, extra, output_size=n)
        k = _PIXEL_SLOTS + torch.arange(n, device=span.device) - first
        invz = torch.addcmul(g0.index_select(0, owner), gx.index_select(0, owner), k.to(g0.dtype))
        _scatter(packed, key0.index_select(0, owner) + k, invz, fid.index_select(0, owner), None)


def _scatter(packed, key, invz, fid, valid) -> None:
    # Positive float32 bits order like the floats: nearer (larger 1/z) wins, then larger id.
    bits = invz.float().clamp_min_(1e-30).view(torch.int32).long()
    val = bits.bitwise_left_shift_(32).bitwise_or_(fid)
    if valid is not None:
        val = torch.where(valid, val, -1)  # -1 never beats the buffer's initial -1
    packed.scatter_reduce_(0, key, val, reduce="amax")


def grid_face_corners(face: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Vertex ids of the corners of grid-mesh faces, by arithmetic (no table look-up).

    Args:
        face: (...) long face ids in :func:`grid_faces` order for a (height, width) grid;
            negative ids are treated as face 0.
        height: grid height (vertices).
        width: grid width (vertices).

    Returns:
        (..., 3) long vertex ids, equal to ``grid_faces(height, width)[face]``.
    """
    f = face.clamp_min(0)
    k = f & 1  # 0: (a, b, c), 1: (b, d, c)
    q = f >> 1
    i, j = q // (width - 1), q % (width - 1)
    a = i * width + j
    return torch.stack([a + k, a + 1 + k * width, a + width], dim=-1)


@dataclass
class Fragments:
    """What the rasteriser knows about each output pixel.

    Attributes:
        face: (B, H, W) long face index, -1 on the background.
        mask: (B, H, W) bool, True where a face covers the pixel.
        corner: (B, H, W, 3) long vertex ids of the face's corners (face 0's on the background).
        bary: (B, H, W, 3) perspective-correct barycentric weights of the face's corners
            (differentiable; arbitrary but finite on the background).
        depth: (B, H, W) interpolated camera-frame depth (differentiable; 1 on the background).
    """

    face: torch.Tensor
    mask: torch.Tensor
    corner: torch.Tensor
    bary: torch.Tensor
    depth: torch.Tensor


def barycentrics(screen: torch.Tensor, face: torch.Tensor, corner: torch.Tensor) -> Fragments:
    """Differentiable perspective-correct barycentrics of each pixel centre in its face.

    Args:
        screen: (B, N, 3) projected vertices ``(u, v, z)`` (pixel units, camera depth).
        face: (B, H, W) long face index per pixel from the rasteriser (-1 = none).
        corner: (B, H, W, 3) long vertex ids of each pixel's face (any valid ids where
            ``face`` is -1), e.g. ``faces[face.clamp_min(0)]`` or :func:`grid_face_corners`.

    Returns:
        :class:`Fragments`.
    """
    B, H, W = face.shape
    mask = face >= 0
    idx = corner.reshape(B, -1, 1).expand(-1, -1, 3)
    tri = torch.gather(screen, 1, idx).view(B, H, W, 3, 3)
    u, v, z = tri.unbind(-1)  # each (B, H, W, 3)
    rows = torch.arange(H, device=screen.device, dtype=screen.dtype)
    cols = torch.arange(W, device=screen.device, dtype=screen.dtype)
    py, px = rows.view(1, H, 1), cols.view(1, 1, W)
    u0, v0 = u[..., 0], v[..., 0]
    du1, dv1 = u[..., 1] - u0, v[..., 1] - v0
    du2, dv2 = u[..., 2] - u0, v[..., 2] - v0
    dx, dy = px - u0, py - v0
    # Background pixels get a harmless unit triangle at unit depth, so no inf/NaN can leak
    # into the gradients through torch.where.
    inv_area = torch.where(mask, du1 * dv2 - dv1 * du2, 1.0).reciprocal()
    b1 = (dx * dv2 - dy * du2) * inv_area
    b2 = (du1 * dy - dv1 * dx) * inv_area
    b = torch.stack([1.0 - b1 - b2, b1, b2], dim=-1)
    w = b / torch.where(mask[..., None], z, 1.0)
    invz = w.sum(-1, keepdim=True)
    return Fragments(face=face, mask=mask, corner=corner, bary=w / invz, depth=invz[..., 0].reciprocal())


__all__ = [
    "grid_faces",
    "grid_triangles",
    "grid_corners",
    "rasterize_triangles",
    "rasterize_grid",
    "rasterize_corners",
    "grid_face_corners",
    "barycentrics",
    "Fragments",
]
