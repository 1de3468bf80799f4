"""The renderer's compiled CPU kernels (``kernels.c``): built once per machine, loaded with ctypes.

The pure-PyTorch renderer runs anywhere; on the CPU it spends its time on many whole-tensor
passes (about a hundred per triangle in the z-buffer). Its geometry stages have a C version
here, with the same results up to rounding: the z-buffer (:mod:`ganlift.render.rasterize`),
the posed and projected vertices (eq. 1), the normals of the posed surface, the per-pixel
interpolation of depth and texture coordinates, and the texture sampling, shading and
compositing (``grid_sample``, :func:`~ganlift.render.shading.lambert` and the masks, about
half of a PyTorch render's time at 256 before), all but the z-buffer with their gradients
(:class:`torch.autograd.Function`, first derivatives).

``kernels.c`` is compiled twice (float32 and float64 storage, double-precision arithmetic)
with the system C compiler (``$CC``, else ``cc``) the first time it is needed, kept in
``$GANLIFT_HOME/native`` (default ``~/.cache/ganlift/native``) under names that hash the
source and flags, and called through ctypes (which releases the GIL; a batch is split over
``torch.get_num_threads()`` threads). No compiler, a failed build or ``GANLIFT_NATIVE=0``
means :func:`library` returns None and the PyTorch code runs; so do CUDA tensors.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from ganlift.utils.io import ganlift_home

SOURCE = Path(__file__).with_name("kernels.c")
# No -ffast-math: the inside test and the depth order must follow IEEE arithmetic.
FLAGS = ["-O3", "-std=c99", "-shared", "-fPIC"]
_STORAGE = {torch.float32: "float", torch.float64: "double"}

_UNSET = object()
_kernels: "Kernels | None | object" = _UNSET  # _UNSET until the first library() call


def enabled() -> bool:
    """False when ``GANLIFT_NATIVE`` is ``0``, ``false``, ``no`` or ``off``."""
    return os.environ.get("GANLIFT_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")


def cache_dir() -> Path:
    """Where built libraries are kept: ``$GANLIFT_HOME/native``."""
    return ganlift_home() / "native"


def compiler() -> str | None:
    """The C compiler command: ``$CC`` or ``cc`` when found on the PATH, else None."""
    cc = os.environ.get("CC") or "cc"
    return cc if shutil.which(cc.split()[0]) else None


class Kernels:
    """The two builds of ``kernels.c``; :meth:`lib` picks one by tensor dtype."""

    def __init__(self, libs: dict[str, ctypes.CDLL]) -> None:
        self.libs = libs

    def lib(self, dtype: torch.dtype) -> tuple[ctypes.CDLL, torch.dtype]:
        """The build for ``dtype`` and the dtype its arrays must have (float64 for anything
        but float32)."""
        storage = dtype if dtype in _STORAGE else torch.float64
        return self.libs[_STORAGE[storage]], storage


def library() -> Kernels | None:
    """The loaded kernels, built (or found in :func:`cache_dir`) on first use, once per
    process; None where they cannot be had (the reason is warned once)."""
    global _kernels
    if not enabled() or sys.platform == "win32":
        return None
    if _kernels is _UNSET:
        try:
            _kernels = Kernels({real: _load(_build(real)) for real in _STORAGE.values()})
        except (OSError, subprocess.SubprocessError, RuntimeError) as err:
            warnings.warn(f"ganlift: the compiled renderer kernels are not available ({err}); using the PyTorch "
                          "code (slower on the CPU). Set GANLIFT_NATIVE=0 to skip the attempt.", RuntimeWarning,
                          stacklevel=2)
            _kernels = None
    return _kernels


def for_tensor(x: torch.Tensor) -> Kernels | None:
    """:func:`library` for a CPU tensor, None for any other device (CUDA keeps the PyTorch code)."""
    return library() if x.device.type == "cpu" else None


def _build(real: str) -> Path:
    cc = compiler()
    if cc is None:
        raise RuntimeError("no C compiler found (set CC, or install cc)")
    flags = [*FLAGS, f"-DREAL={real}"]
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join([cc, *flags]).encode()).hexdigest()[:16]
    out = cache_dir() / f"kernels-{real}-{digest}-{platform.machine()}.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    # Build next to the target, then rename: a concurrent build never sees a partial file.
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out.parent)
    os.close(fd)
    try:
        cmd = [*cc.split(), *flags, "-o", tmp, str(SOURCE), "-lm"]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {res.stderr.strip()[-500:]}")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def _load(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    i64, f64, ptr = ctypes.c_int64, ctypes.c_double, ctypes.c_void_p
    signatures = {
        "ganlift_zbuffer_grid": [ptr, i64, i64, i64, i64, i64, f64, f64, f64, ptr],
        "ganlift_zbuffer_triangles": [ptr, i64, i64, i64, i64, f64, f64, f64, ptr],
        "ganlift_interpolate": [ptr, ptr, ptr, i64, i64, i64, i64, f64, ptr, ptr],
        "ganlift_interpolate_backward": [ptr, ptr, ptr, i64, i64, i64, i64, f64, ptr, ptr, ptr, ptr],
        "ganlift_normals": [ptr, i64, i64, i64, f64, ptr],
        "ganlift_normals_backward": [ptr, i64, i64, i64, f64, ptr, ptr],
        "ganlift_pose": [ptr, ptr, ptr, ptr, i64, i64, f64, f64, f64, f64, ptr, ptr],
        "ganlift_pose_backward": [ptr, ptr, ptr, ptr, i64, i64, f64, f64, f64, f64, ptr, ptr, ptr, ptr, ptr, ptr],
        "ganlift_shade": [ptr, ptr, ptr, ptr, ptr, ptr, i64, i64, i64, i64, ptr, ptr, ptr],
        "ganlift_shade_backward": [ptr, ptr, ptr, ptr, ptr, i64, i64, i64, i64, ptr, ptr, ptr, ptr, ptr, ptr, ptr],
    }
    for name, args in signatures.items():
        fn = getattr(lib, name)
        # The shading kernels allocate a scratch array and return 1 when they cannot.
        fn.argtypes, fn.restype = args, (ctypes.c_int if name.startswith("ganlift_shade") else None)
    return lib


def _array(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``x`` as a contiguous CPU array of ``dtype`` (no copy when it already is one)."""
    return x.detach().to(dtype).contiguous()


