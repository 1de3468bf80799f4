"""Textured meshes of a lifted surface: one vertex per depth-map pixel, two triangles per quad.

Orientation and units of every exported mesh (OBJ, PLY, GLB):

* ``+y`` is up, ``+x`` is the viewer's right and ``+z`` points towards the viewer, so the
  front of the object faces ``+z`` (glTF / Blender-import / OpenGL view convention). Faces
  wind counter-clockwise seen from the front.
* One unit is the distance from the camera to the rotation pivot, the scene unit of the
  renderer (canonical depth lies in about ``[0.9, 1.1]``). With ``center=True`` (the default)
  the pivot ``(0, 0, 1)`` of the camera frame becomes the origin, so the object sits at the
  origin; with ``center=False`` the camera sits at the origin looking down ``-z`` and the
  object lies around ``z = -1``. ``scale`` multiplies every coordinate (e.g. ``scale=0.2`` for
  a life-sized head in metres: the face of a 10 degree camera is about 0.18 units wide).

The camera frame of :mod:`ganlift.render.camera` (x right, y down, z forward) maps to this frame
by ``(x, y, z) -> (x, -y, -z)``, a rotation by 180 degrees about x, so handedness and winding
are kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from PIL import Image

from ganlift.render.camera import PIVOT, posed_points
from ganlift.render.rasterize import grid_faces
from ganlift.utils.io import atomic_path

FORMATS = ("obj", "ply", "glb")
TRIMESH_HINT = "GLB export needs trimesh: pip install 'ganlift[export]' (or pip install trimesh)"


@dataclass
class Mesh:
    """A triangle mesh with a texture and per-vertex colours, ready to write.

    Attributes:
        vertices: (N, 3) float32 positions (+y up, front facing +z; see module docs).
        faces: (F, 3) int64 vertex indices, counter-clockwise seen from the front.
        uvs: (N, 2) float32 texture coordinates, origin at the texture's bottom-left
            (OBJ convention); texel centres of the source map sit at ``(i + 0.5) / size``.
        colors: (N, 3) uint8 vertex colours (the texture sampled at each vertex).
        normals: (N, 3) float32 unit vertex normals (area-weighted).
        texture: (H, W, 3) uint8 texture image, row 0 at the top.
        pixels: (N, 2) int64 source pixel ``(row, col)`` of each vertex in the depth map.
    """

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    colors: np.ndarray
    normals: np.ndarray
    texture: np.ndarray
    pixels: np.ndarray

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])


def _check_map(name: str, x: torch.Tensor | None, channels: int, size: int | None = None):
    if x is None:
        return None
    if not torch.is_tensor(x):
        x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != channels:
        raise ValueError(
            f"{name} must have shape (1, {channels}, H, W) (one sample), got {tuple(x.shape)}"
        )
    if size is not None and (x.shape[-2] != size or x.shape[-1] != size):
        raise ValueError(
            f"{name} must be {size}x{size} like the depth map, got {tuple(x.shape[-2:])}"
        )
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x.detach().float().cpu()


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals. Returns (N, 3) float32."""
    tri = vertices[faces].astype(np.float64)
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = 2 * area
    normals = np.zeros_like(vertices, dtype=np.float64)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_n)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    fallback = np.array([0.0, 0.0, 1.0])
    normals = np.where(length > 0, normals / np.maximum(length, 1e-30), fallback)
    return normals.astype(np.float32)


