"""`Retrieve` over one patient's FHIR resources.

Resources are indexed by type once per request (`PatientData`); a code filter builds, lazily
and once per request, an index (system, code) -> resource positions for the retrieve's
`codeProperty`, so each further retrieve with a value set or code list is a few set lookups.
The value set of a `codes` ValueSetRef is resolved against the terminology at load time.
Importing this module registers the `Retrieve` operator (the ELM core has no data access of
its own: the FHIR data source provides it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from service.elm.compiler import Compiler, Evaluator, split_type
from service.elm.datatypes import interval as iv
from service.elm.datatypes.clinical import Code, Concept, ValueSetRef
from service.elm.errors import CqlError, ElmLoadError
from service.elm.fhir.elements import FhirChoice, choice_lookup, parse_fhir_datetime
from service.elm.registry import operator


def element_codes(value: Any) -> Iterator[tuple[Any, Any]]:
    """(system, code) pairs of a FHIR code-bearing element: CodeableConcept, Coding, code
    string, a list of those, or a CQL Code/Concept."""
    if value is None:
        return
    if isinstance(value, FhirChoice):
        value = value.value
    if isinstance(value, list):
        for v in value:
            yield from element_codes(v)
    elif isinstance(value, dict):
        coding = value.get("coding")
        if coding is not None:
            for c in coding:
                if isinstance(c, dict):
                    yield (c.get("system"), c.get("code"))
        elif "code" in value:
            yield (value.get("system"), value.get("code"))
    elif isinstance(value, str):
        yield (None, value)
    elif isinstance(value, Code):
        yield (value.system, value.code)
    elif isinstance(value, Concept):
        for c in value.codes:
            yield (c.system, c.code)


def _code_index(data: Any, resource_type: str, path: str) -> dict[Any, list[int]]:
    key = (resource_type, path)
    index = data.code_index.get(key)
    if index is not None:
        return index
    index = {}
    parts = path.split(".")
    for pos, r in enumerate(data.resources(resource_type)):
        value: Any = r
        for p in parts:
            if isinstance(value, FhirChoice):
                value = value.value
            if not isinstance(value, dict):
                value = None
                break
            v = value.get(p)
            value = v if v is not None else choice_lookup(value, p)
        seen = set()
        for k in element_codes(value):
            if k not in seen:
                seen.add(k)
                index.setdefault(k, []).append(pos)
                index.setdefault((None, k[1]), []).append(pos) if k[0] is not None else None
    data.code_index[key] = index
    return index


def _select(resources: list[dict], index: dict, keys: Any) -> list[dict]:
    positions: set[int] = set()
    for k in keys:
        hit = index.get(k)
        if hit:
            positions.update(hit)
    return [resources[p] for p in sorted(positions)]


def _wanted_keys(codes: Any) -> list[tuple[Any, Any]]:
    out: list[tuple[Any, Any]] = []
    for item in codes if isinstance(codes, list) else [codes]:
        if item is None:
            continue
        out.extend(element_codes(item))
    return out


@operator("Retrieve")
def compile_retrieve(node: dict, c: Compiler) -> Evaluator:
    _ns, resource_type = split_type(node.get("dataType"))
    if not resource_type:
        raise ElmLoadError("Retrieve without dataType")
    c.not_constant()
    codes_node = node.get("codes")
    code_path = node.get("codeProperty") or "code"
    date_filter = _compile_date_filter(node, c)
    if node.get("context") is not None:
        raise ElmLoadError(
            f"Retrieve of {resource_type}: related-context retrieves are not supported"
        )
    if node.get("codeFilter") or node.get("otherFilter") or node.get("include"):
        raise ElmLoadError(
            f"Retrieve of {resource_type}: codeFilter/otherFilter/include are not supported"
        )

    if codes_node is None:

        def retrieve_all(ctx: Any) -> list[dict]:
            data = ctx.data
            if data is None:
                return []
            items = data.resources(resource_type)
            if date_filter is not None:
                items = date_filter(ctx, items)
            return list(items)

        return retrieve_all

    term = c.engine.terminology if c.engine is not None else None
    static_keys = None
    if codes_node.get("type") == "ValueSetRef":
        ref: ValueSetRef = c.compile(codes_node)(None)
        if term is not None:
            exp = term.valueset(ref.id, ref.version)
            if exp is None:
                c.engine.report_missing_terminology("ValueSet", ref, c.library.name)
            else:
                static_keys = exp.keys
    codes = c.compile(codes_node)

    def retrieve_coded(ctx: Any) -> list[dict]:
        data = ctx.data
        if data is None:
            return []
        resources = data.resources(resource_type)
        if not resources:
            return []
        index = _code_index(data, resource_type, code_path)
        if static_keys is not None:
            keys = (
                static_keys
                if len(static_keys) < len(index)
                else [k for k in index if k in static_keys]
            )
        else:
            wanted = codes(ctx)
            if wanted is None:
                return []
            if isinstance(wanted, ValueSetRef):
                exp = (
                    ctx.terminology.valueset(wanted.id, wanted.version) if ctx.terminology else None
                )
                if exp is None:
                    raise CqlError(f"ValueSet {wanted.id} is unknown")
                keys = exp.keys
            else:
                keys = _wanted_keys(wanted)
        items = _select(resources, index, keys)
        if date_filter is not None:
            items = date_filter(ctx, items)
        return items

    return retrieve_coded


def _compile_date_filter(node: dict, c: Compiler) -> Any:
    """`dateProperty` + `dateRange`: keep resources whose date (a dateTime, or a Period taken
    as an interval) lies within the range, as the reference engine does."""
    date_path = node.get("dateProperty")
    date_range = node.get("dateRange")
    if node.get("dateFilter"):
        raise ElmLoadError("Retrieve dateFilter elements are not supported")
    if date_path is None or date_range is None:
        return None

    rng = c.compile(date_range)

    def date_value(r: dict, ctx: Any) -> Any:
        v = r.get(date_path)
        if v is None:
            v = choice_lookup(r, date_path)
        if isinstance(v, FhirChoice):
            v = v.value
        if isinstance(v, str):
            return parse_fhir_datetime(v, ctx)
        if isinstance(v, dict) and ("start" in v or "end" in v):
            start = parse_fhir_datetime(v["start"], ctx) if v.get("start") else None
            end = parse_fhir_datetime(v["end"], ctx) if v.get("end") else None
            return iv.Interval(start, end, True, True)
        return None

    def date_filter(ctx: Any, items: list[dict]) -> list[dict]:
        interval = rng(ctx)
        if interval is None:
            return items
        out = []
        for r in items:
            value = date_value(r, ctx)
            if value is None:
                continue
            if isinstance(value, iv.Interval):
                keep = iv.includes(interval, value)
            else:
                keep = iv.contains(interval, value)
            if keep is True:
                out.append(r)
        return out

    return date_filter