# Below this many vertices or pixels a call runs in one thread (a thread hand-off costs more).
_PARALLEL_WORK = 1 << 16
_pool: ThreadPoolExecutor | None = None


def _ptr(x: torch.Tensor | None) -> int | None:
    """The array's address for ctypes; None (a NULL pointer) for a missing array."""
    return None if x is None else x.data_ptr()


def _per_sample(call, batch: int, arrays: list[torch.Tensor | None], work: int) -> None:
    """``call(chunks, n)`` on consecutive runs of samples of the batch-major ``arrays`` (None
    entries stay None), in ``torch.get_num_threads()`` threads at once (ctypes releases the
    GIL; every kernel writes each sample's outputs from that sample's inputs only)."""
    global _pool
    threads = min(torch.get_num_threads(), batch) if work >= _PARALLEL_WORK else 1
    if threads <= 1:
        call(arrays, batch)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="ganlift-render")
    cuts = [batch * i // threads for i in range(threads + 1)]
    runs = [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
    list(_pool.map(lambda r: call([None if x is None else x[r[0] : r[1]] for x in arrays], r[1] - r[0]), runs))


def _check(name: str, x: torch.Tensor, shape: tuple) -> None:
    # The C loops index by these shapes: a wrong one would read out of bounds.
    if x.device.type != "cpu" or tuple(x.shape) != shape:
        raise ValueError(f"{name} must be a CPU tensor of shape {shape}, got {tuple(x.shape)} on {x.device}")


def _check_face(face: torch.Tensor, batch: int) -> None:
    if face.dim() != 3 or face.shape[0] != batch or face.dtype != torch.long:
        raise ValueError(f"face must be a (B={batch}, H, W) long tensor, got {tuple(face.shape)} {face.dtype}")


# ------------------------------------------------------------------------------ z-buffer
def _faces(buf: torch.Tensor) -> torch.Tensor:
    return torch.where(buf >= 2**32, buf & 0xFFFFFFFF, -1)


def zbuffer_grid(screen: torch.Tensor, height: int, width: int, znear: float, tol: float, min_area: float,
                 kernels: Kernels) -> torch.Tensor:
    """:func:`ganlift.render.rasterize.rasterize_grid` in C. (B, S, S2, 3) CPU -> (B, H, W) long."""
    lib, dtype = kernels.lib(screen.dtype)
    _check("screen", screen, (*screen.shape[:3], 3))
    s = _array(screen, dtype)
    B, S, S2 = s.shape[:3]
    buf = torch.zeros(B, height, width, dtype=torch.long)
    _per_sample(lambda a, n: lib.ganlift_zbuffer_grid(a[0].data_ptr(), n, S, S2, height, width, znear, tol, min_area,
                                                     a[1].data_ptr()), B, [s, buf], B * S * S2)
    return _faces(buf)


def zbuffer_triangles(tri: torch.Tensor, height: int, width: int, znear: float, tol: float, min_area: float,
                      kernels: Kernels) -> torch.Tensor:
    """:func:`ganlift.render.rasterize.rasterize_triangles` in C. (B, F, 3, 3) CPU -> (B, H, W) long."""
    lib, dtype = kernels.lib(tri.dtype)
    _check("tri", tri, (*tri.shape[:2], 3, 3))
    t = _array(tri, dtype)
    B, F = t.shape[:2]
    buf = torch.zeros(B, height, width, dtype=torch.long)
    _per_sample(lambda a, n: lib.ganlift_zbuffer_triangles(a[0].data_ptr(), n, F, height, width, znear, tol,
                                                          min_area, a[1].data_ptr()), B, [t, buf], B * F)
    return _faces(buf)


# ------------------------------------------------------------------------------ interpolation
class _Interpolate(torch.autograd.Function):
    """Depth and texture coordinates per pixel, differentiable in screen and depth."""

    @staticmethod
    def forward(ctx, screen, depth, face, znear, kernels):
        lib, dtype = kernels.lib(screen.dtype)
        B, S = screen.shape[:2]
        _check("screen", screen, (B, S, S, 3))
        _check("depth", depth, (B, 1, S, S))
        _check_face(face, B)
        if face.numel() and int(face.max()) >= 2 * (S - 1) ** 2:
            raise ValueError(f"face holds ids beyond the {2 * (S - 1) ** 2} faces of a {S} x {S} grid")
        H, W = face.shape[1:]
        s, d, f = _array(screen, dtype), _array(depth, dtype), face.contiguous()
        z = torch.empty(B, H, W, dtype=dtype)
        grid = torch.empty(B, H, W, 2, dtype=dtype)
        _per_sample(lambda a, n: lib.ganlift_interpolate(*(x.data_ptr() for x in a[:3]), n, S, H, W, znear,
                                                         a[3].data_ptr(), a[4].data_ptr()), B, [s, d, f, z, grid], B * H * W)
        ctx.save_for_backward(s, d, f)
        ctx.znear, ctx.lib, ctx.dtypes = znear, lib, (screen.dtype, depth.dtype)
        return z.to(screen.dtype), grid.to(screen.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_z, grad_grid):
        s, d, f = ctx.saved_tensors
        B, S = s.shape[:2]
        H, W = f.shape[1:]
        gz = _array(torch.zeros(B, H, W) if grad_z is None else grad_z, s.dtype)
        gg = _array(torch.zeros(B, H, W, 2) if grad_grid is None else grad_grid, s.dtype)
        gs, gd = torch.zeros_like(s), torch.zeros_like(d)
        _per_sample(lambda a, n: ctx.lib.ganlift_interpolate_backward(*(x.data_ptr() for x in a[:3]), n, S, H, W,
                                                                      ctx.znear, *(x.data_ptr() for x in a[3:])),
                    B, [s, d, f, gz, gg, gs, gd], B * H * W)
        return gs.to(ctx.dtypes[0]), gd.to(ctx.dtypes[1]), None, None, None


def interpolate(screen: torch.Tensor, depth: torch.Tensor, face: torch.Tensor, znear: float,
                kernels: Kernels) -> tuple[torch.Tensor, torch.Tensor]:
    """:meth:`ganlift.render.base.Renderer._interpolate` in C.

    Args:
        screen: (B, S, S, 3) projected vertices; depth: (B, 1, S, S) canonical depth;
        face: (B, H, W) long face per pixel (-1 = background); znear: the near plane.

    Returns:
        ``(z, grid)``: (B, H, W) camera depth (1 on the background) and (B, H, W, 2)
        ``grid_sample`` coordinates (0 on the background).
    """
    return _Interpolate.apply(screen, depth, face, float(znear), kernels)


# ------------------------------------------------------------------------------ normals
class _Normals(torch.autograd.Function):
    """Unit normals of a grid of points, differentiable in the points."""

    @staticmethod
    def forward(ctx, points, eps, kernels):
        lib, dtype = kernels.lib(points.dtype)
        B, H, W = points.shape[:3]
        _check("points", points, (B, H, W, 3))
        p = _array(points, dtype)
        out = torch.empty(B, 3, H, W, dtype=dtype)
        _per_sample(lambda a, n: lib.ganlift_normals(a[0].data_ptr(), n, H, W, eps, a[1].data_ptr()), B, [p, out],
                    B * H * W)
        ctx.save_for_backward(p)
        ctx.eps, ctx.lib, ctx.dtype = eps, lib, points.dtype
        return out.to(points.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (p,) = ctx.saved_tensors
        B, H, W = p.shape[:3]
        g = _array(grad, p.dtype)
        gp = torch.zeros_like(p)
        _per_sample(lambda a, n: ctx.lib.ganlift_normals_backward(a[0].data_ptr(), n, H, W, ctx.eps, a[1].data_ptr(),
                                                                  a[2].data_ptr()), B, [p, g, gp], B * H * W)
        return gp.to(ctx.dtype), None, None


def normals(points: torch.Tensor, eps: float, kernels: Kernels) -> torch.Tensor:
    """:func:`ganlift.render.shading.normals_from_points` in C: (B, H, W, 3) points ->
    (B, 3, H, W) unit normals."""
    return _Normals.apply(points, float(eps), kernels)


# ------------------------------------------------------------------------------ posing
class _Pose(torch.autograd.Function):
    """Posed vertices and their projection, differentiable in depth, T, R and t."""

    @staticmethod
    def forward(ctx, depth, transform, rot, shift, intrinsics, kernels):
        lib, dtype = kernels.lib(depth.dtype)
        B, S = depth.shape[0], depth.shape[-1]
        for name, x, shape in (("depth", depth, (B, 1, S, S)), ("transform", transform, (B, 1, S, S)),
                               ("rot", rot, (B, 3, 3)), ("shift", shift, (B, 3))):
            _check(name, x, shape)
        args = [_array(x, dtype) for x in (depth, transform, rot, shift)]
        points = torch.empty(B, S, S, 3, dtype=dtype)
        screen = torch.empty(B, S, S, 3, dtype=dtype)
        _per_sample(lambda a, n: lib.ganlift_pose(*(x.data_ptr() for x in a[:4]), n, S, *intrinsics,
                                                  a[4].data_ptr(), a[5].data_ptr()), B, [*args, points, screen], B * S * S)
        ctx.save_for_backward(*args)
        ctx.intrinsics, ctx.lib = intrinsics, lib
        ctx.dtypes = tuple(x.dtype for x in (depth, transform, rot, shift))
        return points.to(depth.dtype), screen.to(depth.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_points, grad_screen):
        depth, transform, rot, shift = ctx.saved_tensors
        B, S = depth.shape[0], depth.shape[-1]
        gp = _array(torch.zeros(B, S, S, 3) if grad_points is None else grad_points, depth.dtype)
        gs = _array(torch.zeros(B, S, S, 3) if grad_screen is None else grad_screen, depth.dtype)
        gd, gT = torch.empty_like(depth), torch.empty_like(transform)
        gR, gt = torch.zeros_like(rot), torch.zeros_like(shift)
        _per_sample(lambda a, n: ctx.lib.ganlift_pose_backward(*(x.data_ptr() for x in a[:4]), n, S, *ctx.intrinsics,
                                                               *(x.data_ptr() for x in a[4:])),
                    B, [depth, transform, rot, shift, gp, gs, gd, gT, gR, gt], B * S * S)
        grads = [g.to(dt) for g, dt in zip((gd, gT, gR, gt), ctx.dtypes)]
        return (*grads, None, None)


def pose(depth: torch.Tensor, transform: torch.Tensor, rot: torch.Tensor, shift: torch.Tensor,
         intrinsics: tuple[float, float, float, float], kernels: Kernels) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`ganlift.render.camera.posed_points` then :func:`~ganlift.render.camera.project`
    in C (paper eq. 1).

    Args:
        depth: (B, 1, S, S) canonical depth; transform: (B, 1, S, S) pinned T;
        rot: (B, 3, 3) rotation matrices; shift: (B, 3) translations;
        intrinsics: ``(f, c)`` of the maps, then ``(f, c)`` of the output image.

    Returns:
        ``(points, screen)``: (B, S, S, 3) posed camera-frame vertices and their
        ``(u, v, z)`` projection.
    """
    return _Pose.apply(depth, transform, rot, shift, tuple(float(v) for v in intrinsics), kernels)


# ------------------------------------------------------------------------------ shading
def _scratch_ok(status: int, size: int) -> None:
    if status != 0:
        raise MemoryError(f"the shading kernel could not allocate its scratch maps ({size} x {size} x 6)")


class _Shade(torch.autograd.Function):
    """Sampled texture and normals, Lambert shading and the composite, differentiable in the
    albedo, the normal map, the sampling grid and the light."""

    @staticmethod
    def forward(ctx, albedo, nmap, grid, face, light, background, kernels):
        lib, dtype = kernels.lib(albedo.dtype)
        B, S = albedo.shape[0], albedo.shape[-1]
        if S < 2:
            raise ValueError(f"the maps must be at least 2 x 2 texels, got {S} x {S}")
        _check("albedo", albedo, (B, 3, S, S))
        _check("nmap", nmap, (B, 3, S, S))
        _check_face(face, B)
        H, W = face.shape[1:]
        _check("grid", grid, (B, H, W, 2))
        _check("light", light, (B, 5))
        _check("background", background, (3,))
        args = [_array(x, dtype) for x in (albedo, nmap, grid)] + [face.contiguous(), _array(light, dtype)]
        bg = _array(background, dtype)
        image = torch.empty(B, 3, H, W, dtype=dtype)
        normal = torch.empty(B, 3, H, W, dtype=dtype)
        shading = torch.empty(B, 1, H, W, dtype=dtype)
        _per_sample(lambda a, n: _scratch_ok(lib.ganlift_shade(*(x.data_ptr() for x in a[:5]), bg.data_ptr(), n, S,
                                                               H, W, *(x.data_ptr() for x in a[5:])), S),
                    B, [*args, image, normal, shading], B * H * W)
        ctx.save_for_backward(*args)
        ctx.lib = lib
        ctx.dtypes = tuple(x.dtype for x in (albedo, nmap, grid, light))
        return image.to(albedo.dtype), normal.to(albedo.dtype), shading.to(albedo.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_image, grad_normal, grad_shading):
        albedo, nmap, grid, face, light = ctx.saved_tensors
        B, S = albedo.shape[0], albedo.shape[-1]
        H, W = face.shape[1:]
        dtype = albedo.dtype

        gi = torch.zeros(B, 3, H, W, dtype=dtype) if grad_image is None else _array(grad_image, dtype)
        # A gradient autograd did not send (the output was not used) reaches the kernel as
        # NULL, not as a tensor of zeros to fill and read.
        gn, gs = (None if g is None else _array(g, dtype) for g in (grad_normal, grad_shading))
        ga, gm, gl = torch.empty_like(albedo), torch.empty_like(nmap), torch.zeros_like(light)
        gg = torch.empty_like(grid)
        _per_sample(lambda a, n: _scratch_ok(ctx.lib.ganlift_shade_backward(*map(_ptr, a[:5]), n, S, H, W,
                                                                            *map(_ptr, a[5:])), S),
                    B, [albedo, nmap, grid, face, light, gi, gn, gs, ga, gm, gl, gg], B * H * W)
        grads = [g.to(dt) for g, dt in zip((ga, gm, gg, gl), ctx.dtypes)]
        return (*grads[:3], None, grads[3], None, None)


def shade(albedo: torch.Tensor, nmap: torch.Tensor, grid: torch.Tensor, face: torch.Tensor, light: torch.Tensor,
          background: torch.Tensor, kernels: Kernels) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Texture sampling, shading and compositing in C: ``grid_sample`` (bilinear,
    ``align_corners=True``, border padding) of the albedo and the normal map, the sampled
    normal renormalised, :func:`ganlift.render.shading.lambert`, and ``albedo * shading`` on
    the covered pixels.

    Args:
        albedo: (B, 3, S, S) canonical albedo, S >= 2.
        nmap: (B, 3, S, S) normals of the posed surface at the canonical vertices.
        grid: (B, H, W, 2) sampling coordinates in [-1, 1].
        face: (B, H, W) long face per pixel (-1 = background).
        light: (B, 5) ambient and diffuse strengths, then the unit direction of travel
            (:func:`~ganlift.render.shading.light_direction`).
        background: (3,) the image's value on the background.
        kernels: the loaded kernels (:func:`library`).

    Returns:
        ``(image, normal, shading)``: (B, 3, H, W), (B, 3, H, W) unit normals and
        (B, 1, H, W); on the background ``background``, 0 and 0.
    """
    return _Shade.apply(albedo, nmap, grid, face, light, background, kernels)


__all__ = ["Kernels", "library", "for_tensor", "enabled", "cache_dir", "compiler", "zbuffer_grid", "zbuffer_triangles",
           "interpolate", "normals", "pose", "shade"]
