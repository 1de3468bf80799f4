"""Share lifters: ``save_pretrained``, ``from_pretrained``, ``push_to_hub``, ``pull``.

:class:`HubMixin` gives ``Lifter`` the methods of ``huggingface_hub.PyTorchModelHubMixin``
with its argument names, but with strict loading of the folder format of :mod:`ganlift.saved`,
teacher resolution (:mod:`ganlift.teachers.reference`) and no pickle anywhere: only the
lifter's files (:data:`~ganlift.saved.REPO_FILES`) are ever uploaded or downloaded, and
``model.safetensors`` is the only weight format read. A download fetches ``config.json`` at
the requested revision, then one ``snapshot_download`` of the lifter's files at the commit
that resolved to; :func:`hub_errors` maps the Hub's errors for lifters and zoo teachers alike.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch

from ganlift import __version__
# The folder format's names stay importable from here (ganlift.hub.read_config, ...).
from ganlift.saved import (CARD_NAME, CONFIG_NAME, LIFTER_FILES, METRICS_NAME,  # noqa: F401
                           OPTIONAL_FILES, REPO_FILES, SAMPLE_NAME, WEIGHTS_NAME, check_folder,
                           load_weights, model_config, read_config, read_weights, save_weights)
from ganlift.utils.io import write_json


class LifterExistsError(FileExistsError, ValueError):
    """``pull`` was asked to write over another lifter's folder without ``overwrite``."""


# --------------------------------------------------------------------------------- Hub errors


@contextmanager
def hub_errors(what: str, *, repo_id: str, revision: str | None = None, filename: str | None = None,
               how: str = "", upload: bool = False) -> Iterator[None]:
    """Turn ``huggingface_hub``'s exceptions into ganlift's, with a message that says what to do.

    One mapping for lifters (this module) and zoo teachers (:mod:`ganlift.zoo`):
    not cached while offline, no such repo or file, no connection: ``FileNotFoundError``; no
    such revision: ``ValueError``; any other refusal by the Hub, or any failed push:
    ``RuntimeError``.

    Args:
        what: how messages name the thing transferred ("teacher 'afhq-cat'").
        repo_id, revision, filename: what was asked for.
        how: the remedy, appended to every message.
        upload: the transfer is a push (offline means "cannot push", not "not cached").
    """
    from huggingface_hub import errors

    revision = revision or "main"
    try:
        yield
    except (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled) as err:
        if upload:
            raise RuntimeError(f"{what}: cannot push while HF_HUB_OFFLINE=1 is set or the Hub is "
                               "unreachable") from None
        raise FileNotFoundError(f"{what} is not in the local Hugging Face cache and cannot be downloaded "
                                f"now (HF_HUB_OFFLINE=1 or no connection to the Hub). {how} "
                                f"({type(err).__name__})") from None
    except errors.RepositoryNotFoundError:
        raise FileNotFoundError(f"{what}: no Hub repo {repo_id!r} (or it is private: pass token=...). {how}") from None
    except errors.RevisionNotFoundError:
        raise ValueError(f"{what}: revision {revision!r} does not exist in the Hub repo {repo_id!r}; pass an "
                         f"existing branch, tag or full commit hash. {how}") from None
    except errors.EntryNotFoundError:
        raise FileNotFoundError(f"{what}: the Hub repo {repo_id!r} has no {filename} at revision "
                                f"{revision!r}. {how}") from None
    except errors.HfHubHTTPError as err:
        raise RuntimeError(f"{what}: the Hub refused ({err}). {how}") from None
    except OSError as err:  # connection and disk errors the client passes on
        raise (RuntimeError if upload else FileNotFoundError)(
            f"{what} could not be transferred ({type(err).__name__}: {err}). {how}") from None


def is_repo_id(text: str) -> bool:
    """True for "name" or "owner/name" as the Hub accepts them (``validate_repo_id``)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


# ------------------------------------------------------------------------------------ transfers


def _fetch_config(repo_id: str, revision: str | None, **hub: Any) -> tuple[Path, str | None]:
    """``config.json`` at ``revision`` (in the cache) and the commit it resolved to."""
    from huggingface_hub import hf_hub_download

    from ganlift.zoo import snapshot_commit

    what = f"{CONFIG_NAME} of {repo_id!r} (revision {revision or 'main'!r})"
    how = f"Download it once while online (ganlift pull {repo_id} --out DIR) and load the folder."
    with hub_errors(what, repo_id=repo_id, revision=revision, filename=CONFIG_NAME, how=how):
        path = Path(hf_hub_download(repo_id, CONFIG_NAME, revision=revision, library_name="ganlift",
                                    library_version=__version__, **hub))
    return path, snapshot_commit(path)


def _snapshot(repo_id: str, revision: str | None, commit: str | None, **hub: Any) -> Path:
    """The lifter's files at ``commit`` (``snapshot_download``), into the cache or ``local_dir``."""
    from huggingface_hub import snapshot_download

    what = f"the lifter {repo_id!r} (revision {revision or 'main'!r})"
    with hub_errors(what, repo_id=repo_id, revision=revision, how="Check the connection, or pass a local folder."):
        folder = Path(snapshot_download(repo_id, revision=commit or revision, allow_patterns=list(REPO_FILES),
                                        library_name="ganlift", library_version=__version__, **hub))
    if not (folder / WEIGHTS_NAME).is_file():
        raise FileNotFoundError(f"the Hub repo {repo_id!r} has no {WEIGHTS_NAME} at revision "
                                f"{revision or 'main'!r}: it is not a ganlift lifter repo (ganlift never loads "
                                "pickled pytorch_model.bin files)")
    return folder


