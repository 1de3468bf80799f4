"""Image sources for GAN training: renders of a synthetic teacher, or a folder of images."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

Tensor = torch.Tensor
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


class ImageSource(Protocol):
    """Anything that hands out batches of training images."""

    resolution: int

    def batch(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` images (n, 3, R, R) in [-1, 1], drawn with ``generator``."""
        ...


class TeacherRenders:
    """Renders of a teacher from fresh random latents: an endless image set.

    Only the images leave this object, never the codes, so a GAN trained on it learns its own
    latent space.

    Args:
        teacher: a teacher (``mapping`` and ``synthesis``) at the training resolution.
    """

    def __init__(self, teacher: Any) -> None:
        self.teacher = teacher
        self.resolution = int(teacher.resolution)

    @torch.no_grad()
    def batch(self, n: int, generator: torch.Generator) -> Tensor:
        z = torch.randn(n, self.teacher.z_dim, generator=generator)
        return self.teacher.synthesis(self.teacher.mapping(z)).clamp(-1.0, 1.0)


class ImageFolder:
    """All images of a folder, resized (bilinear, antialiased) to a square, held in memory.

    Args:
        folder: a folder of .png/.jpg/.jpeg/.webp/.bmp files (not recursive).
        resolution: the size images are resized to.

    Raises:
        ValueError: the folder holds no readable image (the unreadable ones are named).
    """

    def __init__(self, folder: str | Path, resolution: int) -> None:
        folder = Path(folder)
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"{folder} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        images, bad = [], []
        for path in files:
            try:
                with Image.open(path) as im:
                    arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
            except OSError:
                bad.append(path.name)
                continue
            t = torch.from_numpy(arr).permute(2, 0, 1)[None]
            images.append(F.interpolate(t, size=(resolution, resolution), mode="bilinear",
                                        antialias=True, align_corners=False)[0])
        if bad:
            raise ValueError(f"{folder}: cannot read {len(bad)} image(s): {bad[:5]}")
        self.images = torch.stack(images)
        self.resolution = int(resolution)

    def batch(self, n: int, generator: torch.Generator) -> Tensor:
        index = torch.randint(0, self.images.shape[0], (n,), generator=generator)
        return self.images[index]


def image_source(data: str, resolution: int, options: Mapping[str, Any] | None = None) -> ImageSource:
    """The image source named by ``data``: an existing folder, or a registered teacher name.

    Raises:
        ValueError: ``data`` is neither (the registered teachers are listed), or options were
            given for a folder.
    """
    path = Path(data)
    if path.is_dir():
        if options:
            raise ValueError(f"data_options {dict(options)} do not apply to an image folder ({data})")
        return ImageFolder(path, resolution)
    from ganlift.teachers import TEACHERS
    from ganlift.teachers.loading import load_teacher

    if data not in TEACHERS:
        raise ValueError(f"data must be an image folder or a registered teacher, got {data!r}; "
                         f"teachers: {sorted(TEACHERS.names())}")
    teacher = load_teacher(data, resolution=resolution, **dict(options or {}))
    return TeacherRenders(teacher)


__all__ = ["ImageSource", "TeacherRenders", "ImageFolder", "image_source"]
