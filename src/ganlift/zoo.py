"""The teacher zoo: pretrained StyleGAN2 checkpoints described as data.

Each :class:`ZooEntry` names where a teacher lives on the Hugging Face Hub (repo id, file,
revision), how to check it (sha256), how to read it (format), and what it is for (resolution,
recommended recipe, license). Downloadable entries are registered in
``ganlift.teachers.TEACHERS``, so ``ganlift.load_teacher("afhq-cat")`` downloads the file with
``hf_hub_download`` (library name ``"ganlift"``) into the Hugging Face cache, verifies its
sha256 and loads it with :func:`ganlift.teachers.files.load_teacher_file`.

Honest status of the data: the repo ids and file names come from public listings; the
machines ganlift was built on cannot reach the Hub, so the files were never downloaded there
and their sha256 is not pinned (``sha256=None``). An entry
without a pinned hash is loaded unverified and the hash actually seen is recorded in the
teacher's ``reference()``, so every lifter trained on it pins it, and loading that lifter
later refuses a different file. Pin a hash yourself with ``load_teacher(name, sha256=...)``.

Safety: files fetched from the Hub are read only through safetensors or
``torch.load(weights_only=True)`` (rosinality ``.pt``). NVIDIA ``.pkl`` files are pickles:
ganlift never downloads one itself. A pickle entry (``ffhq-256``) loads only a copy the user
downloaded, looked up in this order: the Hugging Face cache (``hf download REPO FILE``; looked
up with ``hf_hub_download(..., local_files_only=True)``, which never touches the network), then
``$GANLIFT_HOME/teachers/<file name>`` (``GANLIFT_HOME`` defaults to ``~/.cache/ganlift``).
The copy is checked against the entry's sha256 when one is pinned and read with
:func:`ganlift.teachers.nvidia.load_nvidia_pickle`, a restricted unpickler that runs no code
from the file. Without a copy the error names both places and ``--teacher path/to/file.pkl``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ganlift.teachers import TEACHERS
from ganlift.teachers.reference import TeacherMismatchError
from ganlift.utils.io import ganlift_home, sha256_file

# Formats a zoo entry may have. "builtin": generated in code (nothing to download);
# "packaged": a ganlift teacher file shipped inside the package (PACKAGED_DIR).
FORMATS = ("rosinality", "ganlift", "nvidia-pkl", "builtin", "packaged")
PACKAGED_DIR = Path(__file__).resolve().parent / "teachers" / "weights"
PICKLE_SUFFIXES = (".pkl", ".pickle")
DEFAULT_ENDPOINT = "https://huggingface.co"


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


@dataclass(frozen=True)
class ZooEntry:
    """One teacher of the zoo.

    Attributes:
        name: the registered name (``load_teacher(name)``).
        description: one line for listings and model cards.
        resolution: output size of the generator (pixels).
        recipe: the recommended recipe name (``ganlift.recipe``).
        license: licence of the weights in words (and of the data they were trained on).
        license_id: the Hub licence identifier used in model cards ("mit", "other", ...).
        license_name: a short name for an "other" licence (model card metadata).
        format: "rosinality" (``.pt``), "ganlift" (safetensors), "nvidia-pkl", "builtin" or
            "packaged" (a ganlift safetensors file in :data:`PACKAGED_DIR`).
        repo_id: Hub repository holding the file (None for builtin and packaged teachers).
        filename: path of the file inside the repository (or inside :data:`PACKAGED_DIR`).
        revision: branch, tag or commit to download.
        sha256: expected sha256 of the file, or None when not pinned yet.
        homepage: where to read about the file or fetch it by hand.
        notes: caveats (e.g. what was not verified).
        options: keyword options passed to the file loader.
        pseudo_truth: for GAN teachers without 3D truth, how :mod:`ganlift.eval` makes pseudo
            truth: ``{"model": synthetic teacher name, "fits": packaged file of the fitted
            evaluation codes}`` (see :mod:`ganlift.eval.pseudo`).
    """

    name: str
    description: str
    resolution: int
    recipe: str
    license: str
    format: str
    license_id: str = "other"
    license_name: str | None = None
    repo_id: str | None = None
    filename: str | None = None
    revision: str = "main"
    sha256: str | None = None
    homepage: str | None = None
    notes: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    pseudo_truth: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"zoo entry {self.name!r}: format must be one of {FORMATS}, got {self.format!r}")
        if self.format == "packaged":
            if not (self.filename and self.sha256):
                raise ValueError(f"zoo entry {self.name!r}: a packaged teacher needs filename and sha256")
        elif self.format != "builtin" and not (self.repo_id and self.filename):
            raise ValueError(f"zoo entry {self.name!r}: format {self.format!r} needs repo_id and filename")
        if self.sha256 is not None and (len(self.sha256) != 64 or not _is_hex(self.sha256)):
            raise ValueError(f"zoo entry {self.name!r}: sha256 must be 64 hex digits, got {self.sha256!r}")

    @property
    def downloadable(self) -> bool:
        """True when ganlift downloads and loads the file itself (not builtin, not a pickle)."""
        return self.format in ("rosinality", "ganlift")

    @property
    def url(self) -> str | None:
        """Web address of the file on the Hub (None for builtin teachers)."""
        if not self.repo_id:
            return None
        endpoint = os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")
        return f"{endpoint}/{self.repo_id}/blob/{self.revision}/{self.filename}"


ZOO: dict[str, ZooEntry] = {}

_NVIDIA_NC = "NVIDIA Source Code License-NC (non-commercial use only)"

def _shipped_gan(kind: str, recipe: str, sha256: str) -> ZooEntry:
    """The zoo entry of a GAN ganlift trained on renders of ``synthetic-<kind>`` (64 px),
    shipped in :data:`PACKAGED_DIR` with the pseudo-truth fits of its evaluation codes."""
    name = f"gan-{kind}-64"
    return ZooEntry(
        name=name,
        description=f"A StyleGAN2 (rosinality layout, 64 px) trained by ganlift on renders of synthetic-{kind}; "
        "scored against pseudo truth (docs: GAN teachers).",
        resolution=64,
        recipe=recipe,
        license="MIT (part of ganlift)",
        license_id="mit",
        format="packaged",
        filename=f"{name}.safetensors",
        sha256=sha256,
        pseudo_truth={"model": f"synthetic-{kind}", "fits": f"{name}.fits.safetensors"},
    )


BUILTIN_ENTRIES = (
    ZooEntry(
        name="ffhq-256",
        description="StyleGAN2 config-f on FFHQ faces at 256x256 (NVIDIA's stylegan2-ffhq-256x256); "
        "the paper's face setting.",
        resolution=256,
        recipe="faces",
        license=f"{_NVIDIA_NC}; FFHQ images CC BY-NC-SA 4.0",
        license_name="nvidia-source-code-license-nc",
        format="nvidia-pkl",
        repo_id="ZeqiangLai/StyleGAN2-pkl",
        filename="stylegan2-ffhq-256x256.pkl",
        homepage="https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan2/versions/1/files/"
        "stylegan2-ffhq-256x256.pkl",
        notes="NVIDIA pickle: ganlift never downloads it; it loads a copy you downloaded (Hugging Face "
        "cache or $GANLIFT_HOME/teachers/) with its restricted unpickler. "
        "The Hub mirror is a public listing; that it holds this exact file name is not verified.",
    ),
    ZooEntry(
        name="afhq-cat",
        description="StyleGAN2-ADA on AFHQ cats at 512x512, converted to the rosinality layout.",
        resolution=512,
        recipe="cats",
        license=f"{_NVIDIA_NC} (StyleGAN2-ADA weights); AFHQ images CC BY-NC 4.0",
        license_name="nvidia-source-code-license-nc",
        format="rosinality",
        repo_id="ZeqiangLai/StyleGAN2",
        filename="ada/afhqcat.pt",
        notes="Repo and file name from public listings; sha256 not pinned (the Hub is not reachable "
        "from where ganlift was built): the first download's hash is recorded in every lifter.",
    ),
    ZooEntry(
        name="synthetic-faces",
        description="Procedural symmetric faces with known depth, albedo, pose and light (CPU-sized).",
        resolution=64,
        recipe="synthetic",
        license="MIT (part of ganlift)",
        license_id="mit",
        format="builtin",
    ),
    ZooEntry(
        name="synthetic-cats",
        description="Procedural symmetric cat heads (ears, snout) with known 3D truth (CPU-sized).",
        resolution=64,
        recipe="synthetic-cats",
        license="MIT (part of ganlift)",
        license_id="mit",
        format="builtin",
    ),
    _shipped_gan("faces", "synthetic", "3f274d49026cf39cf2efe604a6dd45ce09d8f8ebfe31c2281fbd99470df0fcb4"),
    _shipped_gan("cats", "synthetic-cats", "3c24d6a2fd40eeecf9a9cf5d78dbca14e3ad4c93abdb589b6d968e1fe6248e69"),
)


def register_entry(entry: ZooEntry, *, overwrite: bool = False) -> ZooEntry:
    """Add ``entry`` to the zoo; non-builtin entries also become teachers (``load_teacher(name)``).

    Builtin entries only describe teachers that their own module registers (the synthetic ones).

    Raises:
        ValueError: the name is taken and ``overwrite`` is false.
    """
    if entry.name in ZOO and not overwrite and ZOO[entry.name] != entry:
        raise ValueError(f"a zoo entry named {entry.name!r} exists; pass overwrite=True to replace it")
    ZOO[entry.name] = entry
    if entry.format != "builtin":
        TEACHERS.register(entry.name, _factory(entry.name), overwrite=True)
    return entry


def _factory(name: str):
    def load(**options: Any):
        return load_zoo_teacher(name, **options)

    load.__name__ = f"load_{name.replace('-', '_')}"
    load.recommended_recipe = ZOO[name].recipe  # read by ganlift.recipe.recommended_recipe
    load.__doc__ = f"Download (once), verify and load the zoo teacher {name!r}."
    return load


def get_entry(name: str) -> ZooEntry:
    """The zoo entry ``name``; KeyError lists the known ones."""
    try:
        return ZOO[name]
    except KeyError:
        raise KeyError(f"no zoo entry {name!r}; known: {', '.join(sorted(ZOO))}") from None


def entries() -> list[ZooEntry]:
    """All zoo entries, sorted by name."""
    return [ZOO[k] for k in sorted(ZOO)]


# ---------------------------------------------------------------------------------------------
# Downloading (sha256_file, imported above from ganlift.utils.io, stays importable from here)
# ---------------------------------------------------------------------------------------------


def manual_instructions(repo_id: str, filename: str, revision: str = "main",
                        homepage: str | None = None) -> str:
    """How to get a teacher file by hand and use the local copy."""
    endpoint = os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")
    local = Path(filename).name
    where = f"{endpoint}/{repo_id}/blob/{revision}/{filename}"
    if homepage:
        where += f" (or {homepage})"
    return (
        f"Get the file {filename!r} from {where}, e.g. `hf download {repo_id} {filename} "
        f"--revision {revision} --local-dir teachers/`, then use the local copy: "
        f"`--teacher path/to/{local}` on the command line, or teacher='path/to/{local}' in Python."
    )


def is_pickle_entry(entry: ZooEntry) -> bool:
    """True for entries whose file is a pickle (ganlift never downloads those)."""
    return entry.format == "nvidia-pkl" or bool(entry.filename and entry.filename.lower().endswith(PICKLE_SUFFIXES))


def pickle_instructions(entry: ZooEntry, revision: str | None = None,
                        cache_dir: str | os.PathLike | None = None) -> str:
    """Where ganlift looks for a user-downloaded pickle and how to put it there."""
    revision = revision or entry.revision
    local = Path(entry.filename).name
    command = f"hf download {entry.repo_id} {entry.filename}"
    if revision != "main":
        command += f" --revision {revision}"
    if cache_dir is not None:
        command += f" --cache-dir {cache_dir}"
    where = entry.url + (f" or {entry.homepage}" if entry.homepage else "")
    return (
        f"Download it yourself, then ganlift finds it: either run `{command}` (ganlift looks in the "
        f"Hugging Face cache without downloading), or get it from {where} and put it at "
        f"{ganlift_home() / 'teachers' / local} ($GANLIFT_HOME/teachers/; GANLIFT_HOME defaults to "
        "~/.cache/ganlift). "
        f"Or pass the file directly: `--teacher path/to/{local}` on the command line, or "
        f"teacher='path/to/{local}' in Python. A local .pkl is read with ganlift's restricted "
        "unpickler, which runs no code from the file."
    )


def find_user_copy(entry: ZooEntry, *, revision: str | None = None,
                   cache_dir: str | os.PathLike | None = None) -> tuple[Path, str | None] | None:
    """A copy of ``entry``'s file that the user downloaded, without any network access.

    Looks in the Hugging Face cache (``hf_hub_download(..., local_files_only=True)``), then in
    ``ganlift_home() / "teachers" / <file name>``.

    Returns:
        ``(path, commit)`` (commit None outside the Hugging Face cache), or None if not found.
    """
    if not entry.repo_id or not entry.filename:
        return None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, OfflineModeIsEnabled

    try:
        # local_files_only: a cache lookup only. A pickle is never downloaded by ganlift.
        found = Path(hf_hub_download(entry.repo_id, entry.filename, revision=revision or entry.revision,
                                     cache_dir=cache_dir, local_files_only=True))
        if found.is_file():
            return found, snapshot_commit(found)
    except (EntryNotFoundError, OfflineModeIsEnabled, FileNotFoundError):
        pass
    home = ganlift_home() / "teachers" / Path(entry.filename).name
    if home.is_file():
        return home, None
    return None


def fetch_teacher_file(
    repo_id: str,
    filename: str,
    *,
    revision: str | None = "main",
    sha256: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
    label: str | None = None,
    homepage: str | None = None,
) -> tuple[Path, str, str | None]:
    """Download a teacher checkpoint from the Hub into the Hugging Face cache and verify it.

    Args:
        repo_id: Hub repository ("owner/name").
        filename: file inside the repository; a pickle (``.pkl``) is refused before download.
        revision: branch, tag or commit.
        sha256: expected hash; None skips the check (the hash is returned either way).
        cache_dir: Hugging Face cache folder (default: ``HF_HUB_CACHE``).
        token: Hub token for private repos.
        local_files_only: only look in the cache.
        force_download: download again even when cached.
        label: how error messages name the teacher (e.g. "teacher 'afhq-cat'").
        homepage: extra place to fetch the file by hand, for error messages.

    Returns:
        ``(path, sha256, commit)``: the cached file, its sha256 and the commit it came from.

    Raises:
        TeacherMismatchError: the file's sha256 differs from ``sha256`` (a ``ValueError``).
        ValueError: a pickle was asked for, or the revision does not exist.
        FileNotFoundError: the file could not be downloaded (offline, missing repo or file);
            the message says which file to get and how to pass a local copy.
        RuntimeError: the Hub refused the download (see :func:`ganlift.hub.hub_errors`).
    """
    label = label or f"teacher file {repo_id}/{filename}"
    revision = revision or "main"
    how = manual_instructions(repo_id, filename, revision, homepage)
    if filename.lower().endswith(PICKLE_SUFFIXES):
        raise ValueError(
            f"{label} is a pickle ({filename}); ganlift never loads pickles fetched from the Hub. "
            f"{how} A local .pkl is read with ganlift's restricted unpickler, which runs no code "
            "from the file."
        )
    from huggingface_hub import hf_hub_download

    from ganlift import __version__
    from ganlift.hub import hub_errors

    with hub_errors(label, repo_id=repo_id, revision=revision, filename=filename, how=how):
        path = hf_hub_download(
            repo_id, filename, revision=revision, cache_dir=cache_dir, token=token,
            local_files_only=local_files_only, force_download=force_download,
            library_name="ganlift", library_version=__version__,
        )
    path = Path(path)
    actual = sha256_file(path)
    if sha256 is not None and actual.lower() != sha256.lower():
        raise TeacherMismatchError(
            f"sha256 mismatch for {label} ({repo_id}/{filename} at {revision}): expected {sha256}, "
            f"got {actual}. The file on the Hub changed or the download is corrupt, so ganlift refuses "
            f"it. Remove the cached copy ({path}) to download it again, pin the revision that has the "
            "expected file, or, if you trust this file, pass it as a local path: "
            f"--teacher {path} (Python: teacher='{path}')."
        )
    return path, actual, snapshot_commit(path)


def snapshot_commit(path: str | os.PathLike) -> str | None:
    """The commit of a file in the Hugging Face cache (``.../snapshots/<commit>/<file>``)."""
    for parent in Path(path).parents:  # the file may sit in a sub-folder of the snapshot
        if parent.parent.name == "snapshots":
            return parent.name
    return None


def cached_path(entry: ZooEntry, cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The cached file of a downloadable entry, or None when it is not in the local cache."""
    if not entry.repo_id or not entry.filename:
        return None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(entry.repo_id, entry.filename, cache_dir=cache_dir, revision=entry.revision)
    return Path(found) if isinstance(found, str) else None


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def load_zoo_teacher(
    name: str,
    *,
    sha256: str | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
    **options: Any,
):
    """Download (once), verify and load the zoo teacher ``name``.

    Args:
        name: a zoo entry name (see ``ganlift teachers``).
        sha256: expected file hash; overrides the entry's pinned hash (a lifter passes the hash
            of the teacher it was trained on).
        revision: overrides the entry's revision (branch, tag or commit).
        cache_dir, token, local_files_only, force_download: as in ``hf_hub_download``.
        **options: passed to :func:`ganlift.teachers.files.load_teacher_file` (merged over the
            entry's own options).

    Returns:
        A frozen teacher whose ``name`` is ``name`` and whose ``reference()`` records the repo,
        file, resolved commit and the sha256 of the file actually loaded.

    Raises:
        TeacherMismatchError: the file's sha256 differs (a ``ValueError``).
        ValueError: the entry is a pickle that the user has not downloaded (ganlift never
            downloads pickles; the message says where to put the file), or no such revision.
        FileNotFoundError: not downloadable now; the message says how to use a local copy.
    """
    entry = get_entry(name)
    if entry.format == "builtin":
        return TEACHERS.get(name)(**options)
    if entry.format == "packaged":
        return _load_packaged(entry, sha256=sha256, **options)
    if is_pickle_entry(entry):
        return _load_user_pickle(entry, sha256=sha256 or entry.sha256, revision=revision,
                                 cache_dir=cache_dir, **options)
    path, actual, commit = fetch_teacher_file(
        entry.repo_id, entry.filename, revision=revision or entry.revision,
        sha256=sha256 or entry.sha256, cache_dir=cache_dir, token=token,
        local_files_only=local_files_only, force_download=force_download,
        label=f"teacher {name!r}", homepage=entry.homepage,
    )
    merged = {**dict(entry.options), **options}
    return _as_zoo_teacher(load_file(path, **merged), entry, actual, commit or revision, merged)


