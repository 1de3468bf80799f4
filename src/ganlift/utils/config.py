"""Checks on a saved lifter's ``config.json`` before anything is built from it.

``Lifter.from_config`` reads keys with ``config["w_dim"]``: a missing key surfaced as
``error: w_dim``, a string where a list belongs as a TypeError traceback, and a huge
``feature_channels`` as gigabytes of decoder weights. :func:`check_lifter_config` names the
file, the key and what is expected instead.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

__all__ = ["check_lifter_config", "check_lifter_folder", "MAX_WIDTH"]

MAX_WIDTH = 8192  # largest w_dim / feature_channels a config may declare (StyleGAN2: 512)

# key -> (description, test)
_REQUIRED: dict[str, tuple[str, Any]] = {
    "architecture": ("a string", lambda v: isinstance(v, str)),
    "w_dim": (f"an integer in [1, {MAX_WIDTH}]", lambda v: _int_in(v, 1, MAX_WIDTH)),
    "feature_channels": (f"an integer in [1, {MAX_WIDTH}]", lambda v: _int_in(v, 1, MAX_WIDTH)),
    "recipe": ("a table of recipe sections", lambda v: isinstance(v, Mapping)),
    "w_mean": ("a list of w_dim numbers", lambda v: _numbers(v)),
    "w_std": ("a list of w_dim positive numbers", lambda v: _numbers(v) and all(x > 0 for x in v)),
    "teacher": ("a table with the teacher's 'name'",
                lambda v: isinstance(v, Mapping) and isinstance(v.get("name"), str)),
}
_OPTIONAL: dict[str, tuple[str, Any]] = {
    "format": ("an integer >= 1", lambda v: _int_in(v, 1, 10**6)),
    "resolution": ("an integer in [8, 4096]", lambda v: _int_in(v, 8, 4096)),
}


def _int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _numbers(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in value
    )


def check_lifter_config(config: Any, source: str = "config.json") -> None:
    """Check the keys and value types of a lifter config.

    Args:
        config: the parsed ``config.json``.
        source: the file, for messages.

    Raises:
        ValueError: a missing key, a value of the wrong type or size; the message names the
            file, the key and what it must be.
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"{source} must hold a JSON object, got {type(config).__name__}")
    missing = [k for k in _REQUIRED if k not in config]
    if missing:
        raise ValueError(f"{source} lacks the key(s) {', '.join(missing)}: it is not a complete "
                         "ganlift lifter config (save the lifter again, or download it again)")
    for table in (_REQUIRED, _OPTIONAL):
        for key, (allowed, test) in table.items():
            if key in config and not test(config[key]):
                shown = json.dumps(config[key])[:80]
                raise ValueError(f"{source}: {key!r} must be {allowed}, got {shown}")
    for key in ("w_mean", "w_std"):
        if len(config[key]) != config["w_dim"]:
            raise ValueError(f"{source}: {key!r} has {len(config[key])} values but w_dim is "
                             f"{config['w_dim']}")


def check_lifter_folder(folder: str | os.PathLike) -> None:
    """:func:`check_lifter_config` on ``folder/config.json`` when ``folder`` is a local folder.

    Nothing is checked for Hub repo ids or folders without a config (the loader reports those).

    Raises:
        ValueError: see :func:`check_lifter_config`; also for a config that is not JSON.
    """
    path = Path(os.path.expanduser(str(folder))) / "config.json"
    if not path.is_file():
        return
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); the file is corrupt") from None
    check_lifter_config(config, str(path))
