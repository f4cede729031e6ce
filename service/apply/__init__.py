"""PlanDefinition and ActivityDefinition `$apply` (see docs/apply.md).

```python
from service.apply import apply_plan_definition, apply_activity_definition, ApplyResult
from service.apply import load_knowledge
kb = load_knowledge(content_dir, cql_dir)  # a PreparedKnowledge: loaded, every plan prepared
result = apply_plan_definition(kb, plan_definition, subject="Patient/123", data=bundle,
                               trigger="patient-view", parameters={...}, now=aware_datetime)
result.request_group, result.resources, result.issues, result.evaluated, result.to_care_plan()
```
"""

from service.apply.evidence import EVIDENCE_EXTENSION
from service.apply.prepare import PreparedKnowledge, load_knowledge
from service.apply.processor import (
    ISSUES_EXTENSION,
    ApplyResult,
    apply_activity_definition,
    apply_plan_definition,
)
from service.apply.values import ConversionError, parameters_to_cql

__all__ = [
    "EVIDENCE_EXTENSION",
    "ISSUES_EXTENSION",
    "ApplyResult",
    "ConversionError",
    "PreparedKnowledge",
    "apply_activity_definition",
    "apply_plan_definition",
    "load_knowledge",
    "parameters_to_cql",
]
