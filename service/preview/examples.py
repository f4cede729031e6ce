"""The preview's example patients: JSON files in ``example_patients/`` (package data), dated
relative to the evaluation time so that they never go stale.

The same files are the guideline's scenario tests (``tests/scenarios/loader.py`` imports this
module and adds its own checks); the service never imports ``tests``. A file reads like this::

    {
      "name": "A perianal abscess diagnosed after the home program started escalates",
      "rows": ["R1"],
      "kind": "positive",                       # or "near-miss"
      "hook": "patient-view",                   # or "order-select" / "order-sign"
      "patient": {"gender": "female", "birthDate": "@today-52y"},
      "resources": [ {FHIR resource}, ... ],    # the patient's record
      "draftOrders": [ {FHIR resource}, ... ],  # order hooks only (status "draft")
      "selections": ["ServiceRequest/draft-1"], # order-select only
      "parameters": {"Severe Pain Score": 8},   # CQL parameter overrides
      "expected": {"true": [...], "false": [...], "actions": [...], "absent_actions": [...],
                   "values": {"Pediatric Target Hegar Size": 13},   # optional
                   "suggestions": {"<action id>": [                   # optional
                       {"label": "Remove the draft home dilation order", "isRecommended": true,
                        "delete": ["ServiceRequest/draft-program"]}]}}
    }

``expected.suggestions`` names suggestions the card of an action must offer (matched by label):
their ``isRecommended`` and, for ``delete``, the exact ``resourceId`` of each delete action.

Dates are written relative to the evaluation time: any string value ``@now`` or ``@today``
followed by offsets such as ``-10d``, ``+2h``, ``-3wk``, ``-6mo``, ``-4y`` (combinable:
``@today-1y-2mo``) becomes a FHIR dateTime (``@now...``, UTC, seconds precision) or date
(``@today...``). Months and years use calendar arithmetic (day clamped to the month's end).

The loader also fills what every file would otherwise repeat: the Patient resource (id =
``patient_id`` or the slug), ``subject`` references to that patient, and resource ids
(``<type>-<n>``) where a file leaves them out.
"""

from __future__ import annotations

import calendar
import copy
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from service.apply.requests import with_draft_orders

#: The bundled example patients (package data: pyproject.toml `[tool.setuptools.package-data]`).
EXAMPLES_DIR = Path(__file__).resolve().parent / "example_patients"

HOOKS = ("patient-view", "order-select", "order-sign")
KINDS = ("positive", "near-miss")
RELATIVE = re.compile(r"^@(now|today)((?:[+-]\d+(?:h|d|wk|mo|y))*)$")
OFFSET = re.compile(r"([+-])(\d+)(h|d|wk|mo|y)")

# Resource types whose patient reference is `subject` (everything the content reads).
SUBJECT_TYPES = frozenset(
    {
        "CarePlan",
        "Condition",
        "DeviceRequest",
        "Encounter",
        "MedicationRequest",
        "MedicationStatement",
        "Observation",
        "Procedure",
        "ServiceRequest",
        "Task",
    }
)


@dataclass(frozen=True)
class Scenario:
    """One example patient, the hook it is evaluated in, and what the guideline must conclude."""

    slug: str
    name: str
    rows: list[str]
    kind: str
    hook: str
    patient_id: str
    bundle: dict[str, Any]
    context: dict[str, Any]
    parameters: dict[str, Any]
    now: datetime
    expected: dict[str, Any] = field(default_factory=dict)

    def patient_data(self) -> dict[str, Any]:
        """What the logic sees: the record plus the hook's draft orders (content conventions)."""
        drafts = copy.deepcopy(self.context.get("draftOrders", {}).get("entry", []))
        record = self.bundle["entry"]
        resources = with_draft_orders(
            [e["resource"] for e in record], [e["resource"] for e in drafts]
        )
        by_id = {id(e["resource"]): e for e in [*record, *drafts]}
        return {**self.bundle, "entry": [by_id[id(r)] for r in resources]}


def shift(now: datetime, offsets: str) -> datetime:
    """Apply offsets such as ``-1y-2mo+3d`` to ``now`` (calendar months and years)."""
    result = now
    for sign, amount, unit in OFFSET.findall(offsets):
        n = int(amount) if sign == "+" else -int(amount)
        if unit in ("mo", "y"):
            months = result.year * 12 + (result.month - 1) + (n if unit == "mo" else 12 * n)
            year, month = divmod(months, 12)
            month += 1
            day = min(result.day, calendar.monthrange(year, month)[1])
            result = result.replace(year=year, month=month, day=day)
        else:
            result += {"h": timedelta(hours=n), "d": timedelta(days=n), "wk": timedelta(weeks=n)}[
                unit
            ]
    return result