def download_lifter(
    repo_id: str,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
) -> Path:
    """Download a lifter repo's files into the Hugging Face cache; return the snapshot folder.

    ``config.json`` is fetched at ``revision`` first; the commit it resolved to pins the other
    files, which one ``snapshot_download`` fetches (only the lifter's files). Works offline
    from the cache (``HF_HUB_OFFLINE=1``).

    Args:
        repo_id: "owner/name".
        revision: branch, tag or commit (default "main").
        cache_dir, token, local_files_only, force_download: as in ``snapshot_download``.

    Raises:
        FileNotFoundError: no such repo or file, or not cached while offline.
        ValueError: the revision does not exist.
        RuntimeError: another Hub error.
    """
    hub = dict(cache_dir=cache_dir, token=token, local_files_only=local_files_only, force_download=force_download)
    _, commit = _fetch_config(repo_id, revision, **hub)
    return _snapshot(repo_id, revision, commit, **hub)


def _lifter_in(folder: Path) -> tuple[str, str | None] | None:
    """``(description, weights sha256)`` of the lifter saved in ``folder``, or None for none."""
    if not (folder / CONFIG_NAME).is_file() and not (folder / WEIGHTS_NAME).is_file():
        return None
    try:
        config = read_config(folder / CONFIG_NAME)
    except (FileNotFoundError, ValueError) as err:
        return f"lifter files whose config cannot be read ({err})", None
    sha = config.get("weights_sha256")
    return (f"a lifter of teacher {config['teacher'].get('name')!r} (weights sha256 {str(sha)[:12]}..., "
            f"ganlift {config.get('ganlift_version')})"), sha


def pull(
    repo_id: str,
    out: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    force_download: bool = False,
    overwrite: bool = False,
) -> Path:
    """Download a lifter repo into the folder ``out`` (plain files, verified).

    Only the lifter files are fetched (model.safetensors, config.json, README.md, metrics.json,
    sample.png), with ``snapshot_download(local_dir=...)`` into a staging folder beside ``out``,
    checked, then moved in. Files of the lifter ``out`` held before that the repo does not have
    (``metrics.json``, ``sample.png``, ``README.md``, ``log.jsonl``) are removed, so nothing stale
    stays beside the new weights. The result loads with ``Lifter.from_pretrained(out)``.

    Args:
        repo_id: "owner/name".
        out: the folder (created when missing).
        revision: branch, tag or commit (default "main").
        cache_dir, token, force_download: as in ``snapshot_download``.
        overwrite: replace another lifter already saved in ``out`` (refused otherwise).

    Returns:
        ``out`` as a Path.

    Raises:
        LifterExistsError: ``out`` holds another lifter and ``overwrite`` is false (a
            ``FileExistsError`` and a ``ValueError``).
    """
    out = Path(out)
    hub = dict(token=token, force_download=force_download)
    config_path, commit = _fetch_config(repo_id, revision, cache_dir=cache_dir, **hub)
    there = _lifter_in(out) if out.is_dir() else None
    new_hash = read_config(config_path).get("weights_sha256")
    if there and not overwrite and (not new_hash or there[1] != new_hash):
        raise LifterExistsError(f"{out} already holds {there[0]}; pulling {repo_id!r} would replace it. "
                                "Pass overwrite=True (CLI --overwrite) to replace it, or choose another folder.")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.pull-", dir=out.parent) as staging:
        folder = _snapshot(repo_id, revision, commit, local_dir=staging, **hub)
        check_folder(folder)
        out.mkdir(exist_ok=True)
        for name in LIFTER_FILES:  # the old lifter's files the new one does not replace
            if not (folder / name).is_file():
                (out / name).unlink(missing_ok=True)
        for name in sorted(REPO_FILES, key=lambda n: n in (CONFIG_NAME, WEIGHTS_NAME)):  # weights last
            if (folder / name).is_file():
                os.replace(folder / name, out / name)
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

    Only the lifter files are uploaded (never logs, checkpoints or pickles); optional files the
    repo has and the folder lacks are deleted in the same commit, so the repo never pairs new
    weights with an old card, metrics or sample. The model card is re-rendered for ``repo_id``
    unless ``regenerate_card`` is false and the folder has its own README.md.

    Returns:
        The URL of the commit (or of the pull request with ``create_pr``).

    Raises:
        FileNotFoundError, ValueError: the folder is not a complete, intact saved lifter.
        RuntimeError: the Hub refused the upload.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    from ganlift.card import read_metrics, render_card

    if not is_repo_id(repo_id):
        raise ValueError(f"repo_id must look like 'owner/name', got {repo_id!r}")
    folder = Path(folder)
    config = check_folder(folder)
    files = {name: str(folder / name) for name in REPO_FILES if (folder / name).is_file()}
    if regenerate_card or CARD_NAME not in files:
        files[CARD_NAME] = render_card(config, metrics=read_metrics(folder), repo_id=repo_id, folder=folder,
                                       sample=SAMPLE_NAME if SAMPLE_NAME in files else None).encode("utf-8")
    api = HfApi(library_name="ganlift", library_version=__version__, token=token)
    with hub_errors(f"pushing to {repo_id!r}", repo_id=repo_id, revision=revision, upload=True,
                    how="Create the branch first, or check the token's write access."):
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        present = set(api.list_repo_files(repo_id, revision=revision))
        operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=data) for name, data in files.items()]
        operations += [CommitOperationDelete(path_in_repo=name) for name in OPTIONAL_FILES
                       if name in present and name not in files]
        info = api.create_commit(repo_id, operations, revision=revision, create_pr=create_pr, repo_type="model",
                                 commit_message=commit_message or f"Upload ganlift lifter ({__version__})")
    return info.pr_url if create_pr and info.pr_url else info.commit_url


