"""A small name -> object registry used for teachers, renderers, priors, losses and recipes.

Other installed packages extend the registries through the entry-point group
``ganlift.plugins``: each entry names a module (imported) or a function (imported and called
with no arguments) that registers teachers, losses, renderers, priors or recipes, e.g. in the
plugin's ``pyproject.toml``::

    [project.entry-points."ganlift.plugins"]
    my-teacher = "my_package.ganlift_plugin"          # a module that registers on import
    my-losses = "my_package.losses:register_all"      # or a function that registers

The plugins are loaded once, lazily: the first time a lookup misses (``get``, ``in``) or a
registry is listed (``names``), so ``ganlift lift --teacher my-teacher`` finds a teacher
registered by another package while ``import ganlift`` stays fast.
"""

from __future__ import annotations

import difflib
import warnings
from typing import Any, Iterator, TypeVar

T = TypeVar("T")
PLUGIN_GROUP = "ganlift.plugins"
_plugins: dict[str, str | None] | None = None  # entry point -> None (loaded) or the error


def load_plugins() -> dict[str, str | None]:
    """Load every ``ganlift.plugins`` entry point of the installed packages, once.

    A plugin that fails to import or to register is reported with a ``RuntimeWarning`` (and
    in the registries' "unknown name" errors) instead of breaking ganlift.

    Returns:
        Entry point name -> None when it loaded, or the error it raised.
    """
    global _plugins
    if _plugins is not None:
        return dict(_plugins)
    _plugins = {}  # set first: a plugin's own lookups must not load the plugins again
    from importlib.metadata import entry_points

    for ep in entry_points(group=PLUGIN_GROUP):
        if ep.name in _plugins:  # the same distribution twice on sys.path
            continue
        try:
            loaded = ep.load()
            if callable(loaded) and not isinstance(loaded, type):
                loaded()
            _plugins[ep.name] = None
        except Exception as err:  # a broken third-party package must not break ganlift
            _plugins[ep.name] = f"{type(err).__name__}: {err}"
            warnings.warn(f"ganlift plugin {ep.name!r} ({ep.value}) failed to load: {_plugins[ep.name]}",
                          RuntimeWarning, stacklevel=2)
    return dict(_plugins)


class Registry:
    """Maps names to objects (classes or factory functions).

    Example:
        >>> losses = Registry("loss")
        >>> @losses.register("l1")
        ... class L1: ...
        >>> losses.get("l1") is L1
        True

    Args:
        kind: what the registry holds, used in error messages ("teacher", "loss", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Any] = {}

    def register(self, name: str, obj: Any = None, *, overwrite: bool = False) -> Any:
        """Register ``obj`` under ``name``; without ``obj`` return a decorator.

        Args:
            name: the registered name (case sensitive).
            obj: the object to register. When omitted, ``register`` returns a decorator.
            overwrite: replace an existing entry instead of raising.

        Returns:
            ``obj`` itself, or a decorator that registers and returns its argument.

        Raises:
            ValueError: the name is already taken and ``overwrite`` is false.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")

        def add(item: T) -> T:
            if name in self._items and not overwrite and self._items[name] is not item:
                raise ValueError(
                    f"a {self.kind} named {name!r} is already registered; "
                    "pass overwrite=True to replace it"
                )
            self._items[name] = item
            return item

        if obj is None:
            return add
        return add(obj)

    def get(self, name: str) -> Any:
        """Return the object registered under ``name`` (loading the plugins on a miss).

        Raises:
            KeyError: unknown name; the message lists the known names and close matches.
        """
        if name in self:
            return self._items[name]
        close = difflib.get_close_matches(str(name), list(self._items), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(sorted(self._items)) or "(none)"
        broken = [f"{n} ({e})" for n, e in load_plugins().items() if e]
        note = f" Plugins that failed to load: {'; '.join(broken)}." if broken else ""
        raise KeyError(f"unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {known}.{note}")

    def names(self) -> list[str]:
        """The registered names (the plugins' included), sorted."""
        load_plugins()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        try:
            if name in self._items:
                return True
        except TypeError:  # an unhashable name is simply not registered
            return False
        load_plugins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"


__all__ = ["Registry", "load_plugins", "PLUGIN_GROUP"]
