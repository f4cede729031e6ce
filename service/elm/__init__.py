"""A CQL runtime for Python: executes ELM JSON produced by the HL7 reference translator.

Public API (see docs/engine.md)::

    from service.elm import ElmEngine, Terminology, ElmLoadError, ElmRuntimeError
    terminology = Terminology.from_directory(Path("plandefinitions"))
    engine = ElmEngine.from_directory(Path("cql/elm"), terminology=terminology)
    results = engine.evaluate("Lib", data=bundle, parameters={...}, now=aware_datetime)
"""

from service.elm.errors import (
    CqlError,
    ElmError,
    ElmLoadError,
    ElmRuntimeError,
    TerminologyError,
)
from service.elm.fhir.data import PatientData
from service.elm.runtime.engine import ElmEngine
from service.elm.terminology import Terminology

__all__ = [
    "CqlError",
    "ElmEngine",
    "ElmError",
    "ElmLoadError",
    "ElmRuntimeError",
    "PatientData",
    "Terminology",
    "TerminologyError",
]
