"""Save, load, push and pull lifters: ``model.safetensors`` + ``config.json`` + a model card.

A saved lifter is a folder (or a Hub model repo) holding:

``model.safetensors``
    The lifter's own weights, never the teacher's (the teacher is referenced, not stored).
``config.json``
    ``lifter.config`` (architecture, resolution, recipe, w mean/std, teacher reference) plus
    ``ganlift_version`` and ``weights_sha256`` (the hash of ``model.safetensors``, checked at
    load time so a corrupted file is reported as such).
``README.md``
    The model card, rendered from ``model_cards/lifter.md.j2``.
``metrics.json``, ``sample.png``
    Optional: the evaluation (shown in the card) and a sample grid.

:class:`HubMixin` gives ``Lifter`` ``save_pretrained``, ``from_pretrained`` and
``push_to_hub``, in the style of ``huggingface_hub.PyTorchModelHubMixin`` but with strict
loading, teacher resolution and no pickle anywhere: only the files above are ever uploaded or
downloaded, and ``model.safetensors`` is the only weight format read.

The class using the mixin provides ``self.config`` (a JSON dict with a ``"teacher"``
reference), ``cls.from_config(config, teacher)`` and, optionally, ``self.teacher``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch

from ganlift.utils.io import atomic_path, write_json, write_text
from ganlift.utils.state import few, state_problems

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
METRICS_NAME = "metrics.json"
SAMPLE_NAME = "sample.png"
# Everything a lifter repo may hold; nothing else is pushed or pulled (no pickles, no logs).
REPO_FILES = (WEIGHTS_NAME, CONFIG_NAME, CARD_NAME, METRICS_NAME, SAMPLE_NAME)
OPTIONAL_FILES = (CARD_NAME, METRICS_NAME, SAMPLE_NAME)
# Keys the mixin adds to config.json on top of ``self.config``.
HUB_KEYS = ("weights_sha256",)
# Teacher-reference keys that describe where a teacher came from rather than how to build it.
_REFERENCE_META = {
    "name", "path", "sha256", "format", "repo_id", "filename", "revision", "kind", "config",
    "source", "w_mean_source",
}
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
_TEACHER_PREFIX = "teacher."
_CARD_MARK = "ganlift.hub.render_card"


def _version() -> str:
    from ganlift import __version__

    return __version__


# ---------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------


def lifter_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The tensors to save: ``module.state_dict()`` without the teacher's (``teacher.*``)."""
    return {k: v for k, v in module.state_dict().items() if not k.startswith(_TEACHER_PREFIX)}


def save_weights(module: torch.nn.Module, path: str | os.PathLike) -> str:
    """Write the lifter's weights (not the teacher's) to a safetensors file, atomically.

    Returns:
        The sha256 of the written file.

    Raises:
        ValueError: a weight holds NaN or Inf (a diverged model is not saved silently).
    """
    from safetensors.torch import save_file

    from ganlift.zoo import sha256_file

    tensors = {}
    for key, value in lifter_state(module).items():
        tensor = value.detach().to("cpu").contiguous().clone()  # clone: no shared storage
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ValueError(f"refusing to save non-finite weights: {key!r} holds NaN or Inf")
        tensors[key] = tensor
    with atomic_path(path) as tmp:
        # One metadata key only: safetensors writes a map in random order, and byte-identical
        # files for identical weights keep hashes stable and re-pushes no-ops.
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    return sha256_file(path)


def read_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a ``model.safetensors`` file on the CPU.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is truncated or corrupt (not valid safetensors).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"lifter weights {str(path)!r} do not exist")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise ValueError(
            f"{path} is not a readable safetensors file: it is truncated or corrupt "
            f"({path.stat().st_size} bytes; {err}). Save the lifter again, or download it again "
            "(from_pretrained(..., force_download=True) / ganlift pull)."
        ) from None


def load_weights(module: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str = "the file") -> None:
    """Load ``state`` into ``module`` strictly (the teacher's weights are not expected).

    Raises:
        ValueError: missing or unexpected keys, shape mismatches or non-finite values; the
            message names them.
    """
    problems = state_problems(lifter_state(module), state)
    if problems:
        raise ValueError(
            f"the weights in {source} do not fit this lifter's architecture: {'; '.join(problems)}. "
            "Was config.json edited, or the weights saved by another model?"
        )
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"the weights in {source} hold NaN or Inf in {few(bad)}")
    result = module.load_state_dict(dict(state), strict=False)
    leftover = [k for k in result.missing_keys if not k.startswith(_TEACHER_PREFIX)]
    if leftover or result.unexpected_keys:  # cannot happen after the checks above
        raise ValueError(f"loading {source} left keys unset: {few(leftover + result.unexpected_keys)}")




