"""Build- and development-time tools: content generation (the expressions libraries, the
clinician's guideline view, the FHIR package, the OpenAPI document) and the CQL conformance
runner with its Node helper.

They are not part of the runtime package: the wheel holds `service` only, nothing under
`service/` imports this package (tests/unit/test_import_graph.py), and they may need the
development dependencies (apispec) or the Node toolchain in cql/node_modules.
"""
