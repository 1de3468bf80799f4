"""Teacher references: how a lifter records its teacher, finds it again and checks it.

A lifter never stores its teacher's weights; its ``config.json`` holds the teacher's
``reference()``, a JSON dict such as::

    {"name": "synthetic-faces", "resolution": 64, "seed": 0}                  # code-built
    {"name": "my-ffhq", "path": "/ckpt/ffhq.pt", "sha256": "…", "format": "rosinality"}
    {"name": "afhq-cat", "repo_id": "ZeqiangLai/StyleGAN2", "filename": "ada/afhqcat.pt",
     "revision": "<commit>", "sha256": "…", "format": "rosinality", "w_mean_samples": 512}

:func:`resolve_teacher` turns a reference back into a frozen teacher (a zoo entry, a Hub
file, the recorded local path or a registered name) and :func:`check_teacher` refuses one
that is not the same: with a recorded sha256 the hashes decide, otherwise the name and build
options. A refusal is a :class:`TeacherMismatchError`, which ``force_teacher=True`` (CLI
``--force-teacher``) turns into a warning.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Mapping

from ganlift.teachers.base import Teacher

__all__ = [
    "TeacherMismatchError",
    "check_teacher",
    "resolve_teacher",
    "complete_reference",
    "finds_itself",
    "describe",
    "REFERENCE_META",
    "OVERRIDE_HINT",
]

# Keys that say where a teacher came from rather than how to build it.
REFERENCE_META = frozenset({
    "name", "path", "sha256", "format", "repo_id", "filename", "revision", "kind", "config",
    "source", "w_mean_source",
})
# Options worth passing to a checkpoint loader (how the w mean was estimated).
_FILE_OPTIONS = ("w_mean_samples", "seed", "conv_clamp")
_PICKLE_SUFFIXES = (".pkl", ".pickle")

OVERRIDE_HINT = (
    "A lifter only matches the exact teacher it was distilled from: pass that checkpoint "
    "(teacher='path/to/file', CLI --teacher path/to/file). If you know the weights are the "
    "same (e.g. the same network converted to another format), skip this check with "
    "force_teacher=True (CLI --force-teacher)."
)


class TeacherMismatchError(ValueError):
    """A teacher is not the one expected: another sha256, name or build options."""


def describe(ref: Mapping[str, Any]) -> str:
    """``'name' (repo/file)`` or ``'name' (path)``: how messages name a referenced teacher."""
    where = ref.get("repo_id") and f"{ref['repo_id']}/{ref.get('filename')}" or ref.get("path")
    return f"{ref.get('name')!r}" + (f" ({where})" if where else "")


def _options(ref: Mapping[str, Any]) -> dict:
    return {k: v for k, v in ref.items() if k not in REFERENCE_META}


def _file_options(ref: Mapping[str, Any]) -> dict:
    return {k: v for k, v in ref.items() if k in _FILE_OPTIONS}


def check_teacher(expected: Mapping[str, Any], actual: Mapping[str, Any], *, force: bool = False) -> None:
    """Refuse a teacher that is not the one a lifter was trained on.

    With a recorded sha256 the hashes decide; a recorded hash with an unknown actual one
    cannot be verified and is refused too. Without a recorded hash (registered, code-built
    teachers such as the synthetic ones) the name and build options must match.

    Args:
        expected: the teacher reference saved with the lifter.
        actual: ``teacher.reference()`` of the candidate.
        force: warn instead of raising.

    Raises:
        TeacherMismatchError: the teacher differs (or cannot be verified); the message says
            how to override.
    """
    want, have = expected.get("sha256"), actual.get("sha256")
    problem = None
    if want:
        if not have:
            problem = (f"this lifter was distilled from teacher {describe(expected)} with sha256 {want}, "
                       f"and the teacher given ({describe(actual)}) has no recorded hash, so it cannot be verified")
        elif have.lower() != want.lower():
            problem = (f"teacher sha256 mismatch: this lifter was distilled from {describe(expected)} "
                       f"with sha256 {want}, but the teacher given ({describe(actual)}) has sha256 {have}")
    elif expected.get("name") != actual.get("name"):
        problem = (f"this lifter was distilled from teacher {describe(expected)}, but the teacher "
                   f"given is {describe(actual)}")
    else:
        mine, theirs = _options(expected), _options(actual)
        differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        if differ:
            problem = (f"teacher {expected.get('name')!r} was built with other options than this lifter's "
                       f"({', '.join(f'{k}: {mine.get(k)!r} vs {theirs.get(k)!r}' for k in differ)})")
    if problem is None:
        return
    if force:
        warnings.warn(f"{problem}; loading anyway because force_teacher=True", stacklevel=3)
        return
    raise TeacherMismatchError(f"{problem}. {OVERRIDE_HINT}")


def resolve_teacher(
    reference: Mapping[str, Any],
    teacher: Any = None,
    *,
    force: bool = False,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
) -> Teacher:
    """Find and load the teacher a lifter was trained on, and check it is the same one.

    Args:
        reference: the teacher reference saved in the lifter's ``config.json``.
        teacher: None to resolve ``reference`` itself (a zoo name, a Hub file, the recorded
            local path, or a registered name with its options, in this order), or what the
            user passes instead: a Teacher, a registered/zoo name, or a checkpoint path.
        force: load a teacher whose hash or options differ (with a warning).
        cache_dir, token, local_files_only: for Hub downloads (``hf_hub_download``).

    Returns:
        A frozen teacher.

    Raises:
        TeacherMismatchError: the teacher differs from the recorded one (see :func:`check_teacher`).
        FileNotFoundError: the teacher cannot be found; the message says what to pass.
    """
    from ganlift.teachers import TEACHERS
    from ganlift.teachers.loading import load_teacher
    from ganlift.zoo import ZOO, fetch_teacher_file, load_file, load_zoo_teacher, set_reference

    ref = dict(reference)
    name, want = ref.get("name"), ref.get("sha256")
    hub = dict(cache_dir=cache_dir, token=token, local_files_only=local_files_only)
    options = _options(ref)

    if isinstance(teacher, Teacher):
        candidate = teacher
    elif teacher is not None:
        key = str(teacher)
        same = options if key == name else {}
        if key in ZOO and ZOO[key].format != "builtin":
            candidate = load_zoo_teacher(key, **hub, **same)
        elif key in TEACHERS:
            candidate = load_teacher(key, **same)
        else:
            candidate = load_teacher(key, **(_file_options(ref) if Path(key).exists() else {}))
    elif name in ZOO and ZOO[name].format != "builtin":
        # Download (or reuse the cache) at the recorded commit; the zoo checks the hash.
        try:
            candidate = load_zoo_teacher(name, sha256=None if force else want, revision=ref.get("revision"),
                                         **hub, **options)
        except TeacherMismatchError as err:
            raise TeacherMismatchError(f"{err} {OVERRIDE_HINT}") from None
    elif ref.get("repo_id") and ref.get("filename"):
        path, actual, commit = fetch_teacher_file(ref["repo_id"], ref["filename"], revision=ref.get("revision"),
                                                  sha256=None if force else want, label=f"teacher {name!r}", **hub)
        candidate = set_reference(load_file(path, **_file_options(ref)),
                                  {**ref, "sha256": actual, "revision": commit or ref.get("revision")})
    elif ref.get("path") and Path(ref["path"]).exists():
        # A file teacher: its name is only a label (it may even equal a registered name).
        candidate = load_teacher(ref["path"], **_file_options(ref))
    elif name in TEACHERS and not ref.get("path"):
        candidate = load_teacher(name, **options)
    else:
        raise FileNotFoundError(
            f"this lifter was distilled from teacher {describe(ref)}, which is neither a registered "
            "name nor a file on this machine. Pass the checkpoint: from_pretrained(..., "
            "teacher='path/to/checkpoint') or `--teacher path/to/checkpoint`"
            + (f"; its sha256 must be {want}." if want else ".")
        )
    check_teacher(ref, candidate.reference(), force=force)
    return candidate.freeze()


def complete_reference(reference: Mapping[str, Any] | None, teacher: Any = None) -> dict:
    """The reference to save with a lifter: ``reference`` completed with a sha256 when knowable.

    Args:
        reference: the lifter config's teacher reference (may be empty).
        teacher: the live teacher, whose ``reference()`` fills in what is missing.

    Raises:
        ValueError: no reference with a ``name`` at all.
    """
    from ganlift.utils.io import sha256_file

    ref = dict(reference or {})
    live = teacher.reference() if teacher is not None and hasattr(teacher, "reference") else {}
    if not ref:
        ref = dict(live)
    if not ref.get("sha256"):
        if live.get("sha256") and live.get("name") == ref.get("name"):
            ref["sha256"] = live["sha256"]
        elif ref.get("path") and Path(ref["path"]).is_file():
            ref["sha256"] = sha256_file(ref["path"])
    if "name" not in ref:
        raise ValueError("the lifter's config has no teacher reference ('teacher': {'name': ...})")
    return ref


def finds_itself(reference: Mapping[str, Any]) -> bool:
    """Whether :func:`resolve_teacher` can get the teacher without the user passing it.

    True for downloadable zoo entries, non-pickle Hub files and registered (code-built)
    teachers; False for pickles (never downloaded) and local files.
    """
    from ganlift.zoo import ZOO

    entry = ZOO.get(reference.get("name"))
    if entry is not None:
        return entry.format != "nvidia-pkl"
    if reference.get("repo_id") and reference.get("filename"):
        return not str(reference["filename"]).lower().endswith(_PICKLE_SUFFIXES)
    return not reference.get("path")
