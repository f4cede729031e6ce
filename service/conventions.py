"""The engine's own conventions (docs/content-conventions.md): extension URLs that content, `$apply`
and the CDS Hooks layer agree on, whatever guideline is loaded.

These are not the canonical base of any content: a guideline's canonical URLs, its local code
systems, its title and publisher come from the loaded artifacts themselves (see
`service.knowledge.loader.canonical_base` and `KnowledgeBase.publisher`).
"""

from __future__ import annotations

#: Where our convention extensions are defined.
CONVENTIONS_BASE = "https://dilation-cds.org/fhir/StructureDefinition"

#: On a PlanDefinition action: the definition returning the pertinent evidence.
EVIDENCE_EXPRESSION = f"{CONVENTIONS_BASE}/evidence-expression"
#: On a remove child action: the definition returning the resources to remove.
TARGET_EXPRESSION = f"{CONVENTIONS_BASE}/target-expression"
#: On a child action: the recommended suggestion.
IS_RECOMMENDED = f"{CONVENTIONS_BASE}/is-recommended"
#: On a top-level action: an override reason (valueCoding, repeatable).
OVERRIDE_REASON = f"{CONVENTIONS_BASE}/override-reason"
#: On a top-level action: not a card, CDS Hooks systemActions.
SYSTEM_ACTION = f"{CONVENTIONS_BASE}/system-action"
#: On a RequestGroup action built by $apply: one evidence resource (valueReference).
PERTINENT_EVIDENCE = f"{CONVENTIONS_BASE}/pertinent-evidence"
#: On a RequestGroup built by $apply: the contained OperationOutcome of evaluation issues.
APPLY_ISSUES = f"{CONVENTIONS_BASE}/apply-issues"

#: HL7 CPG extensions the cards and diagrams read.
CPG_STRENGTH = "http://hl7.org/fhir/uv/cpg/StructureDefinition/cpg-strengthOfRecommendation"
CPG_QUALITY = "http://hl7.org/fhir/uv/cpg/StructureDefinition/cpg-qualityOfEvidence"

#: PlanDefinition action priority → CDS Hooks card indicator (docs/content-conventions.md).
INDICATOR = {"stat": "critical", "asap": "warning", "urgent": "warning", "routine": "info"}
