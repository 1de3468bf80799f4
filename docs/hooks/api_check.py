"""mkdocs hook: the API reference must cover every public module, with docstrings that fit.

Warnings (which fail ``mkdocs build --strict``) for:

* a public module of ``ganlift`` that no ``::: module`` block in ``docs/api/*.md`` renders
  (mkdocstrings would silently leave it out of the reference);
* a public class or function (listed in ``__all__``, or not starting with ``_``) without a
  docstring (mkdocstrings hides those, so they would be missing from the reference too);
* a docstring whose ``Args:`` name an argument the signature does not have (related
  arguments documented together, ``"yaw, pitch, roll: ..."``, count as one entry each).
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.plugins import get_plugin_logger

log = get_plugin_logger(__name__)

PACKAGE = "ganlift"
# Internal building blocks: public names, but not part of the documented API.
INTERNAL = (
    "ganlift.commands",  # documented as the command line (docs/cli.md)
    "ganlift.teachers.synthetic_faces",  # procedural parts of the synthetic teachers
    "ganlift.teachers.synthetic_cats",
    "ganlift.teachers.synthetic_parts",
    "ganlift.teachers.synthetic_cars",
)
BLOCK = re.compile(r"^:::\s+([\w.]+)", re.M)


def _internal(path: str) -> bool:
    return any(path == p or path.startswith(p + ".") for p in INTERNAL)


def _public(module):
    """The classes and functions a module defines and makes public."""
    names = [str(n) for n in module.exports] if module.exports is not None else None
    for name, member in module.members.items():
        if member.is_alias or member.kind.value not in ("class", "function"):
            continue
        if (name in names) if names is not None else not name.startswith("_"):
            yield member


def _documented_args(obj) -> set[str]:
    names: set[str] = set()
    for section in obj.docstring.parse("google", warn_unknown_params=False, warn_missing_types=False):
        if section.kind.value in ("parameters", "other parameters"):
            for param in section.value:
                names.update(n.strip().lstrip("*") for n in param.name.split(","))
    return names


def _check_args(fn, where: str) -> None:
    if fn.docstring is None:
        return
    signature = {p.name for p in fn.parameters}
    stale = sorted(n for n in _documented_args(fn) if n and n not in signature)
    if stale:
        log.warning(f"{where}: the docstring documents {', '.join(stale)}, not in the signature")


def on_pre_build(config) -> None:
    import griffe

    src = Path(config["config_file_path"]).parent / "src"
    package = griffe.load(PACKAGE, search_paths=[str(src)], docstring_parser="google",
                          allow_inspection=False)
    api = Path(config["docs_dir"]) / "api"
    rendered = set()
    for page in sorted(api.glob("*.md")):
        rendered.update(BLOCK.findall(page.read_text(encoding="utf-8")))

    def covered(path: str) -> bool:
        return any(r == path or r.startswith(path + ".") for r in rendered)

    def walk(module) -> None:
        if _internal(module.path):
            return
        members = list(_public(module))
        own = [m for m in module.members.values() if not m.is_alias and not m.name.startswith("_")]
        if own and not covered(module.path):
            log.warning(f"API reference: no '::: {module.path}' block in docs/api/*.md")
        for member in members:
            if member.docstring is None:
                log.warning(f"{member.path} is public but has no docstring")
            if member.kind.value == "function":
                _check_args(member, member.path)
            else:
                init = member.members.get("__init__")
                if init is not None and not init.is_alias and member.docstring is not None:
                    signature = {p.name for p in init.parameters}
                    stale = sorted(n for n in _documented_args(member) if n and n not in signature)
                    if stale:
                        log.warning(f"{member.path}: the docstring documents {', '.join(stale)}, "
                                    "not in __init__")
                for name, method in member.members.items():
                    if not method.is_alias and not name.startswith("_") and method.kind.value == "function":
                        _check_args(method, method.path)
        for sub in module.modules.values():
            if not sub.name.startswith("_"):
                walk(sub)

    walk(package)
