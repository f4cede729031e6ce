"""Reusable test infrastructure: local FHIR server, test CDS client keys, spec checks."""
