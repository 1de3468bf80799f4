"""The model card of a saved lifter: ``README.md`` with Hub metadata, teacher, training, metrics.

The metadata is a ``huggingface_hub.ModelCardData`` (``library_name="ganlift"``, licence,
tags, ``base_model`` for zoo teachers and ``eval_results`` from ``metrics.json``); the text
is the Jinja template ``model_cards/lifter.md.j2`` rendered with :func:`card_context`.
:func:`write_card` (re)writes a folder's card; ``save_pretrained`` calls it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

__all__ = ["render_card", "write_card", "card_context", "card_data", "read_metrics"]

TAGS = ["ganlift", "liftedgan", "3d-aware-generation", "stylegan2", "distillation"]
PIPELINE_TAG = "unconditional-image-generation"
# Recipe settings worth a line in the card (all loss weights are added too).
_RECIPE_KEYS = (
    "description", "lifter.resolution", "teacher.truncation", "render.renderer", "render.fov",
    "train.steps", "train.batch_size", "train.lr", "perturb.yaw", "perturb.pitch",
    "distance.perceptual",
)
# metrics.json entries that describe the evaluation rather than measure the lifter.
_BOOKKEEPING = ("n", "seed", "psi", "size", "teacher", "invalid")


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, Mapping):
        return [row for key in value for row in _flatten(value[key], f"{prefix}.{key}" if prefix else str(key))]
    return [(prefix, value)]


def _number(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4g}"
    return str(value)


def _is_metric(key: str, value: Any) -> bool:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return numeric and math.isfinite(value) and key.split(".")[0] not in _BOOKKEEPING


def _steps(config: Mapping[str, Any], folder: Path | None) -> Any:
    """Training steps: the config's, else the last step of ``folder/log.jsonl``, else the plan."""
    training = config.get("training") if isinstance(config.get("training"), Mapping) else {}
    steps = training.get("steps", config.get("steps"))
    log = folder / "log.jsonl" if folder is not None else None
    if steps is None and log is not None and log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                steps = int(json.loads(line).get("step", steps))
            except (ValueError, TypeError, AttributeError):
                continue
    recipe = config.get("recipe")
    planned = recipe.get("train", {}).get("steps") if isinstance(recipe, Mapping) else None
    if steps is None and planned is not None:
        steps = f"{planned} (planned by the recipe)"
    return steps


def card_context(
    config: Mapping[str, Any],
    *,
    metrics: Mapping[str, Any] | None = None,
    repo_id: str | None = None,
    sample: str | None = None,
    folder: str | os.PathLike | None = None,
) -> dict:
    """The values the template is rendered with.

    Args:
        config: the lifter's ``config.json``: ``teacher`` (reference), ``recipe`` (a dict with
            the settings, or a name), ``recipe_name``, ``resolution``, ``ganlift_version``.
        metrics: ``metrics.json``, shown as a table.
        repo_id: the Hub repo the card is for (named in the usage snippets).
        sample: relative path of the sample image.
        folder: the saved folder, whose ``log.jsonl`` gives the steps when the config does not.
    """
    from ganlift import __version__
    from ganlift.teachers.reference import finds_itself
    from ganlift.zoo import ZOO

    ref = dict(config.get("teacher") or {})
    entry = ZOO.get(ref.get("name"))
    repo = ref.get("repo_id") or (entry.repo_id if entry else None)
    teacher = {
        "name": ref.get("name", "unknown"),
        "description": entry.description if entry else "",
        "repo_id": repo,
        "filename": ref.get("filename") or (entry.filename if entry else None),
        "revision": ref.get("revision") or (entry.revision if entry else None),
        "url": f"https://huggingface.co/{repo}" if repo else None,
        "file": Path(ref["path"]).name if ref.get("path") else None,
        "resolution": ref.get("resolution") or (entry.resolution if entry else None)
        or (ref.get("config") or {}).get("resolution"),
        "sha256": ref.get("sha256"),
        "license": entry.license if entry else None,
        "downloadable": finds_itself(ref),
    }
    recipe = config.get("recipe")
    settings = {k: v for k, v in recipe.items() if k != "name"} if isinstance(recipe, Mapping) else {}
    recipe_name = config.get("recipe_name") or (recipe.get("name") if isinstance(recipe, Mapping) else recipe)
    flat = [(k, v) for k, v in _flatten(settings) if not isinstance(v, (list, tuple)) or len(v) <= 8]
    chosen = [(k, v) for k, v in flat if k in _RECIPE_KEYS or (k.startswith("losses.") and k.endswith(".weight"))]
    rows = [(k, _number(v)) for k, v in _flatten(dict(metrics or {}))
            if isinstance(v, (int, float, str, bool)) or v is None]
    if entry is not None and entry.license_id != "mit":
        license_text = f"The lifter is a derivative of its teacher, so the teacher's terms apply: {entry.license}."
    elif entry is not None:
        license_text = "MIT (the teacher is ganlift's procedural teacher, MIT-licensed like ganlift)."
    else:
        license_text = ("The lifter is a derivative of its teacher: the teacher checkpoint's license "
                        "applies (check where the checkpoint came from). ganlift itself is MIT-licensed.")
    return {
        "title": repo_id.split("/")[-1] if repo_id else f"ganlift lifter: {teacher['name']}",
        "ganlift_version": config.get("ganlift_version") or __version__,
        "teacher": teacher,
        "recipe_name": recipe_name or "unknown",
        "recipe_rows": [(k, _number(v)) for k, v in (chosen or flat[:30])],
        "steps": _steps(config, Path(folder) if folder is not None else None),
        "resolution": config.get("resolution") or config.get("size"),
        "metrics_rows": rows,
        "metrics_note": f"Measured on {metrics['n']} held-out samples." if rows and metrics.get("n") else None,
        "sample": sample,
        "usage_source": repo_id or "path/to/this/folder",
        "on_hub": repo_id is not None,
        "license_text": license_text,
    }


