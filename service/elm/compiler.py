"""Compile ELM nodes into Python closures, once, at load time.

`Compiler.compile(node)` looks the node type up in `service.elm.registry.OPERATORS` and returns
the closure the registered function builds; evaluation never dispatches on node types. Pure
subtrees whose operands are all constants are folded into constants here (a fold that would
touch evaluation state — data, time, parameters, scope — is abandoned and compiled normally).
Code that runs once per query row or function call (`compile_in_scope`) has its
scope-invariant subtrees memoised per evaluation, so e.g. a retrieve in a `with` clause runs
once, not once per row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.elm.datamodel import MODEL
from service.elm.errors import ElmLoadError
from service.elm.registry import OPERATORS
from service.elm.runtime.context import FoldContext

Evaluator = Callable[[Any], Any]

SYSTEM_NS = "urn:hl7-org:elm-types:r1"
FHIR_NS = "http://hl7.org/fhir"

#: Node types never folded even when their operands are constant (side effects, identity).
_NO_FOLD = frozenset({"Message", "ExpressionRef", "FunctionRef", "ParameterRef", "Query"})
#: Node types not worth (or not safe) memoising when they are invariant inside a query row or
#: function body: cheap leaves, references that cache themselves, side effects.
_NO_MEMO = frozenset(
    {
        "Literal",
        "Null",
        "ExpressionRef",
        "ParameterRef",
        "CodeSystemRef",
        "ValueSetRef",
        "CodeRef",
        "ConceptRef",
        "Message",
        "As",
        "Is",
    }
)
_FOLD_CTX = FoldContext()
_MISSING = object()


def _memoised(ev: Evaluator) -> Evaluator:
    """Evaluate `ev` once per evaluation (it depends on data/time/parameters, not on scope)."""
    key = object()

    def memo(ctx: Any) -> Any:
        cache = ctx.cache
        v = cache.get(key, _MISSING)
        if v is _MISSING:
            v = cache[key] = ev(ctx)
        return v

    return memo


def constant(value: Any) -> Evaluator:
    """An evaluator that returns `value`, marked so parents can fold it."""

    def const(ctx: Any) -> Any:
        return value

    const.cql_const = True  # type: ignore[attr-defined]
    const.cql_value = value  # type: ignore[attr-defined]
    return const


def is_constant(ev: Evaluator) -> bool:
    """True when `ev` was made by `constant()` (its value is known at compile time)."""
    return getattr(ev, "cql_const", False)


def split_type(qname: str | None) -> tuple[str | None, str | None]:
    """'{urn:hl7-org:elm-types:r1}Integer' -> ('urn:hl7-org:elm-types:r1', 'Integer')."""
    if not qname:
        return None, None
    if qname.startswith("{"):
        ns, _, local = qname[1:].partition("}")
        return ns, local
    if "." in qname:
        model, _, local = qname.partition(".")
        return {"System": SYSTEM_NS, "FHIR": FHIR_NS}.get(model, model), local
    return None, qname


def result_type(node: dict | None) -> str | None:
    """The node's result type as 'System.Integer' / 'FHIR.Observation' / 'List<...>' or None."""
    if not node:
        return None
    name = node.get("resultTypeName")
    if name:
        return qualified(name)
    spec = node.get("resultTypeSpecifier")
    return spec_name(spec) if spec else None


def qualified(qname: str) -> str:
    ns, local = split_type(qname)
    if ns == SYSTEM_NS:
        return f"System.{local}"
    if ns == FHIR_NS:
        return f"FHIR.{local}"
    return f"{ns}.{local}" if ns else str(local)


def spec_name(spec: dict | None) -> str | None:
    """A type specifier as a readable, comparable string ('List<System.Integer>', ...)."""
    if not spec:
        return None
    t = spec.get("type")
    if t == "NamedTypeSpecifier" or (t is None and "name" in spec):
        return qualified(spec["name"])
    if t == "ListTypeSpecifier":
        return f"List<{spec_name(spec.get('elementType'))}>"
    if t == "IntervalTypeSpecifier":
        return f"Interval<{spec_name(spec.get('pointType'))}>"
    if t == "TupleTypeSpecifier":
        els = ",".join(
            f"{e.get('name')}:{spec_name(e.get('elementType') or e.get('type'))}"
            for e in spec.get("element") or []
        )
        return f"Tuple<{els}>"
    if t == "ChoiceTypeSpecifier":
        return (
            "Choice<"
            + ",".join(str(spec_name(c)) for c in spec.get("choice") or spec.get("type") or [])
            + ">"
        )
    return None


