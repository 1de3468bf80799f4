"""The training loop and :func:`lift`: turn a frozen teacher into a trained :class:`Lifter`.

One process or many (``torchrun``): each rank draws its own codes w from an explicit,
checkpointed ``torch.Generator``; gradients are averaged across ranks; rank 0 writes the
output folder::

    out/
      model.safetensors, config.json, README.md, sample.png
                             the trained lifter: ``Lifter.from_pretrained(out)``
      log.jsonl              loss terms, one line per ``log_every`` steps
      samples/step_XXXXXX.png
                             G(w) | G(w0) | render | albedo | depth | normals | shape
      checkpoints/last.pt    exact-resume state (read with ``torch.load(weights_only=True)``)
      metrics.json           3D metrics, for teachers with ground truth

Running ``lift`` again on the same ``out`` resumes from ``checkpoints/last.pt``; the result is
the same, parameter for parameter, as an uninterrupted run.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import torch
from tqdm import tqdm

from ganlift.teachers.base import Teacher

if TYPE_CHECKING:  # the lifter imports heavy modules; ganlift imports this one lazily
    from ganlift.lifter import Lifter
from ganlift.training import distributed
from ganlift.training.checkpoint import (
    capture_rng,
    derive_seed,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
    seed_everything,
)
from ganlift.training.log import JsonlLog, TermWindow, format_terms
from ganlift.training.signals import defer_interrupts, terminate_as_interrupt
from ganlift.utils.schedule import cosine_lr
from ganlift.recipe import PRECISIONS, Recipe, TeacherSection, TrainSection
from ganlift.recipe import parse_overrides, recommended_recipe  # noqa: F401  (public here too)
from ganlift.training.previews import save_preview
from ganlift.utils.io import is_temporary, remove_stale_temporaries, write_json

CHECKPOINT = Path("checkpoints") / "last.pt"
logger = logging.getLogger("ganlift")
_PREVIEW_STREAM = 0x5EED  # seed stream of the fixed preview codes (independent of rank streams)
_RANK_STREAM = 1


@dataclass
class TrainSettings(TrainSection):
    """What the training loop runs with: a recipe's ``[train]`` section plus three run settings.

    Every setting of :class:`~ganlift.recipe.TrainSection` (steps, batch size, optimiser,
    logging intervals, precision, ...) is inherited with its default, so a recipe's ``[train]``
    is the one place those defaults live; :func:`settings_from_recipe` builds these settings
    from a recipe. ``TrainSettings`` stays the public type :func:`train` takes (construct it
    directly for a hand-made loop; ``betas`` become a tuple).

    Attributes:
        weight_decay: Adam weight decay (not a recipe key; :func:`lift` trains with 0).
        truncation: psi for the sampled codes, towards the teacher's w mean (a recipe's
            ``teacher.truncation``, default :class:`~ganlift.recipe.TeacherSection`'s).
        seed: seeds everything (initialisation, codes, perturbations).

    A ``checkpoint_every`` of 0 checkpoints only at the end and on Ctrl-C, a ``sample_every``
    of 0 writes no sample grids, a ``grad_clip`` of 0 does not clip.
    """

    weight_decay: float = 0.0
    truncation: float = TeacherSection.truncation
    seed: int = 0

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)  # TOML gives lists
        for name in ("steps", "batch_size", "log_every", "sample_every", "checkpoint_every",
                     "num_samples"):
            value = getattr(self, name)
            if int(value) != value or value < (1 if name in ("batch_size", "log_every") else 0):
                raise ValueError(f"training setting {name} must be a non-negative integer "
                                 f"(batch_size and log_every at least 1), got {value!r}")
            setattr(self, name, int(value))
        if not self.lr > 0:
            raise ValueError(f"training setting lr must be positive, got {self.lr!r}")
        if not 0 <= self.lr_decay <= 1:
            raise ValueError(f"training setting lr_decay must be in [0, 1] (a fraction of the steps), "
                             f"got {self.lr_decay!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"training setting precision must be one of {', '.join(PRECISIONS)}, "
                             f"got {self.precision!r}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"training setting betas must be two numbers in [0, 1), got {self.betas!r}")
        if not self.grad_clip >= 0:
            raise ValueError(f"training setting grad_clip must be >= 0 (0 = off), got {self.grad_clip!r}")


# Sections of a recipe searched for training settings, after its top level.
_SECTIONS = ("train", "teacher")


def settings_from_recipe(recipe: "Recipe | Mapping[str, Any] | None", steps: int | None = None,
                         seed: int = 0, **changes: Any) -> TrainSettings:
    """The loop's :class:`TrainSettings` of a recipe, then ``steps``, ``seed`` and ``changes``.

    A setting is looked up at the top level of the recipe, then in its ``[train]`` and
    ``[teacher]`` sections (``truncation``). A :class:`~ganlift.recipe.Recipe` has every one
    of them; a setting a plain dict leaves out takes the recipe's default (the defaults are
    :class:`~ganlift.recipe.TrainSection`'s, never a second set).

    Args:
        recipe: a Recipe, or a dict of recipe tables (None = every default).
        steps: total steps instead of the recipe's ``train.steps``; None keeps it.
        seed: the run's seed.
        changes: any other setting, by name (``weight_decay=1e-4``).

    Raises:
        ValueError: a setting out of range (see :class:`TrainSettings`).
    """
    data = recipe.to_dict() if isinstance(recipe, Recipe) else dict(recipe or {})
    values: dict[str, Any] = {}
    for f in fields(TrainSettings):
        for section in (data, *[data.get(s) for s in _SECTIONS]):
            if isinstance(section, Mapping) and f.name in section:
                values[f.name] = section[f.name]
                break
    if steps is not None:
        values["steps"] = steps
    values["seed"] = seed
    values.update(changes)
    return TrainSettings(**values)


def sample_w(teacher: Teacher, n: int, generator: torch.Generator, psi: float) -> torch.Tensor:
    """Draw ``n`` truncated codes with an explicit generator. Returns (n, w_dim)."""
    z = torch.randn(n, teacher.z_dim, generator=generator, device=generator.device)
    with torch.no_grad():
        w = teacher.mapping(z.to(teacher.w_mean.device))
    return teacher.truncate(w, psi) if psi != 1.0 else w


# Hold Ctrl-C and SIGTERM until the block ends, so an optimiser update is never half applied.
_defer_sigint = defer_interrupts


def _grad_norm(params: list[torch.nn.Parameter], clip: float) -> torch.Tensor:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    if clip > 0:
        return torch.nn.utils.clip_grad_norm_(params, clip)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


def train(
    lifter: torch.nn.Module,
    teacher: Teacher,
    settings: TrainSettings,
    *,
    out: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    resume: bool | None = None,
    checkpoint: Mapping[str, Any] | None = None,
    run: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> int:
    """Optimise ``lifter.compute_losses`` with Adam for ``settings.steps`` steps.

    Args:
        lifter: a module with ``compute_losses(w, generator) -> (total, terms)`` (and, for
            sample grids, ``forward(w)`` returning a
            :class:`~ganlift.lifter.model.LifterOutput` or another
            :class:`~ganlift.utils.outputs.OutputFields` with ``image_pm1``, see
            :func:`ganlift.training.previews.preview_columns`). Its parameters with
            ``requires_grad`` are trained. An optional ``prepare_step(step, seed, progress=)``
            runs before each step and returns True when it changed parameters (M's warm-up,
            :meth:`ganlift.lifter.Lifter.prepare_step`).
        teacher: the frozen teacher the codes come from.
        settings: steps, batch size, optimiser and logging intervals.
        out: output folder for ``log.jsonl``, ``samples/`` and ``checkpoints/``; None writes
            nothing.
        device: "cpu", "cuda", "cuda:N"; None = CUDA when available. Under torchrun each rank
            uses ``cuda:LOCAL_RANK``.
        resume: None resumes when ``out/checkpoints/last.pt`` exists; True requires it; False
            starts afresh (overwriting the log).
        checkpoint: an already loaded checkpoint to resume from (skips reading the file).
        run: JSON description of the run stored in checkpoints (teacher, recipe, seed).
        progress: show a tqdm bar (rank 0 only).

    Returns:
        The step reached (``settings.steps`` unless it was already passed).

    Raises:
        KeyboardInterrupt: after saving a checkpoint at the last completed step.
        RuntimeError: the loss or the gradients became NaN/inf (nothing is updated).
    """
    info = distributed.setup(device)
    try:
        with terminate_as_interrupt():  # SIGTERM (docker stop, preemption) checkpoints too
            step = _train(lifter, teacher, settings, info, out, resume, checkpoint, run, progress)
        if info.owns_group:
            # Rank 0 is still writing the last checkpoint when the others finish; a rank that
            # tears gloo down while a peer still holds the connection can abort the process.
            distributed.barrier(info)
        return step
    finally:
        distributed.cleanup(info)  # only if this call created the process group


def _train(lifter, teacher, settings, info, out, resume, checkpoint, run, progress) -> int:
    out_dir = Path(out) if out is not None else None
    writer = info.is_main and out_dir is not None
    lifter.to(info.device)
    teacher.to(info.device)
    _accelerate(lifter, settings)
    lifter.train()
    params = [p for p in lifter.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the lifter has no trainable parameters (requires_grad=True)")
    optimizer = torch.optim.Adam(params, lr=settings.lr, betas=settings.betas,
                                 weight_decay=settings.weight_decay, fused=can_fuse_adam(params))

    # Every rank draws its own codes from its own stream; initial weights come from rank 0.
    sampler = torch.Generator(device=info.device)
    sampler.manual_seed(derive_seed(settings.seed, _RANK_STREAM, info.rank))
    distributed.broadcast_parameters(lifter, info)
    seed_everything(derive_seed(settings.seed, _RANK_STREAM + 1, info.rank))

    def draw(n: int, g: torch.Generator) -> torch.Tensor:
        if callable(getattr(lifter, "sample_w", None)):  # the lifter knows its truncation
            return lifter.sample_w(n, generator=g)
        return sample_w(teacher, n, g, settings.truncation)

    window = TermWindow()
    step = 0
    if checkpoint is None:
        path = _checkpoint_to_resume(out_dir, resume)
        checkpoint = load_checkpoint(path) if path is not None else None
    if checkpoint is not None:
        step = _restore(checkpoint, lifter, optimizer, sampler, window, settings, info)

    if writer:  # temporaries of writes a kill interrupted (.last.pt.XXXXXXXX.tmp, ...)
        for folder in (out_dir, out_dir / CHECKPOINT.parent, out_dir / "samples"):
            remove_stale_temporaries(folder)
    # On resume, records past the checkpoint's step were written before a kill: drop them.
    log = JsonlLog(out_dir / "log.jsonl" if writer else None, fresh=checkpoint is None,
                   resume_step=step if checkpoint is not None else None)
    preview_w = None
    if writer and settings.sample_every:
        g = torch.Generator(device=info.device)
        g.manual_seed(derive_seed(settings.seed, _PREVIEW_STREAM))
        preview_w = draw(settings.num_samples, g)

    def save(rng_states: list[Any]) -> None:
        if writer:
            save_checkpoint(out_dir / CHECKPOINT, {
                "step": step,
                "lifter": lifter.state_dict(),
                "optimizer": optimizer.state_dict(),
                "rng": rng_states,
                "world_size": info.world_size,
                "seed": settings.seed,
                "settings": _plain(asdict(settings)),
                "window": window.state_dict(),
                "config": _plain(getattr(lifter, "config", None)),
                "run": _plain(dict(run or {})),
            })

    bar = tqdm(total=settings.steps, initial=min(step, settings.steps), desc="lift",
               disable=not (progress and info.is_main), dynamic_ncols=True, file=sys.stderr)
    started, window_start = time.perf_counter(), time.perf_counter()
    mid_step = False
    snapshot = None
    try:
        prepare = getattr(lifter, "prepare_step", None)  # e.g. M's warm-up (Lifter.prepare_step)
        while step < settings.steps:
            if callable(prepare) and prepare(step, settings.seed, progress=progress and info.is_main):
                distributed.broadcast_parameters(lifter, info)
            snapshot = capture_rng(sampler)
            mid_step = True
            w = draw(settings.batch_size, sampler)
            try:
                with torch.autocast(info.device.type, dtype=torch.bfloat16,
                                    enabled=settings.precision == "bf16"):
                    total, terms = lifter.compute_losses(w, sampler, step=step)
            except FloatingPointError as err:  # the loss set's own NaN check
                raise RuntimeError(f"at step {step + 1}: {err}; nothing was updated. Lower the "
                                   "learning rate or check the recipe's loss weights.") from err
            except (ValueError, RuntimeError) as err:  # e.g. the renderer's "depth contains NaN"
                if step and not all(bool(torch.isfinite(p).all()) for p in params):
                    raise RuntimeError(_diverged_message(step, settings, err)) from err
                raise
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            mean_total = distributed.all_reduce_gradients(params, info, extra=total.detach())
            grad_norm = _grad_norm(params, settings.grad_clip)
            if not (torch.isfinite(mean_total) and torch.isfinite(grad_norm)):
                raise RuntimeError(_nan_message(step + 1, total, terms, grad_norm))
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(settings, step)
            with _defer_sigint():
                optimizer.step()
                step += 1
                mid_step = False
            window.add(total, {**terms, "grad_norm": grad_norm})
            bar.update(1)

            if step % settings.log_every == 0 or step == settings.steps:
                names, means = window.stacked()
                means = distributed.mean_across_ranks(means.to(info.device), info).tolist()
                now = time.perf_counter()
                record = {"step": step, **dict(zip(names, means)),
                          "lr": optimizer.param_groups[0]["lr"],
                          "sec_per_step": (now - window_start) / max(window.count, 1),
                          "elapsed": now - started}
                log.write(record)
                bar.set_postfix(format_terms(names, means), refresh=False)
                window.reset()
                window_start = now
            if preview_w is not None and step % settings.sample_every == 0:
                save_preview(out_dir / "samples" / f"step_{step:06d}.png", lifter, teacher,
                             preview_w)
            if step == settings.steps or (settings.checkpoint_every
                                          and step % settings.checkpoint_every == 0):
                save(distributed.gather_objects(capture_rng(sampler), info))
    except KeyboardInterrupt:
        if mid_step and snapshot is not None:
            # Interrupted mid-step: nothing was applied; rewind the RNGs so a resume redoes it.
            restore_rng(snapshot, sampler)
        # No collectives here (other ranks may be gone): other ranks' streams are re-derived.
        save([capture_rng(sampler)])
        if writer:
            logger.warning("interrupted at step %d; checkpoint saved to %s", step, out_dir / CHECKPOINT)
        raise
    finally:
        bar.close()
    return step


def learning_rate(settings: TrainSettings, step: int) -> float:
    """The learning rate of (0-based) step ``step``: ``lr``, falling along a half cosine over
    the last ``lr_decay`` of the steps (:func:`~ganlift.utils.schedule.cosine_lr`)."""
    return cosine_lr(step, settings.steps, settings.lr, rampdown=settings.lr_decay)


_NETWORKS = ("view_decoder", "light_decoder", "manipulation", "shape_decoder", "transform_decoder")


def _accelerate(lifter: torch.nn.Module, settings: TrainSettings) -> None:
    """Channels-last convolutions and ``torch.compile`` of the networks, as the settings ask.

    ``nn.Module.compile`` compiles in place, so the state dict keeps its keys.
    """
    if settings.channels_last:
        lifter.to(memory_format=torch.channels_last)
    if settings.compile:
        for name in _NETWORKS:
            module = getattr(lifter, name, None)
            if isinstance(module, torch.nn.Module):
                module.compile(backend=settings.compile)


def can_fuse_adam(params: list[torch.nn.Parameter]) -> bool:
    """Whether Adam can run its fused kernel: floating-point parameters on CPU or CUDA.

    The fused update is one kernel over all tensors; on this project's 2-core CPU it takes
    1.5 ms against 5.4 ms for the per-tensor loop (1.9 M parameters, benchmarks/RESULTS.md).
    """
    return all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)


def _checkpoint_to_resume(out: Path | None, resume: bool | None) -> Path | None:
    """The checkpoint to resume from, per the ``resume`` flag (see :func:`train`)."""
    if resume is False:
        return None
    if out is None:
        if resume:
            raise ValueError("resume=True needs an output folder (out=...) with a checkpoint")
        return None
    path = out / CHECKPOINT
    if path.is_file():
        return path
    if resume:
        raise FileNotFoundError(f"resume=True but there is no checkpoint at {path}")
    return None


def _restore(ckpt: Mapping[str, Any], lifter, optimizer, sampler, window, settings, info) -> int:
    try:
        lifter.load_state_dict(ckpt["lifter"], strict=True)
    except RuntimeError as err:
        raise ValueError(
            "the checkpoint does not fit this lifter (different teacher or recipe "
            f"architecture?): {err}. Start afresh with --overwrite (overwrite=True) or use "
            "another output folder."
        ) from err
    optimizer.load_state_dict(ckpt["optimizer"])
    # Adam restores its hyperparameters from the checkpoint; the settings given now win.
    for group in optimizer.param_groups:
        group.update(lr=settings.lr, betas=settings.betas, weight_decay=settings.weight_decay)
    states = ckpt.get("rng") or []
    if info.rank < len(states) and ckpt.get("world_size") == info.world_size:
        restore_rng(states[info.rank], sampler)
    else:  # another world size, or a rank not saved on Ctrl-C: a fresh, seeded stream
        sampler.manual_seed(derive_seed(settings.seed, _RANK_STREAM, info.rank, ckpt["step"]))
        seed_everything(derive_seed(settings.seed, _RANK_STREAM + 1, info.rank, ckpt["step"]))
    window.load_state_dict(ckpt.get("window", {}))
    return int(ckpt["step"])


def _diverged_message(step: int, settings: TrainSettings, err: BaseException) -> str:
    return (f"after step {step} the lifter's weights hold NaN/Inf: the update diverged with "
            f"train.lr={settings.lr:g} (so {str(err).splitlines()[0] if str(err) else err!r}). "
            "Lower train.lr or set train.grad_clip.")


def _nan_message(step: int, total, terms, grad_norm) -> str:
    vals = {"loss": total, **terms, "grad_norm": grad_norm}
    shown = ", ".join(f"{k}={float(torch.as_tensor(v).detach()):.4g}" for k, v in vals.items())
    return (f"non-finite loss or gradient at step {step} ({shown}); nothing was updated. "
            "Lower the learning rate or check the recipe's loss weights.")


def _plain(value: Any) -> Any:
    """JSON-like copy (tuples to lists) so ``torch.load(weights_only=True)`` reads it back."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if torch.is_tensor(value):
        return value.detach().cpu()
    return str(value)


