"""Runtime form of ELM libraries: definitions, functions, parameters and terminology defs.

Loading is two-phase so references can be resolved at compile time, including recursion
and references across included libraries: first every library gets its definition shells
(`ExpressionDef`, `FunctionDef`, `ParameterDef`, ...), then every body is compiled into a
closure that captures the shells it refers to directly.
"""

from __future__ import annotations

from typing import Any

from service.elm.errors import ElmError, ElmRuntimeError

_MISSING = object()


def _wrap(exc: Exception, library: str, name: str) -> ElmRuntimeError:
    if isinstance(exc, ElmRuntimeError):
        return exc
    msg = str(exc) if isinstance(exc, ElmError) else f"{type(exc).__name__}: {exc}"
    return ElmRuntimeError(msg, library=library, definition=name)


class ExpressionDef:
    """A named expression; evaluated at most once per evaluation (cached in the context)."""

    __slots__ = (
        "access",
        "body",
        "context",
        "library",
        "may_hold_choice",
        "name",
        "node",
        "result_type",
    )

    def __init__(self, library: LibraryRuntime, node: dict) -> None:
        self.library = library
        self.node = node
        self.name: str = node["name"]
        self.context: str | None = node.get("context")
        self.access: str = node.get("accessLevel", "Public")
        self.result_type = node.get("resultTypeName")
        self.body: Any = None
        # FHIR choice values (tagged internally) can only surface where the result type
        # involves a choice, or where the ELM carries no type information
        spec = node.get("resultTypeSpecifier")
        self.may_hold_choice = (
            (self.result_type is None and spec is None)
            or (spec is not None and "ChoiceTypeSpecifier" in repr(spec))
            or "Any" in str(self.result_type)
        )

    def __call__(self, ctx: Any) -> Any:
        cache = ctx.cache
        v = cache.get(self, _MISSING)
        if v is not _MISSING:
            return v
        try:
            v = self.body(ctx)
        except Exception as exc:
            raise _wrap(exc, self.library.name, self.name) from exc
        cache[self] = v
        return v

    def __repr__(self) -> str:
        return f"<define {self.library.name}.{self.name}>"


class FunctionDef:
    """A CQL function: operand names and types, and a compiled body (or external)."""

    __slots__ = (
        "body",
        "external",
        "fluent",
        "library",
        "name",
        "node",
        "operand_names",
        "operand_types",
    )

    def __init__(self, library: LibraryRuntime, node: dict) -> None:
        self.library = library
        self.node = node
        self.name: str = node["name"]
        self.fluent = bool(node.get("fluent"))
        self.external = bool(node.get("external"))
        ops = node.get("operand") or []
        self.operand_names: tuple[str, ...] = tuple(o["name"] for o in ops)
        self.operand_types: list[dict | None] = [o.get("operandTypeSpecifier") for o in ops]
        self.body: Any = None

    def __repr__(self) -> str:
        return f"<function {self.library.name}.{self.name}/{len(self.operand_names)}>"


class ParameterDef:
    """A CQL parameter: override from the request, else the compiled default, else null."""

    __slots__ = ("default", "library", "name", "node")

    def __init__(self, library: LibraryRuntime, node: dict) -> None:
        self.library = library
        self.node = node
        self.name: str = node["name"]
        self.default: Any = None

    def __call__(self, ctx: Any) -> Any:
        cache = ctx.cache
        v = cache.get(self, _MISSING)
        if v is not _MISSING:
            return v
        params = ctx.parameters
        lib = self.library.name
        if (lib, self.name) in params:
            v = params[(lib, self.name)]
        elif self.name in params:
            # A bare name reaches included libraries too (as in cql-execution): a deployment
            # threshold must govern every library that declares it.
            v = params[self.name]
        elif self.default is not None:
            try:
                v = self.default(ctx)
            except Exception as exc:
                raise _wrap(exc, lib, self.name) from exc
        else:
            v = None
        cache[self] = v
        return v


class LibraryRuntime:
    """One loaded library: its identifier, includes and definitions by name."""

    def __init__(self, elm: dict) -> None:
        lib = elm.get("library", elm)
        self.elm = lib
        ident = lib.get("identifier") or {}
        self.name: str = ident.get("id") or "Anonymous"
        self.version: str | None = ident.get("version")
        self.usings: dict[str, dict] = {u["localIdentifier"]: u for u in _defs(lib, "usings")}
        self.include_defs: list[dict] = _defs(lib, "includes")
        self.includes: dict[str, LibraryRuntime] = {}
        self.parameters: dict[str, ParameterDef] = {
            p["name"]: ParameterDef(self, p) for p in _defs(lib, "parameters")
        }
        self.codesystem_defs: dict[str, dict] = {d["name"]: d for d in _defs(lib, "codeSystems")}
        self.valueset_defs: dict[str, dict] = {d["name"]: d for d in _defs(lib, "valueSets")}
        self.code_defs: dict[str, dict] = {d["name"]: d for d in _defs(lib, "codes")}
        self.concept_defs: dict[str, dict] = {d["name"]: d for d in _defs(lib, "concepts")}
        self.contexts: list[str] = [d["name"] for d in _defs(lib, "contexts")]
        self.expressions: dict[str, ExpressionDef] = {}
        self.functions: dict[str, list[FunctionDef]] = {}
        for st in _defs(lib, "statements"):
            if st.get("type") == "FunctionDef":
                self.functions.setdefault(st["name"], []).append(FunctionDef(self, st))
            else:
                self.expressions[st["name"]] = ExpressionDef(self, st)
        # compiled values of codesystem/valueset/code/concept defs (filled by the compiler)
        self.terms: dict[tuple[str, str], Any] = {}

    def __repr__(self) -> str:
        return f"<library {self.name} version {self.version!r}>"


def _defs(lib: dict, key: str) -> list[dict]:
    section = lib.get(key)
    if not section:
        return []
    return list(section.get("def") or [])
