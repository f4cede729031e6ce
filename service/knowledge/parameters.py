"""Deployment values of CQL parameters, checked against the loaded libraries once, at start-up.

Every unsourced threshold of the content is a CQL parameter with a documented default. A
deployment sets its own values with `CDS_CQL_PARAMETERS[_FILE]` (a FHIR Parameters resource, the
shape of `$apply`'s `parameters`; see docs/deploy.md). `resolve_parameters(kb, resource)` turns it
into `{name: CQL value}` with the same FHIR → CQL conversion as `$apply`, and refuses (ConfigError)
a name that no loaded library declares, a value whose type does not fit the declaration, or a
parameter the service sets per request. A name is bare (every library declaring it, as in the
engine) or `Library.Name` (that library only).

Precedence (`merge_parameters`): a request's own CQL parameters (`$apply` `parameters`; CDS Hooks'
`Selections`) > deployment values > the content's defaults. A request's bare name also replaces
a deployment's `Library.Name` value for that name.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from service.config import ConfigError
from service.elm.datatypes.clinical import Concept
from service.elm.fhir.values import ConversionError, parameters_to_cql

if TYPE_CHECKING:
    from service.knowledge import KnowledgeBase

#: Parameters the service fills from each request; a deployment value would be meaningless.
PER_REQUEST = {
    "Selections": "it is set per request from the order-select context",
    "Draft Orders": "it is set per request from the order hooks' draftOrders",
}
_ELM_TYPES = "{urn:hl7-org:elm-types:r1}"


def declared_parameters(kb: KnowledgeBase) -> dict[str, dict[str, str]]:
    """Parameter name → {library name: declared CQL type, e.g. 'Integer', 'List<String>'}."""
    out: dict[str, dict[str, str]] = {}
    for lib_name, lib in kb.libraries.items():
        section = lib.elm.get("library") or {}
        for node in (section.get("parameters") or {}).get("def") or []:
            out.setdefault(node["name"], {})[lib_name] = declared_type(node)
    return out


def declared_type(node: dict) -> str:
    """The CQL type of an ELM ParameterDef (its type specifier, else its default's type)."""
    for candidate in (node, node.get("default") or {}):
        spec = candidate.get("parameterTypeSpecifier") or candidate.get("resultTypeSpecifier")
        if spec:
            return _spec_name(spec)
        if candidate.get("resultTypeName"):
            return _short(candidate["resultTypeName"])
    return "Any"


def _short(name: str) -> str:
    return name[len(_ELM_TYPES) :] if name.startswith(_ELM_TYPES) else name


def _spec_name(spec: dict) -> str:
    t = spec.get("type")
    if t == "NamedTypeSpecifier":
        return _short(spec.get("name") or "")
    if t == "ListTypeSpecifier":
        return f"List<{_spec_name(spec.get('elementType') or {})}>"
    if t == "IntervalTypeSpecifier":
        return f"Interval<{_spec_name(spec.get('pointType') or {})}>"
    return t or "Any"


def value_type(value: Any) -> str:
    """The CQL type of a converted value ('Integer', 'List<String>', 'Interval<DateTime>')."""
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, Decimal):
        return "Decimal"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        kinds = {value_type(v) for v in value}
        return f"List<{kinds.pop() if len(kinds) == 1 else 'Any'}>"
    name = type(value).__name__
    if name == "Interval":
        return f"Interval<{value.point_type}>"
    return name


class _Mismatch(Exception):
    pass


def _coerce(value: Any, declared: str) -> Any:
    """`value` as a value of the declared type (CQL's implicit conversions), or _Mismatch."""
    got = value_type(value)
    if got == declared or declared == "Any":
        return value
    if declared == "Decimal" and got == "Integer":
        return Decimal(value)
    if declared == "Concept" and got == "Code":
        return Concept([value])
    if declared.startswith("List<"):
        element = declared[len("List<") : -1]
        items = value if isinstance(value, list) else [value]  # one occurrence: a 1-item list
        return [_coerce(v, element) for v in items]
    raise _Mismatch(got)


def resolve_parameters(kb: KnowledgeBase, resource: dict | None) -> dict[str, Any]:
    """A deployment's Parameters resource → {name: CQL value}, checked against `kb`'s libraries.
    Raises ConfigError naming the parameter and what is wrong."""
    if not resource:
        return {}
    try:
        values = parameters_to_cql(resource)
    except ConversionError as exc:
        raise ConfigError(f"CDS_CQL_PARAMETERS: {exc}") from None
    declared = declared_parameters(kb)
    out: dict[str, Any] = {}
    for key, value in values.items():
        library, _, name = key.partition(".") if "." in key else ("", "", key)
        if name in PER_REQUEST:
            raise ConfigError(
                f"CQL parameter {key!r} cannot be set by a deployment: {PER_REQUEST[name]}"
            )
        targets = {
            lib: t for lib, t in (declared.get(name) or {}).items() if not library or lib == library
        }
        if not targets:
            where = f"library {library}" if library else "any loaded library"
            known = ", ".join(sorted(n for n in declared if n not in PER_REQUEST))
            raise ConfigError(
                f"CQL parameter {key!r} is not declared by {where}; declared parameters: {known}"
            )
        for lib, cql_type in sorted(targets.items()):
            try:
                value = _coerce(value, cql_type)
            except _Mismatch as exc:
                raise ConfigError(
                    f"CQL parameter {key!r} is declared {cql_type} in {lib}; the configured "
                    f"value is {exc} ({_value_keys(resource, key)})"
                ) from None
        out[key] = value
    return out


def _value_keys(resource: dict, name: str) -> str:
    items = [p for p in resource.get("parameter") or [] if p.get("name") == name]
    return ", ".join(sorted({k for p in items for k in p if k.startswith("value")}))


def merge_parameters(deployment: dict[str, Any], request: dict[str, Any] | None) -> dict[str, Any]:
    """The CQL parameters of one evaluation: the request's values win over the deployment's."""
    if not request:
        return deployment
    if not deployment:
        return request
    bare = {k for k in request if "." not in k}
    out = {k: v for k, v in deployment.items() if k.partition(".")[2] not in bare}
    out.update(request)
    return out


def effective_values(kb: KnowledgeBase, libraries: list[str]) -> dict[str, Any]:
    """{name: CQL value} of the parameters `libraries` declare (per-request ones left out):
    the deployment's value, else the content's default. A name two libraries declare with
    different values is listed as `Library.Name`."""
    found: dict[str, dict[str, Any]] = {}
    for lib in libraries:
        defaults = kb.engine.parameter_defaults(lib)
        for name, default in defaults.items():
            if name in PER_REQUEST:
                continue
            qualified = f"{lib}.{name}"
            if qualified in kb.parameters:
                value = kb.parameters[qualified]
            else:
                value = kb.parameters.get(name, default)
            found.setdefault(name, {})[lib] = value
    out: dict[str, Any] = {}
    for name, by_lib in found.items():
        values = list(by_lib.values())
        if all(v == values[0] for v in values[1:]):
            out[name] = values[0]
        else:
            out.update({f"{lib}.{name}": v for lib, v in by_lib.items()})
    return out
