"""HL7 CQL conformance runner (cql-tests XML) for our ELM engine, with cql-execution as oracle.

`python -m tools.conformance DIR`: every
cql-tests XML file in DIR becomes one CQL library (`define "tN_e": expression`,
`define "tN_o": expected output`), translated by the pinned HL7 translator in one Node process
(results cached by content hash), evaluated by our engine and by cql-execution, and compared with
CQL equality/equivalence. See docs/toolchain.md.
"""
