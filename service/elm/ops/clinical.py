"""Clinical operators: terminology references, Code/Concept selectors, membership tests.

Code system, value set, code and concept definitions are constants of a library: they are
computed once at load time (lazily, so definitions may point into other libraries) and the
references compile to constants. Value set membership is resolved against the engine's
`Terminology` at load time; a value set the terminology does not hold is a load error when a
terminology is configured (a guideline must not silently match nothing at request time).
"""

from __future__ import annotations

from typing import Any

from service.elm.compiler import Compiler, Evaluator, constant
from service.elm.datatypes.clinical import Code, CodeSystemRef, Concept, ValueSetRef
from service.elm.datatypes.temporal import Date, DateTime, unit_index
from service.elm.errors import CqlError, ElmLoadError
from service.elm.registry import operator


def _term(lib: Any, kind: str, name: str, c: Compiler) -> Any:
    key = (kind, name)
    if key in lib.terms:
        return lib.terms[key]
    defs = {
        "codesystem": lib.codesystem_defs,
        "valueset": lib.valueset_defs,
        "code": lib.code_defs,
        "concept": lib.concept_defs,
    }[kind]
    d = defs.get(name)
    if d is None:
        raise ElmLoadError(f"{lib.name}: unknown {kind} {name!r}")
    if kind == "codesystem":
        value: Any = CodeSystemRef(d["id"], d.get("version"), name)
    elif kind == "valueset":
        systems = [
            _term(_lib_of(lib, ref), "codesystem", ref["name"], c)
            for ref in d.get("codeSystem") or []
        ]
        value = ValueSetRef(d["id"], d.get("version"), name, systems)
    elif kind == "code":
        ref = d.get("codeSystem") or {}
        cs = _term(_lib_of(lib, ref), "codesystem", ref["name"], c) if ref else None
        value = Code(d["id"], cs.id if cs else None, cs.version if cs else None, d.get("display"))
    else:
        codes = [_term(_lib_of(lib, ref), "code", ref["name"], c) for ref in d.get("code") or []]
        value = Concept(codes, d.get("display"))
    lib.terms[key] = value
    return value


def _lib_of(lib: Any, ref: dict) -> Any:
    name = ref.get("libraryName")
    if not name:
        return lib
    target = lib.includes.get(name)
    if target is None:
        raise ElmLoadError(f"{lib.name}: unknown included library {name!r}")
    return target


def compile_terminology_defs(lib: Any, c: Compiler) -> None:
    """Compute every terminology definition of `lib` (errors surface at load time)."""
    for name in lib.codesystem_defs:
        _term(lib, "codesystem", name, c)
    for name in lib.valueset_defs:
        _term(lib, "valueset", name, c)
    for name in lib.code_defs:
        _term(lib, "code", name, c)
    for name in lib.concept_defs:
        _term(lib, "concept", name, c)


def _ref(kind: str) -> Any:
    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        lib = c.resolve_library(node.get("libraryName"), node)
        return constant(_term(lib, kind, node["name"], c))

    return compile_fn


operator("CodeSystemRef")(_ref("codesystem"))
operator("ValueSetRef")(_ref("valueset"))
operator("CodeRef")(_ref("code"))
operator("ConceptRef")(_ref("concept"))


@operator("Code")
def compile_code(node: dict, c: Compiler) -> Evaluator:
    ref = node.get("system")
    cs = None
    if ref is not None:
        lib = c.resolve_library(ref.get("libraryName"), node)
        cs = _term(lib, "codesystem", ref["name"], c)
    return constant(
        Code(
            node.get("code"),
            cs.id if cs else None,
            node.get("version") or (cs.version if cs else None),
            node.get("display"),
        )
    )


@operator("Concept")
def compile_concept(node: dict, c: Compiler) -> Evaluator:
    codes = [c.compile(x) for x in node.get("code") or []]
    display = node.get("display")

    def concept(ctx: Any) -> Concept:
        return Concept([f(ctx) for f in codes], display)

    return concept


def _expansion(node: dict, key: str, c: Compiler, codesystem: bool = False) -> Any:
    """The terminology expansion a membership operator tests against (resolved at load time
    when the value set is a static reference), or a run-time resolver."""
    ref_node = node.get(key)
    term = c.engine.terminology if c.engine is not None else None
    if ref_node is not None and ref_node.get("type", "Ref") in (
        "ValueSetRef",
        "CodeSystemRef",
        "Ref",
    ):
        kind_type = "CodeSystemRef" if codesystem else "ValueSetRef"
        ref = c.compile({**ref_node, "type": ref_node.get("type", kind_type)})(None)
        if term is not None:
            exp = (
                term.codesystem(ref.id, ref.version)
                if codesystem
                else term.valueset(ref.id, ref.version)
            )
            if exp is not None:
                return lambda ctx: exp
            c.engine.report_missing_terminology(
                "CodeSystem" if codesystem else "ValueSet", ref, c.library.name
            )
        return _runtime_lookup(lambda ctx: ref, codesystem)
    expr = node.get(key + "Expression")
    if expr is None:
        raise ElmLoadError(f"{node.get('type')} without {key}")
    return _runtime_lookup(c.compile(expr), codesystem)


