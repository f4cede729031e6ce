"""Generate cql/FHIRHelpers.cql (version '4.0.1') from the FHIR 4.0.1 model info.

The model info shipped in cql-exec-fhir declares, in its ``conversionInfo`` elements, every
implicit conversion the translator inserts when a FHIR element is used where a System type is
expected (``FHIRHelpers.ToString`` for ~250 primitive and code types, ``ToConcept`` for
CodeableConcept, ``ToInterval`` for Period and Range, ...). This script reads those elements and
writes one function per conversion, so the library provides exactly what the model info names.

Written for this project; it does not copy the published FHIRHelpers.

Usage:  python cql/scripts/gen_fhirhelpers.py [--check]
        (--check: exit 1 when cql/FHIRHelpers.cql differs from what would be generated)
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

CQL_DIR = Path(__file__).resolve().parent.parent
MODEL_INFO = CQL_DIR / "node_modules/cql-exec-fhir/lib/modelInfos/fhir-modelinfo-4.0.1.xml"
TARGET = CQL_DIR / "FHIRHelpers.cql"
NS = {"m": "urn:hl7-org:elm-modelinfo:r1"}

UCUM_SYSTEM = "http://unitsofmeasure.org"
CQL_SYSTEM = "http://hl7.org/cql"

# UCUM codes of time units that CQL spells as calendar durations, so that a FHIR Duration or
# Age in 'd' or 'a' can be added to a Date exactly as `1 day` or `1 year` would be.
CALENDAR_UNITS = {
    "ms": "millisecond",
    "s": "second",
    "min": "minute",
    "h": "hour",
    "d": "day",
    "wk": "week",
    "mo": "month",
    "a": "year",
}


@dataclass(frozen=True)
class Conversion:
    function: str  # unqualified name, e.g. "ToString"
    from_type: str  # e.g. "FHIR.string"
    to_type: str  # e.g. "System.String"


def read_conversions(model_info: Path) -> list[Conversion]:
    root = ET.parse(model_info).getroot()
    out = []
    for el in root.findall("m:conversionInfo", NS):
        library, _, name = el.get("functionName").partition(".")
        if library != "FHIRHelpers":
            raise SystemExit(f"unexpected conversion library {library!r} in {model_info}")
        out.append(Conversion(name, el.get("fromType"), el.get("toType")))
    return out


def value_element_types(model_info: Path) -> dict[str, str]:
    """FHIR type name -> type of its `value` element (primitive wrappers only)."""
    root = ET.parse(model_info).getroot()
    result = {}
    for ti in root.findall("m:typeInfo", NS):
        for el in ti.findall("m:element", NS):
            if el.get("name") == "value" and (el.get("elementType") or "").startswith("System."):
                result[f"FHIR.{ti.get('name')}"] = el.get("elementType")
    return result


def _calendar_unit_case(arg: str) -> str:
    whens = "\n".join(f"    when '{ucum}' then '{cal}'" for ucum, cal in CALENDAR_UNITS.items())
    return f"  case {arg}\n{whens}\n    else {arg}\n  end"


# Bodies of the structured conversions, keyed by (function, FHIR type). `arg` is the parameter.
STRUCTURED: dict[tuple[str, str], tuple[str, str]] = {
    ("ToCode", "FHIR.Coding"): (
        "coding",
        "  if coding is null then null\n"
        "  else System.Code {\n"
        "    code: coding.code.value,\n"
        "    system: coding.system.value,\n"
        "    version: coding.version.value,\n"
        "    display: coding.display.value\n"
        "  }",
    ),
    ("ToConcept", "FHIR.CodeableConcept"): (
        "concept",
        "  if concept is null then null\n"
        "  else System.Concept {\n"
        "    codes: concept.coding Coding return ToCode(Coding),\n"
        "    display: concept.text.value\n"
        "  }",
    ),
    ("ToQuantity", "FHIR.Quantity"): (
        "quantity",
        # A comparator (<, <=, >=, >) makes the value a bound, not a quantity: it cannot become
        # a System.Quantity. Units must be UCUM (or CQL's own calendar units) to be comparable.
        "  case\n"
        "    when quantity is null then null\n"
        "    when quantity.value is null then null\n"
        "    when quantity.comparator is not null then\n"
        "      Message(null as System.Quantity, true,\n"
        "        'FHIRHelpers.ToQuantity.Comparator', 'Error',\n"
        "        'A FHIR Quantity with a comparator ('\n"
        "          + quantity.comparator.value + ') cannot be converted to a System.Quantity')\n"
        f"    when quantity.system is null or quantity.system.value in {{ '{UCUM_SYSTEM}', "
        f"'{CQL_SYSTEM}' }} then\n"
        "      System.Quantity {\n"
        "        value: quantity.value.value,\n"
        "        unit: ToCalendarUnit(Coalesce(quantity.code.value, quantity.unit.value, '1'))\n"
        "      }\n"
        "    else\n"
        "      Message(null as System.Quantity, true,\n"
        "        'FHIRHelpers.ToQuantity.UnitSystem', 'Error',\n"
        "        'A FHIR Quantity must use UCUM units to be converted to a System.Quantity, not '\n"
        "          + quantity.system.value)\n"
        "  end",
    ),
    ("ToRatio", "FHIR.Ratio"): (
        "ratio",
        "  if ratio is null then null\n"
        "  else System.Ratio {\n"
        "    numerator: ToQuantity(ratio.numerator),\n"
        "    denominator: ToQuantity(ratio.denominator)\n"
        "  }",
    ),
    ("ToInterval", "FHIR.Period"): (
        "period",
        # A missing start is unknown (open null bound); a missing end means "ongoing"
        # (closed null bound, i.e. up to the end of time).
        "  if period is null then null\n"
        '  else if period."start" is null then Interval(period."start".value, period."end".value]\n'
        '  else Interval[period."start".value, period."end".value]',
    ),
    ("ToInterval", "FHIR.Range"): (
        "range",
        "  if range is null then null\n"
        "  else Interval[ToQuantity(range.low), ToQuantity(range.high)]",
    ),
}


def render_function(conv: Conversion, value_types: dict[str, str]) -> str:
    key = (conv.function, conv.from_type)
    if key in STRUCTURED:
        arg, body = STRUCTURED[key]
        return f"define function {conv.function}({arg} {conv.from_type}):\n{body}\n"
    value_type = value_types.get(conv.from_type)
    if value_type != conv.to_type:
        raise SystemExit(
            f"no rule for {conv.function}({conv.from_type}) -> {conv.to_type}"
            f" (value element type: {value_type})"
        )
    return f"define function {conv.function}(value {conv.from_type}): value.value\n"


def _sort_key(conv: Conversion) -> tuple[int, str, str]:
    # Structured conversions first, then the primitive ones, then the ~250 ToString.
    group = 0 if (conv.function, conv.from_type) in STRUCTURED else 1
    if conv.function == "ToString":
        group = 2
    return (group, conv.function, conv.from_type.lower())


def generate(model_info: Path = MODEL_INFO) -> str:
    conversions = sorted(read_conversions(model_info), key=_sort_key)
    value_types = value_element_types(model_info)
    missing = {(f, t) for f, t in STRUCTURED} - {(c.function, c.from_type) for c in conversions}
    if missing:
        raise SystemExit(f"model info no longer names {sorted(missing)}")
    parts = [
        "// GENERATED by cql/scripts/gen_fhirhelpers.py from the FHIR 4.0.1 model info",
        "// (cql-exec-fhir lib/modelInfos/fhir-modelinfo-4.0.1.xml). Do not edit by hand.",
        f"// One function per conversionInfo element ({len(conversions)} conversions).",
        "library FHIRHelpers version '4.0.1'",
        "",
        "using FHIR version '4.0.1'",
        "",
        "// UCUM time-unit codes become CQL calendar units so FHIR durations add like CQL ones.",
        "define function ToCalendarUnit(unit System.String):",
        _calendar_unit_case("unit"),
        "",
    ]
    parts += [render_function(c, value_types) for c in conversions]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if FHIRHelpers.cql is stale")
    parser.add_argument("--model-info", type=Path, default=MODEL_INFO)
    parser.add_argument("--out", type=Path, default=TARGET)
    args = parser.parse_args(argv)
    text = generate(args.model_info)
    if args.check:
        if not args.out.exists() or args.out.read_text() != text:
            print(
                f"{args.out} is stale: run python cql/scripts/gen_fhirhelpers.py", file=sys.stderr
            )
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
