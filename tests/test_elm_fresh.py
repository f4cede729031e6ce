"""The committed ELM (cql/elm/*.json) is exactly what the pinned translator makes of cql/*.cql."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CQL = ROOT / "cql"
BENCH = ROOT / "benchmarks" / "cql"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.oracle,
    pytest.mark.skipif(
        not (CQL / "node_modules").is_dir() or shutil.which("node") is None,
        reason="Node toolchain not installed (CI installs it: cd cql && npm ci)",
    ),
]


def test_committed_elm_is_a_fresh_translation_of_every_cql_library():
    run = subprocess.run(
        ["node", "scripts/translate.mjs", "--check"],
        cwd=CQL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, (
        "cql/elm is stale or a library does not translate; run `make elm` and commit:\n"
        + run.stdout
        + run.stderr
    )
    assert "ELM is up to date" in run.stdout


def test_every_cql_library_has_committed_elm():
    sources = sorted(CQL.glob("*.cql"))
    assert sources, "no CQL libraries in cql/"
    for src in sources:
        first = next(line for line in src.read_text().splitlines() if line.startswith("library "))
        name = first.split()[1]
        assert (CQL / "elm" / f"{name}.json").is_file(), f"{src.name}: cql/elm/{name}.json missing"


def test_benchmark_library_elm_is_a_fresh_translation(tmp_path):
    run = subprocess.run(
        [
            "node",
            "scripts/translate.mjs",
            "--out",
            str(tmp_path),
            "--lib",
            str(CQL),
            str(BENCH / "DilationBench.cql"),
        ],
        cwd=CQL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    fresh = (tmp_path / "DilationBench.json").read_text()
    assert fresh == (BENCH / "elm" / "DilationBench.json").read_text(), (
        "benchmarks/cql/elm is stale: re-translate (see benchmarks/README.md)"
    )