def _runtime_lookup(ref_fn: Evaluator, codesystem: bool) -> Evaluator:
    def lookup(ctx: Any) -> Any:
        ref = ref_fn(ctx)
        if ref is None:
            return None
        term = ctx.terminology
        exp = None
        if term is not None:
            exp = (
                term.codesystem(ref.id, ref.version)
                if codesystem
                else term.valueset(ref.id, ref.version)
            )
        if exp is None:
            raise CqlError(f"{'CodeSystem' if codesystem else 'ValueSet'} {ref.id} is unknown")
        return exp

    return lookup


def _membership(key: str, codesystem: bool, any_of: bool) -> Any:
    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        code = c.compile(node.get("code") if "code" in node else node.get("codes"))
        expansion = _expansion(node, key, c, codesystem)
        c.not_constant()

        def test(ctx: Any) -> bool | None:
            v = code(ctx)
            if v is None:
                return False
            exp = expansion(ctx)
            if exp is None:
                return None
            if any_of:
                return any(exp.contains(x) for x in v)
            return exp.contains(v)

        return test

    return compile_fn


operator("InValueSet")(_membership("valueset", False, False))
operator("AnyInValueSet")(_membership("valueset", False, True))
operator("InCodeSystem")(_membership("codesystem", True, False))
operator("AnyInCodeSystem")(_membership("codesystem", True, True))


@operator("ExpandValueSet")
def compile_expand_value_set(node: dict, c: Compiler) -> Evaluator:
    ref = c.compile_operand(node)
    lookup = _runtime_lookup(ref, False)
    c.not_constant()

    def expand(ctx: Any) -> list[Code] | None:
        exp = lookup(ctx)
        return None if exp is None else list(exp.codes)

    return expand


# -- subsumption ----------------------------------------------------------------------------


def _codes_of(v: Any) -> list[Code]:
    return v.codes if isinstance(v, Concept) else [v] if isinstance(v, Code) else []


def _subsumption(ancestor_first: bool) -> Any:
    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        a, b = c.compile_operands(node)
        c.not_constant()

        def subsumes(ctx: Any) -> bool | None:
            x, y = a(ctx), b(ctx)
            if x is None or y is None:
                return None
            anc, desc = (x, y) if ancestor_first else (y, x)
            term = ctx.terminology
            unknown = False
            for p in _codes_of(anc):
                for d in _codes_of(desc):
                    if p.system != d.system:
                        continue
                    r = term.subsumes(p.system, p.code, d.code) if term is not None else None
                    if r is True:
                        return True
                    unknown = unknown or r is None
            if unknown:
                raise CqlError("subsumption needs a CodeSystem the terminology does not hold")
            return False

        return subsumes

    return compile_fn


operator("Subsumes")(_subsumption(True))
operator("SubsumedBy")(_subsumption(False))


# -- ages -------------------------------------------------------------------------------------


def evaluation_datetime(ctx: Any) -> Any:
    """The evaluation's `Now()` as a CQL DateTime (computed once per evaluation)."""
    v = ctx.now_value
    if v is None:
        v = ctx.now_value = DateTime.from_python(ctx.now)
    return v


def _age(birth: Any, as_of: Any, unit: int) -> Any:
    if birth is None or as_of is None:
        return None
    if isinstance(birth, Date) and isinstance(as_of, DateTime):
        as_of = as_of.date()
    elif isinstance(birth, DateTime) and isinstance(as_of, Date):
        as_of = as_of.to_datetime(birth.tz)
    return birth.duration_between(as_of, unit)


def _unit_index(node: dict) -> int:
    name = str(node.get("precision") or "Year").lower()
    idx = unit_index(name)
    if idx is None:
        raise ElmLoadError(f"unknown age precision {name!r}")
    return idx


@operator("CalculateAge")
def compile_calculate_age(node: dict, c: Compiler) -> Evaluator:
    birth = c.compile_operand(node)
    unit = _unit_index(node)
    c.not_constant()

    def age(ctx: Any) -> Any:
        return _age(birth(ctx), evaluation_datetime(ctx), unit)

    return age


@operator("CalculateAgeAt")
def compile_calculate_age_at(node: dict, c: Compiler) -> Evaluator:
    birth, as_of = c.compile_operands(node)
    unit = _unit_index(node)

    def age_at(ctx: Any) -> Any:
        return _age(birth(ctx), as_of(ctx), unit)

    return age_at
