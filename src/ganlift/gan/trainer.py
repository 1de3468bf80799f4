"""Train a small StyleGAN2 on images, so ganlift has teachers with a learned latent space.

The generator is ganlift's own :class:`~ganlift.teachers.stylegan2.StyleGAN2Teacher` (the
rosinality layout), so the result loads through :func:`ganlift.load_teacher` like any user
checkpoint. The objective is StyleGAN2's (Karras et al. 2020): the non-saturating logistic
loss, R1 on real images applied lazily every ``r1_every`` steps (scaled by the interval, with
Adam's lr and betas adjusted for the lazy schedule), style mixing, and an exponential moving
average of the generator (G_ema, the network that is shipped). Path-length regularisation is
left out: it costs a second generator backward per regularised step, which this CPU-sized
trainer cannot afford; the lifter does not need it.

Images come from a :class:`ImageSource`: by default renders of a synthetic teacher from
random codes (only the images are passed on, never the codes), or a folder of image files.

Exact resume: every random draw of step ``s`` comes from generators seeded by
``derive_seed(seed, s, stream)``, so a run resumed from a checkpoint continues bit for bit.

Example:
    >>> from ganlift.gan import GanSettings, train_gan
    >>> train_gan(GanSettings(data="synthetic-faces", steps=4000), out="runs/gan-faces")
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ganlift.gan.data import ImageSource, image_source
from ganlift.gan.discriminator import Discriminator
from ganlift.teachers.stylegan2 import MAPPING_LR_MUL, StyleGAN2Teacher
from ganlift.training.checkpoint import derive_seed
from ganlift.training.signals import defer_interrupts, terminate_as_interrupt
from ganlift.utils.images import save_grid
from ganlift.utils.io import atomic_path, write_json

Tensor = torch.Tensor
log = logging.getLogger("ganlift")

CHECKPOINT_FORMAT = "ganlift-gan-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT = "checkpoint.pt"
# The generator widths of the shipped 64 px teachers: about 1.1 M parameters (4.5 MB in
# float32), sized for a CPU (one forward+backward of 16 images takes about 0.33 s on one core).
SMALL_G_CHANNELS: dict[int, int] = {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 16}
# Random-draw streams of one step (see derive_seed).
_REAL, _FAKE_D, _FAKE_G, _MIX_D, _MIX_G = range(5)


@dataclass
class GanSettings:
    """Everything that defines a GAN training run (saved in its checkpoint).

    Attributes:
        data: a registered synthetic teacher name (its renders are the training images) or a
            folder of image files.
        data_options: options of that teacher (for example ``{"seed": 0}``).
        resolution: image size (power of two >= 8).
        steps: training steps (one discriminator and one generator update each).
        batch_size: images per update.
        z_dim, w_dim, n_mlp: the mapping network.
        g_channels: generator widths by resolution (see :data:`SMALL_G_CHANNELS`).
        d_channels: discriminator widths by resolution.
        lr: Adam learning rate of both networks (betas 0, 0.99, as StyleGAN2).
        r1_gamma: R1 weight (gamma / 2 * |grad D(x)|^2 on real images).
        r1_every: lazy regularisation interval (steps).
        mixing: probability of style mixing (two codes, one random crossover layer).
        ema_images: half-life of the generator EMA in images.
        ema_rampup: the half-life is at most this fraction of the images seen so far, so the
            EMA does not drag the random initialisation along early on (StyleGAN2-ADA's ramp).
        seed: seeds the initial weights and every random draw.
        sample_every: steps between sample grids (0 = only at the end).
        checkpoint_every: steps between checkpoints (also saved at the end and on Ctrl-C).
        name: the trained teacher's name.
    """

    data: str = "synthetic-faces"
    data_options: dict[str, Any] = field(default_factory=dict)
    resolution: int = 64
    steps: int = 4000
    batch_size: int = 16
    z_dim: int = 128
    w_dim: int = 128
    n_mlp: int = 4
    g_channels: dict[int, int] = field(default_factory=lambda: dict(SMALL_G_CHANNELS))
    d_channels: dict[int, int] | None = None
    lr: float = 0.002
    r1_gamma: float = 0.1
    r1_every: int = 16
    mixing: float = 0.9
    ema_images: float = 5000.0
    ema_rampup: float = 0.05
    seed: int = 0
    sample_every: int = 500
    checkpoint_every: int = 250
    name: str = "gan"

    def __post_init__(self) -> None:
        for key in ("resolution", "steps", "batch_size", "z_dim", "w_dim", "n_mlp", "r1_every"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"GanSettings.{key} must be a positive int, got {value!r}")
        for key in ("lr", "ema_images"):
            if not float(getattr(self, key)) > 0:
                raise ValueError(f"GanSettings.{key} must be > 0, got {getattr(self, key)!r}")
        if not 0.0 <= float(self.mixing) <= 1.0:
            raise ValueError(f"GanSettings.mixing must be in [0, 1], got {self.mixing!r}")
        if float(self.r1_gamma) < 0:
            raise ValueError(f"GanSettings.r1_gamma must be >= 0, got {self.r1_gamma!r}")
        self.g_channels = {int(k): int(v) for k, v in self.g_channels.items()}
        if self.d_channels is not None:
            self.d_channels = {int(k): int(v) for k, v in self.d_channels.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (dict keys as strings)."""
        d = dataclasses.asdict(self)
        d["g_channels"] = {str(k): v for k, v in self.g_channels.items()}
        if self.d_channels is not None:
            d["d_channels"] = {str(k): v for k, v in self.d_channels.items()}
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GanSettings":
        """Settings from :meth:`to_dict`'s output; unknown keys are refused, naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown GAN setting(s) {unknown}; allowed: {sorted(names)}")
        return cls(**data)


# -- networks -------------------------------------------------------------------------------------
def init_generator(settings: GanSettings) -> StyleGAN2Teacher:
    """A trainable generator with StyleGAN2's initialisation, seeded by ``settings.seed``.

    Stored weights are N(0, 1) (equalised learning rate); mapping weights are stored 1/lr_mul
    larger, as rosinality keeps them; modulation biases are 1, other biases 0, noise strengths
    0, the constant input N(0, 1), the fixed noise maps N(0, 1).
    """
    g = StyleGAN2Teacher(settings.resolution, settings.w_dim, settings.z_dim, settings.n_mlp,
                         settings.g_channels, name=settings.name)
    gen = torch.Generator().manual_seed(derive_seed(settings.seed, 0, 0, 0))
    with torch.no_grad():
        for key, t in g.state_dict().items():
            if key in ("w_mean", "w_std") or key.endswith(".kernel"):
                continue
            if key.endswith("modulation.bias"):
                t.fill_(1.0)
            elif key.endswith("bias") or key.endswith("noise.weight"):
                t.zero_()
            else:
                t.copy_(torch.randn(t.shape, generator=gen))
                if key.startswith("style."):
                    t.div_(MAPPING_LR_MUL)
    for p in g.parameters():
        p.requires_grad_(True)
    return g


def init_discriminator(settings: GanSettings) -> Discriminator:
    """A discriminator for ``settings`` with N(0, 1) weights seeded by ``settings.seed``."""
    torch.manual_seed(derive_seed(settings.seed, 0, 0, 1))
    return Discriminator(settings.resolution, settings.d_channels)


# -- one step -------------------------------------------------------------------------------------
def _generator(seed: int, step: int, stream: int) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(seed, step, stream))


def _styles(g: StyleGAN2Teacher, batch: int, mixing: float, gz: torch.Generator, gm: torch.Generator) -> Tensor:
    """Per-layer codes (B, num_ws, w_dim), with style mixing at one random crossover."""
    z = torch.randn(2, batch, g.z_dim, generator=gz)
    w = g.mapping(z.reshape(2 * batch, -1)).reshape(2, batch, 1, -1)
    mix = torch.rand(batch, generator=gm) < mixing
    cross = torch.randint(1, g.num_ws, (batch,), generator=gm)
    cross = torch.where(mix, cross, torch.full_like(cross, g.num_ws))
    layer = torch.arange(g.num_ws)[None, :, None]
    return torch.where(layer < cross[:, None, None], w[0], w[1])


def r1_penalty(d: Discriminator, real: Tensor) -> Tensor:
    """Mean over the batch of |grad_x D(x)|^2 on real images (Mescheder et al. 2018)."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(real).sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def _ema_beta(settings: GanSettings, images_seen: int) -> float:
    half_life = min(settings.ema_images, images_seen * settings.ema_rampup) if settings.ema_rampup else settings.ema_images
    return 0.5 ** (settings.batch_size / max(half_life, 1e-8))


@torch.no_grad()
def update_ema(g_ema: StyleGAN2Teacher, g: StyleGAN2Teacher, beta: float) -> None:
    """``g_ema <- beta * g_ema + (1 - beta) * g`` for the parameters; buffers are copied."""
    for pe, p in zip(g_ema.parameters(), g.parameters()):
        pe.lerp_(p, 1.0 - beta)
    for be, b in zip(g_ema.buffers(), g.buffers()):
        be.copy_(b)


class GanTrainer:
    """Holds the networks, optimisers and image source of one run; :meth:`step` trains once."""

    def __init__(self, settings: GanSettings, source: ImageSource | None = None) -> None:
        self.settings = settings
        self.source = source or image_source(settings.data, settings.resolution, settings.data_options)
        self.g = init_generator(settings)
        self.d = init_discriminator(settings)
        self.g_ema = copy.deepcopy(self.g)
        self.g_ema.freeze()
        # Lazy R1: the discriminator is regularised every k steps, so its Adam lr and betas
        # are adjusted by k / (k + 1) (StyleGAN2, appendix B).
        c = settings.r1_every / (settings.r1_every + 1) if settings.r1_gamma > 0 else 1.0
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=settings.lr, betas=(0.0, 0.99), eps=1e-8)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=settings.lr * c,
                                      betas=(0.0, 0.99**c), eps=1e-8)
        self.step_count = 0

    def step(self) -> dict[str, float]:
        """One discriminator update (with R1 when due) then one generator update."""
        s, n, step = self.settings, self.settings.batch_size, self.step_count
        real = self.source.batch(n, _generator(s.seed, step, _REAL))

        with torch.no_grad():
            fake = self.g.synthesis(_styles(self.g, n, s.mixing, _generator(s.seed, step, _FAKE_D),
                                            _generator(s.seed, step, _MIX_D)))
        loss_d = F.softplus(self.d(fake)).mean() + F.softplus(-self.d(real)).mean()
        r1 = torch.zeros(())
        if s.r1_gamma > 0 and step % s.r1_every == 0:
            r1 = r1_penalty(self.d, real)
            loss_d = loss_d + s.r1_gamma / 2 * r1 * s.r1_every
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()

        for p in self.d.parameters():
            p.requires_grad_(False)
        fake = self.g.synthesis(_styles(self.g, n, s.mixing, _generator(s.seed, step, _FAKE_G),
                                        _generator(s.seed, step, _MIX_G)))
        loss_g = F.softplus(-self.d(fake)).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        for p in self.d.parameters():
            p.requires_grad_(True)

        with defer_interrupts():
            self.opt_d.step()
            self.opt_g.step()
            self.step_count += 1
            update_ema(self.g_ema, self.g, _ema_beta(s, self.step_count * n))
        return {"loss_d": float(loss_d.detach()), "loss_g": float(loss_g.detach()), "r1": float(r1.detach())}

    # -- checkpoints ----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything an exact resume needs: step, settings, the three networks, both optimisers."""
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "step": self.step_count,
            "settings": json.dumps(self.settings.to_dict(), sort_keys=True),
            "generator": self.g.state_dict(),
            "discriminator": self.d.state_dict(),
            "g_ema": self.g_ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
        }

    def save(self, path: str | Path) -> None:
        """Write :meth:`state` atomically with ``torch.save`` (read back with ``weights_only``)."""
        with atomic_path(path) as tmp:
            torch.save(self.state(), tmp)

    def load(self, path: str | Path) -> None:
        """Restore a checkpoint written by :meth:`save` (safely: ``weights_only=True``).

        Raises:
            ValueError: not a GAN checkpoint, or trained with other settings (named).
        """
        data = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} is not a ganlift GAN checkpoint (format {CHECKPOINT_FORMAT!r})")
        if data.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"{path}: checkpoint version {data.get('version')}, expected {CHECKPOINT_VERSION}")
        saved = json.loads(data["settings"])
        ours = self.settings.to_dict()
        differ = sorted(k for k in ours if k not in ("steps", "sample_every", "checkpoint_every")
                        and saved.get(k) != ours[k])
        if differ:
            shown = ", ".join(f"{k}: {saved.get(k)!r} there, {ours[k]!r} here" for k in differ)
            raise ValueError(f"{path} was trained with other settings ({shown}); use another output "
                             "folder or overwrite=True to start afresh")
        self.g.load_state_dict(data["generator"], strict=True)
        self.d.load_state_dict(data["discriminator"], strict=True)
        self.g_ema.load_state_dict(data["g_ema"], strict=True)
        self.opt_g.load_state_dict(data["opt_g"])
        self.opt_d.load_state_dict(data["opt_d"])
        self.step_count = int(data["step"])

    # -- outputs --------------------------------------------------------------------------------
    @torch.no_grad()
    def samples(self, n: int = 64, seed: int = 12345, psi: float = 1.0) -> Tensor:
        """G_ema images (n, 3, R, R) in [-1, 1] from fixed latents (the same grid every time)."""
        z = torch.randn(n, self.g_ema.z_dim, generator=torch.Generator().manual_seed(seed))
        w = self.g_ema.mapping(z)
        if psi != 1.0:
            w = w.mean(0, keepdim=True) + psi * (w - w.mean(0, keepdim=True))
        return self.g_ema.synthesis(w)

    def export(self, folder: str | Path, w_mean_samples: int = 20_000, **source: Any) -> Path:
        """Save G_ema as a ganlift teacher (``folder/teacher.safetensors`` + ``teacher.json``).

        The w statistics are estimated from ``w_mean_samples`` mapped draws (seed 0) and stored.
        """
        from ganlift.teachers.files import save_teacher

        teacher = copy.deepcopy(self.g_ema).freeze()
        mean, std = teacher.estimate_w_stats(w_mean_samples, seed=0)
        teacher.w_mean.copy_(mean)
        teacher.w_std.copy_(std)
        teacher.origin = {"kind": "stylegan2", "config": teacher.config, "trained_by": "ganlift.gan",
                          "steps": self.step_count, "images_seen": self.step_count * self.settings.batch_size,
                          "data": self.settings.data, **source}
        return save_teacher(teacher, folder)


