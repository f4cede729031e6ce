"""CQL clinical values: Code, Concept, and the CodeSystem / ValueSet references.

They implement the value protocol of `service.elm.semantics` (`cql_equal`, `cql_equivalent`).
Equivalence is the clinically meaningful test (same system and code, version and display
ignored); equality also compares version and display.
"""

from __future__ import annotations

from collections.abc import Iterable


class Code:
    """A CQL Code (System.Code): code, system, version, display."""

    __slots__ = ("code", "display", "system", "version")

    def __init__(
        self,
        code: str | None,
        system: str | None = None,
        version: str | None = None,
        display: str | None = None,
    ) -> None:
        self.code = code
        self.system = system
        self.version = version
        self.display = display

    def cql_equal(self, other: object) -> bool | None:
        if not isinstance(other, Code):
            return False
        return (
            self.code == other.code
            and self.system == other.system
            and self.version == other.version
            and self.display == other.display
        )

    def cql_equivalent(self, other: object) -> bool:
        if isinstance(other, Concept):
            return other.cql_equivalent(self)
        if not isinstance(other, Code):
            return False
        return self.code == other.code and self.system == other.system

    def key(self) -> tuple[str | None, str | None]:
        """(system, code): the identity used for terminology membership."""
        return (self.system, self.code)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Code) and self.cql_equal(other) is True

    def __hash__(self) -> int:
        return hash((self.code, self.system, self.version, self.display))

    def __repr__(self) -> str:
        parts = [f"{self.code!r}"]
        if self.system is not None:
            parts.append(f"system={self.system!r}")
        if self.version is not None:
            parts.append(f"version={self.version!r}")
        if self.display is not None:
            parts.append(f"display={self.display!r}")
        return f"Code({', '.join(parts)})"


class Concept:
    """A CQL Concept (System.Concept): a list of codes meaning the same thing, with display."""

    __slots__ = ("codes", "display")

    def __init__(self, codes: Iterable[Code] | None, display: str | None = None) -> None:
        self.codes = [c for c in (codes or []) if c is not None]
        self.display = display

    def cql_equal(self, other: object) -> bool | None:
        if not isinstance(other, Concept):
            return False
        if self.display != other.display or len(self.codes) != len(other.codes):
            return False
        return all(a.cql_equal(b) for a, b in zip(self.codes, other.codes, strict=True))

    def cql_equivalent(self, other: object) -> bool:
        others = (
            other.codes
            if isinstance(other, Concept)
            else [other]
            if isinstance(other, Code)
            else None
        )
        if others is None:
            return False
        return any(a.cql_equivalent(b) for a in self.codes for b in others)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Concept) and self.cql_equal(other) is True

    def __hash__(self) -> int:
        return hash((tuple(self.codes), self.display))

    def __repr__(self) -> str:
        return f"Concept({self.codes!r}, display={self.display!r})"


class CodeSystemRef:
    """The value of a CodeSystemRef: the code system's canonical id and version."""

    __slots__ = ("id", "name", "version")

    def __init__(self, id: str, version: str | None = None, name: str | None = None) -> None:
        self.id = id
        self.version = version
        self.name = name

    def cql_equal(self, other: object) -> bool | None:
        return (
            isinstance(other, CodeSystemRef)
            and self.id == other.id
            and self.version == other.version
        )

    def cql_equivalent(self, other: object) -> bool:
        return isinstance(other, CodeSystemRef) and self.id == other.id

    def __repr__(self) -> str:
        return f"CodeSystem({self.id!r}, version={self.version!r})"


class ValueSetRef:
    """The value of a ValueSetRef: canonical id and version (expansion comes from terminology)."""

    __slots__ = ("codesystems", "id", "name", "version")

    def __init__(
        self,
        id: str,
        version: str | None = None,
        name: str | None = None,
        codesystems: list[CodeSystemRef] | None = None,
    ) -> None:
        self.id = id
        self.version = version
        self.name = name
        self.codesystems = codesystems or []

    def cql_equal(self, other: object) -> bool | None:
        return (
            isinstance(other, ValueSetRef)
            and self.id == other.id
            and (self.version == other.version)
        )

    def cql_equivalent(self, other: object) -> bool:
        return isinstance(other, ValueSetRef) and self.id == other.id

    def __repr__(self) -> str:
        return f"ValueSet({self.id!r}, version={self.version!r})"
