"""Feedback, audit and JWT-id persistence behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import time

from service.config import Settings
from service.store import PostgresStore, SqliteStore, open_store


def accepted(card: str = "card-1", ts: str = "2026-01-02T03:04:05Z") -> dict:
    return {
        "card": card,
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": "s-2"}, {"id": "s-1"}],
        "outcomeTimestamp": ts,
    }


def overridden(card: str = "card-1") -> dict:
    return {
        "card": card,
        "outcome": "overridden",
        "overrideReason": {
            "reason": {"system": "https://x.example/cs", "code": "pain-resolved"},
            "userComment": "patient reports no pain",
        },
        "outcomeTimestamp": "2026-01-02T03:04:05Z",
    }


def test_feedback_is_persisted_with_outcome_suggestions_reason_and_timestamp(store):
    assert store.record_feedback("svc", accepted())
    assert store.record_feedback("svc", overridden("card-2"))
    a, o = store.feedback("svc")
    assert (a["card_uuid"], a["outcome"], a["accepted_suggestions"]) == (
        "card-1",
        "accepted",
        ["s-1", "s-2"],
    )
    assert a["outcome_timestamp"] == "2026-01-02T03:04:05Z"
    assert (o["override_code"], o["override_system"], o["user_comment"]) == (
        "pain-resolved",
        "https://x.example/cs",
        "patient reports no pain",
    )
    assert o["override_display"] is None


def test_the_same_feedback_twice_is_stored_once(store):
    assert store.record_feedback("svc", accepted()) is True
    assert store.record_feedback("svc", accepted()) is False
    assert len(store.feedback("svc")) == 1


def test_different_outcomes_or_times_for_one_card_are_all_kept(store):
    store.record_feedback("svc", accepted())
    store.record_feedback("svc", accepted(ts="2026-01-02T03:09:05Z"))
    store.record_feedback("svc", overridden())
    store.record_feedback("other", accepted())
    assert len(store.feedback("svc")) == 3
    assert len(store.feedback()) == 4


def test_a_jti_is_accepted_once_per_issuer(store):
    exp = time.time() + 3600
    assert store.remember_jti("iss-a", "jti-1", exp) is True
    assert store.remember_jti("iss-a", "jti-1", exp) is False
    assert store.remember_jti("iss-b", "jti-1", exp) is True


def test_replay_protection_is_shared_by_every_worker_on_the_database(store_factory):
    worker_1, worker_2 = store_factory(), store_factory()
    exp = time.time() + 3600
    assert worker_1.remember_jti("iss", "shared", exp) is True
    assert worker_2.remember_jti("iss", "shared", exp) is False


def test_an_expired_jti_record_no_longer_blocks(store):
    assert store.remember_jti("iss", "old", time.time() - 1) is True
    assert store.remember_jti("iss", "old", time.time() + 60) is True
    assert store.remember_jti("iss", "old", time.time() + 60) is False


def test_audit_records_keep_ids_counts_and_timings(store):
    store.record_audit(
        {
            "hook_instance": "h-1",
            "at": 1000.0,
            "service_id": "svc",
            "hook": "patient-view",
            "patient_id": "p1",
            "user_id": "Practitioner/x",
            "issuer": "https://ehr.example",
            "status": 200,
            "cards": 2,
            "indicators": ["critical", "info"],
            "card_uuids": ["u1", "u2"],
            "duration_ms": 3.5,
        }
    )
    (rec,) = store.audit()
    assert rec["indicators"] == ["critical", "info"] and rec["cards"] == 2
    assert rec["status"] == 200 and rec["duration_ms"] == 3.5


def test_the_store_reports_its_health(store):
    assert store.ping() is True


def test_a_database_url_selects_postgresql_and_its_absence_sqlite(tmp_path):
    assert isinstance(open_store(Settings(sqlite_path=tmp_path / "a.sqlite3")), SqliteStore)
    pg = Settings(database_url="postgresql://127.0.0.1:1/none")
    assert pg.uses_postgres and not Settings(database_url="sqlite:///x").uses_postgres
    assert isinstance(PostgresStore(pg.database_url), PostgresStore)


def test_an_unreachable_postgresql_reports_not_ready():
    assert PostgresStore("postgresql://127.0.0.1:1/none?connect_timeout=1").ping() is False


def test_audit_records_older_than_the_retention_are_pruned(store):
    def record(at: float) -> dict:
        return {
            "hook_instance": f"h-{at}",
            "at": at,
            "service_id": "svc",
            "hook": "patient-view",
            "status": 200,
            "cards": 0,
            "duration_ms": 1.0,
        }

    now = time.time()
    store.record_audit(record(now - 400 * 86400))
    store.record_audit(record(now - 10 * 86400))
    assert store.prune_audit(now - 365 * 86400) == 1
    store.audit_retention_seconds = 5 * 86400
    store._audit_writes = 0  # the next write checks the retention
    store.record_audit(record(now))
    assert [r["hook_instance"] for r in store.audit()] == [f"h-{now}"]


def audit_record(**fields) -> dict:
    return {
        "hook_instance": "h-1",
        "at": time.time(),
        "service_id": "svc",
        "hook": "patient-view",
        "status": 200,
        "cards": 0,
        "duration_ms": 1.0,
        **fields,
    }


# PostgreSQL text cannot hold NUL: a request string with one must neither lose its audit row nor
# fail the request. Each NUL is stored as the six characters \u0000, on both back-ends.
NUL = "a\x00b"
ESCAPED = "a\\u0000b"


def test_an_audit_record_with_nul_characters_is_written_with_them_escaped(store):
    store.record_audit(audit_record(hook_instance=NUL, hook=NUL, user_id=NUL))
    (rec,) = store.audit()
    assert (rec["hook_instance"], rec["hook"], rec["user_id"]) == (ESCAPED, ESCAPED, ESCAPED)


def test_feedback_with_nul_characters_is_stored_with_them_escaped(store):
    item = overridden(card=NUL)
    item["overrideReason"]["userComment"] = "no\x00pain"
    item["overrideReason"]["reason"]["display"] = NUL
    assert store.record_feedback("svc", item) is True
    assert store.record_feedback("svc", item) is False  # still deduplicated
    (row,) = store.feedback("svc")
    assert row["card_uuid"] == ESCAPED and row["override_display"] == ESCAPED
    assert row["user_comment"] == "no\\u0000pain"


def test_a_jti_with_nul_characters_is_remembered_and_its_replay_detected(store):
    assert store.remember_jti("iss", NUL, time.time() + 60) is True
    assert store.remember_jti("iss", NUL, time.time() + 60) is False


def test_the_cards_of_an_answered_call_are_remembered_per_service(store):
    store.record_audit(audit_record(cards=2, card_uuids=["u1", "u2"]))
    store.record_audit(audit_record(service_id="other", cards=1, card_uuids=["u3"]))
    assert store.issued_cards("svc", ["u1", "u2", "u3", "never"]) == {"u1", "u2"}
    assert store.issued_cards("other", {"u1", "u3"}) == {"u3"}
    assert store.issued_cards("svc", []) == set()


def test_a_card_issued_again_is_remembered_from_its_latest_issue(store):
    now = time.time()
    store.record_audit(audit_record(at=now - 400 * 86400, card_uuids=["u1", "u2"]))
    store.record_audit(audit_record(at=now - 86400, card_uuids=["u1"]))
    store.prune_audit(now - 365 * 86400)
    assert store.issued_cards("svc", ["u1", "u2"]) == {"u1"}


def test_issued_card_uuids_with_nul_characters_are_found_again(store):
    store.record_audit(audit_record(card_uuids=[NUL]))
    assert store.issued_cards("svc", [NUL, ESCAPED]) == {NUL, ESCAPED}


def test_feedback_older_than_its_retention_is_pruned_on_write(store):
    store.record_feedback("svc", overridden("old"))
    store._execute("UPDATE feedback SET received_at = ?", (time.time() - 40 * 86400,))
    store.record_feedback("svc", overridden("recent"))
    assert store.prune_feedback(time.time() - 50 * 86400) == 0
    store.feedback_retention_seconds = 30 * 86400
    store._feedback_writes = 0  # the next write checks the retention
    store.record_feedback("svc", overridden("new"))
    assert sorted(r["card_uuid"] for r in store.feedback("svc")) == ["new", "recent"]


def test_feedback_and_audit_retention_come_from_the_settings(tmp_path):
    from service.config import Settings

    store = open_store(
        Settings(
            sqlite_path=tmp_path / "r.sqlite3", audit_retention_days=2, feedback_retention_days=3
        )
    )
    assert store.audit_retention_seconds == 2 * 86400
    assert store.feedback_retention_seconds == 3 * 86400
    env = Settings.from_env({"CDS_AUDIT_RETENTION_DAYS": "7", "CDS_AUTH": "off"})
    assert env.feedback_retention_days == 7  # unset: the audit retention
    env = Settings.from_env(
        {"CDS_AUDIT_RETENTION_DAYS": "7", "CDS_FEEDBACK_RETENTION_DAYS": "30", "CDS_AUTH": "off"}
    )
    assert env.feedback_retention_days == 30