def card_data(config: Mapping[str, Any], metrics: Mapping[str, Any] | None = None,
              model_name: str | None = None):
    """The card's Hub metadata as a ``huggingface_hub.ModelCardData``.

    Licence and ``base_model`` come from the teacher's zoo entry (a lifter is a derivative of
    its teacher); every numeric metric of ``metrics`` becomes an ``EvalResult`` on the
    teacher's held-out codes.
    """
    from huggingface_hub import EvalResult, ModelCardData

    from ganlift.zoo import ZOO

    ref = dict(config.get("teacher") or {})
    name = ref.get("name", "unknown")
    entry = ZOO.get(name)
    license_id = entry.license_id if entry is not None else "other"
    results = [
        EvalResult(task_type=PIPELINE_TAG, task_name="3D lifting against the teacher's ground truth",
                   dataset_type=name, dataset_name=f"{name} (held-out codes)", metric_type=key,
                   metric_name=key, metric_value=value)
        for key, value in _flatten(dict(metrics or {})) if _is_metric(key, value)
    ]
    return ModelCardData(
        library_name="ganlift",
        license=license_id,
        license_name=((entry.license_name if entry else None) or "teacher-license") if license_id == "other" else None,
        tags=list(TAGS),
        pipeline_tag=PIPELINE_TAG,
        base_model=ref.get("repo_id") or (entry.repo_id if entry else None),
        model_name=model_name or f"ganlift-{name}",
        eval_results=results or None,
    )


def render_card(
    config: Mapping[str, Any],
    *,
    metrics: Mapping[str, Any] | None = None,
    repo_id: str | None = None,
    sample: str | None = None,
    folder: str | os.PathLike | None = None,
    template: str | os.PathLike | None = None,
) -> str:
    """Render the model card (Markdown with YAML metadata) of a lifter.

    Args:
        config: the lifter's config (as in ``config.json``).
        metrics: evaluation results (``metrics.json``), shown as a table and as ``eval_results``.
        repo_id: the Hub repo the card is for (used in the usage snippet).
        sample: relative path of a sample image to show.
        folder: the saved folder (its ``log.jsonl`` gives the training steps).
        template: another Jinja template file (default: ``model_cards/lifter.md.j2``); it
            receives the metadata block as ``card_data`` and :func:`card_context`'s values.

    Returns:
        The card's text (``str(huggingface_hub.ModelCard)``).
    """
    import jinja2
    from huggingface_hub import ModelCard

    from ganlift.utils.resources import data_dir

    path = Path(template) if template else data_dir("model_cards") / "lifter.md.j2"
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(path.parent)), undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False,
    )
    context = card_context(config, metrics=metrics, repo_id=repo_id, sample=sample, folder=folder)
    data = card_data(config, metrics, model_name=repo_id.split("/")[-1] if repo_id else None)
    return str(ModelCard(env.get_template(path.name).render(card_data=data.to_yaml(), **context)))


def read_metrics(folder: str | os.PathLike) -> dict | None:
    """``folder/metrics.json`` as a dict, or None when there is none.

    Raises:
        ValueError: the file is not valid JSON.
    """
    path = Path(folder) / "metrics.json"
    if not path.is_file():
        return None
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None
    return metrics if isinstance(metrics, dict) else {"value": metrics}


def write_card(folder: str | os.PathLike, *, repo_id: str | None = None) -> Path:
    """(Re)write ``folder/README.md`` from the folder's config, metrics, sample and log.

    Call it after adding ``metrics.json`` to a saved lifter so the card shows the evaluation.

    Returns:
        The path of the card.
    """
    from ganlift.hub import CARD_NAME, CONFIG_NAME, SAMPLE_NAME, read_config
    from ganlift.utils.io import write_text

    folder = Path(folder)
    sample = SAMPLE_NAME if (folder / SAMPLE_NAME).is_file() else None
    text = render_card(read_config(folder / CONFIG_NAME), metrics=read_metrics(folder), repo_id=repo_id,
                       sample=sample, folder=folder)
    write_text(folder / CARD_NAME, text)
    return folder / CARD_NAME
