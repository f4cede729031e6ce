"""FHIR R4 element access on plain JSON dicts, specialised at compile time.

- Choice elements (`value[x]`): the ELM result type of a Property lists the choices
  (ChoiceTypeSpecifier), so the candidate JSON keys (`valueQuantity`, `valueString`, ...) are
  computed once. The value is returned wrapped in `FhirChoice`, which remembers the chosen
  FHIR type so that `as FHIR.Quantity` / `is FHIR.dateTime` work; `As`/`Is` directly on a
  choice property compile to a single key lookup.
- Primitives: a FHIR primitive element is its raw JSON value; `.value` on it (as FHIRHelpers
  does) converts to the System type (dates and times parsed, decimals as Decimal).

Importing this module registers this behaviour as the ELM core's data model
(`service.elm.datamodel.MODEL`, see `install`): the core never imports FHIR code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from service.elm import semantics
from service.elm.compiler import Compiler, Evaluator, result_type, spec_name
from service.elm.datamodel import MODEL
from service.elm.datatypes.temporal import Date, DateTime, Time
from service.elm.ops.structured import compile_property_source, get_property, property_getter

FHIR_STRINGS = frozenset(
    [
        "string",
        "code",
        "id",
        "uri",
        "url",
        "canonical",
        "oid",
        "uuid",
        "markdown",
        "base64Binary",
        "xhtml",
    ]
)
FHIR_INTEGERS = frozenset(("integer", "positiveInt", "unsignedInt", "integer64"))
FHIR_PRIMITIVES = (
    FHIR_STRINGS
    | FHIR_INTEGERS
    | frozenset(("boolean", "decimal", "date", "dateTime", "instant", "time"))
)


class FhirChoice:
    """A value read from a choice element, tagged with the FHIR type the data chose."""

    __slots__ = ("type", "value")

    def __init__(self, type_: str, value: Any) -> None:
        self.type = type_
        self.value = value

    def cql_property(self, name: str) -> Any:
        return get_property(self.value, name)

    def cql_equal(self, other: Any) -> bool | None:
        return semantics.equal(self.value, unwrap(other))

    def cql_equivalent(self, other: Any) -> bool:
        return semantics.equivalent(self.value, unwrap(other))

    def __repr__(self) -> str:
        return f"FhirChoice({self.type}, {self.value!r})"


def unwrap(v: Any) -> Any:
    """The JSON value inside a FhirChoice (other values unchanged)."""
    return v.value if isinstance(v, FhirChoice) else v


def choice_key(element: str, fhir_type: str) -> str:
    """JSON key of a choice element for one type: ('value', 'dateTime') -> 'valueDateTime'."""
    return element + fhir_type[:1].upper() + fhir_type[1:]


def choice_lookup(obj: dict, name: str) -> Any:
    """Find `name[x]` in a FHIR JSON object without type information (slow path)."""
    n = len(name)
    for k, v in obj.items():
        if len(k) > n and k.startswith(name) and k[n].isupper():
            t = k[n:]
            lowered = t[:1].lower() + t[1:]
            return FhirChoice(lowered if lowered in FHIR_PRIMITIVES else t, v)
    return None


def _fhir_local(type_name: str | None) -> str | None:
    if type_name and type_name.startswith("FHIR."):
        return type_name[5:]
    return None


def primitive_converter(fhir_type: str) -> Callable[[Any], Any] | None:
    """Converter from a FHIR primitive's JSON value to its System value."""
    if fhir_type in FHIR_STRINGS:
        return lambda v: v if isinstance(v, str) or v is None else str(v)
    if fhir_type in FHIR_INTEGERS:
        return lambda v: v if v is None or isinstance(v, int) else int(v)
    if fhir_type == "boolean":
        return lambda v: v
    if fhir_type == "decimal":

        def dec(v: Any) -> Any:
            if v is None or isinstance(v, Decimal):
                return v
            return Decimal(repr(v)) if isinstance(v, float) else Decimal(v)

        return dec
    if fhir_type in ("dateTime", "instant"):
        return parse_fhir_datetime
    if fhir_type == "date":
        return lambda v: _parse_date(v) if isinstance(v, str) else v
    if fhir_type == "time":
        return lambda v: Time.parse(v) if isinstance(v, str) else v
    return None


def evaluation_offset(ctx: Any) -> Any:
    """The evaluation's timezone offset in hours (Decimal): FHIR dateTimes with a time but
    no offset are taken in it, as the reference engine does."""
    return _offset_hours(ctx.now.utcoffset())


@lru_cache(maxsize=64)
def _offset_hours(off: Any) -> Any:
    return None if off is None else Decimal(int(off.total_seconds())) / 3600


