"""The committed FHIR model table is what the generator makes from the pinned model info."""

from __future__ import annotations

import pytest

from service.elm.fhir import gen_modelinfo
from service.elm.fhir.elements import element_type, path_type


def test_committed_model_table_matches_the_pinned_model_info() -> None:
    if not gen_modelinfo.SOURCE.exists():
        pytest.skip("cql/node_modules not installed (cd cql && npm ci)")
    committed = gen_modelinfo.TARGET.read_text(encoding="utf-8")
    assert committed == gen_modelinfo.render(gen_modelinfo.build()), (
        "run: python -m service.elm.fhir.gen_modelinfo"
    )


def test_element_types_follow_base_types_lists_and_choices() -> None:
    assert element_type("FHIR.Patient", "birthDate") == "FHIR.date"
    assert element_type("FHIR.Patient", "id") == "FHIR.id"  # declared on FHIR.Resource
    assert path_type("FHIR.Patient", "birthDate.value") == "System.Date"
    assert path_type("FHIR.Patient", "name.family") == "FHIR.string"
    assert element_type("FHIR.Observation", "value").startswith("Choice<FHIR.Quantity,")
    assert element_type("FHIR.Observation", "nonsense") is None