# ---------------------------------------------------------------------------------------------
# Config and folders
# ---------------------------------------------------------------------------------------------


def read_config(path: str | os.PathLike) -> dict:
    """Read a lifter's ``config.json``.

    Raises:
        FileNotFoundError: missing file.
        ValueError: not JSON, not an object, or no teacher reference.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"lifter config {str(path)!r} does not exist")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); the file is corrupt") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(config).__name__}")
    if not isinstance(config.get("teacher"), dict) or "name" not in config["teacher"]:
        raise ValueError(f"{path} has no teacher reference ('teacher': {{'name': ...}}); not a ganlift lifter config")
    return config


def check_folder(folder: str | os.PathLike) -> dict:
    """Check that ``folder`` is a complete saved lifter and return its config.

    Verifies that ``model.safetensors`` matches the sha256 recorded in ``config.json``.

    Raises:
        FileNotFoundError: the folder, its config or its weights are missing.
        ValueError: corrupt config, or weights that do not match the recorded hash.
    """
    from ganlift.zoo import sha256_file

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"lifter folder {str(folder)!r} does not exist")
    config = read_config(folder / CONFIG_NAME)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        extra = ""
        if any(folder.glob("*.bin")) or any(folder.glob("*.pt")) or any(folder.glob("*.pkl")):
            extra = " (ganlift never loads pickled weights such as .bin/.pt/.pkl)"
        raise FileNotFoundError(f"{folder} has no {WEIGHTS_NAME}{extra}")
    expected = config.get("weights_sha256")
    if expected:
        actual = sha256_file(weights)
        if actual != expected:
            raise ValueError(
                f"{weights} does not match the sha256 recorded in {CONFIG_NAME} (expected {expected}, "
                f"got {actual}): the file is corrupt, truncated or was replaced. Save the lifter "
                "again, or download it again (from_pretrained(..., force_download=True) / ganlift pull)."
            )
    return config


def model_config(config: Mapping[str, Any]) -> dict:
    """``config.json`` without the keys the mixin adds (what ``from_config`` receives)."""
    return {k: v for k, v in config.items() if k not in HUB_KEYS}


def _teacher_reference(module: Any, config: Mapping[str, Any]) -> dict:
    """The teacher reference to save: the config's, completed with the sha256 when knowable."""
    from ganlift.zoo import sha256_file

    ref = dict(config.get("teacher") or {})
    teacher = getattr(module, "teacher", None)
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


# ---------------------------------------------------------------------------------------------
# Teacher resolution
# ---------------------------------------------------------------------------------------------


def _describe(ref: Mapping[str, Any]) -> str:
    where = ref.get("repo_id") and f"{ref['repo_id']}/{ref.get('filename')}" or ref.get("path")
    return f"{ref.get('name')!r}" + (f" ({where})" if where else "")


OVERRIDE_HINT = (
    "A lifter only matches the exact teacher it was distilled from: pass that checkpoint "
    "(teacher='path/to/file', CLI --teacher path/to/file). If you know the weights are the "
    "same (e.g. the same network converted to another format), skip this check with "
    "force_teacher=True (CLI --force-teacher)."
)


def check_teacher(expected: Mapping[str, Any], actual: Mapping[str, Any], *, force: bool = False) -> None:
    """Refuse a teacher that is not the one a lifter was trained on.

    With a recorded sha256 on both sides the hashes decide; a recorded hash with an unknown
    actual one cannot be verified and is refused too. Without a recorded hash (registered,
    code-built teachers such as the synthetic ones) the name and build options must match.

    Args:
        expected: the teacher reference saved with the lifter.
        actual: ``teacher.reference()`` of the candidate.
        force: warn instead of raising.

    Raises:
        ValueError: the teacher differs (or cannot be verified); the message says how to override.
    """
    want, have = expected.get("sha256"), actual.get("sha256")
    problem = None
    if want:
        if not have:
            problem = (f"this lifter was distilled from teacher {_describe(expected)} with sha256 {want}, "
                       f"and the teacher given ({_describe(actual)}) has no recorded hash, so it cannot be verified")
        elif have.lower() != want.lower():
            problem = (f"teacher sha256 mismatch: this lifter was distilled from {_describe(expected)} "
                       f"with sha256 {want}, but the teacher given ({_describe(actual)}) has sha256 {have}")
    elif expected.get("name") != actual.get("name"):
        problem = (f"this lifter was distilled from teacher {_describe(expected)}, but the teacher "
                   f"given is {_describe(actual)}")
    else:
        mine = {k: v for k, v in expected.items() if k not in _REFERENCE_META}
        theirs = {k: v for k, v in actual.items() if k not in _REFERENCE_META}
        differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        if differ:
            problem = (f"teacher {expected.get('name')!r} was built with other options than this lifter's "
                       f"({', '.join(f'{k}: {mine.get(k)!r} vs {theirs.get(k)!r}' for k in differ)})")
    if problem is None:
        return
    if force:
        warnings.warn(f"{problem}; loading anyway because force_teacher=True", stacklevel=3)
        return
    raise ValueError(f"{problem}. {OVERRIDE_HINT}")


