"""Soak: mixed hook + feedback traffic against gunicorn (several workers) for a bounded time, then
proof that every feedback record the service confirmed was stored exactly once.

    .venv/bin/python -m benchmarks.soak [--duration 30] [--workers 4] [--concurrency 8]
        [--backend sqlite|postgres|both] [--database-url postgresql://127.0.0.1:5432/test]

For each backend it starts gunicorn exactly as `make run` does (deploy/gunicorn.conf.py, bundled
content, CDS_AUTH=off, the given number of workers) on a free loopback port, with a fresh
SQLite file or a fresh PostgreSQL schema (dropped afterwards), and runs `--concurrency` client
threads for `--duration` seconds. Each thread loops over:
- hook calls (patient-view and order hooks) for the bundled scenario patients with complete
  prefetch, checking a 200 with a `cards` list;
- feedback batches of 1-3 items for the cards just received (accepted with a suggestion, or
  overridden with a reason), each item unique; one batch in ten re-sends an item already
  confirmed (EHRs retry: duplicates must not be stored twice); and, now and then, feedback for a
  card the service never issued, which must be refused with a 400 (counted, not an error).
Afterwards it reads the store directly and counts, for every item the service answered 200 for,
how many rows hold it. It prints requests sent, errors, records confirmed, lost and duplicated,
and exits 1 unless errors, lost and duplicated are all 0.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._server import free_port, start_gunicorn, stop  # noqa: E402
from service.config import Settings  # noqa: E402
from service.preview.examples import load_examples  # noqa: E402
from service.preview.records import prefetch_for  # noqa: E402
from service.store import open_store  # noqa: E402

DEFAULT_PG = "postgresql://127.0.0.1:5432/test"


def request(port: int, method: str, path: str, body: dict | None = None, timeout: float = 30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    hook_calls: int = 0
    feedback_calls: int = 0
    duplicates_sent: int = 0
    errors: dict = field(default_factory=dict)
    confirmed: dict = field(default_factory=dict)  # (card, outcome, timestamp) -> service id
    unconfirmed: int = 0
    refused_unknown: int = 0  # feedback for never-issued cards, refused with 400 as it must be

    def error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1


def hook_calls(port: int) -> list[tuple[str, dict]]:
    """(service id, body) for every scenario, with complete prefetch, for its hook."""
    status, raw = request(port, "GET", "/cds-services")
    assert status == 200, status
    services = json.loads(raw)["services"]
    out = []
    for s in load_examples(datetime.now(UTC)):
        for d in (d for d in services if d["hook"] == s.hook):
            context = {"userId": "Practitioner/soak", "patientId": s.patient_id, **s.context}
            if s.hook == "order-select" and "selections" not in context:
                drafts = context.get("draftOrders", {}).get("entry", [])
                context["selections"] = [
                    f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in drafts
                ]
            resources = [e["resource"] for e in s.bundle["entry"]]
            body = {"hook": s.hook, "context": context, "prefetch": prefetch_for(d, resources)}
            out.append((d["id"], body))
    return out


def send_feedback(port: int, service: str, items: list[dict]) -> int | str:
    """The HTTP status of a feedback POST, or the name of the connection error."""
    try:
        status, _ = request(port, "POST", f"/cds-services/{service}/feedback", {"feedback": items})
    except OSError as e:
        return type(e).__name__
    return status


def client(port: int, calls, deadline: float, tally: Tally, seed: int, clock) -> None:
    rng = random.Random(seed)
    recent: list[tuple[str, dict]] = []  # (service, confirmed item) for duplicate re-sends
    while time.monotonic() < deadline:
        service, body = rng.choice(calls)
        cards = []
        try:
            status, raw = request(
                port,
                "POST",
                f"/cds-services/{service}",
                {**body, "hookInstance": str(uuid.uuid4())},
            )
            if status == 200:
                cards = json.loads(raw)["cards"]
            else:
                tally.error(f"hook {status}")
        except (OSError, ValueError, KeyError) as e:
            tally.error(f"hook {type(e).__name__}")
        with tally.lock:
            tally.requests += 1
            tally.hook_calls += 1
        if not cards or rng.random() < 0.1:
            # Feedback for a card this service never issued must be refused (400), not stored.
            unknown = {
                "card": str(uuid.uuid4()),
                "outcome": "overridden",
                "outcomeTimestamp": clock(),
            }
            status = send_feedback(port, service, [unknown])
            with tally.lock:
                tally.requests += 1
                tally.feedback_calls += 1
                tally.refused_unknown += 1 if status == 400 else 0
            if status != 400:
                tally.error(f"unknown-card feedback {status}")
            if not cards:
                continue
        items = []
        for _ in range(rng.randint(1, 3)):
            ts = clock()
            card = rng.choice(cards)
            if card and card.get("suggestions") and rng.random() < 0.5:
                items.append(
                    {
                        "card": card["uuid"],
                        "outcome": "accepted",
                        "acceptedSuggestions": [{"id": rng.choice(card["suggestions"])["uuid"]}],
                        "outcomeTimestamp": ts,
                    }
                )
            else:
                item = {
                    "card": card["uuid"],
                    "outcome": "overridden",
                    "outcomeTimestamp": ts,
                }
                reasons = card.get("overrideReasons") or []
                if reasons:
                    item["overrideReason"] = {"reason": rng.choice(reasons), "userComment": "soak"}
                items.append(item)
        duplicate = None
        if recent and rng.random() < 0.1:
            duplicate = rng.choice(recent)
            if duplicate[0] == service:
                items.append(duplicate[1])
            else:
                duplicate = None
        status = send_feedback(port, service, items)
        with tally.lock:
            tally.requests += 1
            tally.feedback_calls += 1
            tally.duplicates_sent += 1 if duplicate else 0
            if status == 200:
                for it in items:
                    tally.confirmed[(it["card"], it["outcome"], it["outcomeTimestamp"])] = service
            else:
                tally.unconfirmed += len(items)
        if status != 200:
            tally.error(f"feedback {status}")
        else:
            recent.extend((service, it) for it in items)
            del recent[:-50]


def run(backend: str, args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    env: dict = {"CDS_SQLITE_PATH": str(tmp / "cds.sqlite3")}
    schema = None
    settings = Settings(sqlite_path=tmp / "cds.sqlite3")
    if backend == "postgres":
        import psycopg

        schema = f"soak_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        sep = "&" if "?" in args.database_url else "?"
        url = f"{args.database_url}{sep}options=-csearch_path%3D{schema}"
        env["DATABASE_URL"] = url
        settings = Settings(database_url=url)
    port = free_port()
    proc = start_gunicorn(
        port,
        # A SQLite run ignores a DATABASE_URL of the caller.
        {"WEB_CONCURRENCY": str(args.workers), "CDS_AUTH": "off", "DATABASE_URL": None, **env},
        tmp / "gunicorn.err",
    )
    tally = Tally()
    try:
        calls = hook_calls(port)
        base = datetime.now(UTC)
        counter = itertools.count()
        lock = threading.Lock()

        def clock() -> str:  # unique RFC 3339 timestamps (microsecond steps)
            with lock:
                n = next(counter)
            return (base + timedelta(microseconds=n)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

        deadline = time.monotonic() + args.duration
        started = time.monotonic()
        threads = [
            threading.Thread(target=client, args=(port, calls, deadline, tally, i, clock))
            for i in range(args.concurrency)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    finally:
        stop(proc)
    store = open_store(settings)
    try:
        counts: dict = {}
        for row in store.feedback():
            key = (row["card_uuid"], row["outcome"], row["outcome_timestamp"])
            counts[key] = counts.get(key, 0) + 1
    finally:
        store.close()
        if schema:
            import psycopg

            with psycopg.connect(args.database_url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
    lost = sum(1 for k in tally.confirmed if counts.get(k, 0) == 0)
    doubled = sum(1 for k in tally.confirmed if counts.get(k, 0) > 1)
    return {
        "backend": backend,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "seconds": round(elapsed, 1),
        "requests": tally.requests,
        "hook_calls": tally.hook_calls,
        "feedback_calls": tally.feedback_calls,
        "req_per_s": round(tally.requests / elapsed, 1),
        "errors": sum(tally.errors.values()),
        "error_kinds": tally.errors,
        "records_confirmed": len(tally.confirmed),
        "duplicates_resent": tally.duplicates_sent,
        "records_unconfirmed": tally.unconfirmed,
        "unknown_cards_refused": tally.refused_unknown,
        "records_lost": lost,
        "records_stored_twice": doubled,
        "rows_in_store": sum(counts.values()),
    }


def postgres_reachable(url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3):
            return True
    except Exception:
        return False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=30.0, help="seconds of traffic per backend")
    p.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    p.add_argument("--concurrency", type=int, default=8, help="client threads")
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--database-url", default=os.environ.get("SOAK_DATABASE_URL", DEFAULT_PG))
    args = p.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    ok = True
    for backend in backends:
        if backend == "postgres" and not postgres_reachable(args.database_url):
            print(f"postgres: {args.database_url} not reachable, skipped")
            ok = False
            continue
        r = run(backend, args)
        print(
            f"{r['backend']}: {r['seconds']} s, {r['workers']} workers, "
            f"{r['concurrency']} clients: "
            f"requests sent {r['requests']} ({r['hook_calls']} hook, {r['feedback_calls']} "
            f"feedback; {r['req_per_s']}/s), errors {r['errors']} {r['error_kinds'] or ''}, "
            f"records confirmed {r['records_confirmed']} (+{r['duplicates_resent']} duplicate "
            f"re-sends), records lost {r['records_lost']}, stored twice "
            f"{r['records_stored_twice']}, unconfirmed {r['records_unconfirmed']}, "
            f"feedback for never-issued cards refused {r['unknown_cards_refused']}"
        )
        print(json.dumps(r))
        ok = ok and r["errors"] == 0 and r["records_lost"] == 0 and r["records_stored_twice"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
