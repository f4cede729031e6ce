"""Differential testing: the same ELM and data through our engine and cql-execution.

Use the session fixture ``oracle`` (tests/oracle/conftest.py; import it in another test package's
conftest with ``from tests.oracle.conftest import oracle, oracle_node``)::

    def test_scenario_matches_reference(oracle):
        oracle.compare(Path("cql/elm"), "AnalDilationDecision", bundle, now=NOW)

- ``library_dir``: a directory of ELM JSON (or a list of them); every ``*.json`` in it is loaded
  once per session into both engines (includes such as FHIRHelpers must be among them).
- ``bundles``: one FHIR Bundle (one patient's record) -> ``{definition: canonical}``; or a
  list of Bundles -> a list of such dicts, in the same order.
- ``parameters``: ``{name: value}``, values as CQL values of our engine or as canonical JSON
  (``{"@type": "Interval", ...}``, see service/elm/canonical.py); both engines get the same.
- ``now``: the evaluation time (timezone-aware datetime), the same for both engines.
- ``terminology``: a directory of ValueSet/CodeSystem JSON (default: ``plandefinitions/``),
  expanded by our Terminology loader and handed to cql-execution's CodeService.

A definition that raises is ``{"@error": message}``; two errors count as the same result.

Both engines evaluate the same data: our FHIR data source puts EHR-shaped codings in canonical
form as it takes the data in (service/elm/fhir/codings.py: OID systems, ``K625`` for ``K62.5``,
a Condition status without its system), so cql-execution is handed the bundles after that same
normalisation (``normalize_bundle``; a bundle without such codings is passed unchanged).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from service.elm.canonical import from_canonical, to_canonical
from service.elm.fhir.codings import normalize_bundle
from tools.node import REPO_ROOT, NodeHelper

DEFAULT_TERMINOLOGY = REPO_ROOT / "plandefinitions"
Bundles = dict | Sequence[dict]


def _dirs(library_dir: Path | str | Iterable[Path | str]) -> tuple[Path, ...]:
    if isinstance(library_dir, str | Path):
        return (Path(library_dir).resolve(),)
    return tuple(Path(d).resolve() for d in library_dir)


def _read_libraries(dirs: tuple[Path, ...]) -> list[dict]:
    by_name: dict[str, dict] = {}
    for d in dirs:
        for path in sorted(d.glob("*.json")):
            elm = json.loads(path.read_text(encoding="utf-8"))
            name = elm.get("library", {}).get("identifier", {}).get("id")
            if name:
                by_name.setdefault(name, elm)  # the first directory wins
    if not by_name:
        raise FileNotFoundError(f"no ELM JSON libraries in {', '.join(map(str, dirs))}")
    return list(by_name.values())


def _fingerprint(dirs: tuple[Path, ...]) -> tuple:
    return tuple((str(p), p.stat().st_mtime_ns) for d in dirs for p in sorted(d.glob("*.json")))


def same_result(ours: Any, theirs: Any) -> bool:
    """Canonical results are the same; any two errors are the same result."""
    if isinstance(ours, dict) and isinstance(theirs, dict) and "@error" in ours:
        return "@error" in theirs
    return ours == theirs


class Oracle:
    """Both engines, prepared once per library set and terminology directory."""

    def __init__(self, node: NodeHelper) -> None:
        self.node = node
        self._loaded: dict[tuple, str] = {}
        self._engines: dict[tuple, Any] = {}
        self._terminologies: dict[Path | None, Any] = {}

    # -- preparation (once per library set) --------------------------------------------------
    def _terminology(self, terminology: Path | str | None) -> Any:
        from service.elm import Terminology

        path = Path(terminology).resolve() if terminology else None
        if path is not None and not path.is_dir():
            path = None
        if path not in self._terminologies:
            self._terminologies[path] = Terminology.from_directory(path) if path else None
        return self._terminologies[path]

    @staticmethod
    def value_sets_for_node(terminology: Any) -> dict:
        """cql-execution CodeService input: {url: {version: [{code, system, version}]}}."""
        out: dict[str, dict[str, list]] = {}
        if terminology is None:
            return out
        for url in terminology.valueset_urls:
            vs = terminology.valueset(url)
            if vs is None:
                continue
            codes = [{"code": c.code, "system": c.system, "version": c.version} for c in vs.codes]
            out.setdefault(vs.url, {})[vs.version or ""] = codes
        return out

    def _key(self, library_dir: Any, terminology: Any) -> tuple:
        dirs = _dirs(library_dir)
        term = str(Path(terminology).resolve()) if terminology else None
        return (dirs, _fingerprint(dirs), term)

    def _node_set(self, library_dir: Any, terminology: Any) -> str:
        key = (*self._key(library_dir, terminology), self.node.generation)
        if key not in self._loaded:  # new library set, or a restarted Node process
            name = f"set{len(self._loaded) + 1}"
            self.node.request(
                "load",
                key=name,
                libraries=_read_libraries(key[0]),
                valueSets=self.value_sets_for_node(self._terminology(terminology)),
            )
            self._loaded[key] = name
        return self._loaded[key]

    def engine(self, library_dir: Any, terminology: Any = DEFAULT_TERMINOLOGY) -> Any:
        """Our ElmEngine for a library set (compiled once per session)."""
        from service.elm import ElmEngine

        key = self._key(library_dir, terminology)
        if key not in self._engines:
            self._engines[key] = ElmEngine.from_libraries(
                _read_libraries(key[0]), terminology=self._terminology(terminology)
            )
        return self._engines[key]

    # -- evaluation --------------------------------------------------------------------------
    def evaluate(
        self,
        library_dir: Any,
        library: str,
        bundles: Bundles,
        parameters: dict[str, Any] | None = None,
        now: dt.datetime | None = None,
        *,
        expressions: list[str] | None = None,
        terminology: Path | str | None = DEFAULT_TERMINOLOGY,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """cql-execution's canonical results (per bundle when given a list)."""
        single = isinstance(bundles, dict)
        bundle_list = [bundles] if single else list(bundles)
        # the data as our data source takes it in (the same codings for both engines)
        bundle_list = [normalize_bundle(b) for b in bundle_list]
        reply = self.node.request(
            "evaluate",
            key=self._node_set(library_dir, terminology),
            library=library,
            bundles=bundle_list,
            parameters={k: to_canonical(v) for k, v in (parameters or {}).items()},
            now=_iso(now),
            expressions=expressions,
        )
        rows = reply["patients"]
        if len(rows) != len(bundle_list):
            raise AssertionError(
                f"cql-execution found {len(rows)} patients in {len(bundle_list)} bundles "
                "(each bundle needs a Patient resource)"
            )
        return rows[0] if single else rows

    def ours(
        self,
        library_dir: Any,
        library: str,
        bundles: Bundles,
        parameters: dict[str, Any] | None = None,
        now: dt.datetime | None = None,
        *,
        expressions: list[str] | None = None,
        terminology: Path | str | None = DEFAULT_TERMINOLOGY,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Our engine's canonical results (a definition that raises is `{"@error": ...}`)."""
        engine = self.engine(library_dir, terminology)
        single = isinstance(bundles, dict)
        params = {k: from_canonical(v) for k, v in (parameters or {}).items()}
        names = expressions or _patient_definitions(engine, library)
        rows = []
        for bundle in [bundles] if single else bundles:
            data = engine.prepare_data(bundle)
            try:  # all at once (shared expression cache); one by one only if something raises
                values = engine.evaluate(
                    library, expressions=names, data=data, parameters=params, now=now
                )
                rows.append({n: to_canonical(values[n]) for n in names})
                continue
            except Exception:
                pass
            row = {}
            for name in names:
                try:
                    value = engine.evaluate(
                        library, expressions=[name], data=data, parameters=params, now=now
                    )[name]
                    row[name] = to_canonical(value)
                except Exception as exc:
                    row[name] = {"@error": f"{type(exc).__name__}: {exc}"}
            rows.append(row)
        return rows[0] if single else rows

    def compare(
        self,
        library_dir: Any,
        library: str,
        bundles: Bundles,
        parameters: dict[str, Any] | None = None,
        now: dt.datetime | None = None,
        *,
        expressions: list[str] | None = None,
        terminology: Path | str | None = DEFAULT_TERMINOLOGY,
        known_differences: dict[str, str] | None = None,
        strict: bool = True,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Assert that both engines give the same canonical result for every definition.

        `known_differences` ({definition: reason}) names definitions known to differ (a
        documented bug of either engine): they may differ, but if one of them agrees on every
        bundle the assertion fails too, so the entry is removed once the bug is fixed
        (`strict=False` skips that check: for generated records that may not hit the bug).
        Returns our results. The assertion message lists every differing definition.
        """
        known = dict(known_differences or {})
        now = now or dt.datetime.now(dt.UTC)
        kw = {"expressions": expressions, "terminology": terminology}
        ours = self.ours(library_dir, library, bundles, parameters, now, **kw)
        theirs = self.evaluate(library_dir, library, bundles, parameters, now, **kw)
        our_rows = [ours] if isinstance(bundles, dict) else ours
        their_rows = [theirs] if isinstance(bundles, dict) else theirs
        problems = []
        still_differing: set[str] = set()
        for i, (a, b) in enumerate(zip(our_rows, their_rows, strict=True)):
            for name in sorted(a.keys() | b.keys()):
                if not same_result(a.get(name, "<missing>"), b.get(name, "<missing>")):
                    if name in known:
                        still_differing.add(name)
                        continue
                    problems.append(
                        f"bundle {i} {library}.{name}:\n"
                        f"    ours:          {json.dumps(a.get(name, '<missing>'))[:600]}\n"
                        f"    cql-execution: {json.dumps(b.get(name, '<missing>'))[:600]}"
                    )
        for name in sorted(set(known) - still_differing) if strict else ():
            problems.append(
                f"{library}.{name} is listed as a known difference ({known[name]}) but both "
                "engines now agree: remove it from known_differences"
            )
        if problems:
            raise AssertionError(
                f"{len(problems)} definition(s) differ from cql-execution:\n" + "\n".join(problems)
            )
        return ours


def _patient_definitions(engine: Any, library: str) -> list[str]:
    lib = engine.library(library)
    return [n for n, d in lib.expressions.items() if (d.context or "Patient") != "Unfiltered"]


def _iso(now: dt.datetime | None) -> str | None:
    if now is None:
        return None
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.isoformat(timespec="milliseconds")