def resolve_teacher(
    reference: Mapping[str, Any],
    teacher: Any = None,
    *,
    force: bool = False,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
):
    """Find and load the teacher a lifter was trained on, and check it is the same one.

    Args:
        reference: the teacher reference saved in the lifter's ``config.json``.
        teacher: None to resolve ``reference`` itself (a zoo name, a registered name with its
            options, a Hub file, or the recorded local path), or what the user passes instead:
            a Teacher, a registered/zoo name, or a local checkpoint path.
        force: load a teacher whose hash or options differ (with a warning).
        cache_dir, token, local_files_only: for Hub downloads.

    Returns:
        A frozen teacher.

    Raises:
        ValueError: the teacher differs from the recorded one (see :func:`check_teacher`).
        FileNotFoundError: the teacher cannot be found; the message says what to pass.
    """
    from ganlift.teachers import TEACHERS, Teacher
    from ganlift.teachers.loading import load_teacher
    from ganlift.zoo import ZOO, fetch_teacher_file, load_file, load_zoo_teacher, set_reference

    ref = dict(reference)
    name = ref.get("name")
    want = ref.get("sha256")
    hub = dict(cache_dir=cache_dir, token=token, local_files_only=local_files_only)
    options = {k: v for k, v in ref.items() if k not in _REFERENCE_META}

    if teacher is None:
        entry = ZOO.get(name)
        if entry is not None and entry.format != "builtin":
            # A zoo teacher: download (or reuse the cache) and verify against the recorded hash.
            try:
                candidate = load_zoo_teacher(
                    name, sha256=None if force else want, revision=ref.get("revision"), **hub, **options
                )
            except ValueError as err:
                if "sha256 mismatch" in str(err):
                    raise ValueError(f"{err} {OVERRIDE_HINT}") from None
                raise
        elif ref.get("repo_id") and ref.get("filename"):
            path, actual, commit = fetch_teacher_file(
                ref["repo_id"], ref["filename"], revision=ref.get("revision"),
                sha256=None if force else want, label=f"teacher {name!r}", **hub,
            )
            candidate = set_reference(load_file(path, **_file_options(options)),
                                      {**ref, "sha256": actual, "revision": commit or ref.get("revision")})
        elif ref.get("path") and Path(ref["path"]).exists():
            # A file teacher: its name is only a label (it may even equal a registered name).
            candidate = load_teacher(ref["path"], **_file_options(options))
        elif name in TEACHERS and not ref.get("path"):
            candidate = load_teacher(name, **options)
        else:
            raise FileNotFoundError(
                f"this lifter was distilled from teacher {_describe(ref)}, which is neither a registered "
                f"name nor a file on this machine. Pass the checkpoint: from_pretrained(..., "
                f"teacher='path/to/checkpoint') or `--teacher path/to/checkpoint`"
                + (f"; its sha256 must be {want}." if want else ".")
            )
    elif isinstance(teacher, Teacher):
        candidate = teacher
    else:
        key = str(teacher)
        if key in ZOO and ZOO[key].format != "builtin":
            candidate = load_zoo_teacher(key, **hub)
        elif key in TEACHERS:
            candidate = load_teacher(key, **(options if key == name else {}))
        else:
            candidate = load_teacher(key, **(_file_options(options) if Path(key).exists() else {}))
    check_teacher(ref, candidate.reference(), force=force)
    return candidate.freeze()


def _file_options(options: Mapping[str, Any]) -> dict:
    """Options worth passing to a checkpoint loader (how the w mean was estimated)."""
    return {k: v for k, v in options.items() if k in ("w_mean_samples", "seed", "conv_clamp")}


# ---------------------------------------------------------------------------------------------
# Model card
# ---------------------------------------------------------------------------------------------


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, Mapping):
        rows = []
        for key in value:
            rows += _flatten(value[key], f"{prefix}.{key}" if prefix else str(key))
        return rows
    return [(prefix, value)]


def _format_number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.4g}"
    return str(value)


