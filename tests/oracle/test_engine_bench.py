"""The engine benchmark runs end to end and measures what it says (tiny iteration counts)."""

from __future__ import annotations

import re

import pytest

from benchmarks.engine_bench import main, make_patient

pytestmark = [pytest.mark.slow, pytest.mark.oracle]


def test_the_benchmark_patient_has_the_requested_number_of_resources_and_one_patient():
    bundle = make_patient(100)
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert len(types) == 100
    assert types.count("Patient") == 1
    assert {"Condition", "Procedure", "Observation", "Encounter", "MedicationRequest"} <= set(types)
    assert make_patient(100) == bundle  # deterministic


def test_the_benchmark_prints_both_medians_and_their_ratio(oracle_node, capsys):
    assert main(["--iterations", "3", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"library DilationBench: (\d+) definitions; patient: 100 resources", out)
    ours = re.search(r"median per patient, our engine: +([\d.]+) ms", out)
    ref = re.search(r"median per patient, cql-execution: +([\d.]+) ms", out)
    ratio = re.search(r"ratio ours / cql-execution: ([\d.]+)", out)
    assert ours and ref and ratio
    assert float(ratio.group(1)) == pytest.approx(
        float(ours.group(1)) / float(ref.group(1)), rel=0.05, abs=0.01
    )
    defs = int(re.search(r"(\d+) definitions;", out).group(1))
    assert defs >= 15


def test_both_engines_agree_on_every_benchmark_definition(oracle):
    from benchmarks.engine_bench import BENCH_ELM, NOW, TERMINOLOGY
    from tools.node import CQL_DIR

    results = oracle.compare(
        [BENCH_ELM, CQL_DIR / "elm"],
        "DilationBench",
        make_patient(100),
        now=NOW,
        terminology=TERMINOLOGY,
    )
    assert len(results) >= 15
    assert results["Has Stenosis"] is True  # the patient exercises the decision logic
    assert results["Dilations In Period"]
