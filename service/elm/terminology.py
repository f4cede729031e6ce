"""ValueSets and CodeSystems the engine can answer membership questions about.

Loaded once from FHIR JSON (a directory, searched recursively, or resource dicts). A ValueSet
is usable when it has an `expansion.contains`, or a `compose.include` that enumerates concepts
or includes a whole CodeSystem we also hold. Anything else (filters, imports of value sets we
cannot expand) is a load-time `TerminologyError` naming the ValueSet: a guideline must never
silently match nothing at request time. Membership is an O(1) set lookup on (system, code).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from service.elm.datatypes.clinical import Code, Concept
from service.elm.errors import TerminologyError


class ValueSetExpansion:
    """The codes of one ValueSet version: a list for ExpandValueSet, a set for membership."""

    __slots__ = ("codes", "keys", "url", "version")

    def __init__(self, url: str, version: str | None, codes: list[Code]) -> None:
        self.url = url
        self.version = version
        self.codes = codes
        self.keys: frozenset[tuple[str | None, str | None]] = frozenset(
            (c.system, c.code) for c in codes
        )

    def contains(self, code: Any) -> bool:
        """True when a Code, Concept (any of its codes), FHIR Coding/CodeableConcept or string
        is in the value set (strings match on code alone)."""
        if code is None:
            return False
        if isinstance(code, Code):
            return (code.system, code.code) in self.keys
        if isinstance(code, Concept):
            return any((c.system, c.code) in self.keys for c in code.codes)
        if isinstance(code, str):
            return any(k[1] == code for k in self.keys)
        if isinstance(code, dict):
            if "coding" in code:
                return any(self.contains(c) for c in code.get("coding") or [])
            return (code.get("system"), code.get("code")) in self.keys
        if isinstance(code, list):
            return any(self.contains(c) for c in code)
        return False


class Terminology:
    """ValueSets and CodeSystems by canonical URL (and `url|version`)."""

    def __init__(self) -> None:
        self._valuesets: dict[str, ValueSetExpansion] = {}
        self._codesystems: dict[str, dict] = {}
        self._codesystem_codes: dict[str, ValueSetExpansion] = {}
        #: (system, code) -> parent codes, from CodeSystem concept nesting
        self._parents: dict[tuple[str, str], set[str]] = {}

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def from_directory(cls, directory: Path | str) -> Terminology:
        """Load every ValueSet and CodeSystem JSON file below `directory` (recursively)."""
        resources: list[dict] = []
        for path in sorted(Path(directory).rglob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise TerminologyError(f"{path}: cannot read JSON: {exc}") from exc
            resources.extend(_terminology_resources(data))
        return cls.from_resources(resources)

    @classmethod
    def from_resources(cls, resources: Iterable[dict]) -> Terminology:
        """Load ValueSet/CodeSystem resource dicts (Bundles are searched for them)."""
        t = cls()
        valuesets: list[dict] = []
        for r in resources:
            for res in _terminology_resources(r):
                if res.get("resourceType") == "CodeSystem":
                    t._add_codesystem(res)
                else:
                    valuesets.append(res)
        # value sets may import each other: add them in dependency order
        pending = valuesets
        while pending:
            deferred = [vs for vs in pending if not t._imports_ready(vs)]
            if len(deferred) == len(pending):
                t._add_valueset(deferred[0])  # raises, naming the unknown import
            for vs in pending:
                if vs not in deferred:
                    t._add_valueset(vs)
            pending = deferred
        return t

    def _imports_ready(self, vs: dict) -> bool:
        for inc in (vs.get("compose") or {}).get("include") or []:
            for ref in inc.get("valueSet") or []:
                if self.valueset(ref) is None:
                    return False
        return True

    def _add_codesystem(self, cs: dict) -> None:
        url = cs.get("url")
        if not url:
            raise TerminologyError(f"CodeSystem {cs.get('id')!r} has no url")
        codes: list[Code] = []

        def walk(concepts: list[dict], parent: str | None) -> None:
            for c in concepts or []:
                codes.append(Code(c.get("code"), url, cs.get("version"), c.get("display")))
                if parent is not None:
                    self._parents.setdefault((url, c.get("code")), set()).add(parent)
                walk(c.get("concept") or [], c.get("code"))

        walk(cs.get("concept") or [], None)
        self._codesystems[url] = cs
        exp = ValueSetExpansion(url, cs.get("version"), codes)
        self._codesystem_codes[url] = exp
        if cs.get("version"):
            self._codesystem_codes[f"{url}|{cs['version']}"] = exp

    def _add_valueset(self, vs: dict) -> None:
        url = vs.get("url")
        name = url or vs.get("id") or "?"
        if not url:
            raise TerminologyError(f"ValueSet {name!r} has no url")
        codes: list[Code] = []
        expansion = vs.get("expansion")
        if expansion and expansion.get("contains") is not None:
            _walk_contains(expansion.get("contains") or [], codes)
        elif vs.get("compose"):
            compose = vs["compose"]
            if compose.get("exclude"):
                raise TerminologyError(f"ValueSet {url}: compose.exclude is not supported")
            for inc in compose.get("include") or []:
                codes.extend(self._include(url, inc))
        else:
            raise TerminologyError(f"ValueSet {url}: neither expansion nor compose")
        exp = ValueSetExpansion(url, vs.get("version"), codes)
        self._valuesets[url] = exp
        if vs.get("version"):
            self._valuesets[f"{url}|{vs['version']}"] = exp

    def _include(self, url: str, inc: dict) -> list[Code]:
        if inc.get("filter"):
            raise TerminologyError(f"ValueSet {url}: compose.include.filter cannot be expanded")
        if inc.get("valueSet"):
            out: list[Code] = []
            for ref in inc["valueSet"]:
                other = self.valueset(ref)
                if other is None:
                    raise TerminologyError(f"ValueSet {url}: imports unknown ValueSet {ref}")
                out.extend(other.codes)
            return out
        system = inc.get("system")
        version = inc.get("version")
        if inc.get("concept"):
            return [Code(c.get("code"), system, version, c.get("display")) for c in inc["concept"]]
        held = self._codesystem_codes.get(system or "")
        if held is None:
            raise TerminologyError(
                f"ValueSet {url}: includes all of CodeSystem {system} which is not loaded"
            )
        return list(held.codes)

    # -- queries ---------------------------------------------------------------------------
    def valueset(self, url: str, version: str | None = None) -> ValueSetExpansion | None:
        """The expansion of a ValueSet by canonical URL (version-specific when given)."""
        if version:
            found = self._valuesets.get(f"{url}|{version}")
            if found is not None:
                return found
        if "|" in url and url not in self._valuesets:
            url = url.split("|", 1)[0]
        return self._valuesets.get(url)

    def codesystem(self, url: str, version: str | None = None) -> ValueSetExpansion | None:
        """All codes of a held CodeSystem (for InCodeSystem)."""
        if version:
            found = self._codesystem_codes.get(f"{url}|{version}")
            if found is not None:
                return found
        return self._codesystem_codes.get(url)

    def subsumes(self, system: str, ancestor: str, code: str) -> bool | None:
        """Whether `ancestor` is `code` or one of its ancestors in a held CodeSystem
        (hierarchy from nested concepts); None when the CodeSystem is not held."""
        if system not in self._codesystems:
            return None
        seen: set[str] = set()
        frontier = [code]
        while frontier:
            c = frontier.pop()
            if c == ancestor:
                return True
            if c in seen:
                continue
            seen.add(c)
            frontier.extend(self._parents.get((system, c), ()))
        return False

    @property
    def valueset_urls(self) -> list[str]:
        return sorted(k for k in self._valuesets if "|" not in k)


def _walk_contains(contains: list[dict], out: list[Code]) -> None:
    for c in contains:
        if c.get("code") is not None:
            out.append(Code(c.get("code"), c.get("system"), c.get("version"), c.get("display")))
        _walk_contains(c.get("contains") or [], out)


def _terminology_resources(data: Any) -> list[dict]:
    if isinstance(data, list):
        return [r for d in data for r in _terminology_resources(d)]
    if not isinstance(data, dict):
        return []
    rt = data.get("resourceType")
    if rt in ("ValueSet", "CodeSystem"):
        return [data]
    if rt == "Bundle":
        return [
            r for e in data.get("entry") or [] for r in _terminology_resources(e.get("resource"))
        ]
    return []
