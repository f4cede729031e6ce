"""The committed fixture ELM is what the pinned translator produces from the fixture CQL."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.apply.fixture_kb import FIXTURE, ROOT
from tests.conftest import node_toolchain_available

pytestmark = [
    pytest.mark.oracle,
    pytest.mark.slow,
    pytest.mark.skipif(not node_toolchain_available(), reason="needs cql/node_modules"),
]


def test_the_fixture_elm_is_not_stale(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    for src in (ROOT / "cql" / "FHIRHelpers.cql", *sorted((FIXTURE / "cql").glob("*.cql"))):
        shutil.copy(src, lib / src.name)
    out = tmp_path / "elm"
    files = [str(lib / p.name) for p in sorted((FIXTURE / "cql").glob("*.cql"))]
    cmd = ["node", str(ROOT / "cql/scripts/translate.mjs"), "--out", str(out), "--lib", str(lib)]
    subprocess.run([*cmd, *files], check=True, capture_output=True, cwd=ROOT / "cql")
    for fresh in sorted(out.glob("*.json")):
        committed = FIXTURE / "cql" / "elm" / fresh.name
        assert committed.read_text() == fresh.read_text(), (
            f"{fresh.name} is stale: see fixtures/README.md"
        )