def depth_to_mesh(
    depth: torch.Tensor,
    texture: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    *,
    fov: float = 10.0,
    view: torch.Tensor | None = None,
    transform: torch.Tensor | None = None,
    pin_border: int = 0,
    center: bool = True,
    scale: float = 1.0,
) -> Mesh:
    """Build a textured mesh from one canonical depth map.

    Args:
        depth: (1, 1, S, S) canonical depth in scene units (about 0.9 .. 1.1).
        texture: (1, 3, H, W) colours in [0, 1] aligned with the depth map (usually the
            albedo; any resolution). None gives a mid-grey texture.
        mask: (1, 1, S, S) object mask; faces with any vertex outside (mask <= 0.5) are
            dropped, and vertices no face uses are removed. None keeps the whole grid.
        fov: field of view of the renderer, degrees.
        view: (1, 6) pose to apply (posed geometry); None keeps canonical geometry.
        transform: (1, 1, S, S) transformation map used with ``view`` (None = rigid).
        pin_border: frame width where the transformation map is forced to 0 (as the
            renderer's ``pin_border``); only used with ``view``.
        center: put the pivot ``(0, 0, 1)`` at the origin (see module docs).
        scale: factor on every coordinate.

    Returns:
        A :class:`Mesh` with ``S * S`` vertices and ``2 * (S - 1) ** 2`` faces before masking.
    """
    depth = _check_map("depth", depth, 1)
    size = depth.shape[-1]
    if depth.shape[-2] != size or size < 2:
        raise ValueError(f"depth must be square and at least 2x2, got {tuple(depth.shape)}")
    if not (np.isfinite(fov) and 0 < fov < 180):
        raise ValueError(f"fov must be in (0, 180) degrees, got {fov}")
    transform = _check_map("transform", transform, 1, size)
    if view is not None:
        view = torch.as_tensor(view, dtype=torch.float32).reshape(-1, 6)[:1].cpu()
        if not torch.isfinite(view).all():
            raise ValueError("view contains NaN or infinite values")
    with torch.no_grad():
        points = posed_points(depth, fov, view, transform, pin_border)
    return points_to_mesh(points, texture, mask, center=center, scale=scale)


def points_to_mesh(
    points: torch.Tensor,
    texture: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    *,
    center: bool = True,
    scale: float = 1.0,
) -> Mesh:
    """Build a textured grid mesh from one grid of camera-frame points (one per pixel).

    Args:
        points: (1, S, S, 3) camera-frame vertices (e.g. ``renderer.posed_points(...)``).
        texture, mask, center, scale: as in :func:`depth_to_mesh`.

    Returns:
        A :class:`Mesh`.
    """
    if points.dim() != 4 or points.shape[0] != 1 or points.shape[-1] != 3:
        raise ValueError(f"points must have shape (1, S, S, 3), got {tuple(points.shape)}")
    size = points.shape[1]
    if points.shape[2] != size or size < 2:
        raise ValueError(f"points must be a square grid of at least 2x2, got {tuple(points.shape)}")
    if not torch.isfinite(points).all():
        raise ValueError("points contain NaN or infinite values")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale}")
    mask = _check_map("mask", mask, 1, size)
    if texture is None:
        texture = torch.full((1, 3, size, size), 0.5)
    texture = _check_map("texture", texture, 3).clamp(0, 1)

    with torch.no_grad():
        points = points[0].detach().float().cpu()
        if center:
            points = points - torch.tensor(PIVOT)
        # Camera frame (y down, z forward) -> +y up, front facing +z.
        points = points * torch.tensor([1.0, -1.0, -1.0]) * scale
        vertices = points.reshape(-1, 3).numpy().astype(np.float32)

        # Vertex colours: the texture at each vertex's pixel centre (align_corners=True).
        colour_map = texture
        if texture.shape[-2:] != (size, size):
            colour_map = F.interpolate(texture, size=(size, size), mode="bilinear", align_corners=True)
        # One colour per vertex, vertex ``row * size + col`` like the points above.
        colors = (rearrange(colour_map[0], "c h w -> (h w) c").numpy() * 255.0 + 0.5).astype(np.uint8)
        tex = (rearrange(texture[0], "c h w -> h w c").numpy() * 255.0 + 0.5).astype(np.uint8)

    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    pixels = np.stack([rows.ravel(), cols.ravel()], 1).astype(np.int64)
    # Vertex at pixel (row, col) -> that texel's centre; v runs bottom-up in OBJ.
    uvs = np.stack([(cols.ravel() + 0.5) / size, 1.0 - (rows.ravel() + 0.5) / size], 1)
    uvs = uvs.astype(np.float32)
    # The renderer's face table, each triangle wound the other way: with image rows growing
    # downwards its (a, b, c) turns clockwise on screen, and mesh files want counter-clockwise
    # as seen by the camera (front faces towards the viewer after the y/z flip).
    faces = np.ascontiguousarray(grid_faces(size, size).numpy()[:, ::-1])

    if mask is not None:
        inside = (mask[0, 0].reshape(-1) > 0.5).numpy()
        faces = faces[inside[faces].all(axis=1)]
        used = np.zeros(size * size, dtype=bool)
        used[faces.ravel()] = True
        remap = np.full(size * size, -1, dtype=np.int64)
        remap[used] = np.arange(int(used.sum()))
        faces = remap[faces]
        vertices, uvs, colors, pixels = vertices[used], uvs[used], colors[used], pixels[used]
        if len(faces) == 0:
            raise ValueError("the mask leaves no triangle: every face has a vertex outside it")

    return Mesh(
        vertices=vertices,
        faces=faces,
        uvs=uvs,
        colors=colors,
        normals=vertex_normals(vertices, faces),
        texture=tex,
        pixels=pixels,
    )


