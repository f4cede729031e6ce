"""Session fixtures for differential tests against cql-execution (see harness.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.oracle.harness import Oracle
from tools.node import CQL_DIR, NodeHelper, node_available

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def oracle_node():
    """One Node process (translator + cql-execution) for the whole test session."""
    if not node_available():
        pytest.skip("Node toolchain not installed (cd cql && npm ci)")
    helper = NodeHelper()
    yield helper
    helper.close()


@pytest.fixture(scope="session")
def oracle(oracle_node) -> Oracle:
    """`oracle.compare(library_dir, library, bundles, parameters, now)` and friends."""
    return Oracle(oracle_node)


def translate_dir(node: NodeHelper, sources: list[Path], out: Path) -> Path:
    """Translate CQL files into `out`, with FHIRHelpers' ELM; includes are resolved among the
    sources and cql/FHIRHelpers.cql."""
    units = [{"key": p.name, "cql": p.read_text()} for p in sources]
    out.mkdir(parents=True, exist_ok=True)
    lib_dir = out / "cql-sources"
    lib_dir.mkdir(exist_ok=True)
    for p in [CQL_DIR / "FHIRHelpers.cql", *sources]:
        shutil.copy(p, lib_dir / p.name)
    for item in node.request("translate", units=units, libDir=str(lib_dir)):
        if item["elm"] is None:
            raise AssertionError(f"{item['key']} does not translate: {item['errors']}")
        name = item["elm"]["library"]["identifier"]["id"]
        (out / f"{name}.json").write_text(json.dumps(item["elm"]))
    shutil.copy(CQL_DIR / "elm" / "FHIRHelpers.json", out / "FHIRHelpers.json")
    return out


@pytest.fixture(scope="session")
def probe_elm(oracle_node, tmp_path_factory) -> Path:
    """tests/oracle/cql/*.cql translated by the pinned translator for this session."""
    return translate_dir(
        oracle_node, sorted((HERE / "cql").glob("*.cql")), tmp_path_factory.mktemp("probe-elm")
    )
