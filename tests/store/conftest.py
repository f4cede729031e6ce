"""The store under test: the same tests run on SQLite and on a real PostgreSQL server.

PostgreSQL tests use DATABASE_URL when it names a PostgreSQL database, else
postgresql://127.0.0.1:5432/test; each test gets its own schema (dropped afterwards). They are
skipped only when no server is reachable (CI starts one).
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import pytest

from service.store import PostgresStore, SqliteStore


def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url
    return "postgresql://127.0.0.1:5432/test"


def postgres_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(postgres_url(), connect_timeout=2):
            return True
    except Exception:
        return False


@pytest.fixture
def pg_schema_url():
    if not postgres_reachable():
        pytest.skip("no PostgreSQL server reachable at DATABASE_URL or 127.0.0.1:5432/test")
    import psycopg

    schema = f"cds_test_{uuid.uuid4().hex[:12]}"
    base = postgres_url()
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_factory(request, tmp_path):
    """Builds stores on one shared database (several instances = several workers)."""
    if request.param == "sqlite":
        path = tmp_path / "store.sqlite3"

        def make():
            s = SqliteStore(path)
            s.init_schema()
            return s
    else:
        url = request.getfixturevalue("pg_schema_url")

        def make():
            s = PostgresStore(url)
            s.init_schema()
            return s

    made = []

    def factory():
        s = make()
        made.append(s)
        return s

    yield factory
    for s in made:
        s.close()


@pytest.fixture
def store(store_factory):
    return store_factory()