def _last_logged_step(folder: Path | None) -> int | None:
    log = folder / "log.jsonl" if folder is not None else None
    if log is None or not log.is_file():
        return None
    step = None
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            step = int(json.loads(line).get("step", step))
        except (ValueError, TypeError, AttributeError):
            continue
    return step


def _finds_teacher_itself(ref: Mapping[str, Any], entry: Any) -> bool:
    """Whether ``from_pretrained`` can get the teacher without the user passing it."""
    from ganlift.zoo import PICKLE_SUFFIXES

    if entry is not None:
        return entry.format != "nvidia-pkl"
    if ref.get("repo_id") and ref.get("filename"):
        return not str(ref["filename"]).lower().endswith(PICKLE_SUFFIXES)
    return not ref.get("path")  # registered teachers are rebuilt from code


# Recipe settings worth a line in the model card (all loss weights are added too).
_CARD_RECIPE_KEYS = (
    "description", "lifter.resolution", "teacher.truncation", "render.renderer", "render.fov",
    "train.steps", "train.batch_size", "train.lr", "perturb.yaw", "perturb.pitch",
    "distance.perceptual",
)


def _recipe_rows(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    flat = [(k, v) for k, v in _flatten(settings) if not isinstance(v, (list, tuple)) or len(v) <= 8]
    chosen = [(k, v) for k, v in flat if k in _CARD_RECIPE_KEYS
              or (k.startswith("losses.") and k.endswith(".weight"))]
    rows = chosen or flat[:30]  # an unknown recipe layout: show its first settings
    return [(k, _format_number(v)) for k, v in rows]


def card_context(
    config: Mapping[str, Any],
    *,
    metrics: Mapping[str, Any] | None = None,
    repo_id: str | None = None,
    sample: str | None = None,
    steps: int | None = None,
) -> dict:
    """The values :func:`render_card` puts into ``model_cards/lifter.md.j2``.

    Reads from ``config``: ``teacher`` (reference), ``recipe`` (a name, or a dict with a
    ``name`` and the settings), ``resolution`` (or ``size``), and the training steps from
    ``training.steps`` / ``steps`` / the recipe's ``steps`` unless ``steps`` is given.
    """
    from ganlift.zoo import ZOO

    ref = dict(config.get("teacher") or {})
    entry = ZOO.get(ref.get("name"))
    repo = ref.get("repo_id") or (entry.repo_id if entry else None)
    filename = ref.get("filename") or (entry.filename if entry else None)
    revision = ref.get("revision") or (entry.revision if entry else None)
    teacher = {
        "name": ref.get("name", "unknown"),
        "description": entry.description if entry else "",
        "repo_id": repo,
        "filename": filename,
        "revision": revision,
        "url": f"https://huggingface.co/{repo}" if repo else None,
        "file": Path(ref["path"]).name if ref.get("path") else None,
        "resolution": ref.get("resolution") or (entry.resolution if entry else None)
        or (ref.get("config") or {}).get("resolution"),
        "sha256": ref.get("sha256"),
        "license": entry.license if entry else None,
        "downloadable": _finds_teacher_itself(ref, entry),
    }

    recipe = config.get("recipe")
    if isinstance(recipe, Mapping):
        recipe_name = config.get("recipe_name") or recipe.get("name") or "custom"
        recipe_settings = {k: v for k, v in recipe.items() if k != "name"}
    else:
        recipe_name, recipe_settings = (config.get("recipe_name") or recipe or "unknown"), {}
    training = config.get("training") if isinstance(config.get("training"), Mapping) else {}
    if steps is None:
        steps = training.get("steps", config.get("steps"))
    if steps is None:
        planned = (recipe_settings.get("train") or {}).get("steps") if isinstance(
            recipe_settings.get("train"), Mapping) else recipe_settings.get("steps")
        steps = f"{planned} (planned by the recipe)" if planned is not None else None
    recipe_rows = _recipe_rows(recipe_settings)

    metrics_rows = []
    for key, value in _flatten(dict(metrics or {})):
        if isinstance(value, (int, float, str, bool)) or value is None:
            metrics_rows.append((key, _format_number(value)))
    note = None
    if metrics_rows and isinstance(metrics, Mapping) and metrics.get("n"):
        note = f"Measured on {metrics['n']} held-out samples."

    license_name = "teacher-license"
    if entry is not None:
        license_id, license_name = entry.license_id, entry.license_name or license_name
        license_text = (f"The lifter is a derivative of its teacher, so the teacher's terms apply: "
                        f"{entry.license}.")
    else:
        license_id = "other"
        license_text = ("The lifter is a derivative of its teacher: the teacher checkpoint's license "
                        "applies (check where the checkpoint came from). ganlift itself is MIT-licensed.")
    if license_id == "mit":
        license_text = "MIT (the teacher is ganlift's procedural teacher, MIT-licensed like ganlift)."
    usage_source = repo_id or "path/to/this/folder"
    return {
        "title": f"ganlift lifter: {teacher['name']}" if not repo_id else repo_id.split("/")[-1],
        "ganlift_version": config.get("ganlift_version") or _version(),
        "teacher": teacher,
        "recipe_name": recipe_name,
        "recipe_rows": recipe_rows,
        "steps": steps,
        "resolution": config.get("resolution") or config.get("size"),
        "metrics_rows": metrics_rows,
        "metrics_note": note,
        "sample": sample,
        "usage_source": usage_source,
        "on_hub": repo_id is not None,
        "license_id": license_id,
        "license_name": license_name if license_id == "other" else None,
        "license_text": license_text,
    }


def render_card(
    config: Mapping[str, Any],
    *,
    metrics: Mapping[str, Any] | None = None,
    repo_id: str | None = None,
    sample: str | None = None,
    steps: int | None = None,
    template: str | os.PathLike | None = None,
) -> str:
    """Render the model card (Markdown with YAML metadata) of a lifter.

    Args:
        config: the lifter's config (as in ``config.json``).
        metrics: evaluation results (``metrics.json``), shown as a table when given.
        repo_id: the Hub repo the card is for (used in the usage snippet).
        sample: relative path of a sample image to show.
        steps: training steps, when the config does not record them.
        template: another Jinja template file (default: ``model_cards/lifter.md.j2``).
    """
    import jinja2

    from ganlift.utils.resources import data_dir

    path = Path(template) if template else data_dir("model_cards") / "lifter.md.j2"
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(path.parent)), undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False,
    )
    context = card_context(config, metrics=metrics, repo_id=repo_id, sample=sample, steps=steps)
    return env.get_template(path.name).render(**context)