# ----------------------------------------------------------------------------- writers


_MTL_HEADER = "# ganlift lifted surface material\n"


def obj_sidecars(path: str | os.PathLike) -> tuple[Path, Path]:
    """The material and texture files an OBJ export writes beside ``path``: (.mtl, .png)."""
    path = Path(path)
    return path.with_suffix(".mtl"), path.with_suffix(".png")


def check_obj_sidecars(path: str | os.PathLike, overwrite: bool = False) -> None:
    """Refuse an OBJ export that would replace files the user did not name.

    ``face.obj`` also writes ``face.mtl`` and ``face.png``. Replacing them is fine when they
    are a previous ganlift export of the same name (the material carries ganlift's header and
    names that texture); any other ``face.png`` or ``face.mtl`` (your photo, another
    material) is kept unless ``overwrite``.

    Raises:
        FileExistsError: naming the files and how to go on.
    """
    if overwrite:
        return
    mtl_path, png_path = obj_sidecars(path)
    ours = False
    if mtl_path.is_file():
        try:
            text = mtl_path.read_text(encoding="utf-8", errors="replace")[:4096]
        except OSError:
            text = ""
        ours = text.startswith(_MTL_HEADER) and f"map_Kd {png_path.name}\n" in text
    clashes = [p for p in (mtl_path, png_path) if p.exists() and not ours]
    if clashes:
        names = " and ".join(str(p) for p in clashes)
        raise FileExistsError(
            f"exporting {Path(path).name} also writes {mtl_path.name} and {png_path.name}, but "
            f"{names} already exist{'s' if len(clashes) == 1 else ''} and "
            f"{'is' if len(clashes) == 1 else 'are'} not from a ganlift export of "
            f"{Path(path).name}; choose another --out name or pass --overwrite (overwrite=True)"
        )


def write_obj(mesh: Mesh, path: str | os.PathLike, *, overwrite: bool = False) -> list[Path]:
    """Write ``path`` (.obj) with a sibling ``.mtl`` and ``.png`` texture.

    Args:
        mesh: the mesh.
        path: the .obj file.
        overwrite: replace an existing ``.mtl``/``.png`` of that name even when they are not
            a previous ganlift export (see :func:`check_obj_sidecars`).

    Returns:
        The three written paths (obj, mtl, png).
    """
    path = Path(path)
    check_obj_sidecars(path, overwrite)
    mtl_path, png_path = obj_sidecars(path)
    with atomic_path(png_path) as tmp:
        Image.fromarray(mesh.texture).save(tmp, format="PNG")
    mtl = (
        _MTL_HEADER
        + "newmtl lifted\n"
        "Ka 1.000 1.000 1.000\nKd 1.000 1.000 1.000\nKs 0.000 0.000 0.000\n"
        f"d 1.0\nillum 1\nmap_Kd {png_path.name}\n"
    )
    with atomic_path(mtl_path) as tmp:
        tmp.write_text(mtl, encoding="utf-8")

    f = mesh.faces + 1  # OBJ indices are 1-based; v, vt and vn share the index.
    parts = [
        "# ganlift lifted surface: +y up, front faces +z (see ganlift.export.mesh)\n",
        f"mtllib {mtl_path.name}\n",
        _rows("v", mesh.vertices, "%.6f"),
        _rows("vt", mesh.uvs, "%.6f"),
        _rows("vn", mesh.normals, "%.5f"),
        "usemtl lifted\n",
        "".join(f"f {a}/{a}/{a} {b}/{b}/{b} {c}/{c}/{c}\n" for a, b, c in f.tolist()),
    ]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(parts), encoding="utf-8")
    return [path, mtl_path, png_path]


