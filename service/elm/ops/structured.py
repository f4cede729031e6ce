"""Structured values: Property access, Tuple and Instance selectors.

Property access works on Tuples and FHIR JSON dicts (key lookup), on CQL datatype objects
(attribute lookup) and on lists (mapped and flattened, as path navigation does). FHIR-specific
element access (choice types, primitives) is specialised at compile time from the ELM result
types by the data model's hooks (`service.elm.datamodel.MODEL`, registered by
`service.elm.fhir.elements`).
"""

from __future__ import annotations

import re
from typing import Any

from service.elm.compiler import Compiler, Evaluator
from service.elm.datamodel import MODEL
from service.elm.datatypes.tuples import Tuple
from service.elm.ops.types import instance_factory
from service.elm.registry import operator

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _attr_name(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def get_property(obj: Any, name: str) -> Any:
    """`obj.name` for any CQL/FHIR value (null-propagating; lists map and flatten)."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        v = obj.get(name)
        if v is None and not isinstance(obj, Tuple):
            return MODEL.missing_element(obj, name)
        return v
    if isinstance(obj, list):
        out: list = []
        for x in obj:
            v = get_property(x, name)
            if isinstance(v, list):
                out.extend(v)
            elif v is not None:
                out.append(v)
        return out
    getter = getattr(obj, "cql_property", None)
    if getter is not None:
        return getter(name)
    v = getattr(obj, name, None)
    if v is None and not name.islower():
        v = getattr(obj, _attr_name(name), None)
    return v


def property_getter(path: str) -> Any:
    """A function value -> value.path (dotted paths navigate step by step)."""
    parts = path.split(".")
    if len(parts) == 1:
        name = parts[0]
        return lambda v: get_property(v, name)

    def get(v: Any) -> Any:
        for p in parts:
            v = get_property(v, p)
            if v is None:
                return None
        return v

    return get


def compile_property_source(node: dict, c: Compiler) -> Evaluator:
    """What a Property node reads its path from: the scope variable it names (a query alias),
    else its compiled `source`."""
    scope = node.get("scope")
    if scope is None:
        return c.compile(node["source"])
    c.uses_scope()

    def scope_value(ctx: Any) -> Any:
        return ctx.vars.get(scope)

    return scope_value


@operator("Property")
def compile_property(node: dict, c: Compiler) -> Evaluator:
    path: str = node["path"]
    source = compile_property_source(node, c)
    source_type = None if node.get("scope") is not None else c.static_type(node["source"])
    special = MODEL.compile_property(node, source, source_type, c)
    if special is not None:
        return special
    getter = property_getter(path)
    if "." not in path and _plain_fhir_element(source_type, path):
        name = path

        def fhir_prop(ctx: Any) -> Any:
            v = source(ctx)
            if type(v) is dict:
                return v.get(name)
            return None if v is None else get_property(v, name)

        return fhir_prop
    if "." not in path:
        name = path

        def prop(ctx: Any) -> Any:
            v = source(ctx)
            if v is None:
                return None
            if type(v) is dict or type(v) is Tuple:
                r = v.get(name)
                if r is not None or type(v) is Tuple:
                    return r
            return get_property(v, name)

        return prop
    return lambda ctx: getter(source(ctx))


def _plain_fhir_element(source_type: str | None, name: str) -> bool:
    """True when the FHIR model declares `name` on the source type and it is not a choice
    (so a missing key means absent: no need to look for `name[x]` variants)."""
    if not source_type or not source_type.startswith("FHIR."):
        return False
    t = MODEL.element_type(source_type, name)
    return t is not None and not t.startswith("Choice<")


@operator("Tuple")
def compile_tuple(node: dict, c: Compiler) -> Evaluator:
    elements = [(e["name"], c.compile(e["value"])) for e in node.get("element") or []]

    def tuple_(ctx: Any) -> Tuple:
        return Tuple({name: fn(ctx) for name, fn in elements})

    return tuple_


@operator("Instance")
def compile_instance(node: dict, c: Compiler) -> Evaluator:
    elements = [(e["name"], c.compile(e["value"])) for e in node.get("element") or []]
    make = instance_factory(node.get("classType"), c)

    def instance(ctx: Any) -> Any:
        return make({name: fn(ctx) for name, fn in elements})

    return instance
