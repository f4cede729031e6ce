"""Data access operators: `Retrieve` (implemented by the FHIR data source)."""

from __future__ import annotations

from service.elm.compiler import Compiler, Evaluator
from service.elm.fhir.retrieve import compile_retrieve
from service.elm.registry import operator


@operator("Retrieve")
def compile_retrieve_node(node: dict, c: Compiler) -> Evaluator:
    return compile_retrieve(node, c)