# --------------------------------------------------------------------------------------------
# lift(): teacher + recipe -> trained, saved, evaluated lifter


def _load_recipe(recipe: Any, overrides: Mapping[str, Any]):
    from ganlift.recipe import load_recipe

    return load_recipe(recipe, overrides or None)


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys where two JSON-like values differ."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        keys = sorted(set(a) | set(b))
        return [d for k in keys for d in _diff(a.get(k), b.get(k), f"{prefix}{k}.")]
    return [] if _plain(a) == _plain(b) else [prefix.rstrip(".")]


# Recipe keys a resumed run may change: they schedule the loop but not the maths of a step.
_RESUMABLE_CHANGES = ("train.steps", "train.log_every", "train.sample_every",
                      "train.checkpoint_every", "train.num_samples", "train.channels_last",
                      "train.compile")


def _completed(recipe_dict: Mapping[str, Any]) -> Any:
    """A saved recipe dict with the keys this version added at their defaults.

    A key that did not exist when the checkpoint was written takes its default, which keeps
    the maths the run was trained with; without this, every new recipe key would refuse to
    resume older runs. A dict this version cannot read is compared as it is.
    """
    try:
        return _plain(Recipe.from_dict(recipe_dict).to_dict())
    except (ValueError, TypeError):
        return recipe_dict


