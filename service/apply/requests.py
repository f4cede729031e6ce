"""One `$apply` request, whichever face asks for it.

`ApplyRequest` holds what `apply_plan_definition` / `apply_activity_definition` are called with.
The FHIR face fills it from a `Parameters` resource (service/fhirapi/parameters.py); a CDS Hooks
call and the preview's evidence view, which replays a hook call, fill it from the hook with
`apply_request_for_hook`, so the logic sees a hook call the same way wherever it comes from:

- `subject` = `Patient/{context.patientId}`; `encounter` = `Encounter/{context.encounterId}`
  when given; `practitioner` = `context.userId` when it is a Practitioner or PractitionerRole;
- `data` = the patient's data, plus, for the order hooks, the `context.draftOrders` entries
  (`draft_orders`), each replacing the record's resource of the same `Type/id` (the version being
  signed: `with_draft_orders`);
- `parameters`, for the order hooks only (`hook_parameters`):
  - `"Draft Orders"` = the `Type/id` of every `context.draftOrders` entry, whatever its status
    (an entry without a string `resourceType` and `id` cannot be named and is left out of the
    list; the CQL decides what such an entry means). It tells the logic which resources are
    this call's orders, so a stale draft in the patient's record is not one of them. Absent
    (FHIR `$apply` without it), the logic falls back to `status = 'draft'`;
  - `"Selections"` = `context.selections` for order-select (the `Type/id` strings naming the
    selected draft orders);
  nothing else: every other CQL parameter keeps the deployment's value (CDS_CQL_PARAMETERS[_FILE],
  already in the knowledge base) or the content's default;
- `trigger` = the hook, which selects the PlanDefinition's actions of that named event.

The context is read defensively (the preview passes it unvalidated): a value of the wrong type
is left out, never converted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.fhirclient import bundle_resources

ORDER_HOOKS = ("order-select", "order-sign")
PRACTITIONER_TYPES = ("Practitioner/", "PractitionerRole/")


@dataclass
class ApplyRequest:
    """The inputs of one $apply (the keyword arguments of service.apply's functions)."""

    subject: str
    data: list[dict] = field(default_factory=list)
    encounter: str | None = None
    practitioner: str | None = None
    organization: str | None = None
    user_type: str | None = None
    setting: str | None = None
    #: CQL parameter values of this request ({name: CQL value}); none = the deployment's
    parameters: dict[str, Any] = field(default_factory=dict)
    #: the hook (named event) that asked; None applies every action (the FHIR face)
    trigger: str | None = None

    def arguments(self) -> dict[str, Any]:
        """Keyword arguments for `apply_plan_definition(kb, pd, **arguments)` (and, without a
        trigger, `apply_activity_definition`). Always the subject, data, encounter, practitioner,
        parameters and `now` (None: the clock); organization, user type, setting and trigger only
        when set, so an apply function that takes a hook call's keywords only is called with
        exactly those for a hook call."""
        out: dict[str, Any] = {
            "subject": self.subject,
            "data": self.data,
            "encounter": self.encounter,
            "practitioner": self.practitioner,
            "parameters": self.parameters or None,
            "now": None,
        }
        optional = {
            "organization": self.organization,
            "user_type": self.user_type,
            "setting": self.setting,
            "trigger": self.trigger,
        }
        out.update({name: value for name, value in optional.items() if value is not None})
        return out


def draft_orders(hook: str, context: Mapping) -> list[dict]:
    """The resources of `context.draftOrders` for an order hook; [] for any other hook or when
    there is no draftOrders Bundle."""
    bundle = context.get("draftOrders")
    if hook not in ORDER_HOOKS or not isinstance(bundle, dict):
        return []
    return bundle_resources(bundle)


def order_reference(resource: Mapping) -> str | None:
    """`Type/id` of a resource, or None when it has no string resourceType and id."""
    rtype, rid = resource.get("resourceType"), resource.get("id")
    if isinstance(rtype, str) and rtype and isinstance(rid, str) and rid:
        return f"{rtype}/{rid}"
    return None


def with_draft_orders(data: list[dict], drafts: list[dict]) -> list[dict]:
    """The record plus the draft orders, each draft replacing the record's resource of the same
    `Type/id`: a draft with an id the record has is that order's new version (revised, paused or
    stopped), and the logic must see the version being signed, not both."""
    replaced = {
        ref for ref in (order_reference(d) for d in drafts if isinstance(d, Mapping)) if ref
    }
    kept = [r for r in data if not (isinstance(r, Mapping) and order_reference(r) in replaced)]
    return kept + list(drafts)


def hook_parameters(hook: str, context: Mapping, drafts: list[dict]) -> dict[str, Any]:
    """The CQL parameters a hook call sets: for an order hook with a draftOrders Bundle,
    `Draft Orders` (the `Type/id` of each entry of `drafts`, in order, once each) and, for
    order-select, `Selections`; {} otherwise."""
    if hook not in ORDER_HOOKS or not isinstance(context.get("draftOrders"), dict):
        return {}
    named = (order_reference(r) for r in drafts if isinstance(r, Mapping))
    out: dict[str, Any] = {"Draft Orders": list(dict.fromkeys(n for n in named if n))}
    selections = context.get("selections")
    if hook == "order-select" and isinstance(selections, list):
        out["Selections"] = [s for s in selections if isinstance(s, str)]
    return out


def apply_request_for_hook(
    hook: str, context: Mapping, data: list[dict], drafts: list[dict] | None = None
) -> ApplyRequest:
    """The $apply request of a hook call: `context` is the hook's context, `data` the patient's
    data (prefetch and fetched), `drafts` the draft orders when the caller already took them out
    of the context (`draft_orders(hook, context)` otherwise)."""
    if drafts is None:
        drafts = draft_orders(hook, context)
    req = ApplyRequest(subject=f"Patient/{context['patientId']}", data=list(data), trigger=hook)
    encounter = context.get("encounterId")
    if isinstance(encounter, str) and encounter:
        req.encounter = f"Encounter/{encounter}"
    user = context.get("userId")
    if isinstance(user, str) and user.startswith(PRACTITIONER_TYPES):
        req.practitioner = user
    if hook in ORDER_HOOKS and isinstance(context.get("draftOrders"), dict):
        req.data = with_draft_orders(req.data, drafts)
        req.parameters.update(hook_parameters(hook, context, drafts))
    return req
