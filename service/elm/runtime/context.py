"""The per-evaluation state every compiled closure receives.

One `Context` is created per `ElmEngine.evaluate` call. It carries the request's data, the
evaluation time, parameter overrides, the terminology and a cache so that each expression
definition is evaluated at most once per evaluation (CQL definitions are functions of the
context). Query aliases, `let` bindings and function operands live in `vars`.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any


class Context:
    """Evaluation state: a plain object with slots, read directly by the compiled closures.

    Attributes:
        now: the evaluation's timestamp, a timezone-aware `datetime.datetime` (CQL `Now()` is
            constant during one evaluation); `now_value` caches its CQL DateTime.
        data: the patient's data (`service.elm.fhir.PatientData`) or None.
        parameters: overrides by `(library name, parameter name)` and by bare name for the
            library being evaluated.
        terminology: `service.elm.terminology.Terminology` or None.
        cache: results of expression definitions and parameters (keyed by their runtime objects).
        vars: the current scope: query aliases, `let`s, function operands, `$this`/`$index`.
        library: name of the library `evaluate` was called on.
    """

    __slots__ = (
        "cache",
        "context_name",
        "data",
        "engine",
        "library",
        "messages",
        "now",
        "now_value",
        "parameters",
        "stack",
        "terminology",
        "vars",
    )

    def __init__(
        self,
        *,
        engine: Any = None,
        library: str | None = None,
        data: Any = None,
        parameters: dict | None = None,
        now: _dt.datetime | None = None,
        terminology: Any = None,
        context_name: str = "Patient",
    ) -> None:
        self.engine = engine
        self.library = library
        self.data = data
        self.parameters = parameters or {}
        self.now = now or _dt.datetime.now(_dt.UTC)
        self.now_value: Any = None
        self.terminology = terminology
        self.context_name = context_name
        self.cache: dict[Any, Any] = {}
        self.vars: dict[str, Any] = {}
        self.messages: list[dict[str, Any]] = []
        self.stack: list[Any] = []  # iteration state for Current/Iteration/Total


class FoldAbort(Exception):
    """Raised by `FoldContext` when constant folding touches per-evaluation state."""


class FoldContext:
    """A context for constant folding at compile time: any access to evaluation state
    (data, time, parameters, cache, scope) aborts the fold, so only subtrees that really are
    constant get folded."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        raise FoldAbort(name)