def train_gan(
    settings: GanSettings,
    out: str | Path,
    *,
    resume: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    source: ImageSource | None = None,
) -> GanTrainer:
    """Train (or resume) a GAN in ``out`` and export its G_ema as a teacher.

    Writes ``out/checkpoint.pt`` (every ``checkpoint_every`` steps, at the end, and on Ctrl-C or
    SIGTERM), ``out/samples/step_XXXXXX.png`` (8x8 G_ema grids), ``out/log.jsonl`` (losses and
    seconds per step) and, at the end, ``out/teacher/`` (load it with
    ``ganlift.load_teacher("out/teacher")``) and ``out/summary.json``.

    Args:
        settings: the run's settings.
        out: output folder.
        resume: continue from ``out/checkpoint.pt`` when it exists (settings must match).
        overwrite: start afresh even when a checkpoint exists (it is replaced).
        progress: show a progress bar.
        source: images to train on (default: from ``settings.data``).

    Returns:
        The trainer (networks at the last step).

    Raises:
        FileExistsError: ``out`` holds a checkpoint and neither ``resume`` nor ``overwrite``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trainer = GanTrainer(settings, source)
    ckpt = out / CHECKPOINT
    if ckpt.is_file() and not overwrite:
        if not resume:
            raise FileExistsError(f"{ckpt} exists; pass resume=True to continue or overwrite=True to start afresh")
        trainer.load(ckpt)
        log.info("resuming GAN training from step %d", trainer.step_count)
    bar = tqdm(total=settings.steps, initial=min(trainer.step_count, settings.steps), desc="gan",
               disable=not progress, dynamic_ncols=True, file=sys.stderr)
    started = time.perf_counter()
    first_step = trainer.step_count
    try:
        # A fresh run (step 0, or overwrite) starts its log afresh; a resumed one appends.
        mode = "a" if trainer.step_count else "w"
        with terminate_as_interrupt(), open(out / "log.jsonl", mode, encoding="utf-8") as fh:
            while trainer.step_count < settings.steps:
                t0 = time.perf_counter()
                losses = trainer.step()
                step = trainer.step_count
                fh.write(json.dumps({"step": step, **losses, "seconds": time.perf_counter() - t0}) + "\n")
                bar.update(1)
                bar.set_postfix(d=f"{losses['loss_d']:.3f}", g=f"{losses['loss_g']:.3f}")
                if settings.checkpoint_every and step % settings.checkpoint_every == 0:
                    fh.flush()
                    trainer.save(ckpt)
                if settings.sample_every and step % settings.sample_every == 0:
                    save_grid(trainer.samples(), out / "samples" / f"step_{step:06d}.png", nrow=8,
                              value_range=(-1.0, 1.0))
    except KeyboardInterrupt:
        trainer.save(ckpt)
        log.warning("GAN training interrupted at step %d; checkpoint saved to %s", trainer.step_count, ckpt)
        raise
    finally:
        bar.close()
    trainer.save(ckpt)
    seconds = time.perf_counter() - started
    save_grid(trainer.samples(), out / "samples" / f"step_{trainer.step_count:06d}.png", nrow=8, value_range=(-1.0, 1.0))
    trainer.export(out / "teacher")
    steps_run = trainer.step_count - first_step
    train_seconds = _logged_seconds(out / "log.jsonl")
    write_json(out / "summary.json", {
        "settings": settings.to_dict(),
        "steps": trainer.step_count,
        "images_seen": trainer.step_count * settings.batch_size,
        "seconds_this_run": seconds,
        "seconds_per_step_this_run": seconds / steps_run if steps_run else None,
        "train_seconds": train_seconds,  # all runs of this folder, from log.jsonl
        "seconds_per_step": train_seconds / trainer.step_count if trainer.step_count else None,
        "generator_parameters": sum(p.numel() for p in trainer.g.parameters()),
        "discriminator_parameters": sum(p.numel() for p in trainer.d.parameters()),
        "torch_threads": torch.get_num_threads(),
    })
    return trainer


def _logged_seconds(path: Path) -> float:
    """Total step time in ``log.jsonl`` (a step logged twice, after a crash, counts once)."""
    seconds: dict[int, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            seconds[int(row["step"])] = float(row["seconds"])
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a crash
    return sum(seconds.values())


__all__ = ["GanSettings", "GanTrainer", "train_gan", "init_generator", "init_discriminator",
           "r1_penalty", "update_ema", "SMALL_G_CHANNELS"]
