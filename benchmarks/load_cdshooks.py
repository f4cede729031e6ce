"""Load test: the CDS Hooks service under gunicorn on loopback, against its own trivial floor.

    .venv/bin/python -m benchmarks.load_cdshooks [--levels 1,4,8,16] [--duration 5] [--auth off|jwt]

Starts gunicorn exactly as `make run` does (deploy/gunicorn.conf.py, bundled content, SQLite in
a temporary directory) on a free loopback port, then drives two endpoints at each concurrency
level with a thread-per-connection Python load generator (http.client, one connection per
request like an EHR calling a sync-worker service):
- the hook: POST /cds-services/{patient-view service} with a realistic prefetch of ~100
  resources (a positive clinical scenario padded with unrelated vitals, problems, procedures and
  medications, distributed over the service's prefetch keys);
- the floor: GET /healthz of the same app (the cost of gunicorn + Flask + the generator itself).
Hook and floor alternate in rounds (default 3 per level) so both see the same machine conditions;
each figure is the median over the rounds. It prints p50/p95/p99 latency and throughput per
level, the hook/floor throughput ratio, and
checks the targets at concurrency 8 (p50 ≤ 10 ms, p99 ≤ 50 ms, throughput ≥ 10 % of the floor).
The generator is wrk when installed (scripts/install-bench-tools.sh), else Python threads.
Each level runs for a bounded time; the run stops by itself. Loopback only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._server import free_port, start_gunicorn, stop  # noqa: E402

TARGET_LEVEL = 8
TARGETS = {"p50_ms": 10.0, "p99_ms": 50.0, "ratio": 0.10}


def request(port: int, method: str, path: str, body: bytes | None = None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data
    finally:
        conn.close()


# -- the realistic request -----------------------------------------------------------------------
FILLER = [
    (
        "Observation",
        "http://loinc.org",
        "8867-4",
        "Heart rate",
        {"valueQuantity": {"value": 72, "unit": "/min"}},
    ),
    (
        "Observation",
        "http://loinc.org",
        "8480-6",
        "Systolic blood pressure",
        {"valueQuantity": {"value": 128, "unit": "mm[Hg]"}},
    ),
    (
        "Observation",
        "http://loinc.org",
        "29463-7",
        "Body weight",
        {"valueQuantity": {"value": 71.5, "unit": "kg"}},
    ),
    (
        "Observation",
        "http://loinc.org",
        "2339-0",
        "Glucose",
        {"valueQuantity": {"value": 5.4, "unit": "mmol/L"}},
    ),
    ("Condition", "http://snomed.info/sct", "38341003", "Hypertensive disorder", {}),
    ("Condition", "http://snomed.info/sct", "44054006", "Diabetes mellitus type 2", {}),
    ("Procedure", "http://snomed.info/sct", "80146002", "Appendectomy", {}),
    (
        "MedicationRequest",
        "http://www.nlm.nih.gov/research/umls/rxnorm",
        "197361",
        "Amlodipine 5 MG",
        {},
    ),
]


def filler_resource(i: int, patient_id: str) -> dict:
    rtype, system, code, display, extra = FILLER[i % len(FILLER)]
    r = {
        "resourceType": rtype,
        "id": f"filler-{i}",
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    when = f"2026-0{1 + i % 9}-1{i % 10}"
    concept = {"coding": [{"system": system, "code": code, "display": display}], "text": display}
    if rtype == "Observation":
        r |= {"status": "final", "code": concept, "effectiveDateTime": when + "T09:30:00Z", **extra}
        r["category"] = [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ]
    elif rtype == "Condition":
        r |= {
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "active",
                    }
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
            "code": concept,
            "onsetDateTime": when,
        }
    elif rtype == "Procedure":
        r |= {"status": "completed", "code": concept, "performedDateTime": when}
    else:
        r |= {
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": concept,
            "authoredOn": when,
        }
    return r


def hook_request(service: dict, total: int = 100) -> tuple[str, bytes, int]:
    from service.preview.examples import load_examples

    scenario = next(
        s
        for s in load_examples(datetime.now(UTC))
        if s.hook == "patient-view" and s.kind == "positive"
    )
    prefetch: dict = {}
    first_key_of: dict[str, str] = {}
    for key, template in service["prefetch"].items():
        rtype = template.split("?")[0].split("/")[0]
        first_key_of.setdefault(rtype, key)
        if "?" in template:
            prefetch[key] = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    record = [e["resource"] for e in scenario.bundle["entry"]]
    fillers = (filler_resource(i, scenario.patient_id) for i in range(10 * total))
    while len(record) < total:
        r = next(fillers)
        if r["resourceType"] in first_key_of:
            record.append(r)
    for r in record:
        key = first_key_of.get(r["resourceType"])
        if key is None:
            continue
        if r["resourceType"] == "Patient":
            prefetch[key] = r
        else:
            prefetch[key]["entry"].append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r})
    count = sum(1 for v in prefetch.values() if v.get("resourceType") != "Bundle")
    count += sum(len(v["entry"]) for v in prefetch.values() if v.get("resourceType") == "Bundle")
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": "https://ehr.example/fhir",
        "context": {"userId": "Practitioner/bench", "patientId": scenario.patient_id},
        "prefetch": prefetch,
    }
    return f"/cds-services/{service['id']}", json.dumps(body).encode(), count


# -- load generation -----------------------------------------------------------------------------
def run_level(port, method, path, body, concurrency, duration, token_for=None) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + duration
    base_headers = {"Content-Type": "application/json"} if body else {}

    def worker():
        local, bad = [], 0
        while time.perf_counter() < deadline:
            headers = dict(base_headers)
            if token_for is not None:
                headers["Authorization"] = f"Bearer {token_for()}"
            t0 = time.perf_counter()
            try:
                status, _ = request(port, method, path, body, headers)
            except OSError:
                status = 0
            local.append(time.perf_counter() - t0)
            if status != 200:
                bad += 1
        with lock:
            latencies.extend(local)
            errors[0] += bad

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p):
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000
            if latencies
            else float("nan")
        )

    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": errors[0],
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
    }


WRK_SCRIPT = """
local body_file = os.getenv("BENCH_BODY")
if body_file then
  local f = io.open(body_file, "rb")
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/json"
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    'WRK_JSON {"requests": %d, "seconds": %f, "errors": %d, ' ..
    '"p50": %f, "p95": %f, "p99": %f, "mean": %f}\\n',
    summary.requests, summary.duration / 1e6, errors,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean))
