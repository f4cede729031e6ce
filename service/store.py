"""Persistence for feedback, the invocation audit trail and seen JWT ids (replay protection).

SQLite by default (a file shared by every gunicorn worker, WAL mode) and PostgreSQL (psycopg 3)
when `DATABASE_URL` is a postgres URL. Both back-ends run the same SQL (``?`` placeholders are
rewritten for psycopg) and the same tests (tests/store/).

Connections are opened lazily per process and thread, so an app preloaded in the gunicorn master
never shares a connection with its forked workers. Nothing here stores tokens or clinical data:
feedback and audit rows hold ids, codes and counts only.

Text from requests may contain NUL characters, which PostgreSQL text cannot hold (psycopg refuses
the whole statement: a lost audit row, a 500). Every string parameter is therefore written with
each NUL replaced by the six characters `\\u0000` (`NUL_ESCAPE`), on both back-ends alike, so the
row is stored and reads the same everywhere. Lookups (`issued_cards`, the `seen_jti` key) go
through the same replacement, so they match what was written.

`issued_card` remembers the card uuids the service answered (service id, uuid, last issued),
written with the audit record and pruned with it: feedback is accepted only for those cards.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS feedback (
        dedupe_key TEXT PRIMARY KEY,
        service_id TEXT NOT NULL,
        card_uuid TEXT NOT NULL,
        outcome TEXT NOT NULL,
        outcome_timestamp TEXT NOT NULL,
        accepted_suggestions TEXT NOT NULL,
        override_system TEXT,
        override_code TEXT,
        override_display TEXT,
        user_comment TEXT,
        received_at DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS feedback_card ON feedback (service_id, card_uuid)",
    "CREATE INDEX IF NOT EXISTS feedback_received ON feedback (received_at)",
    """CREATE TABLE IF NOT EXISTS audit (
        hook_instance TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        service_id TEXT NOT NULL,
        hook TEXT NOT NULL,
        patient_id TEXT,
        user_id TEXT,
        issuer TEXT,
        status INTEGER NOT NULL,
        cards INTEGER NOT NULL,
        indicators TEXT NOT NULL,
        card_uuids TEXT NOT NULL,
        duration_ms DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS audit_at ON audit (at)",
    """CREATE TABLE IF NOT EXISTS seen_jti (
        iss TEXT NOT NULL,
        jti TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (iss, jti)
    )""",
    "CREATE INDEX IF NOT EXISTS seen_jti_expiry ON seen_jti (expires_at)",
    """CREATE TABLE IF NOT EXISTS issued_card (
        service_id TEXT NOT NULL,
        card_uuid TEXT NOT NULL,
        issued_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (service_id, card_uuid)
    )""",
    "CREATE INDEX IF NOT EXISTS issued_card_at ON issued_card (issued_at)",
]
NUL_ESCAPE = "\\u0000"


def without_nul(value: Any) -> Any:
    """A string with every NUL replaced by `NUL_ESCAPE`; any other value unchanged."""
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", NUL_ESCAPE)
    return value


FEEDBACK_COLUMNS = (
    "dedupe_key",
    "service_id",
    "card_uuid",
    "outcome",
    "outcome_timestamp",
    "accepted_suggestions",
    "override_system",
    "override_code",
    "override_display",
    "user_comment",
    "received_at",
)
AUDIT_COLUMNS = (
    "hook_instance",
    "at",
    "service_id",
    "hook",
    "patient_id",
    "user_id",
    "issuer",
    "status",
    "cards",
    "indicators",
    "card_uuids",
    "duration_ms",
)


class StoreError(RuntimeError):
    pass


