"""CQL Tuple values: a `dict` subclass, so properties are plain key lookups."""

from __future__ import annotations


class Tuple(dict):
    """A CQL Tuple (element name -> value, insertion order = declaration order).

    Equality and equivalence are defined in `service.elm.semantics` element by element;
    `dict.__eq__` is deliberately not used for CQL `=`.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}: {v!r}" for k, v in self.items())
        return f"Tuple {{ {inner} }}"