end
"""


def run_level_wrk(port, path, body, concurrency, duration, tmp: Path) -> dict:
    """The same measurement with wrk (C, keeps the generator's own CPU cost low)."""
    script = tmp / "bench.lua"
    script.write_text(WRK_SCRIPT)
    env = dict(os.environ)
    env.pop("BENCH_BODY", None)
    if body is not None:
        (tmp / "body.json").write_bytes(body)
        env["BENCH_BODY"] = str(tmp / "body.json")
    cmd = [
        "wrk",
        f"-t{min(concurrency, 2)}",
        f"-c{concurrency}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}{path}",
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 60).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK_JSON "))
    m = json.loads(line[len("WRK_JSON ") :])
    return {
        "concurrency": concurrency,
        "requests": m["requests"],
        "errors": m["errors"],
        "rps": m["requests"] / m["seconds"],
        "p50_ms": m["p50"] / 1000,
        "p95_ms": m["p95"] / 1000,
        "p99_ms": m["p99"] / 1000,
        "mean_ms": m["mean"] / 1000,
    }


def median_round(rounds: list[dict]) -> dict:
    """Each metric's median over the rounds (robust to bursts of other work on the machine)."""
    out = dict(rounds[0])
    for k in ("rps", "p50_ms", "p95_ms", "p99_ms", "mean_ms"):
        out[k] = statistics.median(r[k] for r in rounds)
    out["requests"] = sum(r["requests"] for r in rounds)
    out["errors"] = sum(r["errors"] for r in rounds)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default="1,4,8,16")
    ap.add_argument("--duration", type=float, default=6.0, help="seconds per level and endpoint")
    ap.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternate hook and floor this many times per level; report each metric's median",
    )
    ap.add_argument("--auth", choices=("off", "jwt"), default="off")
    ap.add_argument("--resources", type=int, default=100)
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="wrk when installed (scripts/install-bench-tools.sh), else the Python generator; "
        "--auth jwt always uses the Python generator (fresh token per request)",
    )
    args = ap.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    use_wrk = args.generator == "wrk" or (args.generator == "auto" and shutil.which("wrk"))
    if args.auth == "jwt":
        use_wrk = False

    issuer_json, client = None, None
    if args.auth == "jwt":
        from tests.support.jwt_keys import TestClient

        client = TestClient("https://bench-ehr.example")
        issuer_json = json.dumps([{"iss": client.iss, "jwks": client.jwks(("rs-1",))}])
    port = free_port()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        env = {"CDS_SQLITE_PATH": str(tmp / "cds.sqlite3"), "CDS_AUTH": args.auth}
        if issuer_json:
            env["CDS_TRUSTED_ISSUERS"] = issuer_json
            # Required with JWTs on: the tokens' aud is this base + the path.
            env["CDS_EXTERNAL_BASE_URL"] = f"http://127.0.0.1:{port}"
        proc = start_gunicorn(port, env, tmp / "gunicorn.err")
        try:

            def token(path):
                if client is None:
                    return None
                return lambda: client.token(f"http://127.0.0.1:{port}{path}", kid="rs-1")

            status, data = request(
                port, "GET", "/cds-services", headers=_auth(token("/cds-services"))
            )
            assert status == 200, data
            service = next(s for s in json.loads(data)["services"] if s["hook"] == "patient-view")
            path, body, count = hook_request(service, args.resources)
            status, data = request(
                port, "POST", path, body, {"Content-Type": "application/json", **_auth(token(path))}
            )
            assert status == 200, data[:500]
            cards = len(json.loads(data)["cards"])
            kib = len(body) / 1024
            print(f"hook: POST {path}  prefetch resources: {count}  {kib:.1f} KiB  cards: {cards}")
            workers = os.environ.get("WEB_CONCURRENCY") or os.cpu_count() + 1
            load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
            print(f"load average (1/5/15 min) before: {load} (other work skews results)")
            generator = "wrk" if use_wrk else "python threads"
            print(
                f"workers: {workers}  auth: {args.auth}  generator: {generator}  "
                f"{args.duration:g} s per level and endpoint in {args.rounds} rounds\n"
            )
            run_level(port, "POST", path, body, 2, 1.0, token(path))  # warm-up
            results = []
            share = args.duration / args.rounds
            for c in levels:
                rounds = []
                for _ in range(args.rounds):  # hook and floor interleaved: same machine conditions
                    if use_wrk:
                        hook = run_level_wrk(port, path, body, c, share, Path(tmpdir))
                        floor = run_level_wrk(port, "/healthz", None, c, share, Path(tmpdir))
                    else:
                        hook = run_level(port, "POST", path, body, c, share, token(path))
                        floor = run_level(port, "GET", "/healthz", None, c, share)
                    rounds.append((hook, floor))
                hook, floor = (
                    median_round([h for h, _ in rounds]),
                    median_round([f for _, f in rounds]),
                )
                results.append({"hook": hook, "floor": floor, "ratio": hook["rps"] / floor["rps"]})
        finally:
            stop(proc)

    cols = ("req/s", "p50 ms", "p95 ms", "p99 ms")
    head = f"{'conc':>4} | {'endpoint':<8} | " + " | ".join(f"{c:>8}" for c in cols) + " | errors"
    print(head)
    print("-" * len(head))
    for r in results:
        for name in ("hook", "floor"):
            m = r[name]
            print(
                f"{m['concurrency']:>4} | {name:<8} | {m['rps']:>8.1f} | {m['p50_ms']:>8.2f} | "
                f"{m['p95_ms']:>8.2f} | {m['p99_ms']:>8.2f} | {m['errors']:>6}"
            )
        print(f"{'':>4} | ratio hook/floor throughput: {r['ratio']:.1%}")
    print(
        f"\nload average (1/5/15 min) at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    ok = True
    at = next((r for r in results if r["hook"]["concurrency"] == TARGET_LEVEL), None)
    if at:
        checks = [
            ("p50 ≤ 10 ms", at["hook"]["p50_ms"] <= TARGETS["p50_ms"]),
            ("p99 ≤ 50 ms", at["hook"]["p99_ms"] <= TARGETS["p99_ms"]),
            ("throughput ≥ 10% of floor", at["ratio"] >= TARGETS["ratio"]),
            ("no errors", at["hook"]["errors"] == 0),
        ]
        print(
            "\ntargets at concurrency 8: "
            + ", ".join(f"{n}: {'PASS' if v else 'FAIL'}" for n, v in checks)
        )
        ok = all(v for _, v in checks)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0 if ok else 1


def _auth(token_fn) -> dict:
    return {"Authorization": f"Bearer {token_fn()}"} if token_fn else {}


if __name__ == "__main__":
    raise SystemExit(main())