def write_card(folder: str | os.PathLike, *, repo_id: str | None = None) -> Path:
    """(Re)write ``folder/README.md`` from the folder's config, metrics, sample and log.

    Call it after adding ``metrics.json`` to a saved lifter so the card shows the evaluation.
    """
    folder = Path(folder)
    config = read_config(folder / CONFIG_NAME)
    metrics = _read_metrics(folder)
    sample = SAMPLE_NAME if (folder / SAMPLE_NAME).is_file() else None
    text = render_card(config, metrics=metrics, repo_id=repo_id, sample=sample, steps=_steps(config, folder))
    write_text(folder / CARD_NAME, text)
    return folder / CARD_NAME


def _steps(config: Mapping[str, Any], folder: Path | None) -> int | None:
    training = config.get("training") if isinstance(config.get("training"), Mapping) else {}
    if training.get("steps") is not None or config.get("steps") is not None:
        return None  # the config knows; card_context reads it
    return _last_logged_step(folder)


def _read_metrics(folder: Path) -> dict | None:
    path = folder / METRICS_NAME
    if not path.is_file():
        return None
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None
    return metrics if isinstance(metrics, dict) else {"value": metrics}


# ---------------------------------------------------------------------------------------------
# Hub transfers
# ---------------------------------------------------------------------------------------------


def is_repo_id(text: str) -> bool:
    """True for "name" or "owner/name" (letters, digits, ``-_.``)."""
    return bool(_REPO_ID.match(text)) and ".." not in text and not text.endswith((".", "-"))


def _hub_errors():
    from huggingface_hub import errors

    return errors