# ---------------------------------------------------------------------------------------- mixin


def _renamed(call: str, given: dict, names: Mapping[str, str]) -> dict:
    """Old keyword names still accepted (with a DeprecationWarning) -> their new names."""
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise TypeError(f"{call}() got unexpected keyword argument(s) {', '.join(unknown)}")
    for old, new in names.items():
        if old in given:
            warnings.warn(f"{call}({old}=...) is deprecated; use {new}=...", DeprecationWarning, stacklevel=3)
    return {names[k]: v for k, v in given.items()}


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
        """Rebuild the model (untrained) from ``config`` around ``teacher``."""
        raise NotImplementedError(f"{cls.__name__} must implement from_config(config, teacher)")

    def save_pretrained(self, save_directory: str | os.PathLike, *, metrics: Mapping[str, Any] | None = None,
                        sample: bool = True, repo_id: str | None = None) -> Path:
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
        from ganlift.card import write_card
        from ganlift.teachers.reference import complete_reference
        from ganlift.utils.images import save_grid

        folder = Path(save_directory)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"save_directory {str(folder)!r} exists and is not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        config = dict(getattr(self, "config", None) or {})
        config["teacher"] = complete_reference(config.get("teacher"), getattr(self, "teacher", None))
        config["ganlift_version"] = __version__
        config["weights_sha256"] = save_weights(self, folder / WEIGHTS_NAME)
        try:
            write_json(folder / CONFIG_NAME, config)
        except TypeError as err:
            raise ValueError(f"the lifter's config is not JSON-serialisable: {err}") from None
        if metrics is not None:
            write_json(folder / METRICS_NAME, dict(metrics))
        if sample:
            try:
                images = self.hub_preview()
            except Exception as err:  # the card is optional: report, don't fail the save
                warnings.warn(f"no sample image for the model card: {type(err).__name__}: {err}", stacklevel=2)
                images = None
            if images is not None:
                save_grid(images, folder / SAMPLE_NAME, nrow=images.shape[0] // 2)
        write_card(folder, repo_id=repo_id)
        return folder

    def hub_preview(self, n: int = 8, seed: int = 0) -> torch.Tensor | None:
        """Images for the model card: (2n, 3, H, W) in [0, 1], or None for no sample.

        Default: :func:`ganlift.training.previews.card_sample` (the teacher's images above
        the lifter's renders of the same ``n`` codes).
        """
        from ganlift.training.previews import card_sample

        return card_sample(self, n, seed)  # type: ignore[arg-type]

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike | None = None,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        force_download: bool = False,
        token: str | bool | None = None,
        local_files_only: bool = False,
        teacher: Any = None,
        force_teacher: bool = False,
        device: str | torch.device | None = None,
        **deprecated: Any,
    ):
        """Load a lifter from a saved folder or a Hub repo, with its teacher.

        Example:
            >>> lifter = Lifter.from_pretrained("runs/demo")
            >>> lifter = Lifter.from_pretrained("me/ganlift-faces", revision="v1")
            >>> lifter = Lifter.from_pretrained("me/ganlift-faces", teacher="ckpt/ffhq-256.pkl")

        Args:
            pretrained_model_name_or_path: a folder written by ``save_pretrained`` or a Hub
                repo id ("owner/name"). The old name ``source=`` still works, with a
                DeprecationWarning.
            revision: branch, tag or commit of a Hub repo.
            cache_dir: Hugging Face cache folder (lifter and zoo teacher files).
            force_download: download the files again even when cached.
            token: Hub token for private repos.
            local_files_only: do not use the network, only the cache.
            teacher: None to resolve the recorded teacher (zoo name, registered name, Hub file
                or the recorded local path), or a Teacher, name or local checkpoint path.
            force_teacher: accept a teacher whose sha256/options differ from the recorded one.
            device: move the loaded lifter there (default: CPU).

        Returns:
            The lifter in eval mode.

        Raises:
            FileNotFoundError: no such folder/repo/file, or not cached while offline.
            ValueError: a corrupt or truncated file, weights that do not fit, a wrong revision,
                or a teacher whose hash differs (``TeacherMismatchError``; see ``force_teacher``).
        """
        from ganlift.teachers.reference import resolve_teacher

        source = _renamed("from_pretrained", deprecated, {"source": "pretrained_model_name_or_path"}).get(
            "pretrained_model_name_or_path", pretrained_model_name_or_path)
        if source is None:
            raise TypeError("from_pretrained() needs pretrained_model_name_or_path (a folder or a Hub repo id)")
        hub = dict(cache_dir=cache_dir, token=token, local_files_only=local_files_only)
        folder = _locate(source, revision=revision, force_download=force_download, **hub)
        config = check_folder(folder)
        state = read_weights(folder / WEIGHTS_NAME)
        resolved = resolve_teacher(config["teacher"], teacher, force=force_teacher, **hub)
        model = cls.from_config(model_config(config), resolved)
        load_weights(model, state, source=str(folder / WEIGHTS_NAME))
        if device is not None:
            model = model.to(device)
        return model.eval()

    def push_to_hub(
        self,
        repo_id: str,
        *,
        commit_message: str | None = None,
        private: bool | None = None,
        token: str | bool | None = None,
        branch: str | None = None,
        create_pr: bool = False,
        metrics: Mapping[str, Any] | None = None,
        sample: bool = True,
        **deprecated: Any,
    ) -> str:
        """Save the lifter to a temporary folder and upload it to the Hub model repo ``repo_id``.

        Creates the repo when missing. Only the lifter files are uploaded (weights, config, card,
        and the sample/metrics when present).

        Args:
            repo_id: "owner/name".
            commit_message: the commit's message.
            private: create the repo as private.
            token: Hub token (default: the logged-in one / ``HF_TOKEN``).
            branch: existing branch to commit to (default main). The old name ``revision=``
                still works, with a DeprecationWarning.
            create_pr: open a pull request instead of committing.
            metrics: evaluation results to upload as ``metrics.json``.
            sample: upload ``sample.png``.

        Returns:
            The URL of the commit (or pull request).
        """
        branch = _renamed("push_to_hub", deprecated, {"revision": "branch"}).get("branch", branch)
        with tempfile.TemporaryDirectory(prefix="ganlift-push-") as tmp:
            self.save_pretrained(tmp, metrics=metrics, sample=sample, repo_id=repo_id)
            return push_folder(tmp, repo_id, private=private, token=token, revision=branch,
                               commit_message=commit_message, create_pr=create_pr)


def _locate(source: str | os.PathLike, *, revision: str | None, **hub: Any) -> Path:
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
    text = text.removeprefix("hf://")
    if text.startswith((".", "/", "~")) or text.endswith((".json", ".safetensors")) or not is_repo_id(text):
        raise FileNotFoundError(f"no lifter folder {text!r} (and it is not a Hub repo id like 'owner/name')")
    return download_lifter(text, revision=revision, **hub)


def __getattr__(name: str) -> Any:
    # The model card moved to ganlift.card; these names stay importable from here.
    if name in ("render_card", "write_card", "card_context"):
        from ganlift import card

        return getattr(card, name)
    raise AttributeError(f"module 'ganlift.hub' has no attribute {name!r}")


__all__ = [
    "HubMixin",
    "save_weights",
    "read_weights",
    "load_weights",
    "read_config",
    "check_folder",
    "download_lifter",
    "pull",
    "push_folder",
    "hub_errors",
    "is_repo_id",
    "LifterExistsError",
    "WEIGHTS_NAME",
    "CONFIG_NAME",
    "CARD_NAME",
    "METRICS_NAME",
    "SAMPLE_NAME",
]
