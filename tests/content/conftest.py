"""Content tests that evaluate CQL use the differential oracle (both engines)."""

from __future__ import annotations

from tests.oracle.conftest import oracle, oracle_node  # noqa: F401  (session fixtures)
