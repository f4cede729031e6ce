"""The data-model interface of the ELM core: what the compiler and the operators ask of the
data model (FHIR today) without importing it.

The core (`service.elm.compiler`, `service.elm.ops`) is model-agnostic: it calls the hooks of
`MODEL`, whose defaults know nothing about any model. A data model registers its behaviour
from its own side when it is imported (`service.elm.fhir.elements` does so for FHIR R4, in the
spirit of cql-execution's cql-exec-fhir), and `service.elm.runtime.engine` imports it, so an
engine is always built with the FHIR data source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _none(*args: Any) -> None:
    return None


def _identity(v: Any) -> Any:
    return v


class DataModel:
    """Hooks a data model provides (each default is the model-agnostic behaviour)."""

    def __init__(self) -> None:
        #: (obj, name) -> the value of element `name` of a model object lacking key `name`
        #: (e.g. a FHIR choice element `name[x]`), or None
        self.missing_element: Callable[[dict, str], Any] = _none
        #: (node, source, source_type, compiler) -> a specialised Property evaluator or None
        self.compile_property: Callable[..., Any] = _none
        #: (type_name, element) -> declared type of an element of a model class, or None
        self.element_type: Callable[[str | None, str], str | None] = _none
        #: (owner_type, dotted_path) -> declared type at the end of the path, or None
        self.path_type: Callable[[str, str], str | None] = _none
        #: (node, target_type, compiler) -> an As/Is evaluator reading the target directly
        #: (a FHIR choice element), or None
        self.compile_choice_cast: Callable[..., Any] = _none
        #: value -> the plain value inside a model wrapper (e.g. a FHIR choice tag)
        self.unwrap: Callable[[Any], Any] = _identity
        #: type_name -> a converter (value, ctx) -> sortable value for sort keys of that
        #: model type, or None
        self.sort_value_converter: Callable[[str | None], Any] = _none
        #: model name ('FHIR') -> (local type name -> predicate value -> True/False/None)
        self.type_tests: dict[str, Callable[[str], Any]] = {}


#: The data model the engine runs with (populated by `service.elm.fhir.elements`).
MODEL = DataModel()
