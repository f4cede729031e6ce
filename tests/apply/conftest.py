from collections.abc import Callable

import pytest

from tests.apply.fixture_kb import fixture_kb


@pytest.fixture(scope="session")
def kb():
    return fixture_kb()


@pytest.fixture
def engine_calls(monkeypatch) -> Callable:
    """`record(kb)` -> a list that fills with (library, definitions) per `kb.engine.evaluate`
    call: the proof that a request evaluates all its CQL in one engine call."""

    def record(kb) -> list[tuple[str, tuple[str, ...]]]:
        calls: list[tuple[str, tuple[str, ...]]] = []
        original = kb.engine.evaluate

        def counting(library, expressions=None, **kw):
            calls.append((library, tuple(expressions or ())))
            return original(library, expressions=expressions, **kw)

        monkeypatch.setattr(kb.engine, "evaluate", counting)
        return calls

    return record
