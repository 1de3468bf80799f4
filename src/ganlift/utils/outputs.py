"""The one dict-like base of ganlift's output dataclasses.

:class:`~ganlift.render.base.Rendered`, :class:`~ganlift.lifter.model.LifterOutput` and
:class:`~ganlift.lifter.controls.LiftedSample` are dataclasses of tensors. Each is read by
attribute (``out.depth``) or by name (``out["depth"]``, ``out.get("depth")``,
``dict(out)``), the same way for all three, through :class:`OutputFields`; code that
consumes an output relies on that one interface instead of guessing whether it got a dict
or an object.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

__all__ = ["OutputFields"]


class OutputFields:
    """Mixin for output dataclasses: their fields, read by attribute or by name.

    The names are the dataclass fields, in order. A deprecated name kept as a property
    (``LiftedSample.texture``, ``LifterOutput.image``) is readable by attribute and by
    ``out[name]``, with its DeprecationWarning, but is not listed by :meth:`keys`, so
    :meth:`as_dict` and :meth:`items` never warn.

    Example:
        >>> out = lifter.render(w)                 # a LiftedSample
        >>> out["depth"] is out.depth, "mask" in out, list(out.as_dict()) == out.keys()
        (True, True, True)
    """

    def keys(self) -> list[str]:
        """The field names, in declaration order."""
        return [f.name for f in fields(self)]  # type: ignore[arg-type]  (a dataclass mixin)

    def items(self) -> list[tuple[str, Any]]:
        """``(name, value)`` of every field, in order."""
        return [(k, getattr(self, k)) for k in self.keys()]

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (shallow: the tensors are not copied)."""
        return dict(self.items())

    def get(self, key: str, default: Any = None) -> Any:
        """``out[key]``, or ``default`` where the output has no such field.

        What reads an output whose producer may leave fields out (the training previews of
        a stand-in lifter) asks with ``get`` and skips what is None.

        Args:
            key: a field name (a deprecated name warns, as ``out[key]`` does).
            default: returned when ``key`` names nothing of this output.
        """
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __getitem__(self, key: str) -> Any:
        # A field, or a property: what keeps a deprecated name readable (it warns itself).
        deprecated = isinstance(key, str) and isinstance(getattr(type(self), key, None), property)
        if key in self.keys() or deprecated:
            return getattr(self, key)
        raise KeyError(f"{key!r}; {type(self).__name__} has {', '.join(self.keys())}")
