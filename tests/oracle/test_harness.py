"""The differential harness itself: what counts as the same result, and known differences."""

from __future__ import annotations

import pytest

from tests.oracle.harness import Oracle, same_result


class ScriptedOracle(Oracle):
    """Both engines replaced by fixed answers."""

    def __init__(self, ours, theirs):
        super().__init__(node=None)
        self._ours, self._theirs = ours, theirs

    def ours(self, *args, **kwargs):
        return self._ours

    def evaluate(self, *args, **kwargs):
        return self._theirs


BUNDLE = {"resourceType": "Bundle", "entry": []}


def test_equal_canonical_results_and_any_two_errors_are_the_same_result():
    date = {"@type": "Date", "value": "2024"}
    assert same_result([1, date], [1, dict(date)])
    assert same_result({"@error": "ours: boom"}, {"@error": "TypeError: x"})
    assert not same_result({"@error": "boom"}, None)
    assert not same_result(None, {"@error": "boom"})
    assert not same_result(1, 2)


def test_compare_returns_our_results_when_every_definition_agrees():
    oracle = ScriptedOracle({"A": 1, "B": [True]}, {"A": 1, "B": [True]})
    assert oracle.compare("elm", "Lib", BUNDLE) == {"A": 1, "B": [True]}


def test_compare_names_every_differing_definition():
    oracle = ScriptedOracle({"A": 1, "B": 2, "C": 3}, {"A": 1, "B": 20, "C": 30})
    with pytest.raises(AssertionError) as err:
        oracle.compare("elm", "Lib", BUNDLE)
    message = str(err.value)
    assert "2 definition(s) differ" in message
    assert "Lib.B" in message and "Lib.C" in message and "Lib.A" not in message


def test_a_known_difference_is_tolerated_only_while_it_still_differs():
    differing = ScriptedOracle({"A": 1, "B": 2}, {"A": 1, "B": 20})
    differing.compare("elm", "Lib", BUNDLE, known_differences={"B": "bug 12"})
    fixed = ScriptedOracle({"A": 1, "B": 2}, {"A": 1, "B": 2})
    with pytest.raises(AssertionError, match="remove it from known_differences"):
        fixed.compare("elm", "Lib", BUNDLE, known_differences={"B": "bug 12"})


def test_several_bundles_are_compared_one_by_one():
    oracle = ScriptedOracle([{"A": 1}, {"A": 2}], [{"A": 1}, {"A": 3}])
    with pytest.raises(AssertionError, match=r"bundle 1 Lib\.A"):
        oracle.compare("elm", "Lib", [BUNDLE, BUNDLE])