def _as_zoo_teacher(teacher, entry: ZooEntry, sha256: str, revision: str | None, options: Mapping[str, Any]):
    """Name a loaded teacher after its entry and record where it came from (its reference)."""
    teacher.recommended_recipe = entry.recipe
    return set_reference(teacher, {
        "name": entry.name, "repo_id": entry.repo_id, "filename": entry.filename,
        "revision": revision or entry.revision, "sha256": sha256, "format": entry.format, **options,
    })


def _load_packaged(entry: ZooEntry, *, sha256: str | None, **options: Any):
    """Load a teacher shipped in the package, after checking its hash."""
    path = PACKAGED_DIR / str(entry.filename)
    if not path.is_file():
        raise FileNotFoundError(f"teacher {entry.name!r}: {path} is missing from this ganlift install; "
                                "reinstall ganlift (the file ships in the wheel)")
    actual = sha256_file(path)
    for expected in {entry.sha256, sha256} - {None}:
        if actual.lower() != str(expected).lower():
            raise TeacherMismatchError(f"sha256 mismatch for teacher {entry.name!r} ({path}): expected "
                                       f"{expected}, got {actual}; the file is not the one this ganlift shipped")
    merged = {**dict(entry.options), **options}
    teacher = _as_zoo_teacher(load_file(path, **merged), entry, actual, None, merged)
    teacher.pseudo_truth = dict(entry.pseudo_truth) if entry.pseudo_truth else None
    return teacher