def materialise(value: Any, now: datetime) -> Any:
    """Replace every relative date token in a JSON value by an absolute FHIR date/dateTime."""
    if isinstance(value, dict):
        return {k: materialise(v, now) for k, v in value.items()}
    if isinstance(value, list):
        return [materialise(v, now) for v in value]
    if isinstance(value, str):
        m = RELATIVE.match(value)
        if m:
            moment = shift(now, m.group(2))
            if m.group(1) == "today":
                return date(moment.year, moment.month, moment.day).isoformat()
            return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def _with_ids_and_subject(resources: list[dict], patient_ref: str, prefix: str) -> list[dict]:
    counters: dict[str, int] = {}
    out = []
    for resource in resources:
        r = dict(resource)
        rtype = r["resourceType"]
        counters[rtype] = counters.get(rtype, 0) + 1
        r.setdefault("id", f"{prefix}{rtype.lower()}-{counters[rtype]}")
        if rtype in SUBJECT_TYPES:
            r.setdefault("subject", {"reference": patient_ref})
        out.append(r)
    return out


def _bundle(resources: list[dict]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def problems_of(raw: dict) -> list[str]:
    """What makes an example file unusable (empty: none)."""
    problems = []
    if raw.get("kind") not in KINDS:
        problems.append(f"kind must be one of {KINDS}")
    if raw.get("hook") not in HOOKS:
        problems.append(f"hook must be one of {HOOKS}")
    rows = raw.get("rows")
    if not rows or not isinstance(rows, list) or not all(isinstance(r, str) for r in rows):
        problems.append("rows must be a non-empty list of row labels")
    if not raw.get("name"):
        problems.append("name is required")
    return problems


def load_example(path: Path, now: datetime, raw: dict | None = None) -> Scenario:
    """Load one example file, materialising its dates against ``now`` (an aware datetime).
    ``raw``: the file's parsed JSON when the caller has read it already."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.replace(microsecond=0)
    raw = json.loads(path.read_text(encoding="utf-8")) if raw is None else raw
    slug = path.stem
    problems = problems_of(raw)
    if problems:
        raise ValueError(f"{path.name}: " + "; ".join(problems))

    data = materialise(raw, now)
    patient_id = data.get("patient_id", slug)[:64]
    patient = {"resourceType": "Patient", "id": patient_id, **data.get("patient", {})}
    ref = f"Patient/{patient_id}"
    record = [patient, *_with_ids_and_subject(data.get("resources", []), ref, "")]
    context: dict[str, Any] = {}
    if data.get("draftOrders"):
        context["draftOrders"] = _bundle(_with_ids_and_subject(data["draftOrders"], ref, "draft-"))
    if "selections" in data:
        context["selections"] = list(data["selections"])
    expected: dict[str, Any] = {
        key: list(data.get("expected", {}).get(key, []))
        for key in ("true", "false", "actions", "absent_actions")
    }
    # Optional: exact values of non-boolean definitions, e.g. {"Pediatric Target Hegar Size": 13}.
    expected["values"] = dict(data.get("expected", {}).get("values", {}))
    # Optional: suggestions a card must offer, {action id: [{label, isRecommended, delete}]}.
    expected["suggestions"] = dict(data.get("expected", {}).get("suggestions", {}))
    return Scenario(
        slug=slug,
        name=data["name"],
        rows=list(data["rows"]),
        kind=data["kind"],
        hook=data["hook"],
        patient_id=patient_id,
        bundle=_bundle(record),
        context=context,
        parameters=dict(data.get("parameters", {})),
        now=now,
        expected=expected,
    )


def example_paths(examples_dir: Path = EXAMPLES_DIR) -> list[Path]:
    """The example files, sorted by slug (not by file name: `a-b.json` sorts before `a.json`);
    none when the folder is absent."""
    if not examples_dir.is_dir():
        return []
    return sorted(examples_dir.glob("*.json"), key=lambda p: p.stem)


def load_examples(now: datetime | None = None, examples_dir: Path = EXAMPLES_DIR) -> list[Scenario]:
    """Every example in ``examples_dir`` (sorted by slug), dated relative to ``now`` (default:
    now)."""
    now = now or datetime.now(UTC)
    return [load_example(p, now) for p in example_paths(examples_dir)]
