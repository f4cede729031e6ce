"""Validation of the guideline content: FHIR artifacts, terminology, CQL and card text."""