def download_lifter(
    repo_id: str,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
    optional: bool = False,
) -> Path:
    """Download a lifter repo's files into the Hugging Face cache; return the snapshot folder.

    ``config.json`` is fetched first; the other files are fetched at the commit it came from,
    so all files belong to one revision. Works offline from the cache (``HF_HUB_OFFLINE=1``).

    Args:
        repo_id: "owner/name".
        revision: branch, tag or commit (default "main").
        cache_dir, token, local_files_only, force_download: as in ``hf_hub_download``.
        optional: also fetch README.md, metrics.json and sample.png when the repo has them.

    Raises:
        FileNotFoundError: no such repo or file, or not cached while offline.
        ValueError: the revision does not exist.
        RuntimeError: another Hub error.
    """
    from huggingface_hub import hf_hub_download

    from ganlift.zoo import snapshot_commit

    err = _hub_errors()
    revision = revision or "main"
    kwargs = dict(cache_dir=cache_dir, token=token, local_files_only=local_files_only,
                  force_download=force_download, library_name="ganlift", library_version=_version())

    def fetch(filename: str, rev: str) -> Path:
        try:
            return Path(hf_hub_download(repo_id, filename, revision=rev, **kwargs))
        except err.RevisionNotFoundError:
            raise ValueError(
                f"revision {revision!r} does not exist in the Hub repo {repo_id!r}; pass an existing "
                "branch, tag or full commit hash (revision=...)"
            ) from None
        except err.RepositoryNotFoundError:
            raise FileNotFoundError(
                f"no Hub repo {repo_id!r} (or it is private: pass token=...). A local folder must exist "
                "to be loaded as one."
            ) from None
        # LocalEntryNotFoundError subclasses EntryNotFoundError: catch it first.
        except (err.LocalEntryNotFoundError, err.OfflineModeIsEnabled):
            raise FileNotFoundError(
                f"{filename} of {repo_id!r} (revision {revision!r}) is not in the local Hugging Face cache "
                "and cannot be downloaded now (HF_HUB_OFFLINE=1 or no connection). Download it once "
                f"while online (ganlift pull {repo_id} --out DIR) and load the folder, or check the "
                "connection."
            ) from None
        except err.EntryNotFoundError:
            hint = " (ganlift never loads pickled pytorch_model.bin files)" if filename == WEIGHTS_NAME else ""
            raise FileNotFoundError(
                f"the Hub repo {repo_id!r} has no {filename} at revision {revision!r}: it is not a ganlift "
                f"lifter repo{hint}"
            ) from None
        except err.HfHubHTTPError as e:
            raise RuntimeError(f"downloading {filename} of {repo_id!r} failed: {e}") from None

    config_path = fetch(CONFIG_NAME, revision)
    commit = snapshot_commit(config_path) or revision
    fetch(WEIGHTS_NAME, commit)
    if optional:
        for name in OPTIONAL_FILES:
            try:
                fetch(name, commit)
            except FileNotFoundError:
                pass  # optional files may be absent
    return config_path.parent


