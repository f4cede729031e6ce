"""FHIR Library resources generated from `cql/*.cql` and the committed ELM in `cql/elm/`.

Libraries are never hand-written: each CQL source with its translated ELM becomes one Library
(`{base}/Library/<CQL library name>`, version = the CQL version; `base` is the content's own:
the base of the canonical by which a PlanDefinition or ActivityDefinition names the library,
else the base of a library that includes it, else the base most of the content's artifacts
share) carrying the CQL and the ELM as base64 `content`, `relatedArtifact` depends-on (included
libraries, value sets, code systems), `parameter` (CQL parameters as `in`, public definitions
as `out`) and `dataRequirement` derived from the ELM's Retrieve nodes
(see `data_requirements.retrieve_requirements`).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from service.knowledge.data_requirements import iter_expression_libraries, library_requirements
from service.knowledge.loader import KnowledgeError

_LIBRARY_DECL = re.compile(r"^\s*library\s+(\"[^\"]+\"|[A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)

_SYSTEM = "{urn:hl7-org:elm-types:r1}"
_FHIR = "{http://hl7.org/fhir}"
#: CQL system types → FHIRAllTypes codes for Library.parameter.type.
_CQL_TO_FHIR_TYPE = {
    "Boolean": "boolean",
    "Integer": "integer",
    "Long": "integer",
    "Decimal": "decimal",
    "String": "string",
    "Date": "date",
    "DateTime": "dateTime",
    "Time": "time",
    "Quantity": "Quantity",
    "Ratio": "Ratio",
    "Code": "Coding",
    "Concept": "CodeableConcept",
}


@dataclass
class CqlLibrary:
    """One CQL library: its source, its ELM and the FHIR Library resource built from them."""

    name: str
    version: str | None
    cql: str
    elm: dict
    cql_path: Path
    elm_text: str = ""
    resource: dict = field(default_factory=dict)
    #: The canonical base of the content this library belongs to (None: `Library/<name>`).
    base: str | None = None

    @property
    def url(self) -> str:
        return f"{self.base}/Library/{self.name}" if self.base else f"Library/{self.name}"

    @property
    def canonical(self) -> str:
        return f"{self.url}|{self.version}" if self.version else self.url

    @property
    def definitions(self) -> set[str]:
        return {d["name"] for d in _defs(self.elm) if d.get("type") != "FunctionDef"}


def library_name_of(cql: str) -> str | None:
    m = _LIBRARY_DECL.search(_strip_comments(cql))
    return m.group(1).strip('"') if m else None


def _strip_comments(cql: str) -> str:
    cql = re.sub(r"/\*.*?\*/", "", cql, flags=re.DOTALL)
    return re.sub(r"//[^\n]*", "", cql)


_LIBRARY_CANONICAL = re.compile(r"^(?P<base>.+)/Library/(?P<name>[^/|]+)(?:\|.*)?$")


def library_bases(resources: Iterable[dict]) -> dict[str, str]:
    """{CQL library name: canonical base} from the canonicals the content names libraries by
    (PlanDefinition / ActivityDefinition `library`)."""
    out: dict[str, str] = {}
    for resource in resources:
        if resource.get("resourceType") not in ("PlanDefinition", "ActivityDefinition"):
            continue
        for canonical in iter_expression_libraries(resource):
            m = _LIBRARY_CANONICAL.match(canonical)
            if m:
                out.setdefault(m.group("name"), m.group("base"))
    return out


def load_cql_libraries(
    cql_dir: Path,
    elm_dir: Path | None = None,
    *,
    bases: Mapping[str, str] | None = None,
    default_base: str | None = None,
) -> dict[str, CqlLibrary]:
    """Pair every `cql_dir/*.cql` with `elm_dir/<LibraryName>.json` (default `cql_dir/elm`).

    Each library's canonical base: `bases[name]` (how the content names it), else that of a
    library including it, else `default_base` (`service.knowledge.loader.content_base`)."""
    elm_dir = elm_dir or cql_dir / "elm"
    libraries: dict[str, CqlLibrary] = {}
    for path in sorted(cql_dir.glob("*.cql")):
        cql = path.read_text(encoding="utf-8")
        name = library_name_of(cql)
        if name is None:
            raise KnowledgeError(f"{path}: no library declaration")
        elm_path = elm_dir / f"{name}.json"
        if not elm_path.is_file():
            raise KnowledgeError(f"{path}: no translated ELM {elm_path} (run `make elm`)")
        try:
            elm_text = elm_path.read_text(encoding="utf-8")
            elm = json.loads(elm_text)
        except (OSError, ValueError) as exc:
            raise KnowledgeError(f"{elm_path}: unreadable ELM: {exc}") from None
        ident = (elm.get("library") or {}).get("identifier") or {}
        if ident.get("id") != name:
            raise KnowledgeError(f"{elm_path}: ELM is for library {ident.get('id')!r}, not {name}")
        if name in libraries:
            raise KnowledgeError(f"{path}: library {name} is declared twice")
        libraries[name] = CqlLibrary(name, ident.get("version"), cql, elm, path, elm_text)
    _assign_bases(libraries, dict(bases or {}), default_base)
    for lib in libraries.values():
        lib.resource = library_resource(lib, libraries)
    return libraries


def _assign_bases(
    libraries: dict[str, CqlLibrary], bases: dict[str, str], default: str | None
) -> None:
    known = {name: base for name, base in bases.items() if name in libraries}
    changed = True
    while changed:  # an included library belongs with the library that includes it
        changed = False
        for name in sorted(known):
            for inc in _section(libraries[name].elm, "includes"):
                path = inc.get("path")
                if path in libraries and path not in known:
                    known[path] = known[name]
                    changed = True
    for name, lib in libraries.items():
        lib.base = known.get(name, default)


def _defs(elm: dict) -> list[dict]:
    return list(((elm.get("library") or {}).get("statements") or {}).get("def") or [])


def _section(elm: dict, name: str) -> list[dict]:
    return list(((elm.get("library") or {}).get(name) or {}).get("def") or [])


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def library_resource(lib: CqlLibrary, libraries: dict[str, CqlLibrary]) -> dict:
    """The FHIR R4 Library resource of one CQL library."""
    resource: dict = {
        "resourceType": "Library",
        "id": re.sub(r"[^A-Za-z0-9\-.]", "-", lib.name)[:64],
        "url": lib.url,
        "name": re.sub(r"[^A-Za-z0-9_]", "", lib.name) or "Library",
        "title": lib.name,
        "status": "active",
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/library-type",
                    "code": "logic-library",
                    "display": "Logic Library",
                }
            ]
        },
        "description": f"Logic of the CQL library {lib.name}; generated from {lib.cql_path.name}.",
    }
    if lib.version:
        resource["version"] = lib.version
    related = related_artifacts(lib, libraries)
    if related:
        resource["relatedArtifact"] = related
    params = library_parameters(lib.elm)
    if params:
        resource["parameter"] = params
    reqs = library_requirements(lib.name, libraries)
    if reqs:
        resource["dataRequirement"] = reqs
    resource["content"] = [
        {"contentType": "text/cql", "data": _b64(lib.cql)},
        {"contentType": "application/elm+json", "data": _b64(lib.elm_text or json.dumps(lib.elm))},
    ]
    return resource


def related_artifacts(lib: CqlLibrary, libraries: dict[str, CqlLibrary]) -> list[dict]:
    out: list[dict] = []
    for inc in _section(lib.elm, "includes"):
        path, version = inc.get("path"), inc.get("version")
        included = libraries.get(path)
        url = (
            included.url
            if included
            else CqlLibrary(path, None, "", {}, lib.cql_path, base=lib.base).url
        )
        out.append(
            {
                "type": "depends-on",
                "display": f"Library {path}",
                "resource": f"{url}|{version}" if version else url,
            }
        )
    for cs in _section(lib.elm, "codeSystems"):
        out.append(
            {"type": "depends-on", "display": f"Code system {cs['name']}", "resource": cs["id"]}
        )
    for vs in _section(lib.elm, "valueSets"):
        out.append(
            {"type": "depends-on", "display": f"Value set {vs['name']}", "resource": vs["id"]}
        )
    return out


def fhir_type_of(node: dict) -> tuple[str, str]:
    """(FHIRAllTypes code, max cardinality) for an ELM node's result type."""
    name = node.get("resultTypeName")
    spec = node.get("resultTypeSpecifier") or node.get("parameterTypeSpecifier")
    if name is None and isinstance(spec, dict):
        if spec.get("type") == "ListTypeSpecifier":
            inner, _ = fhir_type_of({"resultTypeSpecifier": spec.get("elementType") or {}})
            return inner, "*"
        if spec.get("type") == "IntervalTypeSpecifier":
            point = (spec.get("pointType") or {}).get("name", "")
            return ("Range" if point.endswith("Quantity") else "Period"), "1"
        name = spec.get("name")
    if not isinstance(name, str):
        return "Any", "1"
    if name.startswith(_SYSTEM):
        return _CQL_TO_FHIR_TYPE.get(name[len(_SYSTEM) :], "Any"), "1"
    if name.startswith(_FHIR):
        return name[len(_FHIR) :], "1"
    return "Any", "1"


def library_parameters(elm: dict) -> list[dict]:
    """Library.parameter: CQL parameters (`in`) and public expression definitions (`out`)."""
    out: list[dict] = []
    for p in _section(elm, "parameters"):
        ftype, card = fhir_type_of(p)
        out.append({"name": p["name"], "use": "in", "min": 0, "max": card, "type": ftype})
    for d in _defs(elm):
        if d.get("type") == "FunctionDef" or d.get("accessLevel") == "Private":
            continue
        if d.get("name") == "Patient":
            out.append({"name": "Patient", "use": "out", "min": 0, "max": "1", "type": "Patient"})
            continue
        ftype, card = fhir_type_of(d)
        out.append({"name": d["name"], "use": "out", "min": 0, "max": card, "type": ftype})
    return out
