"""The guideline's clinical scenarios: the preview's example patients
(``service/preview/example_patients/``, package data), loaded with the service's loader
(``service.preview.examples``: file format, relative dates, filled-in Patient, ids and subjects)
plus the checks of the scenario tests: every scenario names decision rows R1-R17.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from service.preview.examples import (
    EXAMPLES_DIR,
    HOOKS,
    KINDS,
    SUBJECT_TYPES,
    Scenario,
    example_paths,
    load_example,
    materialise,
    problems_of,
    shift,
)

__all__ = [
    "CASES_DIR",
    "HOOKS",
    "KINDS",
    "ROW",
    "SUBJECT_TYPES",
    "Scenario",
    "load_scenario",
    "load_scenarios",
    "materialise",
    "shift",
]

CASES_DIR = EXAMPLES_DIR
ROW = re.compile(r"^R(?:[1-9]|1[0-7])$")


def load_scenario(path: Path, now: datetime) -> Scenario:
    """Load one case file, materialising its dates against ``now`` (an aware datetime)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    raw = json.loads(path.read_text(encoding="utf-8"))
    problems = problems_of(raw)
    if not raw.get("rows") or not all(isinstance(r, str) and ROW.match(r) for r in raw["rows"]):
        problems = [p for p in problems if not p.startswith("rows ")]
        problems.append("rows must name decision rows R1-R17")
    if problems:
        raise ValueError(f"{path.name}: " + "; ".join(problems))
    return load_example(path, now, raw)


def load_scenarios(now: datetime | None = None, cases_dir: Path = CASES_DIR) -> list[Scenario]:
    """Every scenario in ``CASES_DIR`` (sorted by slug), dated relative to ``now`` (default:
    now)."""
    now = now or datetime.now(UTC)
    return [load_scenario(p, now) for p in example_paths(cases_dir)]
