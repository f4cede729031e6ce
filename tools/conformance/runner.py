"""Evaluate translated conformance tests with our engine (and cql-execution), compare, report.

Every test is isolated: a load failure of a file's library falls back to loading each test's
definitions alone, every evaluation runs under a time limit, and any exception becomes that
test's `error` status. Tests that expect an error pass only when translation, loading or
evaluation fails with a CQL error: an unsupported operator, a timeout or a Python programming
error (TypeError, KeyError...) inside the engine does not count.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from service.elm import ElmEngine, semantics
from service.elm.canonical import to_canonical
from service.elm.errors import CqlError
from tools.conformance.suite import ConformanceTest
from tools.conformance.translation import FileTranslation, TranslatedUnit

PASS, FAIL, ERROR = "pass", "fail", "error"


@dataclass
class TestResult:
    test: ConformanceTest
    status: str
    message: str | None = None
    actual: Any = None
    expected: Any = None
    oracle: dict | None = None

    def to_json(self) -> dict:
        t = self.test
        out = {
            "name": t.name,
            "group": t.group,
            "key": t.key,
            "expression": t.expression,
            "outputs": list(t.outputs),
            "invalid": t.invalid,
            "status": self.status,
        }
        if self.message:
            out["message"] = self.message
        if self.status != PASS or t.expects_error:
            out["actual"] = self.actual
            out["expected"] = self.expected
        if self.oracle is not None:
            out["oracle"] = self.oracle
        return out


@dataclass
class FileResult:
    name: str
    results: list[TestResult] = field(default_factory=list)

    def count(self, status: str, oracle: bool = False) -> int:
        if oracle:
            return sum(1 for r in self.results if r.oracle and r.oracle["status"] == status)
        return sum(1 for r in self.results if r.status == status)


class EvaluationTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise EvaluationTimeout in the main thread after `seconds` (no-op elsewhere)."""
    try:
        previous = signal.signal(signal.SIGALRM, _raise_timeout)
    except ValueError:  # not in the main thread
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _raise_timeout(signum: int, frame: Any) -> None:
    raise EvaluationTimeout("evaluation took too long")


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "Boolean"
    if isinstance(v, int):
        return "Long" if type(v).__name__ == "Long" else "Integer"
    if isinstance(v, Decimal):
        return "Decimal"
    return type(v).__name__


def _kinds(v: Any) -> str:
    if isinstance(v, list):
        return "List<" + (", ".join(sorted({_kinds(x) for x in v if x is not None})) or "?") + ">"
    return _kind(v)


def same_kinds(a: Any, b: Any) -> bool:
    """Result and expected value have the same CQL type (recursively through lists)."""
    if a is None or b is None:
        return True
    if _kind(a) != _kind(b):
        return False
    if isinstance(a, list) and len(a) == len(b):
        return all(same_kinds(x, y) for x, y in zip(a, b, strict=True))
    return True


def _uncertainty_vs_interval(actual: Any, expected: Any) -> bool:
    return type(actual).__name__ == "Uncertainty" and type(expected).__name__ == "Interval"


def matches(actual: Any, expected: Any) -> bool:
    """CQL comparison of a result with its expected value.

    null matches null; otherwise `=` must be true, or, when `=` is unknown (e.g. lists holding
    nulls, values of different precision), `~` must be true. The CQL types must agree too.
    An uncertainty matches the closed Interval of its bounds (the suite's notation for it).
    """
    if actual is None and expected is None:
        return True
    if _uncertainty_vs_interval(actual, expected):
        # cql-tests write an uncertain result (e.g. `years between` partial dates) as a
        # closed Interval of its possible values.
        return bool(
            expected.low_closed
            and expected.high_closed
            and semantics.equal(actual.low, expected.low) is True
            and semantics.equal(actual.high, expected.high) is True
        )
    if actual is None or expected is None or not same_kinds(actual, expected):
        return False
    eq = semantics.equal(actual, expected)
    if eq is True:
        return True
    return eq is None and semantics.equivalent(actual, expected) is True


def _safe_canonical(v: Any) -> Any:
    try:
        return to_canonical(v)
    except Exception:
        return repr(v)


def _message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


def _unsupported(exc: BaseException) -> bool:
    return "unsupported ELM node type" in str(exc)


# Exceptions that mean the engine itself broke, not that the CQL raised an error.
PROGRAMMING_ERRORS = (
    TypeError,
    AttributeError,
    KeyError,
    IndexError,
    NameError,
    AssertionError,
    RecursionError,
    NotImplementedError,
    EvaluationTimeout,
)


def crashed(exc: BaseException) -> bool:
    """True when `exc` wraps (`raise ... from`) a Python programming error or a timeout.

    The walk stops at the first deliberate CQL error (`CqlError`): an operator that raises one
    while handling, say, a KeyError has decided that this is the CQL error.
    """
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, CqlError):
            return False
        if isinstance(e, PROGRAMMING_ERRORS):
            return True
        e = e.__cause__
    return False


def prune_library(elm: dict, keep: set[str]) -> dict:
    """A copy of a generated library holding only the named definitions."""
    lib = dict(elm["library"])
    statements = dict(lib.get("statements") or {})
    statements["def"] = [d for d in statements.get("def", []) if d.get("name") in keep]
    lib["statements"] = statements
    return {**elm, "library": lib}


