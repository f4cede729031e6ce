"""FHIR R4 data source: one patient's resources, indexed once per request."""

from service.elm.fhir.data import PatientData

__all__ = ["PatientData"]
