"""Fuzzing fixtures: the real app (bundled content, CDS_AUTH=off so bodies reach validation, no
FHIR server allowed), a guard that fails on any outbound connection, and a counter of generated
cases printed in the terminal summary."""

from __future__ import annotations

from collections import Counter

import pytest
import urllib3.util.connection

from service.app import create_app
from service.config import Settings

GENERATED: Counter[str] = Counter()


@pytest.fixture(scope="session")
def fuzz_app(tmp_path_factory):
    settings = Settings(
        auth_enabled=False,
        sqlite_path=tmp_path_factory.mktemp("fuzz") / "cds.sqlite3",
        max_request_bytes=256 * 1024,
        log_level="CRITICAL",
    )
    return create_app(settings)


@pytest.fixture
def outbound_connections(monkeypatch):
    """Every outbound TCP connection urllib3 (requests) attempts during the test; refused."""
    attempts: list[tuple] = []

    def refuse(address, *args, **kwargs):
        attempts.append(address)
        raise OSError("outbound connection attempted during fuzzing")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", refuse)
    return attempts


def pytest_terminal_summary(terminalreporter):
    if GENERATED:
        terminalreporter.section("generated fuzz cases")
        for name, n in sorted(GENERATED.items()):
            terminalreporter.write_line(f"{name}: {n}")
        terminalreporter.write_line(f"total: {sum(GENERATED.values())}")