def _test_defines(t: ConformanceTest) -> set[str]:
    return {t.expression_define, *([] if t.expects_error else t.output_defines)}


class OurEngine:
    """Loads a translated unit into our ElmEngine (per test when the unit fails to load)."""

    def __init__(self, timeout: float) -> None:
        self.engine_class = ElmEngine
        self.timeout = timeout

    def run_unit(self, unit: TranslatedUnit, now: dt.datetime) -> list[TestResult]:
        name = unit.library.name
        try:
            with time_limit(self.timeout):
                engine = self.engine_class.from_libraries([unit.elm])
            return [self._run_test(t, lambda _t: engine, name, now) for t in unit.library.tests]
        except Exception:
            pass
        loaders: dict[str, Any] = {}

        def load_alone(t: ConformanceTest) -> Any:
            if t.key not in loaders:
                with time_limit(self.timeout):
                    loaders[t.key] = self.engine_class.from_libraries(
                        [prune_library(unit.elm, _test_defines(t))]
                    )
            return loaders[t.key]

        return [self._run_test(t, load_alone, name, now) for t in unit.library.tests]

    def _run_test(
        self, t: ConformanceTest, engine_for: Callable[[ConformanceTest], Any], lib: str, now: Any
    ) -> TestResult:
        try:
            try:
                engine = engine_for(t)
            except Exception as exc:
                # A missing operator is not the error an invalid expression is expected to raise.
                if t.expects_error and not _unsupported(exc) and not crashed(exc):
                    return TestResult(t, PASS, f"load error as expected: {_message(exc)}")
                return TestResult(t, ERROR, f"load: {_message(exc)}")

            def run(define: str) -> Any:
                with time_limit(self.timeout):
                    out = engine.evaluate(lib, expressions=[define], now=now, context="Unfiltered")
                return out[define]

            try:
                actual = run(t.expression_define)
            except Exception as exc:
                if t.expects_error and not crashed(exc):
                    return TestResult(t, PASS, f"error as expected: {_message(exc)}")
                return TestResult(t, ERROR, _message(exc))
            if t.expects_error:
                return TestResult(t, FAIL, "expected an error", actual=_safe_canonical(actual))
            try:
                values = [run(d) for d in t.output_defines]
            except Exception as exc:
                msg = f"output: {_message(exc)}"
                return TestResult(t, ERROR, msg, actual=_safe_canonical(actual))
            expected = values[0] if len(values) == 1 else (values or None)
            ok = matches(actual, expected)
            why = None
            if not ok:
                why = "result differs from the expected output"
                if not same_kinds(actual, expected) and not _uncertainty_vs_interval(
                    actual, expected
                ):
                    why = f"type differs: {_kinds(actual)} where {_kinds(expected)} was expected"
            return TestResult(
                t,
                PASS if ok else FAIL,
                why,
                actual=_safe_canonical(actual),
                expected=_safe_canonical(expected),
            )
        except BaseException as exc:  # isolation: nothing escapes a test (Ctrl-C does)
            if isinstance(exc, KeyboardInterrupt):
                raise
            return TestResult(t, ERROR, f"harness: {_message(exc)}")


def run_file(
    ft: FileTranslation,
    engine: OurEngine | None,
    now: dt.datetime,
    oracle: Callable[[TranslatedUnit], dict[str, dict]] | None = None,
) -> FileResult:
    """All tests of one file: translation errors first, then every translated unit."""
    by_key: dict[str, TestResult] = {}
    for t in ft.file.tests:
        if t.key in ft.errors:
            msg = f"translation: {ft.errors[t.key]}"
            status = PASS if t.expects_error else ERROR
            by_key[t.key] = TestResult(t, status, msg, oracle={"status": status, "message": msg})
    for unit in ft.units:
        if engine is None:
            results = [TestResult(t, ERROR, "engine unavailable") for t in unit.library.tests]
        else:
            results = engine.run_unit(unit, now)
        oracle_results = {}
        if oracle is not None:
            try:
                oracle_results = oracle(unit)
            except Exception as exc:
                oracle_results = {
                    t.key: {"status": ERROR, "message": f"oracle: {_message(exc)}"}
                    for t in unit.library.tests
                }
        for r in results:
            r.oracle = oracle_results.get(r.test.key)
            by_key[r.test.key] = r
    return FileResult(ft.file.name, [by_key[t.key] for t in ft.file.tests if t.key in by_key])


def oracle_runner(node: Any, now: dt.datetime) -> Callable[[TranslatedUnit], dict[str, dict]]:
    """Evaluate a unit with cql-execution through the Node helper (one request per unit)."""
    now_text = now.isoformat(timespec="milliseconds")

    def run(unit: TranslatedUnit) -> dict[str, dict]:
        tests = [
            {
                "key": t.key,
                "e": t.expression_define,
                "o": [] if t.expects_error else list(t.output_defines),
                "invalid": t.expects_error,
            }
            for t in unit.library.tests
        ]
        reply = node.request("conformance", timeout=120, elm=unit.elm, tests=tests, now=now_text)
        out = {}
        for item in reply:
            key = item.pop("key")
            out[key] = item
        return out

    return run


def elapsed(since: float) -> str:
    return f"{time.perf_counter() - since:.1f}s"