class Compiler:
    """Compiles the ELM of one library (references resolve against `library`)."""

    def __init__(self, library: Any, engine: Any = None) -> None:
        self.library = library
        self.engine = engine
        # per node being compiled: [all operands constant, no operand depends on the scope]
        self._frames: list[list[bool]] = []
        #: > 0 while compiling code that runs once per query row or per function call, where
        #: scope-invariant subtrees are memoised per evaluation
        self.scope_depth = 0
        self.definition: str | None = None  # name of the definition being compiled

    # -- compiling -------------------------------------------------------------------------
    def compile(self, node: dict) -> Evaluator:
        """Compile one ELM expression node (ElmLoadError if its type is not supported)."""
        if node is None:
            return constant(None)
        node_type = node.get("type")
        fn = OPERATORS.get(node_type)  # type: ignore[arg-type]
        if fn is None:
            raise ElmLoadError(
                f"unsupported ELM node type {node_type!r}"
                f" at {node.get('locator', '?')} in {self.library.name}"
                + (f".{self.definition}" if self.definition else "")
            )
        frame = [True, True]
        self._frames.append(frame)
        try:
            ev = fn(node, self)
        finally:
            self._frames.pop()
        if not is_constant(ev) and frame[0] and node_type not in _NO_FOLD:
            ev = self._try_fold(ev)
        constant_ = is_constant(ev)
        if self.scope_depth and frame[1] and not constant_ and node_type not in _NO_MEMO:
            ev = _memoised(ev)
        if self._frames:
            parent = self._frames[-1]
            if not constant_:
                parent[0] = False
            if not frame[1]:
                parent[1] = False
        return ev

    def _try_fold(self, ev: Evaluator) -> Evaluator:
        try:
            value = ev(_FOLD_CTX)
        except Exception:
            return ev
        return constant(value)

    def compile_operands(self, node: dict) -> list[Evaluator]:
        """Compile `node["operand"]`, which ELM writes as a single node or as a list."""
        ops = node.get("operand")
        if ops is None:
            return []
        if isinstance(ops, dict):
            return [self.compile(ops)]
        return [self.compile(o) for o in ops]

    def compile_operand(self, node: dict) -> Evaluator:
        """Compile the single operand of a unary operator."""
        ops = node.get("operand")
        if isinstance(ops, list):
            if len(ops) != 1:
                raise ElmLoadError(f"{node.get('type')} expects one operand")
            ops = ops[0]
        return self.compile(ops)

    def compile_opt(self, node: dict | None) -> Evaluator | None:
        """Compile an optional child (None stays None)."""
        return None if node is None else self.compile(node)

    def not_constant(self) -> None:
        """Mark the node being compiled as dependent on evaluation state (no folding)."""
        if self._frames:
            self._frames[-1][0] = False

    def uses_scope(self) -> None:
        """Mark the node being compiled as reading the scope (aliases, lets, operands,
        `$this`): neither folded nor memoised."""
        if self._frames:
            self._frames[-1][0] = False
            self._frames[-1][1] = False

    def compile_in_scope(self, node: dict) -> Evaluator:
        """Compile code that runs once per query row / function call."""
        self.scope_depth += 1
        try:
            return self.compile(node)
        finally:
            self.scope_depth -= 1

    def static_type(self, node: dict | None) -> str | None:
        """The node's result type; for references without one, the referenced definition's."""
        t = result_type(node)
        if t is not None or not node:
            return t
        if node.get("type") == "ExpressionRef":
            try:
                lib = self.resolve_library(node.get("libraryName"), node)
            except ElmLoadError:
                return None
            d = lib.expressions.get(node.get("name"))
            if d is not None:
                return result_type(d.node) or result_type(d.node.get("expression"))
        if node.get("type") == "Property" and node.get("source") is not None:
            owner = self.static_type(node["source"])
            if owner and owner.startswith("FHIR."):
                return MODEL.path_type(owner, node["path"])
        return None

    # -- resolution ------------------------------------------------------------------------
    def resolve_library(self, library_name: str | None, node: dict | None = None) -> Any:
        """The library a reference points to: this one, or an include by local identifier."""
        if not library_name:
            return self.library
        lib = self.library.includes.get(library_name)
        if lib is None:
            where = f" at {node.get('locator', '?')}" if node else ""
            raise ElmLoadError(
                f"{self.library.name}: unknown included library {library_name!r}{where}"
            )
        return lib
