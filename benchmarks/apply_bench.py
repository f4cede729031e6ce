"""$apply time per patient on the real content (PlanDefinition anal-dilation-recommendations).

    .venv/bin/python -m benchmarks.apply_bench [--iterations 200] [--warmup 20] [--resources 100]

The patient: a clinical scenario (default: a post-hemorrhoidectomy stenosis with a home
program card and three suggestions) padded with unrelated filler resources to ~100 resources.
Everything is prepared once (`load_knowledge`); a timed iteration is what a request does:

- `apply`: index the data + evaluate every CQL definition the patient-view actions need (one
  engine call) + build the RequestGroup, evidence and proposed resources;
- `apply+careplan`: the same plus `to_care_plan()`;
- `http`: POST /fhir/PlanDefinition/{id}/$apply through the Flask test client (JSON parsing of a
  ~100-resource Parameters body, validation, apply, CarePlan, serialisation).

Run it once, not in loops: the machine's 2 cores are shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLAN = "anal-dilation-recommendations"


def _stats(times_ms: list[float]) -> str:
    times_ms = sorted(times_ms)
    p95 = times_ms[min(len(times_ms) - 1, int(0.95 * len(times_ms)))]
    return f"median {statistics.median(times_ms):7.3f} ms   p95 {p95:7.3f} ms"


def patient(scenario_slug: str, resources: int, now: dt.datetime) -> tuple[str, dict]:
    from benchmarks.load_cdshooks import filler_resource
    from service.preview.examples import load_examples

    scenarios = {s.slug: s for s in load_examples(now)}
    s = scenarios[scenario_slug]
    bundle = s.patient_data()
    entries = list(bundle["entry"])
    i = 0
    while len(entries) < resources:
        entries.append({"resource": filler_resource(i, s.patient_id)})
        i += 1
    return s.patient_id, {**bundle, "entry": entries}


def timed(fn, iterations: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--resources", type=int, default=100)
    ap.add_argument("--scenario", default="r10-positive-mild-stenosis-after-hemorrhoidectomy")
    args = ap.parse_args(argv)

    from flask import Flask

    from service.apply import apply_plan_definition, load_knowledge
    from service.fhirapi import register

    t0 = time.perf_counter()
    kb = load_knowledge(content_dir=ROOT / "plandefinitions", cql_dir=ROOT / "cql")
    load_ms = (time.perf_counter() - t0) * 1000
    now = dt.datetime.now(dt.UTC)
    pid, bundle = patient(args.scenario, args.resources, now)
    pd = kb.resolve(f"PlanDefinition/{PLAN}")
    entries = [e["resource"] for e in bundle["entry"]]

    def apply():
        return apply_plan_definition(
            kb, pd, subject=f"Patient/{pid}", data=entries, now=now, trigger="patient-view"
        )

    result = apply()
    actions = result.request_group.get("action", [])
    app = Flask("apply-bench")
    register(app, kb)
    client = app.test_client()
    body = json.dumps(
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "subject", "valueString": f"Patient/{pid}"},
                {"name": "data", "resource": bundle},
            ],
        }
    )

    def http():
        resp = client.post(
            f"/fhir/PlanDefinition/{PLAN}/$apply", data=body, content_type="application/fhir+json"
        )
        assert resp.status_code == 200, resp.get_data(as_text=True)[:300]

    print(f"knowledge base load (validate + compile + prepare): {load_ms:.0f} ms")
    print(
        f"patient: {len(entries)} resources ({args.scenario}); body {len(body) / 1024:.0f} KB; "
        f"{len(actions)} card action(s) {[a['id'] for a in actions]}, "
        f"{len(result.resources)} proposed resource(s), {len(result.issues)} issue(s)"
    )
    print(f"apply            {_stats(timed(apply, args.iterations, args.warmup))}")
    print(
        "apply+careplan   "
        + _stats(timed(lambda: apply().to_care_plan(), args.iterations, args.warmup))
    )
    print(f"http $apply      {_stats(timed(http, args.iterations, args.warmup))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