@lru_cache(maxsize=8192)
def _parse_datetime(s: str, default_tz: Any) -> Any:
    # DateTime values are immutable, so parses of the same string are shared (process-wide):
    # a patient's dates are read by many definitions and by many requests.

    return DateTime.parse(s, default_tz)


@lru_cache(maxsize=8192)
def _parse_date(s: str) -> Any:
    return Date.parse(s)


def parse_fhir_datetime(v: Any, ctx: Any = None) -> Any:
    """A FHIR dateTime/instant JSON string as a CQL DateTime (None when malformed)."""
    if not isinstance(v, str):
        return v
    if ctx is not None and "T" in v:
        return _parse_datetime(v, evaluation_offset(ctx))
    return _parse_datetime(v, None)


def _choices(node: dict) -> list[str] | None:
    spec = node.get("resultTypeSpecifier")
    if not spec or spec.get("type") != "ChoiceTypeSpecifier":
        return None
    out = []
    for ch in spec.get("choice") or spec.get("type") or []:
        name = _fhir_local(spec_name(ch))
        if name is None:
            return None
        out.append(name)
    return out


_MODEL: dict | None = None


def _model() -> dict:
    global _MODEL
    if _MODEL is None:
        table = Path(__file__).with_name("fhir_modelinfo_4_0_1.json")
        _MODEL = json.loads(table.read_text(encoding="utf-8"))["types"]
    return _MODEL


def model_types() -> dict:
    """The FHIR R4 model table: {local type name: {"base": ..., "elements": {name: type}}}
    (shared, read-only)."""
    return _model()


def element_type(type_name: str | None, element: str) -> str | None:
    """Declared type of `element` in FHIR class `type_name` ('FHIR.Patient', 'birthDate')
    -> 'FHIR.date' (base classes searched; None when unknown)."""
    local = _fhir_local(type_name)
    model = _model()
    seen = 0
    while local is not None and seen < 20:
        info = model.get(local)
        if info is None:
            return None
        t = info["elements"].get(element)
        if t is not None:
            return t
        local = _fhir_local(info.get("base"))
        seen += 1
    return None


def path_type(type_name: str | None, path: str) -> str | None:
    """Declared type at the end of a dotted path (list element types are unwrapped)."""
    t = type_name
    for step in path.split("."):
        if t is None:
            return None
        if t.startswith("List<"):
            t = t[5:-1]
        t = element_type(t, step)
    return t


def compile_fhir_property(
    node: dict, source: Evaluator, source_type: str | None, c: Compiler
) -> Evaluator | None:
    """A specialised evaluator for FHIR element access, or None for generic access."""
    path = node["path"]
    local = _fhir_local(source_type)
    if path in ("extension", "id") and local in FHIR_PRIMITIVES:
        special = _compile_primitive_sibling(node, path, c)
        if special is not None:
            return special
    if (path == "value" or path.endswith(".value")) and not (
        local is not None and path == "value" and local in FHIR_PRIMITIVES
    ):
        special = _compile_value_path(node, source, path, source_type)
        if special is not None:
            return special
    if local is not None and path == "value" and local in FHIR_PRIMITIVES:
        conv = primitive_converter(local)
        if conv is not None:

            def primitive_value(ctx: Any) -> Any:
                v = source(ctx)
                if v is None:
                    return None
                if isinstance(v, FhirChoice):
                    v = v.value
                if not isinstance(v, (str, int, float)):
                    return get_property(v, "value")
                if conv is parse_fhir_datetime:
                    return conv(v, ctx)
                return conv(v)

            return primitive_value
    choices = _choices(node)
    if choices is None and local is not None and "." not in path:
        declared = element_type(source_type, path)
        if declared and declared.startswith("Choice<"):
            choices = [t[5:] for t in declared[7:-1].split(",") if t.startswith("FHIR.")]
    if choices and "." not in path:
        keys = [(choice_key(path, t), t) for t in choices]

        def choice(ctx: Any) -> Any:
            obj = source(ctx)
            if obj is None:
                return None
            if isinstance(obj, FhirChoice):
                obj = obj.value
            if not isinstance(obj, dict):
                return None
            for key, t in keys:
                v = obj.get(key)
                if v is not None:
                    return FhirChoice(t, v)
            return None

        return choice
    return None


_SYSTEM_TO_FHIR = {
    "String": "string",
    "Integer": "integer",
    "Decimal": "decimal",
    "Boolean": "boolean",
    "Date": "date",
    "DateTime": "dateTime",
    "Time": "time",
}