def _rows(tag: str, values: np.ndarray, fmt: str) -> str:
    if len(values) == 0:
        return ""
    line = tag + (" " + fmt) * values.shape[1]
    return "\n".join(line % tuple(r) for r in values.tolist()) + "\n"


def write_ply(mesh: Mesh, path: str | os.PathLike) -> Path:
    """Write a binary little-endian PLY with positions, normals and vertex colours."""
    path = Path(path)
    vertex = np.empty(
        mesh.num_vertices,
        dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("nx", "<f4"), ("ny", "<f4"),
               ("nz", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")],
    )  # fmt: skip
    for i, k in enumerate("xyz"):
        vertex[k] = mesh.vertices[:, i]
        vertex["n" + k] = mesh.normals[:, i]
    for i, k in enumerate(("red", "green", "blue")):
        vertex[k] = mesh.colors[:, i]
    face = np.empty(mesh.num_faces, dtype=[("n", "u1"), ("i", "<i4", (3,))])
    face["n"] = 3
    face["i"] = mesh.faces
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        "comment ganlift lifted surface: +y up, front faces +z\n"
        f"element vertex {mesh.num_vertices}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property float nx\nproperty float ny\nproperty float nz\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        f"element face {mesh.num_faces}\n"
        "property list uchar int vertex_indices\nend_header\n"
    )
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(header.encode("ascii"))
            fh.write(vertex.tobytes())
            fh.write(face.tobytes())
    return path


def to_trimesh(mesh: Mesh):
    """The mesh as a ``trimesh.Trimesh`` with its texture (needs trimesh)."""
    try:
        import trimesh
        from trimesh.visual.material import PBRMaterial
        from trimesh.visual.texture import TextureVisuals
    except ImportError as err:
        raise ImportError(TRIMESH_HINT) from err
    material = PBRMaterial(
        name="lifted",
        baseColorTexture=Image.fromarray(mesh.texture),
        metallicFactor=0.0,
        roughnessFactor=1.0,
        doubleSided=True,
    )
    return trimesh.Trimesh(
        vertices=mesh.vertices,
        faces=mesh.faces,
        vertex_normals=mesh.normals,
        visual=TextureVisuals(uv=mesh.uvs, material=material),
        process=False,
    )


def write_glb(mesh: Mesh, path: str | os.PathLike) -> Path:
    """Write a binary glTF (GLB) with the embedded texture (needs trimesh)."""
    path = Path(path)
    data = to_trimesh(mesh).export(file_type="glb")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def save_mesh(mesh: Mesh, path: str | os.PathLike, format: str | None = None, *,
              overwrite: bool = False) -> list[Path]:
    """Write a mesh; the format is ``format`` or the file extension (obj, ply, glb).

    Args:
        mesh: the mesh.
        path: the file to write.
        format: ``"obj"``, ``"ply"`` or ``"glb"``; None = from the extension.
        overwrite: for OBJ, replace a ``.mtl``/``.png`` of that name that is not a previous
            ganlift export (see :func:`check_obj_sidecars`).

    Returns:
        Every file written (an OBJ also writes its .mtl and .png).
    """
    fmt = (format or Path(path).suffix.lstrip(".")).lower()
    if fmt == "gltf":
        raise ValueError("write binary glTF: use a .glb path or format='glb'")
    if fmt not in FORMATS:
        raise ValueError(f"mesh format must be one of {', '.join(FORMATS)}, got {fmt!r} (from {path})")
    if fmt == "obj":
        return write_obj(mesh, path, overwrite=overwrite)
    if fmt == "ply":
        return [write_ply(mesh, path)]
    return [write_glb(mesh, path)]
