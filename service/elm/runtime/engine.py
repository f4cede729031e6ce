"""`ElmEngine`: load and compile ELM libraries once, evaluate them per request."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import service.elm.ops  # noqa: F401  (registers every operator of the ELM core)
from service.elm.compiler import Compiler
from service.elm.datatypes.tuples import Tuple
from service.elm.errors import ElmLoadError, ElmRuntimeError, TerminologyError
from service.elm.fhir.data import PatientData
from service.elm.fhir.elements import FhirChoice  # registers FHIR as the data model
from service.elm.fhir.retrieve import compile_retrieve  # noqa: F401  (registers Retrieve)
from service.elm.ops.clinical import compile_terminology_defs
from service.elm.runtime.context import Context
from service.elm.runtime.library import LibraryRuntime

SUPPORTED_CONTEXTS = ("Patient", "Unfiltered")


class ElmEngine:
    """A set of compiled ELM libraries (with their includes) and an optional terminology.

    Construction compiles everything (unknown node types, unresolved references and missing
    includes raise `ElmLoadError` here); `evaluate` only runs closures.
    """

    def __init__(
        self,
        libraries: Iterable[dict],
        terminology: Any = None,
        *,
        strict_terminology: bool = False,
        external_functions: dict[str, Any] | None = None,
    ) -> None:

        self.terminology = terminology
        #: Python implementations of `external` CQL functions, by "Library.Function"
        self.external_functions = dict(external_functions or {})
        #: value sets / code systems the ELM uses that the terminology does not hold
        self.missing_terminology: list[str] = []
        self._libraries: dict[str, LibraryRuntime] = {}
        self._by_version: dict[tuple[str, str | None], LibraryRuntime] = {}
        for elm in libraries:
            lib = LibraryRuntime(elm)
            if lib.name in self._libraries and self._libraries[lib.name].version == lib.version:
                raise ElmLoadError(f"library {lib.name} version {lib.version} loaded twice")
            self._libraries[lib.name] = lib
            self._by_version[(lib.name, lib.version)] = lib
        for lib in self._libraries.values():
            self._link(lib)
        for lib in self._libraries.values():
            self._compile(lib)
        if strict_terminology and self.missing_terminology:
            raise TerminologyError(
                "value sets/code systems used by the CQL are not in the terminology: "
                + "; ".join(self.missing_terminology)
            )

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_directory(
        cls,
        directory: Path | str,
        terminology: Any = None,
        *,
        strict_terminology: bool = False,
        external_functions: dict[str, Any] | None = None,
    ) -> ElmEngine:
        """Load every `*.json` ELM library in `directory` (not recursive)."""
        paths = sorted(Path(directory).glob("*.json"))
        if not paths:
            raise ElmLoadError(f"no ELM JSON libraries in {directory}")
        elms = []
        for p in paths:
            try:
                elms.append(json.loads(p.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                raise ElmLoadError(f"{p}: cannot read ELM JSON: {exc}") from exc
        return cls(
            elms,
            terminology=terminology,
            strict_terminology=strict_terminology,
            external_functions=external_functions,
        )

    @classmethod
    def from_libraries(
        cls,
        libraries: Iterable[dict],
        terminology: Any = None,
        *,
        strict_terminology: bool = False,
        external_functions: dict[str, Any] | None = None,
    ) -> ElmEngine:
        """Load ELM JSON dicts (e.g. straight from the translator). With `strict_terminology`,
        a value set or code system the ELM uses but the terminology lacks is a load error;
        `external_functions` implements `external` CQL functions ("Lib.Name": callable)."""
        return cls(
            list(libraries),
            terminology=terminology,
            strict_terminology=strict_terminology,
            external_functions=external_functions,
        )

    def _link(self, lib: LibraryRuntime) -> None:
        for inc in lib.include_defs:
            path = inc.get("path")
            version = inc.get("version")
            target = self._by_version.get((path, version)) or self._libraries.get(path)
            if target is None or (version and target.version and target.version != version):
                loaded = f" (loaded: version {target.version!r})" if target is not None else ""
                raise ElmLoadError(
                    f"{lib.name}: included library {path} version {version!r} is not loaded"
                    + loaded
                )
            lib.includes[inc["localIdentifier"]] = target

    def _compile(self, lib: LibraryRuntime) -> None:
        c = Compiler(lib, self)

        compile_terminology_defs(lib, c)
        for p in lib.parameters.values():
            c.definition = p.name
            if p.node.get("default") is not None:
                p.default = c.compile(p.node["default"])
        for d in lib.expressions.values():
            if d.context and d.context not in SUPPORTED_CONTEXTS:
                raise ElmLoadError(f"{lib.name}.{d.name}: unsupported context {d.context!r}")
            c.definition = d.name
            expr = d.node.get("expression")
            d.body = c.compile(expr) if expr is not None else (lambda ctx: None)
        for overloads in lib.functions.values():
            for f in overloads:
                c.definition = f.name
                if not f.external:
                    expr = f.node.get("expression")
                    f.body = c.compile_in_scope(expr) if expr is not None else (lambda ctx: None)
        c.definition = None

    # -- hooks for operators ---------------------------------------------------------------
    def report_missing_terminology(self, kind: str, ref: Any, library: str) -> None:
        """Record a value set / code system the ELM needs but the terminology lacks; using it
        raises at evaluation time. Services should refuse to start when the list is not
        empty (see `missing_terminology`)."""
        entry = f"{library}: {kind} {ref.name!r} ({ref.id})"
        if entry not in self.missing_terminology:
            self.missing_terminology.append(entry)

    def system_function(self, name: str, arity: int) -> Any:
        """Compile hook for functions the translator leaves as FunctionRef without a library
        definition (none are supported yet)."""
        return None

    def external_function(self, library: str, name: str) -> Any:
        """Python implementation of an `external` CQL function ("Library.Function" key of
        `external_functions`; called with the evaluated arguments), or None."""
        return self.external_functions.get(f"{library}.{name}")

    # -- introspection ---------------------------------------------------------------------
    @property
    def library_names(self) -> list[str]:
        """Names of the loaded libraries, sorted."""
        return sorted(self._libraries)

    def library(self, name: str) -> LibraryRuntime:
        lib = self._libraries.get(name)
        if lib is None:
            raise ElmLoadError(f"library {name!r} is not loaded")
        return lib

    def definitions(self, library: str) -> list[str]:
        """Names of the expression definitions of a library, in declaration order."""
        return list(self.library(library).expressions)

    def parameter_defaults(self, library: str) -> dict[str, Any]:
        """Each parameter's default value (None when it has none)."""
        lib = self.library(library)
        ctx = Context(engine=self, library=library, terminology=self.terminology)
        return {name: p(ctx) for name, p in lib.parameters.items()}

    # -- evaluation ------------------------------------------------------------------------
    def prepare_data(self, data: Any) -> PatientData:
        """Index one patient's resources (a Bundle, a list of resources, or one resource)."""
        return PatientData.from_any(data)

    def evaluate(
        self,
        library: str,
        expressions: Iterable[str] | None = None,
        data: Any = None,
        parameters: dict[str, Any] | None = None,
        now: Any = None,
        context: str = "Patient",
    ) -> dict[str, Any]:
        """Evaluate definitions of `library` for one patient.

        `expressions` defaults to every definition; `parameters` override defaults by name (a
        bare name reaches every library declaring it; `"Lib.Name"` targets one library); `now`
        is the evaluation time (timezone-aware `datetime` or CQL DateTime; default: the current
        time), constant for the whole evaluation. Raises `ElmRuntimeError` naming the failing
        definition.
        """
        lib = self.library(library)
        if context not in SUPPORTED_CONTEXTS:
            raise ElmRuntimeError(f"unsupported context {context!r}", library=library)
        names = list(expressions) if expressions is not None else list(lib.expressions)
        defs = []
        for n in names:
            d = lib.expressions.get(n)
            if d is None:
                raise ElmRuntimeError(f"no definition named {n!r}", library=library)
            defs.append(d)
        ctx = Context(
            engine=self,
            library=library,
            data=PatientData.from_any(data),
            parameters=_parameter_keys(parameters),
            now=_as_datetime(now),
            terminology=self.terminology,
            context_name=context,
        )
        if now is not None and not isinstance(now, _dt.datetime):
            ctx.now_value = now
        return {d.name: _public(d(ctx)) if d.may_hold_choice else d(ctx) for d in defs}


def _public(value: Any) -> Any:
    """Results leave the engine without internal wrappers (FHIR choice tags)."""
    if isinstance(value, FhirChoice):
        return value.value
    if isinstance(value, list):
        if any(isinstance(v, (FhirChoice, list, Tuple)) for v in value):
            return [_public(v) for v in value]
        return value
    if isinstance(value, Tuple):
        return Tuple({k: _public(v) for k, v in value.items()})
    return value


def _parameter_keys(parameters: dict[str, Any] | None) -> dict[Any, Any]:
    if not parameters:
        return {}
    out: dict[Any, Any] = {}
    for k, v in parameters.items():
        if isinstance(k, str) and "." in k:
            lib, _, name = k.partition(".")
            out[(lib, name)] = v
        else:
            out[k] = v
    return out


def _as_datetime(now: Any) -> _dt.datetime | None:
    if now is None:
        return None
    if isinstance(now, _dt.datetime):
        if now.tzinfo is None:
            raise ElmRuntimeError("now must be timezone-aware")
        return now
    to_python = getattr(now, "to_python", None)
    if to_python is not None:
        return to_python()
    raise ElmRuntimeError(f"unsupported evaluation time {now!r}")
