"""Suite-wide fixtures and markers shared by every test package."""

from __future__ import annotations

from pathlib import Path

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
