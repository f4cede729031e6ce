"""Errors raised by the ELM engine.

Load-time problems (unknown node types, unresolvable references, bad terminology) are
`ElmLoadError`; anything that goes wrong while evaluating is `ElmRuntimeError`, naming the
library and definition so an operator can find the CQL that failed.
"""

from __future__ import annotations


class ElmError(Exception):
    """Base class of every error the engine raises on purpose."""


class ElmLoadError(ElmError):
    """An ELM library cannot be loaded or compiled (raised at start-up, never per request)."""


class ElmRuntimeError(ElmError):
    """Evaluation failed; `library` and `definition` say where (when known)."""

    def __init__(
        self, message: str, *, library: str | None = None, definition: str | None = None
    ) -> None:
        self.message = message
        self.library = library
        self.definition = definition
        where = ".".join(p for p in (library, definition) if p)
        super().__init__(f"{where}: {message}" if where else message)


class CqlError(ElmError):
    """A CQL run-time error raised by an operator (e.g. `Message` with severity Error,
    `SingletonFrom` on a list of several items, a failing strict cast).

    The definition being evaluated wraps it into an `ElmRuntimeError` naming itself.
    """


class TerminologyError(ElmLoadError):
    """A ValueSet or CodeSystem cannot be loaded or expanded by the engine."""