def _check_same_run(run: Mapping[str, Any], teacher_ref: Mapping[str, Any],
                    recipe_dict: Mapping[str, Any], out: Path) -> None:
    hint = f"use another output folder than {out} or start afresh there with --overwrite (overwrite=True)"
    saved_teacher = dict(run.get("teacher") or {})
    now_teacher = dict(teacher_ref)
    if saved_teacher.get("sha256") and now_teacher.get("sha256"):
        saved_teacher.pop("path", None), now_teacher.pop("path", None)
    if saved_teacher and _diff(saved_teacher, now_teacher):
        raise ValueError(f"the checkpoint in {out} was trained from teacher {run.get('teacher')}, "
                         f"not {teacher_ref}; {hint}")
    saved_recipe = run.get("recipe_dict")
    if saved_recipe is not None:
        changed = [k for k in _diff(_completed(saved_recipe), recipe_dict) if k not in _RESUMABLE_CHANGES]
        if changed:
            raise ValueError(f"the checkpoint in {out} was trained with another recipe "
                             f"(differs in {', '.join(changed)}); resume without --recipe/--set "
                             f"to continue it, or {hint}")


def _refuse_occupied(out: Path | None, resume: bool | None) -> None:
    """Refuse to start a new run in a folder that holds anything (see ``lift(overwrite=)``).

    Raises:
        FileExistsError: ``out`` is not empty; the message lists what is there.
        NotADirectoryError: ``out`` is a file.
    """
    if out is None or not out.exists():
        return
    if not out.is_dir():
        raise NotADirectoryError(f"output folder --out {str(out)!r} is a file, not a folder")
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir()
                     if not is_temporary(p.name))
    if not entries:
        return
    shown = ", ".join(entries[:8]) + (f" and {len(entries) - 8} more" if len(entries) > 8 else "")
    if resume is False and (out / CHECKPOINT).is_file():
        why = "holds a training run (checkpoints/last.pt) that --no-resume would discard"
    else:
        why = f"is not empty and holds no run to resume ({CHECKPOINT.as_posix()} is missing)"
    raise FileExistsError(
        f"output folder {out} {why}{_describe_folder(out)}: {shown}. Lifting there would "
        "overwrite or delete them: pass --overwrite (overwrite=True) to replace them, or choose "
        "another --out"
    )


