"""No Python exception escapes a test: load and evaluation failures stay with their test."""

from __future__ import annotations

import datetime as dt

from tools.conformance.generate import generate_library
from tools.conformance.runner import ERROR, FAIL, PASS, OurEngine, prune_library, run_file
from tools.conformance.suite import read_dir
from tools.conformance.translation import FileTranslation, TranslatedUnit

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _elm(lib) -> dict:
    """A stand-in ELM library with one (opaque) definition per generated define."""
    defs = []
    for t in lib.tests:
        defs.append({"name": t.expression_define, "expression": t.expression})
        if not t.expects_error:
            pairs = zip(t.output_defines, t.outputs, strict=True)
            defs += [{"name": d, "expression": o} for d, o in pairs]
    return {"library": {"identifier": {"id": lib.name}, "statements": {"def": defs}}}


class FakeEngine:
    """Evaluates the few expressions of the mini suite; misbehaves on purpose elsewhere."""

    values = {"1 + 2": 3, "3": 3, "1 + null": None, "null": None, "2 * 2": 4, "5": 5}

    def __init__(self, elm: dict) -> None:
        names = [d["name"] for d in elm["library"]["statements"]["def"]]
        if "t4_e" in names:  # one bad definition makes the whole library fail to load
            raise KeyError("unsupported node type NoSuchFunction")
        self.exprs = {d["name"]: d["expression"] for d in elm["library"]["statements"]["def"]}

    @classmethod
    def from_libraries(cls, libs):
        return cls(libs[0])

    def evaluate(self, lib, expressions, now, context):
        (name,) = expressions
        expr = self.exprs[name]
        if expr.startswith("Message"):
            raise RuntimeError("boom")
        if expr.startswith("{") or expr.startswith("("):
            raise ZeroDivisionError("a bug in an operator")
        return {name: self.values[expr]}


def _engine(engine_class: type = FakeEngine, timeout: float = 5) -> OurEngine:
    engine = OurEngine(timeout=timeout)
    engine.engine_class = engine_class
    return engine


def _run_alone(suite_dir, test_name: str, library: str, engine: OurEngine):
    """The result of the mini suite's test `test_name`, generated alone into `library`."""
    (suite_file,) = read_dir(suite_dir)
    lib = generate_library(library, [t for t in suite_file.tests if t.name == test_name])
    ft = FileTranslation(suite_file, [TranslatedUnit(lib, _elm(lib))])
    (result,) = run_file(ft, engine, NOW).results
    return result


def test_a_library_that_fails_to_load_falls_back_to_loading_each_test_alone(suite_dir):
    (suite_file,) = read_dir(suite_dir)
    lib = generate_library("MiniSuite", suite_file.tests)
    ft = FileTranslation(file=suite_file, units=[TranslatedUnit(lib, _elm(lib))])
    result = run_file(ft, _engine(), NOW)
    status = {r.test.name: r.status for r in result.results}
    assert status["AddInts"] == PASS
    assert status["NullPlus"] == PASS
    assert status["WrongExpectation"] == FAIL
    assert status["UnknownFunction"] == ERROR  # its own load error, nobody else's
    assert status["ExpectedRuntimeError"] == PASS  # an error was expected
    assert status["ListWithNulls"] == ERROR  # ZeroDivisionError stays inside the test
    messages = {r.test.name: r.message for r in result.results}
    assert "ZeroDivisionError" in messages["ListWithNulls"]
    assert "load" in messages["UnknownFunction"]


def test_translation_errors_count_as_passes_only_for_tests_expecting_an_error(suite_dir):
    (suite_file,) = read_dir(suite_dir)
    ok_tests = [t for t in suite_file.tests if t.name == "AddInts"]
    lib = generate_library("MiniSuite_ok", ok_tests)
    ft = FileTranslation(
        file=suite_file,
        units=[TranslatedUnit(lib, _elm(lib))],
        errors={"t4": "3:18: Could not resolve NoSuchFunction", "t5": "3:18: no +"},
    )
    result = run_file(ft, _engine(), NOW)
    by_name = {r.test.name: r for r in result.results}
    assert by_name["UnknownFunction"].status == ERROR
    assert by_name["ExpectedSemanticError"].status == PASS
    assert by_name["ExpectedSemanticError"].oracle["status"] == PASS  # same translator
    assert by_name["AddInts"].status == PASS
    assert len(result.results) == 3  # tests without ELM or error are not invented


def test_pruning_keeps_only_the_definitions_of_one_test(suite_dir):
    (suite_file,) = read_dir(suite_dir)
    lib = generate_library("MiniSuite", suite_file.tests)
    pruned = prune_library(_elm(lib), {"t1_e", "t1_o"})
    assert [d["name"] for d in pruned["library"]["statements"]["def"]] == ["t1_e", "t1_o"]
    assert len(_elm(lib)["library"]["statements"]["def"]) > 2  # the original is untouched


def test_an_evaluation_that_never_ends_is_stopped_and_becomes_an_error(suite_dir):
    class LoopingEngine(FakeEngine):
        def evaluate(self, lib, expressions, now, context):
            while True:
                pass

    result = _run_alone(suite_dir, "AddInts", "MiniSuite_loop", _engine(LoopingEngine, timeout=0.2))
    assert result.status == ERROR
    assert "EvaluationTimeout" in result.message


def test_an_unsupported_operator_does_not_count_as_the_error_an_invalid_test_expects(suite_dir):
    class Unsupported(FakeEngine):
        def __init__(self, elm):
            raise ValueError("unsupported ELM node type 'MinValue' at 3:1")

    result = _run_alone(
        suite_dir, "ExpectedRuntimeError", "MiniSuite_unsupported", _engine(Unsupported)
    )
    assert result.status == ERROR


def test_an_engine_crash_does_not_count_as_the_error_an_invalid_test_expects(suite_dir):
    class Crashing(FakeEngine):
        def evaluate(self, lib, expressions, now, context):
            try:
                {}["missing"]
            except KeyError as exc:
                raise RuntimeError("Lib.t6_e: KeyError: 'missing'") from exc

    result = _run_alone(suite_dir, "ExpectedRuntimeError", "MiniSuite_crash", _engine(Crashing))
    assert result.status == ERROR
    assert "KeyError" in result.message


def test_a_cql_error_raised_while_handling_a_python_error_is_a_deliberate_error():
    from service.elm.errors import CqlError, ElmRuntimeError
    from tools.conformance.runner import crashed

    def wrapped(inner: Exception) -> Exception:
        try:
            raise inner
        except Exception as exc:
            try:
                raise ElmRuntimeError(str(exc), library="L", definition="d") from exc
            except ElmRuntimeError as outer:
                return outer

    try:
        try:
            {}["k"]
        except KeyError:
            raise CqlError("no such element") from None
    except CqlError as deliberate:
        assert not crashed(wrapped(deliberate))
    assert crashed(wrapped(TypeError("unsupported operand")))
    assert not crashed(wrapped(ValueError("year 10000 out of range")))