def _load_user_pickle(entry: ZooEntry, *, sha256: str | None, revision: str | None,
                      cache_dir: str | os.PathLike | None, **options: Any):
    """Load a pickle entry from a copy the user downloaded (see :func:`find_user_copy`)."""
    label = f"teacher {entry.name!r}"
    found = find_user_copy(entry, revision=revision, cache_dir=cache_dir)
    if found is None:
        raise ValueError(
            f"{label} is a pickle ({entry.filename}) and no downloaded copy was found; ganlift never "
            "downloads a pickle itself and never loads pickles fetched from the Hub by itself. "
            + pickle_instructions(entry, revision, cache_dir)
        )
    path, commit = found
    actual = sha256_file(path)
    if sha256 is not None and actual.lower() != sha256.lower():
        raise TeacherMismatchError(
            f"sha256 mismatch for {label} ({path}): expected {sha256}, got {actual}. The file is not "
            f"the expected one (corrupt or a different file), so ganlift refuses it. Remove it and "
            f"download it again, or, if you trust this file, pass it as a local path: --teacher {path} "
            f"(Python: teacher='{path}')."
        )
    from ganlift.teachers.nvidia import load_nvidia_pickle

    merged = {**dict(entry.options), **options}
    return _as_zoo_teacher(load_nvidia_pickle(path, **merged).freeze(), entry, actual, commit or revision, merged)


def load_file(path: str | os.PathLike, **options: Any):
    """Load a teacher checkpoint with ``ganlift.teachers.files.load_teacher_file`` (frozen)."""
    from ganlift.teachers.files import load_teacher_file

    return load_teacher_file(path, **options).freeze()


def set_reference(teacher, reference: dict):
    """Make ``teacher.reference()`` return ``reference`` and ``teacher.name`` its name.

    A zoo teacher is loaded from a file, whose loader describes it by path; the lifter must
    instead record the zoo name, repo, commit and hash so that it can find the teacher again
    on another machine. An instance attribute overrides the method for this object only.
    """
    frozen = dict(reference)
    teacher.name = frozen["name"]
    teacher.reference = lambda: dict(frozen)
    return teacher


for _entry in BUILTIN_ENTRIES:
    register_entry(_entry)

__all__ = [
    "ZooEntry",
    "ZOO",
    "register_entry",
    "get_entry",
    "entries",
    "load_zoo_teacher",
    "fetch_teacher_file",
    "cached_path",
    "find_user_copy",
    "ganlift_home",
    "manual_instructions",
]