def _describe_folder(out: Path) -> str:
    """`` (a saved lifter of teacher X)`` when ``out`` holds one, else ``""``."""
    import json

    if not (out / "model.safetensors").is_file():
        return ""
    try:
        name = json.loads((out / "config.json").read_text(encoding="utf-8"))["teacher"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        return " (a saved lifter)"
    return f" (a saved lifter of teacher {name!r})"


def _run_seed(seed: int | None, run: Mapping[str, Any], out: Path | None) -> int:
    """The seed of a resumed run; warns when ``seed`` asked for another one."""
    saved = int(run.get("seed", 0 if seed is None else seed))
    if seed is not None and int(seed) != saved:
        warnings.warn(f"seed={seed} (--seed) is ignored: the run resumed from {out} was started "
                      f"with seed {saved}; pass --overwrite to start afresh with seed {seed}",
                      stacklevel=3)
    return saved


def _clear_previous_run(out: Path) -> None:
    """Delete what a previous run left that the new one would not replace or would misread:
    its metrics, its checkpoint (a kill before the first new one would resume it) and its
    sample grids."""
    (out / "metrics.json").unlink(missing_ok=True)
    (out / CHECKPOINT).unlink(missing_ok=True)
    samples = out / "samples"
    if samples.is_dir():
        for grid in samples.glob("step_*.png"):
            grid.unlink(missing_ok=True)


def save_lifter(lifter: torch.nn.Module, out: str | os.PathLike) -> None:
    """Write the lifter as a loadable folder (``model.safetensors`` + ``config.json`` + card).

    Uses ``lifter.save_pretrained`` (the Hub mixin) where it exists.
    """
    if callable(getattr(lifter, "save_pretrained", None)):
        lifter.save_pretrained(out)
        return
    # Modules without the Hub mixin (tests' stand-ins): the same two files it writes.
    from safetensors.torch import save_file

    from ganlift.utils.io import atomic_path

    out = Path(out)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in lifter.state_dict().items()}
    with atomic_path(out / "model.safetensors") as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    write_json(out / "config.json", _plain(getattr(lifter, "config", {})))