def _compile_primitive_sibling(node: dict, path: str, c: Compiler) -> Evaluator | None:
    """`x.birthDate.extension` / `.id`: a FHIR primitive's extensions and id live in the
    JSON sibling `_birthDate`, so read them from the parent object."""
    src = node.get("source")
    if not isinstance(src, dict) or src.get("type") != "Property" or "." in src.get("path", ""):
        return None
    key = "_" + src["path"]

    parent = compile_property_source(src, c)

    def sibling(ctx: Any) -> Any:
        obj = parent(ctx)
        if isinstance(obj, FhirChoice):
            obj = obj.value
        if not isinstance(obj, dict):
            return None
        extra = obj.get(key)
        return extra.get(path) if isinstance(extra, dict) else None

    return sibling


def _compile_value_path(
    node: dict, source: Evaluator, path: str, source_type: str | None = None
) -> Evaluator | None:
    """`x.value` / `x.a.value` whose result is a System type: the final `.value` of a FHIR
    primitive (a raw JSON value) is the primitive itself, converted to the System type. The
    type comes from the ELM result type, else from the FHIR model (`Patient.birthDate.value`
    is a System.Date)."""

    rtype = result_type(node)
    if (not rtype or not rtype.startswith("System.")) and source_type:
        rtype = path_type(source_type, path)
    if not rtype or not rtype.startswith("System."):
        return None
    fhir_type = _SYSTEM_TO_FHIR.get(rtype[7:])
    conv = primitive_converter(fhir_type) if fhir_type else None
    if conv is None:
        return None
    prefix = property_getter(path[: -len(".value")]) if "." in path else None

    def value_of(ctx: Any) -> Any:
        v = source(ctx)
        if prefix is not None:
            v = prefix(v)
        if v is None:
            return None
        if isinstance(v, FhirChoice):
            v = v.value
        if isinstance(v, dict):
            v = v.get("value")
            if v is None:
                return None
        elif isinstance(v, list):
            return None
        elif not isinstance(v, (str, int, float)):
            return get_property(v, "value")  # a CQL value (Quantity, ...), not FHIR JSON
        if conv is parse_fhir_datetime:
            return conv(v, ctx)
        return conv(v)

    return value_of


def compile_choice_cast(node: dict, target: str, c: Compiler) -> Evaluator | None:
    """`As`/`Is` applied directly to a choice Property: one key lookup, no wrapper."""
    operand = node.get("operand")
    if not isinstance(operand, dict) or operand.get("type") != "Property":
        return None
    if "." in operand.get("path", "") or not _choices(operand):
        return None
    local = _fhir_local(target)
    if local is None:
        return None
    key = choice_key(operand["path"], local)

    src = compile_property_source(operand, c)

    def cast(ctx: Any) -> Any:
        obj = src(ctx)
        if isinstance(obj, FhirChoice):
            obj = obj.value
        if not isinstance(obj, dict):
            return None
        return obj.get(key)

    return cast


_FHIR_QUANTITY_KINDS = frozenset(
    ("Quantity", "Age", "Duration", "Count", "Distance", "SimpleQuantity", "MoneyQuantity")
)


def fhir_type_test(local: str) -> Any:
    """A predicate value -> True/False/None for the FHIR type `local` ('Observation',
    'Quantity', 'dateTime', ...): choice tags and resource types are checked."""

    def test(v: Any) -> bool | None:
        if isinstance(v, FhirChoice):
            if v.type == local:
                return True
            return local == "Quantity" and v.type in _FHIR_QUANTITY_KINDS
        if isinstance(v, dict):
            rt = v.get("resourceType")
            if rt is not None:
                return rt == local or local in ("Resource", "DomainResource")
        return None  # an untagged element: trust the translator's static typing

    return test


def sort_value_converter(type_name: str | None) -> Any:
    """Sort keys typed as FHIR primitives are compared as their System values (a FHIR
    `instant` string becomes a DateTime), not as JSON strings."""
    if not type_name or not type_name.startswith("FHIR."):
        return None

    local = type_name[5:]
    if local not in FHIR_PRIMITIVES:
        return None
    conv = primitive_converter(local)
    if conv is None:
        return None

    def convert(v: Any, ctx: Any) -> Any:
        if isinstance(v, FhirChoice):
            v = v.value
        if v is None or isinstance(v, (dict, list)):
            return v
        return parse_fhir_datetime(v, ctx) if conv is parse_fhir_datetime else conv(v)

    return convert


def install() -> None:
    """Register FHIR R4 as the data model of the ELM core (done on import; idempotent)."""
    MODEL.missing_element = choice_lookup
    MODEL.compile_property = compile_fhir_property
    MODEL.element_type = element_type
    MODEL.path_type = path_type
    MODEL.compile_choice_cast = compile_choice_cast
    MODEL.unwrap = unwrap
    MODEL.sort_value_converter = sort_value_converter
    MODEL.type_tests["FHIR"] = fhir_type_test


install()
