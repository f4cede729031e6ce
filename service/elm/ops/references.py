"""References: definitions, functions, parameters, operands, aliases and identifiers.

References are resolved at compile time to the runtime objects they denote, so evaluation is a
direct call (no name lookups per evaluation except the scope variables of queries/functions).
"""

from __future__ import annotations

from typing import Any

from service.elm.compiler import Compiler, Evaluator, result_type, spec_name
from service.elm.errors import ElmLoadError
from service.elm.ops.structured import get_property
from service.elm.registry import operator


@operator("ExpressionRef")
def compile_expression_ref(node: dict, c: Compiler) -> Evaluator:
    lib = c.resolve_library(node.get("libraryName"), node)
    d = lib.expressions.get(node["name"])
    if d is None:
        raise ElmLoadError(f"{c.library.name}: unknown expression {lib.name}.{node['name']}")
    c.not_constant()
    return d  # ExpressionDef is itself callable with the context (cached per evaluation)


@operator("ParameterRef")
def compile_parameter_ref(node: dict, c: Compiler) -> Evaluator:
    lib = c.resolve_library(node.get("libraryName"), node)
    p = lib.parameters.get(node["name"])
    if p is None:
        raise ElmLoadError(f"{c.library.name}: unknown parameter {lib.name}.{node['name']}")
    c.not_constant()
    return p


def _scope_ref(name: str) -> Evaluator:
    def ref(ctx: Any) -> Any:
        return ctx.vars.get(name)

    return ref


@operator("OperandRef", "AliasRef", "QueryLetRef")
def compile_scope_ref(node: dict, c: Compiler) -> Evaluator:
    c.uses_scope()
    return _scope_ref(node["name"])


@operator("IdentifierRef")
def compile_identifier_ref(node: dict, c: Compiler) -> Evaluator:
    """An unresolved identifier: a scope variable, else a property of the `$this` scope."""
    name = node["name"]
    c.uses_scope()

    def ref(ctx: Any) -> Any:
        vars_ = ctx.vars
        if name in vars_:
            return vars_[name]
        this = vars_.get("$this")
        if this is None:
            return None
        if type(this) is dict:
            v = this.get(name)
            if v is not None:
                return v
        return get_property(this, name)

    return ref


def _type_distance(actual: str | None, declared: str | None) -> int | None:
    """How well a static argument type fits a declared operand type (lower is better)."""
    if declared is None or actual is None:
        return 5
    if actual == declared:
        return 0
    if declared in ("System.Any", "FHIR.Element", "FHIR.Resource", "FHIR.DomainResource"):
        return 3
    if declared.startswith("Choice<") and actual in declared:
        return 1
    if actual == "System.Any" or actual.startswith("Choice<"):
        return 4
    # FHIR primitive profiles (e.g. FHIR.code vs FHIR.string) and other subtypes
    if actual.startswith("FHIR.") and declared.startswith("FHIR."):
        return 6
    if actual.startswith("List<") != declared.startswith("List<"):
        return None
    if actual.startswith("Interval<") != declared.startswith("Interval<"):
        return None
    return 8


def resolve_overload(candidates: list[Any], node: dict, arg_types: list[str | None]) -> Any | None:
    """Pick the function definition whose declared operand types fit the arguments best."""
    n = len(arg_types)
    best, best_score = None, None
    for fd in candidates:
        if len(fd.operand_names) != n:
            continue
        score = 0
        for actual, spec in zip(arg_types, fd.operand_types, strict=True):
            d = _type_distance(actual, spec_name(spec))
            if d is None:
                score = None
                break
            score += d
        if score is None:
            continue
        if best_score is None or score < best_score:
            best, best_score = fd, score
    return best


@operator("FunctionRef")
def compile_function_ref(node: dict, c: Compiler) -> Evaluator:
    lib = c.resolve_library(node.get("libraryName"), node)
    name = node["name"]
    args = c.compile_operands(node)
    operand_nodes = node.get("operand") or []
    if isinstance(operand_nodes, dict):
        operand_nodes = [operand_nodes]
    signature = node.get("signature") or []
    if len(signature) == len(operand_nodes) and signature:
        arg_types = [spec_name(s) for s in signature]
    else:
        arg_types = [result_type(o) for o in operand_nodes]
    candidates = lib.functions.get(name, [])
    fd = resolve_overload(candidates, node, arg_types)
    if fd is None:
        system_fn = c.engine.system_function(name, len(args)) if c.engine else None
        if system_fn is not None:
            return system_fn(args, node, c)
        raise ElmLoadError(
            f"{c.library.name}: no function {lib.name}.{name} for {len(args)} argument(s)"
            f" at {node.get('locator', '?')}"
        )
    if fd.external:
        ext = c.engine.external_function(lib.name, name) if c.engine else None
        if ext is None:
            raise ElmLoadError(f"external function {lib.name}.{name} has no implementation")
        c.not_constant()
        return _call_external(ext, args)
    c.not_constant()
    return _call(fd, args)


def _call_external(fn: Any, args: list[Evaluator]) -> Evaluator:
    def call(ctx: Any) -> Any:
        return fn(*[a(ctx) for a in args])

    return call


def _call(fd: Any, args: list[Evaluator]) -> Evaluator:
    names = fd.operand_names
    if len(args) == 1:
        (a,) = args
        (n0,) = names

        def call1(ctx: Any) -> Any:
            frame = {n0: a(ctx)}
            saved = ctx.vars
            ctx.vars = frame
            try:
                return fd.body(ctx)
            finally:
                ctx.vars = saved

        return call1
    if len(args) == 2:
        a, b = args
        n0, n1 = names

        def call2(ctx: Any) -> Any:
            frame = {n0: a(ctx), n1: b(ctx)}
            saved = ctx.vars
            ctx.vars = frame
            try:
                return fd.body(ctx)
            finally:
                ctx.vars = saved

        return call2

    def call(ctx: Any) -> Any:
        frame = {n: a(ctx) for n, a in zip(names, args, strict=True)}
        saved = ctx.vars
        ctx.vars = frame
        try:
            return fd.body(ctx)
        finally:
            ctx.vars = saved

    return call
