"""`distinct` (and so `union`) on FHIR resources: CQL equality, linear on a long record."""

from __future__ import annotations

from service.elm.ops import lists
from service.elm.ops.lists import distinct, list_union


def condition(i: int, **extra) -> dict:
    return {"resourceType": "Condition", "id": f"c{i}", **extra}


def test_the_same_resource_twice_is_kept_once():
    a = condition(1, code={"text": "stenosis"})
    b = condition(1, code={"text": "stenosis"})  # equal, another object
    assert distinct([a, b, a]) == [a]


def test_resources_with_the_same_id_but_other_content_are_both_kept():
    a, b = condition(1, onsetDateTime="2026-01-01"), condition(1, onsetDateTime="2026-02-01")
    assert distinct([a, b]) == [a, b]


def test_a_resource_and_a_tuple_without_type_and_id_are_compared_the_slow_way():
    t = {"score": 3}
    assert distinct([t, {"score": 3}, condition(1)]) == [t, condition(1)]


def test_union_of_a_long_record_compares_each_resource_only_with_its_own_type_and_id(
    monkeypatch,
):
    calls = 0
    real = lists.same_element

    def counting(a, b):
        nonlocal calls
        calls += 1
        return real(a, b)

    monkeypatch.setattr(lists, "same_element", counting)
    record = [condition(i) for i in range(20_000)]
    assert list_union(record, record[:10]) == record
    assert calls == 10  # only the ten repeats meet a candidate; quadratic would be ~2e8