class Store:
    """Common logic; subclasses provide `_connect()` and the placeholder style."""

    placeholder = "?"
    kind = "abstract"

    def __init__(self) -> None:
        self._local = threading.local()
        self._prune_every = 200
        self._writes = 0
        self.audit_retention_seconds = 0.0  # 0: keep forever (audit and issued cards)
        self.feedback_retention_seconds = 0.0  # 0: keep forever

    # -- connections -------------------------------------------------------------------------
    def _connect(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _conn(self):
        pid = os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != pid:
            conn = self._connect()
            self._local.conn, self._local.pid = conn, pid
        return conn

    def _drop_conn(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def _execute(self, sql: str, params: tuple = ()) -> Any:
        """Run one statement in its own transaction; returns the rowcount (or rows for SELECT)."""
        for attempt in (1, 2):
            conn = self._conn()
            try:
                cur = conn.execute(self._sql(sql), tuple(without_nul(p) for p in params))
                rows = cur.fetchall() if cur.description else None
                count = cur.rowcount
                conn.commit()
                return rows if rows is not None else count
            except self._operational_errors() as e:
                self._drop_conn()
                if attempt == 2:
                    raise StoreError(str(e)) from None
        raise AssertionError("unreachable")

    def _operational_errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.OperationalError,)

    # -- schema and health -------------------------------------------------------------------
    def init_schema(self) -> None:
        for stmt in SCHEMA:
            self._execute(stmt)

    def ping(self) -> bool:
        try:
            self._execute("SELECT 1")
            return True
        except Exception:
            return False

    def close(self) -> None:
        self._drop_conn()

    # -- feedback ------------------------------------------------------------------------------
    def record_feedback(self, service_id: str, item: dict) -> bool:
        """Persist one feedback item; False when the same item was already recorded. Every
        200th write (the first included) deletes feedback older than the feedback retention."""
        self._feedback_writes = getattr(self, "_feedback_writes", 0) + 1
        if self.feedback_retention_seconds and self._feedback_writes % self._prune_every == 1:
            self.prune_feedback(time.time() - self.feedback_retention_seconds)
        accepted = sorted(s["id"] for s in item.get("acceptedSuggestions") or [])
        reason = (item.get("overrideReason") or {}).get("reason") or {}
        comment = (item.get("overrideReason") or {}).get("userComment")
        key_material = json.dumps(
            [
                service_id,
                item["card"],
                item["outcome"],
                item["outcomeTimestamp"],
                accepted,
                reason.get("system"),
                reason.get("code"),
                comment,
            ]
        )
        row = (
            hashlib.sha256(key_material.encode()).hexdigest(),
            service_id,
            item["card"],
            item["outcome"],
            item["outcomeTimestamp"],
            json.dumps(accepted),
            reason.get("system"),
            reason.get("code"),
            reason.get("display"),
            comment,
            time.time(),
        )
        cols = ", ".join(FEEDBACK_COLUMNS)
        marks = ", ".join("?" for _ in FEEDBACK_COLUMNS)
        n = self._execute(
            f"INSERT INTO feedback ({cols}) VALUES ({marks}) ON CONFLICT (dedupe_key) DO NOTHING",
            row,
        )
        return n == 1

    def prune_feedback(self, before: float) -> int:
        """Delete feedback received before `before` (epoch seconds); the number deleted."""
        return self._execute("DELETE FROM feedback WHERE received_at < ?", (before,))

    def feedback(self, service_id: str | None = None) -> list[dict]:
        cols = ", ".join(FEEDBACK_COLUMNS[1:])
        sql = f"SELECT {cols} FROM feedback"
        params: tuple = ()
        if service_id is not None:
            sql += " WHERE service_id = ?"
            params = (service_id,)
        rows = self._execute(sql + " ORDER BY received_at", params)
        out = []
        for r in rows:
            d = dict(zip(FEEDBACK_COLUMNS[1:], r, strict=True))
            d["accepted_suggestions"] = json.loads(d["accepted_suggestions"])
            out.append(d)
        return out

    # -- audit ---------------------------------------------------------------------------------
    def record_audit(self, record: dict) -> None:
        self._audit_writes = getattr(self, "_audit_writes", 0) + 1
        if self.audit_retention_seconds and self._audit_writes % self._prune_every == 1:
            self.prune_audit(time.time() - self.audit_retention_seconds)
        row = tuple(
            json.dumps(record.get(c) or []) if c in {"indicators", "card_uuids"} else record.get(c)
            for c in AUDIT_COLUMNS
        )
        cols = ", ".join(AUDIT_COLUMNS)
        marks = ", ".join("?" for _ in AUDIT_COLUMNS)
        self._execute(f"INSERT INTO audit ({cols}) VALUES ({marks})", row)
        uuids = sorted({u for u in record.get("card_uuids") or () if isinstance(u, str)})
        if uuids:
            self._remember_cards(record["service_id"], uuids, record.get("at") or time.time())

    def _remember_cards(self, service_id: str, uuids: list[str], at: float) -> None:
        values = ", ".join("(?, ?, ?)" for _ in uuids)
        params = tuple(p for u in uuids for p in (service_id, u, at))
        self._execute(
            f"INSERT INTO issued_card (service_id, card_uuid, issued_at) VALUES {values} "
            "ON CONFLICT (service_id, card_uuid) DO UPDATE SET issued_at = excluded.issued_at",
            params,
        )

    def issued_cards(self, service_id: str, uuids: list[str] | set[str]) -> set[str]:
        """Those of `uuids` that this service answered as cards (and whose record is kept)."""
        wanted = sorted(set(uuids))
        if not wanted:
            return set()
        marks = ", ".join("?" for _ in wanted)
        rows = self._execute(
            f"SELECT card_uuid FROM issued_card WHERE service_id = ? AND card_uuid IN ({marks})",
            (service_id, *wanted),
        )
        stored = {r[0] for r in rows}
        return {u for u in wanted if without_nul(u) in stored}

    def prune_audit(self, before: float) -> int:
        """Delete audit records, and the issued cards' records, older than `before` (epoch
        seconds); the number of audit records deleted."""
        self._execute("DELETE FROM issued_card WHERE issued_at < ?", (before,))
        return self._execute("DELETE FROM audit WHERE at < ?", (before,))

    def audit(self, limit: int = 100) -> list[dict]:
        cols = ", ".join(AUDIT_COLUMNS)
        rows = self._execute(f"SELECT {cols} FROM audit ORDER BY at DESC LIMIT ?", (limit,))
        out = []
        for r in rows:
            d = dict(zip(AUDIT_COLUMNS, r, strict=True))
            d["indicators"] = json.loads(d["indicators"])
            d["card_uuids"] = json.loads(d["card_uuids"])
            out.append(d)
        return out

    # -- JWT replay protection -----------------------------------------------------------------
    def remember_jti(self, iss: str, jti: str, expires_at: float) -> bool:
        """Record a token id; False when (iss, jti) was already seen and has not expired."""
        self._writes += 1
        if self._writes % self._prune_every == 0:
            self._execute("DELETE FROM seen_jti WHERE expires_at < ?", (time.time(),))
        n = self._execute(
            "INSERT INTO seen_jti (iss, jti, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (iss, jti) DO NOTHING",
            (iss, jti, expires_at),
        )
        if n == 1:
            return True
        # Seen before: still a replay unless the remembered entry has expired (then re-arm it).
        n = self._execute(
            "UPDATE seen_jti SET expires_at = ? WHERE iss = ? AND jti = ? AND expires_at < ?",
            (expires_at, iss, jti, time.time()),
        )
        return n == 1


class SqliteStore(Store):
    kind = "sqlite"

    def __init__(self, path: Path | str) -> None:
        super().__init__()
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)

    def _connect(self):
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        return _SqliteAutocommit(conn)


class _SqliteAutocommit:
    """sqlite3 in autocommit mode: each statement is its own transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    def execute(self, sql: str, params: tuple = ()):
        return self._c.execute(sql, params)

    def commit(self) -> None:
        pass

    def close(self) -> None:
        self._c.close()


class PostgresStore(Store):
    kind = "postgresql"
    placeholder = "%s"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def _connect(self):
        import psycopg

        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)

    def _operational_errors(self):
        import psycopg

        return (psycopg.OperationalError, psycopg.InterfaceError)


def open_store(settings) -> Store:
    """The configured store with its schema created."""
    store: Store
    if settings.uses_postgres:
        store = PostgresStore(settings.database_url)
    else:
        store = SqliteStore(settings.sqlite_path)
    store.audit_retention_seconds = settings.audit_retention_days * 86400.0
    store.feedback_retention_seconds = settings.feedback_retention_days * 86400.0
    store.init_schema()
    return store
