"""Fixtures for engine specs: translate small CQL libraries with the pinned translator.

Translation runs Node once per batch, so each test module translates its libraries in one
module-scoped call and the tests evaluate them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from service.elm import ElmEngine

ROOT = Path(__file__).resolve().parents[3]
TRANSLATE = ROOT / "cql" / "scripts" / "translate.mjs"
FHIR_HELPERS = ROOT / "cql" / "FHIRHelpers.cql"

Translator = Callable[..., list[dict]]


def _translate(tmp: Path, sources: tuple[str, ...]) -> list[dict]:
    src = tmp / "src"
    out = tmp / "out"
    src.mkdir(parents=True, exist_ok=True)
    if FHIR_HELPERS.exists():
        shutil.copy(FHIR_HELPERS, src / "FHIRHelpers.cql")
    files = []
    for text in sources:
        name = re.search(r"library\s+(\w+)", text).group(1)  # type: ignore[union-attr]
        f = src / f"{name}.cql"
        f.write_text(text, encoding="utf-8")
        files.append(f)
    proc = subprocess.run(
        ["node", str(TRANSLATE), "--out", str(out), "--lib", str(src), *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"translation failed:\n{proc.stderr}")
    elms = []
    for f in files:
        name = f.stem
        elms.append(json.loads((out / f"{name}.json").read_text(encoding="utf-8")))
    return elms


@pytest.fixture(scope="module")
def translate(tmp_path_factory: pytest.TempPathFactory) -> Translator:
    """`translate(cql_text, ...)` -> ELM dicts (FHIRHelpers is available to include)."""
    if shutil.which("node") is None or not (ROOT / "cql" / "node_modules").is_dir():
        pytest.skip("Node translator toolchain not installed")

    def run(*sources: str) -> list[dict]:
        return _translate(tmp_path_factory.mktemp("cql"), sources)

    return run


def fhir_helpers_elm() -> dict:
    return json.loads((ROOT / "cql" / "elm" / "FHIRHelpers.json").read_text(encoding="utf-8"))


def engine_for(elms: list[dict], with_fhir_helpers: bool = False, **kw: object) -> ElmEngine:
    libs = list(elms)
    if with_fhir_helpers:
        libs.append(fhir_helpers_elm())
    return ElmEngine.from_libraries(libs, **kw)  # type: ignore[arg-type]