def lift(
    teacher: str | os.PathLike | Teacher,
    recipe: Any = None,
    steps: int | None = None,
    out: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    seed: int | None = None,
    overrides: Mapping[str, Any] | list[str] | None = None,
    *,
    resume: bool | None = None,
    overwrite: bool = False,
    progress: bool = True,
    evaluate: bool = True,
    eval_samples: int = 256,
    eval_seed: int | None = None,
    teacher_options: Mapping[str, Any] | None = None,
) -> "Lifter":
    """Train a lifter for ``teacher`` and return it.

    Example:
        >>> lifter = ganlift.lift("synthetic-faces", out="runs/demo")   # CPU, minutes
        >>> lifter = ganlift.lift("ffhq-256", recipe="faces", out="runs/ffhq", device="cuda")

    Args:
        teacher: a registered name (``ganlift teachers``), a checkpoint path, or a Teacher.
        recipe: a recipe name (``ganlift recipes``), a TOML path or a Recipe; None = the
            teacher's recommended recipe (or, when resuming, the checkpoint's).
        steps: total training steps; None = the recipe's.
        out: output folder (a saved lifter plus ``log.jsonl``, ``samples/``, ``checkpoints/``,
            ``metrics.json``); None keeps everything in memory.
        device: "cpu", "cuda" or "cuda:N"; None = CUDA when available.
        seed: seeds initialisation, code sampling and perturbations; None = 0. A resumed
            run keeps the seed it started with (another one is ignored, with a warning).
        overrides: recipe changes, ``{"key": value}`` or ``["key=value", ...]``.
        resume: None resumes when ``out/checkpoints/last.pt`` exists; True requires it; False
            never resumes.
        overwrite: start afresh in a non-empty ``out``, replacing what is there. Without it,
            ``out`` must be empty, missing, or a resumable run of the same set-up: a folder
            holding anything else (a saved or pulled lifter, a run of another teacher, your
            own files) is refused before anything is written.
        progress: show a progress bar with the loss terms.
        evaluate: for teachers with ground truth, run ``ganlift.eval.evaluate`` at the end,
            write ``metrics.json`` and log the table (logger ``"ganlift"``, level INFO).
        eval_samples: held-out codes for the evaluation.
        eval_seed: seed of the held-out codes (None = the evaluation's default).
        teacher_options: passed to ``ganlift.load_teacher`` (e.g. ``resolution=64``).

    Returns:
        The trained :class:`~ganlift.lifter.Lifter`, in eval mode.

    Under ``torchrun`` every rank trains on its own codes and rank 0 writes ``out``.
    """
    from ganlift.lifter import Lifter
    from ganlift.teachers.loading import check_teacher_output, load_teacher

    info = distributed.setup(device)
    try:
        out_dir = Path(out) if out is not None else None
        if overwrite and resume:
            raise ValueError("resume=True (--resume) and overwrite=True (--overwrite) contradict "
                             "each other: --overwrite starts afresh")
        path = None if overwrite else _checkpoint_to_resume(out_dir, resume)
        if path is None and not overwrite:
            _refuse_occupied(out_dir, resume)
        ckpt = load_checkpoint(path) if path is not None else None
        run_saved = dict(ckpt.get("run") or {}) if ckpt is not None else {}
        seed = _run_seed(seed, run_saved, out_dir) if ckpt is not None else int(seed or 0)
        overrides = parse_overrides(overrides)
        resumed_recipe = ckpt is not None and recipe is None and not overrides
        if resumed_recipe and run_saved.get("recipe_dict"):
            # Continue with exactly the recipe the checkpoint was trained with.
            recipe = run_saved["recipe_dict"]

        teacher_obj = load_teacher(teacher, **dict(teacher_options or {}))
        if recipe is None:
            recipe = recommended_recipe(teacher_obj, teacher)
            logger.info("recipe %r: the recommended recipe of teacher %s", recipe,
                        getattr(teacher_obj, "name", teacher))
        recipe_obj = _load_recipe(recipe, overrides)
        recipe_dict = _plain(recipe_obj.to_dict())
        if ckpt is not None:
            _check_same_run(run_saved, teacher_obj.reference(), recipe_dict, out_dir)
        settings = settings_from_recipe(recipe_obj, steps=steps, seed=seed)
        if ckpt is not None and settings.steps < int(ckpt["step"]):
            warnings.warn(
                f"steps={settings.steps} is below the step {ckpt['step']} of the checkpoint in "
                f"{out_dir}: nothing is trained and the step-{ckpt['step']} lifter is kept; pass "
                "a larger --steps to continue, or --overwrite to start afresh", stacklevel=2)
        check_teacher_output(teacher_obj, psi=float(recipe_obj.teacher.truncation),
                             name=str(teacher) if isinstance(teacher, (str, os.PathLike)) else None)
        run = {
            "teacher": teacher_obj.reference(),
            "recipe": (run_saved.get("recipe") if resumed_recipe else
                       str(recipe) if isinstance(recipe, (str, os.PathLike)) else None),
            "overrides": dict(run_saved.get("overrides") or {}) if resumed_recipe else overrides,
            "recipe_dict": recipe_dict,
            "seed": seed,
        }

        if ckpt is None and out_dir is not None and info.is_main:
            _clear_previous_run(out_dir)  # with overwrite=True: files that would go stale
        seed_everything(seed)  # the same initial weights on every rank and every resume
        lifter = Lifter(teacher_obj, recipe_obj)
        train(lifter, teacher_obj, settings, out=out_dir, device=info.device, checkpoint=ckpt,
              resume=None if ckpt is not None else False, run=run, progress=progress)
        lifter.eval()
        if info.is_main:
            if out_dir is not None:
                save_lifter(lifter, out_dir)  # first, so a failing evaluation loses nothing
            from ganlift.eval.pseudo import with_truth

            truth = with_truth(teacher_obj) if evaluate else None  # ground or pseudo truth
            if truth is not None:
                _evaluate(lifter, truth, out_dir, eval_samples, eval_seed)
        distributed.barrier(info)
        return lifter
    finally:
        distributed.cleanup(info)


def _evaluate(lifter, teacher, out: Path | None, n: int, seed: int | None) -> dict:
    """Score the lifter against the teacher's ground truth; write metrics.json, log the table."""
    from ganlift.eval import evaluate, format_metrics

    options = {"n": n} if seed is None else {"n": n, "seed": seed}
    metrics = evaluate(lifter, teacher, **options)
    if out is not None:
        write_json(out / "metrics.json", _plain(metrics))
        if (out / "config.json").is_file() and callable(getattr(lifter, "save_pretrained", None)):
            from ganlift.card import write_card

            write_card(out)  # the model card now shows the metrics
    truth = "pseudo ground truth (fitted synthetic objects)" if metrics.get("pseudo") else "ground truth"
    logger.info("evaluation against the teacher's %s (%d held-out codes):\n%s", truth, n, format_metrics(metrics))
    return metrics
