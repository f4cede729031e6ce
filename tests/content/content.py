"""The guideline's knowledge artifacts, loaded once for the content tests."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONTENT_DIR = ROOT / "plandefinitions"
CQL_DIR = ROOT / "cql"
ELM_DIR = CQL_DIR / "elm"
BASE = "https://dilation-cds.org/fhir"
LOCAL_SYSTEM = f"{BASE}/CodeSystem/anal-dilation-local"


@cache
def artifacts() -> tuple[tuple[Path, dict[str, Any]], ...]:
    return tuple((p, json.loads(p.read_text())) for p in sorted(CONTENT_DIR.rglob("*.json")))


def of_type(resource_type: str) -> list[dict[str, Any]]:
    return [r for _, r in artifacts() if r["resourceType"] == resource_type]


@cache
def elm_libraries() -> dict[str, dict[str, Any]]:
    out = {}
    for path in ELM_DIR.glob("*.json"):
        library = json.loads(path.read_text())["library"]
        out[library["identifier"]["id"]] = library
    return out


def definitions(library: str) -> set[str]:
    return {d["name"] for d in elm_libraries()[library]["statements"]["def"]}


def library_name(canonical: str) -> str:
    url = canonical.split("|", 1)[0]
    if not url.startswith(f"{BASE}/Library/"):
        raise ValueError(f"{canonical} is not one of our Library canonicals")
    return url.rsplit("/", 1)[-1]


def local_codes() -> set[str]:
    (system,) = of_type("CodeSystem")
    return {c["code"] for c in system["concept"]}


def walk(value: Any, path: str = ""):
    """Every (path, dict) inside a JSON value."""
    if isinstance(value, dict):
        yield path, value
        for k, v in value.items():
            yield from walk(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, f"{path}[{i}]")


def top_actions() -> list[tuple[dict, dict]]:
    return [(p, a) for p in of_type("PlanDefinition") for a in p["action"]]
