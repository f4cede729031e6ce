"""Generate `fhir_modelinfo_4_0_1.json` from the FHIR 4.0.1 model info XML (dev tool).

The engine needs, at load time only, the FHIR element types of the model (to know that
`Patient.birthDate` is a `FHIR.date` whose `.value` is a `System.Date`) and the base type of
each class. This script reads the model info shipped in the pinned npm package cql-exec-fhir
and writes a compact JSON table, committed next to it, so the service never needs Node:

    python -m service.elm.fhir.gen_modelinfo [--check]
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
SOURCE = ROOT / "cql/node_modules/cql-exec-fhir/lib/modelInfos/fhir-modelinfo-4.0.1.xml"
TARGET = HERE / "fhir_modelinfo_4_0_1.json"
NS = "{urn:hl7-org:elm-modelinfo:r1}"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}type"


def _spec(el: ET.Element) -> str:
    kind = el.get(XSI, "")
    if kind.endswith("ListTypeSpecifier"):
        inner = el.get("elementType")
        if inner is None:
            child = el.find(f"{NS}elementTypeSpecifier")
            inner = _spec(child) if child is not None else "System.Any"
        return f"List<{inner}>"
    if kind.endswith("ChoiceTypeSpecifier"):
        choices = [f"{c.get('namespace')}.{c.get('name')}" for c in el.findall(f"{NS}choice")]
        return "Choice<" + ",".join(choices) + ">"
    if kind.endswith("IntervalTypeSpecifier"):
        return f"Interval<{el.get('pointType')}>"
    if el.get("namespace") and el.get("name"):
        return f"{el.get('namespace')}.{el.get('name')}"
    return el.get("elementType") or "System.Any"


def build(source: Path = SOURCE) -> dict:
    root = ET.parse(source).getroot()
    types: dict[str, dict] = {}
    for ti in root.findall(f"{NS}typeInfo"):
        if not ti.get(XSI, "").endswith("ClassInfo"):
            continue
        elements: dict[str, str] = {}
        for el in ti.findall(f"{NS}element"):
            t = el.get("elementType") or el.get("type")
            if t is None:
                spec = el.find(f"{NS}elementTypeSpecifier")
                if spec is None:
                    spec = el.find(f"{NS}typeSpecifier")
                t = _spec(spec) if spec is not None else "System.Any"
            elements[el.get("name", "")] = t
        types[ti.get("name", "")] = {"base": ti.get("baseType"), "elements": elements}
    return {"source": "cql-exec-fhir fhir-modelinfo-4.0.1.xml", "types": types}


def render(table: dict) -> str:
    return json.dumps(table, sort_keys=True, separators=(",", ":")) + "\n"


def main(argv: list[str]) -> int:
    text = render(build())
    if "--check" in argv:
        ok = TARGET.exists() and TARGET.read_text(encoding="utf-8") == text
        print("model info table is up to date" if ok else f"STALE {TARGET}")
        return 0 if ok else 1
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
