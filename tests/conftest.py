"""Suite-wide fixtures and markers shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import prometheus_client  # noqa: F401  (first imported here, so in single-process mode)
import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "cql" / "node_modules"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def node_toolchain_available() -> bool:
    """The Node translator/oracle is a dev dependency installed by `make test` (npm ci)."""
    return (NODE_MODULES / "@cqframework" / "cql").is_dir() and (
        NODE_MODULES / "cql-execution"
    ).is_dir()


# CI must prove everything: an environment skip there (no Node toolchain, no PostgreSQL, no
# conformance suite, a missing golden) would hide a whole area, so .ci/run sets
# CDS_TESTS_FORBID_SKIPS=1 and any skip fails the session. Locally skips stay skips.
_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and os.environ.get("CDS_TESTS_FORBID_SKIPS") == "1":
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"CDS_TESTS_FORBID_SKIPS=1: {len(_skipped)} test(s) skipped, failing the run: "
                + ", ".join(_skipped[:10]),
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
