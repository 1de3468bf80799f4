"""Teacher checkpoint files: rosinality ``.pt``, NVIDIA ``.pkl``, ganlift's own format.

``load_teacher_file(path, **options)`` picks the reader from the path:

* ``*.pkl``: ``ganlift.teachers.nvidia.load_nvidia_pickle`` (safe restricted unpickler);
* a folder, or ``*.safetensors``: ganlift's format (``teacher.safetensors`` + ``teacher.json``,
  written by :func:`save_teacher`); a ``.safetensors`` holding a bare rosinality generator
  state dict is read too;
* anything else: a rosinality checkpoint read with ``torch.load(weights_only=True)``.

A file that is not what its name says gets an error describing what it looks like instead
(discriminator, lifter, NVIDIA pickle, truncated download, ...), never a random network.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from ganlift.teachers.base import Teacher
from ganlift.teachers.stylegan2 import StyleGAN2Teacher, describe_state
from ganlift.utils.tensors import check_tensors
from ganlift.utils.io import atomic_path, sha256_file, write_json

__all__ = ["load_teacher_file", "save_teacher", "sha256_file", "TEACHER_FORMAT"]

TEACHER_FORMAT = "ganlift-teacher"
FORMAT_VERSION = 1
_WEIGHTS = "teacher.safetensors"
_CONFIG = "teacher.json"
_ROSINALITY_OPTIONS = {"name", "w_mean_samples", "seed", "conv_clamp"}
# Options accepted but unused by ganlift-format files (their w statistics are stored).
_IGNORED_FOR_SAVED = {"w_mean_samples", "seed"}
# Harmless non-tensor objects found in real rosinality training checkpoints ("args").
_SAFE_GLOBALS = [argparse.Namespace]


def load_teacher_file(path: str | os.PathLike, **options: Any) -> Teacher:
    """Load a teacher from a checkpoint file or a saved teacher folder.

    Args:
        path: rosinality ``.pt``/``.pth``/``.ckpt``, NVIDIA ``.pkl``, ganlift teacher folder
            or ``.safetensors``.
        **options: for checkpoints: ``name`` (default: the file stem), ``w_mean_samples``
            (default 50,000) and ``seed`` (default 0) for estimating the w mean/std when the
            file has no ``latent_avg``, ``conv_clamp``. NVIDIA pickles take the options of
            ``load_nvidia_pickle``. ganlift folders take ``name`` (statistics are stored).

    Returns:
        A frozen teacher; ``teacher.reference()`` records ``path`` and ``sha256``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is unreadable, truncated, or holds something other than a
            StyleGAN2 generator (the message says what it looks like), or an option is unknown.
    """
    path = Path(os.path.expanduser(str(path)))
    if not path.exists():
        raise FileNotFoundError(f"teacher file {str(path)!r} does not exist")
    if path.is_dir():
        return _load_saved(path, options)
    suffix = path.suffix.lower()
    if suffix == ".pkl":
        head = _head(path)
        if head.startswith(b"PK\x03\x04"):
            raise ValueError(
                f"{path} is named .pkl but is a torch.save zip archive (a rosinality .pt "
                "checkpoint?), not an NVIDIA pickle; rename it to .pt"
            )
        from ganlift.teachers.nvidia import load_nvidia_pickle

        return load_nvidia_pickle(path, **options)
    if suffix == ".safetensors":
        return _load_safetensors(path, options)
    return _load_rosinality(path, options)


# ----------------------------------------------------------------------------------------
# rosinality .pt


def _load_rosinality(path: Path, options: dict[str, Any]) -> StyleGAN2Teacher:
    _check_options(options, _ROSINALITY_OPTIONS, "a rosinality checkpoint")
    obj = _torch_load(path)
    if not isinstance(obj, dict):
        raise ValueError(
            f"{path} holds a {type(obj).__name__}, not a checkpoint dict; expected a rosinality "
            "checkpoint ({'g_ema': generator state dict, ...}) or a bare generator state dict"
        )
    latent_avg = obj.get("latent_avg")
    if "g_ema" in obj:
        state, where = obj["g_ema"], "g_ema"
    elif _is_tensor_dict(obj):
        state, where = {k: v for k, v in obj.items() if k != "latent_avg"}, "the top level"
    elif isinstance(obj.get("g"), dict):
        warnings.warn(
            f"{path} has no 'g_ema' entry; using the non-averaged generator 'g'", stacklevel=3
        )
        state, where = obj["g"], "g"
    else:
        raise ValueError(f"{path} is not a StyleGAN2 generator checkpoint: {_describe_top(obj)}")
    if not isinstance(state, dict):
        raise ValueError(f"{path}: entry {where!r} is a {type(state).__name__}, not a state dict")
    if isinstance(state.get("latent_avg"), torch.Tensor):
        state = dict(state)
        latent_avg = state.pop("latent_avg")
    state = _strip_prefix(state, "module.")
    name = options.get("name", path.stem)
    kwargs = {k: options[k] for k in ("w_mean_samples", "seed", "conv_clamp") if k in options}
    try:
        teacher = StyleGAN2Teacher.from_state_dict(state, w_mean=latent_avg, name=name, **kwargs)
    except ValueError as err:
        raise ValueError(f"{path} ({where}): {err}") from None
    teacher.origin.update(
        {"path": str(path.resolve()), "sha256": sha256_file(path), "format": "rosinality"}
    )
    if latent_avg is not None:
        teacher.origin["w_mean_source"] = "latent_avg"
    return teacher.freeze()


def _torch_load(path: Path) -> Any:
    head = _head(path)
    size = path.stat().st_size
    what = _sniff(path, head)
    if what is not None:
        raise ValueError(f"{path} is not a PyTorch checkpoint: it looks like {what}")
    if head.startswith(b"PK\x03\x04"):
        _check_zip_sizes(path, size)
    try:
        with torch.serialization.safe_globals(_SAFE_GLOBALS):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        if found:  # a refused global, in a zip or a legacy (pre-1.6) torch.save file alike
            raise ValueError(
                f"{path} contains pickled Python objects that ganlift refuses to unpickle for "
                f"safety (it needs the Python object {found.group(1)}); only tensors, plain "
                "containers and argparse.Namespace are allowed. Re-save the generator weights "
                "alone, e.g. torch.save({'g_ema': g_ema.state_dict(), 'latent_avg': "
                "latent_avg}, path)"
            ) from None
        raise ValueError(
            f"{path} could not be read as a PyTorch checkpoint: it is truncated, corrupt, or "
            f"not a torch.save file ({size} bytes)"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError) as err:
        hint = "truncated or corrupt (an interrupted download?)"
        if head.startswith(b"PK\x03\x04") and zipfile.is_zipfile(path):
            names = zipfile.ZipFile(path).namelist()
            if not any(n.endswith("data.pkl") for n in names):
                npz = any(n.endswith(".npy") for n in names)
                kind = "a numpy .npz archive" if npz else "a zip archive"
                raise ValueError(
                    f"{path} is {kind}, not a PyTorch checkpoint (entries: {names[:5]})"
                ) from None
        reason = str(err).split(". ")[0].splitlines()[0][:200] if str(err) else ""
        raise ValueError(
            f"{path} could not be read as a PyTorch checkpoint: the file looks {hint} "
            f"({size} bytes; {type(err).__name__}: {reason})"
        ) from None
    check_tensors(obj, str(path))
    return obj


def _check_zip_sizes(path: Path, size: int) -> None:
    """Refuse a zip whose entries inflate to far more than the file (torch.save stores
    entries uncompressed; a deflated archive could expand a small file into gigabytes)."""
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # torch.load reports a broken archive itself
    if declared > 2 * size + (1 << 20):
        raise ValueError(
            f"{path} is a compressed zip whose entries expand to {declared} bytes from {size}; "
            "torch.save never compresses, so it is not a plain PyTorch checkpoint (re-save it "
            "with torch.save)"
        )


def _head(path: Path, n: int = 1 << 16) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def _sniff(path: Path, head: bytes) -> str | None:
    """Recognise formats that torch.load would misreport; None when it may be a torch file."""
    if not head:
        return "an empty file (0 bytes; an interrupted download?)"
    if len(head) >= 9 and head[8:9] == b"{" and _is_safetensors(head, path):
        return "a safetensors file; give it the .safetensors extension"
    if head[:1] == b"\x80" and not head.startswith(b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"):
        if b"torch_utils" in head or b"_reconstruct_persistent_obj" in head or b"dnnlib" in head:
            return (
                "an NVIDIA stylegan2-ada/stylegan3 pickle (it references torch_utils.persistence); "
                "give it the .pkl extension so ganlift reads it with its safe NVIDIA loader"
            )
        return "a plain Python pickle, not a torch.save checkpoint"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip-compressed file; decompress it first"
    if head.lstrip()[:1] in (b"{", b"[") and b"\x00" not in head:
        return "a JSON/text file"
    if head.lstrip()[:15].lower().startswith((b"<!doctype", b"<html")):
        return "an HTML page (a download that saved a web page instead of the file?)"
    return None


def _is_safetensors(head: bytes, path: Path) -> bool:
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= path.stat().st_size - 8


def _is_tensor_dict(obj: dict) -> bool:
    return bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def _strip_prefix(state: dict, prefix: str) -> dict:
    if state and all(str(k).startswith(prefix) for k in state):
        return {str(k)[len(prefix):]: v for k, v in state.items()}
    return state


def _describe_top(obj: dict) -> str:
    keys = [str(k) for k in obj]
    shown = ", ".join(repr(k) for k in keys[:10]) + (" ..." if len(keys) > 10 else "")
    if "d" in obj and "g_ema" not in obj:
        return (
            f"it has a discriminator 'd' but no generator 'g_ema' (top-level keys: {shown}); "
            "a rosinality checkpoint keeps the generator under 'g_ema'"
        )
    if isinstance(obj.get("lifter"), dict):
        return (
            f"it looks like a ganlift training checkpoint (top-level keys: {shown}), not a 2D "
            "generator; load the run folder with ganlift.Lifter.from_pretrained(folder)"
        )
    nested = [v for v in obj.values() if isinstance(v, dict)]
    for value in nested:
        what = describe_state(value.keys())
        if what:
            return f"it looks like {what} (top-level keys: {shown})"
    what = describe_state(keys)
    if what:
        return f"it looks like {what}"
    return (
        f"no 'g_ema' entry and not a bare generator state dict (top-level keys: {shown}); "
        "expected a rosinality checkpoint {'g_ema': ..., 'latent_avg': ...}"
    )


def _check_options(options: dict, allowed: set[str], what: str) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for loading {what}; allowed: {sorted(allowed)}"
        )


# ----------------------------------------------------------------------------------------
# ganlift format


def save_teacher(teacher: Teacher, folder: str | os.PathLike) -> Path:
    """Save a StyleGAN2 teacher as ``folder/teacher.safetensors`` + ``folder/teacher.json``.

    The safetensors file holds every weight and buffer, ``w_mean`` and ``w_std`` included, so an
    estimated mean travels with the teacher. The JSON (also embedded in the safetensors
    metadata) holds the format, the architecture config, the name and where it came from.

    Returns:
        The folder path.
    """
    from safetensors.torch import save_file

    if not isinstance(teacher, StyleGAN2Teacher):
        raise TypeError(
            f"save_teacher supports StyleGAN2Teacher, got {type(teacher).__name__}; registered "
            "teachers are re-created from their name (teacher.reference())"
        )
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"folder {str(folder)!r} exists and is not a directory")
    folder.mkdir(parents=True, exist_ok=True)
    source = {k: v for k, v in teacher.origin.items() if k not in ("kind", "config")}
    meta = {
        "format": TEACHER_FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": "stylegan2",
        "name": teacher.name,
        "config": teacher.config,
        "source": source,
    }
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in teacher.state_dict().items()}
    with atomic_path(folder / _WEIGHTS) as tmp:
        save_file(tensors, str(tmp), metadata={"ganlift": json.dumps(meta, sort_keys=True)})
    write_json(folder / _CONFIG, meta)
    return folder


def _load_saved(folder: Path, options: dict[str, Any]) -> StyleGAN2Teacher:
    weights, config = folder / _WEIGHTS, folder / _CONFIG
    if not weights.is_file():
        entries = sorted(p.name for p in folder.iterdir())[:10]
        if (folder / "model.safetensors").is_file() or (folder / "config.json").is_file():
            raise ValueError(
                f"{folder} looks like a saved ganlift lifter (model.safetensors/config.json), not "
                "a teacher; load it with ganlift.Lifter.from_pretrained(folder), or pass the "
                "teacher's own file"
            )
        raise ValueError(
            f"{folder} is not a ganlift teacher folder: {_WEIGHTS} is missing "
            f"(entries: {entries}); save one with ganlift.teachers.files.save_teacher"
        )
    meta = None
    if config.is_file():
        try:
            meta = json.loads(config.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{config} is not valid JSON: {err}") from None
    return _load_safetensors(weights, options, meta=meta, ref_path=folder)


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            metadata = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise ValueError(
            f"{path} could not be read as safetensors: truncated or corrupt "
            f"({path.stat().st_size} bytes; {err})"
        ) from None
    return tensors, metadata


def _load_safetensors(
    path: Path, options: dict[str, Any], meta: dict | None = None, ref_path: Path | None = None
) -> StyleGAN2Teacher:
    head = _head(path, 16)
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        raise ValueError(
            f"{path} is named .safetensors but is a pickle/torch.save file; rename it to .pt"
        )
    state, metadata = _read_safetensors(path)
    if meta is None and "ganlift" in metadata:
        try:
            meta = json.loads(metadata["ganlift"])
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: its 'ganlift' metadata is not valid JSON ({err})") from None
    if meta is not None and (not isinstance(meta, dict) or not isinstance(meta.get("config", {}), dict)):
        raise ValueError(f"{ref_path or path}: the teacher description must be a JSON object "
                         "with a 'config' object (see ganlift.teachers.files.save_teacher)")
    if meta is None:
        # No ganlift metadata: a bare rosinality generator converted to safetensors?
        if (path.parent / "config.json").is_file() and path.name == "model.safetensors":
            raise ValueError(
                f"{path} looks like a saved ganlift lifter (model.safetensors + config.json), "
                "not a teacher; load it with ganlift.Lifter.from_pretrained(folder)"
            )
        return _finish(_from_state(path, state, options, None), path, ref_path, "safetensors")
    if meta.get("format") != TEACHER_FORMAT:
        raise ValueError(
            f"{ref_path or path}: unknown format {meta.get('format')!r}; expected {TEACHER_FORMAT!r}"
        )
    if meta.get("kind") != "stylegan2":
        raise ValueError(f"{ref_path or path}: unsupported teacher kind {meta.get('kind')!r}")
    teacher = _from_state(path, state, options, meta)
    if teacher.config != meta.get("config"):
        raise ValueError(
            f"{ref_path or path}: the weights do not match the stored config "
            f"(weights: {teacher.config}, config: {meta.get('config')})"
        )
    if "w_mean" not in state or "w_std" not in state:
        raise ValueError(f"{path}: w_mean/w_std are missing from a ganlift teacher file")
    teacher = _finish(teacher, path, ref_path, "ganlift")
    teacher.origin["source"] = meta.get("source", {})
    return teacher


def _from_state(
    path: Path, state: dict[str, torch.Tensor], options: dict[str, Any], meta: dict | None
) -> StyleGAN2Teacher:
    if meta is None:
        _check_options(options, _ROSINALITY_OPTIONS, "a safetensors generator")
        kwargs = {k: options[k] for k in ("w_mean_samples", "seed", "conv_clamp") if k in options}
        name = options.get("name", path.stem)
    else:
        _check_options(options, {"name"} | _IGNORED_FOR_SAVED, "a ganlift teacher")
        kwargs = {"conv_clamp": (meta.get("config") or {}).get("conv_clamp")}
        name = options.get("name", meta.get("name", path.stem))
    try:
        return StyleGAN2Teacher.from_state_dict(state, name=name, **kwargs)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def _finish(teacher: StyleGAN2Teacher, path: Path, ref_path: Path | None, fmt: str) -> StyleGAN2Teacher:
    teacher.origin.update(
        {"path": str((ref_path or path).resolve()), "sha256": sha256_file(path), "format": fmt}
    )
    if fmt == "ganlift":
        for key in ("w_mean_samples", "seed"):
            teacher.origin.pop(key, None)
        teacher.origin["w_mean_source"] = "stored"
    return teacher.freeze()