def pull(
    repo_id: str,
    out: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    force_download: bool = False,
) -> Path:
    """Download a lifter repo into the folder ``out`` (plain file copies, verified).

    Only the lifter files are fetched (model.safetensors, config.json, README.md, metrics.json,
    sample.png). The result loads with ``Lifter.from_pretrained(out)``.

    Returns:
        ``out`` as a Path.
    """
    snapshot = download_lifter(repo_id, revision=revision, cache_dir=cache_dir, token=token,
                               force_download=force_download, optional=True)
    check_folder(snapshot)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in REPO_FILES:
        src = snapshot / name
        if src.is_file():
            with atomic_path(out / name) as tmp:
                shutil.copyfile(src, tmp)  # follows the cache's symlink to the blob
    return out


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | bool | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
    create_pr: bool = False,
    regenerate_card: bool = True,
) -> str:
    """Upload a saved lifter folder to a Hub model repo (created when missing).

    Only the lifter files are uploaded (never logs, checkpoints or pickles). The model card is
    re-rendered for ``repo_id`` (with the folder's metrics) unless ``regenerate_card`` is false
    and the folder has its own README.md.

    Returns:
        The URL of the commit (or of the pull request with ``create_pr``).

    Raises:
        FileNotFoundError, ValueError: the folder is not a complete, intact saved lifter.
        RuntimeError: the Hub refused the upload.
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    if not is_repo_id(repo_id):
        raise ValueError(f"repo_id must look like 'owner/name', got {repo_id!r}")
    folder = Path(folder)
    config = check_folder(folder)
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name))
                  for name in REPO_FILES if name != CARD_NAME and (folder / name).is_file()]
    if regenerate_card or not (folder / CARD_NAME).is_file():
        sample = SAMPLE_NAME if (folder / SAMPLE_NAME).is_file() else None
        card = render_card(config, metrics=_read_metrics(folder), repo_id=repo_id, sample=sample,
                           steps=_steps(config, folder))
        operations.append(CommitOperationAdd(path_in_repo=CARD_NAME, path_or_fileobj=card.encode("utf-8")))
    else:
        operations.append(CommitOperationAdd(path_in_repo=CARD_NAME, path_or_fileobj=str(folder / CARD_NAME)))
    err = _hub_errors()
    api = HfApi(library_name="ganlift", library_version=_version(), token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        info = api.create_commit(
            repo_id, operations, commit_message=commit_message or f"Upload ganlift lifter ({_version()})",
            revision=revision, create_pr=create_pr, repo_type="model",
        )
    except err.OfflineModeIsEnabled:
        raise RuntimeError("cannot push while HF_HUB_OFFLINE=1 is set") from None
    except err.RevisionNotFoundError:
        raise ValueError(f"branch {revision!r} does not exist in {repo_id!r}; create it first") from None
    except err.HfHubHTTPError as e:
        raise RuntimeError(f"pushing to {repo_id!r} failed: {e}") from None
    return info.pr_url if create_pr and info.pr_url else info.commit_url


# ---------------------------------------------------------------------------------------------
# The mixin
# ---------------------------------------------------------------------------------------------


class HubMixin:
    """Adds ``save_pretrained``, ``from_pretrained`` and ``push_to_hub`` to ``Lifter``.

    The class provides ``self.config`` (a JSON-serialisable dict with a ``"teacher"``
    reference) and ``from_config(config, teacher)``; ``self.teacher`` when present is used to
    complete the teacher's sha256 and to draw the card's sample image. Override
    :meth:`hub_preview` to choose the sample image.
    """

    config: dict

    @classmethod
    def from_config(cls, config: dict, teacher: Any):  # pragma: no cover - provided by the model
        raise NotImplementedError(f"{cls.__name__} must implement from_config(config, teacher)")

    # ------------------------------------------------------------------ saving
    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        *,
        metrics: Mapping[str, Any] | None = None,
        sample: bool = True,
        repo_id: str | None = None,
    ) -> Path:
        """Save the lifter as a folder: weights, config, model card (and sample, metrics).

        Args:
            save_directory: the folder (created if needed). Files already there that a lift
                wrote (``log.jsonl``, ``metrics.json``, ...) are kept, and used by the card.
            metrics: evaluation results to store as ``metrics.json`` and show in the card.
            sample: draw ``sample.png`` (teacher images above lifter renders) for the card.
            repo_id: the Hub repo the card's usage snippet should name.

        Returns:
            The folder path.
        """
        folder = Path(save_directory)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"save_directory {str(folder)!r} exists and is not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        config = dict(getattr(self, "config", None) or {})
        config["teacher"] = _teacher_reference(self, config)
        config["ganlift_version"] = _version()
        config["weights_sha256"] = save_weights(self, folder / WEIGHTS_NAME)
        try:
            write_json(folder / CONFIG_NAME, config)
        except TypeError as err:
            raise ValueError(f"the lifter's config is not JSON-serialisable: {err}") from None
        if metrics is not None:
            write_json(folder / METRICS_NAME, dict(metrics))
        if sample:
            self._save_sample(folder / SAMPLE_NAME)
        write_card(folder, repo_id=repo_id)
        return folder

    def hub_preview(self, n: int = 8, seed: int = 0) -> torch.Tensor | None:
        """Images for the model card: (2n, 3, H, W) in [0, 1], or None for no sample.

        Default: ``n`` codes from ``self.sample_w`` (or ``self.teacher.sample_w``); the
        teacher's images (resized to the lifter's size) above the lifter's renders
        (``self(w).image`` in [-1, 1]).
        """
        teacher = getattr(self, "teacher", None)
        if teacher is None or not hasattr(teacher, "sample_w"):
            return None
        device = next((p.device for p in self.parameters()), torch.device("cpu"))  # type: ignore[attr-defined]
        was_training = self.training  # type: ignore[attr-defined]
        self.eval()  # type: ignore[attr-defined]
        # The model's own sampler uses its training truncation; a teacher samples untruncated.
        sampler = getattr(self, "sample_w", None) or teacher.sample_w
        try:
            with torch.no_grad():
                w = sampler(n, seed=seed).to(device)
                out = self(w)  # type: ignore[operator]
                rendered = out["image"] if isinstance(out, Mapping) else out.image
                target = teacher.synthesis(w)
                if target.shape[-2:] != rendered.shape[-2:]:
                    target = torch.nn.functional.interpolate(
                        target, size=rendered.shape[-2:], mode="bilinear", align_corners=False, antialias=True
                    )
        finally:
            self.train(was_training)  # type: ignore[attr-defined]
        images = torch.cat([target, rendered], dim=0)
        return ((images.float().cpu() + 1) / 2).clamp(0, 1)

    def _save_sample(self, path: Path) -> None:
        from ganlift.utils.images import save_grid

        try:
            images = self.hub_preview()
        except Exception as err:  # the card is optional: report, don't fail the save
            warnings.warn(f"no sample image for the model card: {type(err).__name__}: {err}", stacklevel=3)
            return
        if images is not None:
            save_grid(images, path, nrow=images.shape[0] // 2)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls,
        source: str | os.PathLike,
        *,
        revision: str | None = None,
        teacher: Any = None,
        cache_dir: str | os.PathLike | None = None,
        token: str | bool | None = None,
        force_teacher: bool = False,
        local_files_only: bool = False,
        force_download: bool = False,
        device: str | torch.device | None = None,
    ):
        """Load a lifter from a saved folder or a Hub repo, with its teacher.

        Example:
            >>> lifter = Lifter.from_pretrained("runs/demo")
            >>> lifter = Lifter.from_pretrained("me/ganlift-faces", revision="v1")
            >>> lifter = Lifter.from_pretrained("me/ganlift-faces", teacher="ckpt/ffhq-256.pkl")

        Args:
            source: a folder written by ``save_pretrained`` or a Hub repo id ("owner/name").
            revision: branch, tag or commit of a Hub repo.
            teacher: None to resolve the recorded teacher (zoo name, registered name, Hub file
                or the recorded local path), or a Teacher, name or local checkpoint path.
            cache_dir: Hugging Face cache folder (lifter and zoo teacher files).
            token: Hub token for private repos.
            force_teacher: accept a teacher whose sha256/options differ from the recorded one.
            local_files_only: do not use the network, only the cache.
            force_download: download the files again even when cached.
            device: move the loaded lifter there (default: CPU).

        Returns:
            The lifter in eval mode.

        Raises:
            FileNotFoundError: no such folder/repo/file, or not cached while offline.
            ValueError: a corrupt or truncated file, weights that do not fit, a wrong revision,
                or a teacher whose hash differs (see ``force_teacher``).
        """
        folder = _locate(source, revision=revision, cache_dir=cache_dir, token=token,
                         local_files_only=local_files_only, force_download=force_download)
        config = check_folder(folder)
        state = read_weights(folder / WEIGHTS_NAME)
        resolved = resolve_teacher(config["teacher"], teacher, force=force_teacher, cache_dir=cache_dir,
                                   token=token, local_files_only=local_files_only)
        model = cls.from_config(model_config(config), resolved)
        load_weights(model, state, source=str(folder / WEIGHTS_NAME))
        if device is not None:
            model = model.to(device)
        return model.eval()

    # ------------------------------------------------------------------ pushing
    def push_to_hub(
        self,
        repo_id: str,
        *,
        private: bool | None = None,
        token: str | bool | None = None,
        revision: str | None = None,
        commit_message: str | None = None,
        create_pr: bool = False,
        metrics: Mapping[str, Any] | None = None,
        sample: bool = True,
    ) -> str:
        """Save the lifter to a temporary folder and upload it to the Hub model repo ``repo_id``.

        Creates the repo when missing. Only the lifter files are uploaded (weights, config, card,
        and the sample/metrics when present).

        Returns:
            The URL of the commit (or pull request).
        """
        with tempfile.TemporaryDirectory(prefix="ganlift-push-") as tmp:
            self.save_pretrained(tmp, metrics=metrics, sample=sample, repo_id=repo_id)
            return push_folder(tmp, repo_id, private=private, token=token, revision=revision,
                               commit_message=commit_message, create_pr=create_pr)


def _locate(source: str | os.PathLike, *, revision, cache_dir, token, local_files_only, force_download) -> Path:
    """A local lifter folder for ``source`` (a folder, or a Hub repo downloaded to the cache)."""
    text = os.fspath(source)
    path = Path(os.path.expanduser(text))
    if path.exists():
        if path.is_file() and path.name in (WEIGHTS_NAME, CONFIG_NAME):
            path = path.parent
        if not path.is_dir():
            raise ValueError(f"{text!r} is a file; pass the lifter's folder (with {CONFIG_NAME} and {WEIGHTS_NAME})")
        if revision is not None:
            raise ValueError(f"revision={revision!r} only applies to Hub repos; {text!r} is a local folder")
        return path
    if text.startswith("hf://"):
        text = text[len("hf://"):]
    looks_local = text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text \
        or text.endswith((".json", ".safetensors"))
    if looks_local or not is_repo_id(text):
        raise FileNotFoundError(f"no lifter folder {text!r} (and it is not a Hub repo id like 'owner/name')")
    return download_lifter(text, revision=revision, cache_dir=cache_dir, token=token,
                           local_files_only=local_files_only, force_download=force_download)


__all__ = [
    "HubMixin",
    "save_weights",
    "read_weights",
    "load_weights",
    "read_config",
    "check_folder",
    "check_teacher",
    "resolve_teacher",
    "render_card",
    "write_card",
    "download_lifter",
    "pull",
    "push_folder",
    "WEIGHTS_NAME",
    "CONFIG_NAME",
    "CARD_NAME",
    "METRICS_NAME",
    "SAMPLE_NAME",
]
