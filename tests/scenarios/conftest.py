"""Scenario fixtures: the differential oracle (both engines) and the guideline's content."""

from __future__ import annotations

from tests.oracle.conftest import oracle, oracle_node  # noqa: F401  (session fixtures)
