"""Translation with the pinned HL7 translator and the `conformance` command, end to end."""

from __future__ import annotations

import json

import pytest

from tools.conformance.cli import main
from tools.conformance.suite import read_dir
from tools.conformance.translation import TranslationCache, translate_files
from tools.node import NodeError, NodeHelper, node_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.oracle,
    pytest.mark.skipif(not node_available(), reason="Node toolchain not installed"),
]


def test_a_failing_define_is_isolated_and_the_other_tests_still_translate(suite_dir, tmp_path):
    files = read_dir(suite_dir)
    with NodeHelper() as node:
        (ft,) = translate_files(files, node, TranslationCache(tmp_path / "cache")).values()
    assert set(ft.errors) == {"t4", "t5"}  # NoSuchFunction(1) and 'a' + 1
    assert "NoSuchFunction" in ft.errors["t4"]
    translated = {t.key for u in ft.units for t in u.library.tests}
    assert translated == {"t1", "t2", "t3", "t6", "t7", "t8"}
    assert ft.libraries_translated >= 3  # whole file, then the culprits alone, then the rest


def test_a_second_run_is_served_from_the_cache_without_translating(suite_dir, tmp_path):
    files = read_dir(suite_dir)
    cache = TranslationCache(tmp_path / "cache")
    with NodeHelper() as node:
        translate_files(files, node, cache)
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())

    class NoTranslator:
        def request(self, op, **fields):
            raise AssertionError(f"unexpected {op} request")

    (ft,) = translate_files(files, NoTranslator(), TranslationCache(tmp_path / "cache")).values()
    assert len(ft.units) >= 1 and set(ft.errors) == {"t4", "t5"}
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == cached


def test_the_command_prints_both_engines_figures_and_ends_with_the_summary_line(
    suite_dir, tmp_path, capsys
):
    report = tmp_path / "report.json"
    code = main([str(suite_dir), "--report", str(report), "--cache", str(tmp_path / "c")])
    out = capsys.readouterr().out.strip().splitlines()
    data = json.loads(report.read_text())
    passed = data["summary"]["passed"]
    assert out[-1] == f"{passed} passed, {8 - passed} failed"
    assert any(line.startswith("cql-execution 3.3.2 (same libraries): ") for line in out)
    assert any(line.startswith("MiniSuite.xml") for line in out)
    assert code == 1  # WrongExpectation fails on purpose
    tests = {t["name"]: t for t in data["files"][0]["tests"]}
    assert len(tests) == 8
    # the reference engine's verdicts on the same libraries
    oracle = {name: t["oracle"]["status"] for name, t in tests.items()}
    assert oracle["AddInts"] == "pass"
    assert oracle["WrongExpectation"] == "fail"
    assert oracle["UnknownFunction"] == "error"
    assert oracle["ExpectedSemanticError"] == "pass"
    assert data["oracle"]["passed"] == sum(s == "pass" for s in oracle.values())
    assert tests["WrongExpectation"]["status"] in ("fail", "error")
    assert tests["UnknownFunction"]["status"] == "error"
    assert "NoSuchFunction" in tests["UnknownFunction"]["message"]


def test_a_request_that_hangs_is_abandoned_and_the_next_request_gets_a_fresh_process():
    with NodeHelper() as node:
        first = node.generation
        with pytest.raises(NodeError, match="restarted"):
            node.request("ping", timeout=0.000001)
        assert node.request("ping")["versions"]["cql-execution"] == "3.3.2"
        assert node.generation == first + 1
