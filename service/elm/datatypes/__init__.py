"""Python representations of CQL values (see docs/engine-design.md for the full table)."""

from service.elm.datatypes.clinical import Code, CodeSystemRef, Concept, ValueSetRef
from service.elm.datatypes.numbers import Long
from service.elm.datatypes.tuples import Tuple

__all__ = ["Code", "CodeSystemRef", "Concept", "Long", "Tuple", "ValueSetRef"]
