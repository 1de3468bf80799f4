"""A small name -> object registry used for teachers, renderers, priors, losses and recipes."""

from __future__ import annotations

import difflib
from typing import Any, Callable, Iterator, TypeVar

T = TypeVar("T")


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
        """Return the object registered under ``name``.

        Raises:
            KeyError: unknown name; the message lists the known names and close matches.
        """
        try:
            return self._items[name]
        except (KeyError, TypeError):
            pass
        close = difflib.get_close_matches(str(name), list(self._items), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(sorted(self._items)) or "(none)"
        raise KeyError(f"unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {known}")

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"


def build(registry: Registry, name: str, **options: Any) -> Any:
    """Look ``name`` up in ``registry`` and call it with ``options``."""
    factory: Callable[..., Any] = registry.get(name)
    return factory(**options)
