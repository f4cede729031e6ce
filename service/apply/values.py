"""Conversions between CQL values and FHIR JSON: re-exported from `service.elm.fhir.values`
(where they live, below both `service.knowledge` and `service.apply`)."""

from service.elm.fhir.values import (
    UCUM,
    ConversionError,
    parameter_to_cql,
    parameters_to_cql,
    quantity_to_fhir,
    to_fhir,
)

__all__ = [
    "UCUM",
    "ConversionError",
    "parameter_to_cql",
    "parameters_to_cql",
    "quantity_to_fhir",
    "to_fhir",
]
