"""Our ELM engine vs cql-execution on the same ELM and the same ~100-resource patient.

    .venv/bin/python -m benchmarks.engine_bench [--iterations 200] [--warmup 20] [--resources 100]

Both engines prepare the library once (our `ElmEngine` compiles it; cql-execution builds its
`Library`, `CodeService` and the cql-exec-fhir `PatientSource` once); each timed iteration
evaluates every definition of `DilationBench` (benchmarks/cql/) for one patient, data
indexing included (ours: `engine.evaluate(..., data=bundle)`; cql-execution: `loadBundles` +
`Executor.exec`). cql-execution is timed inside its own Node process (no IPC in its figure).
Before timing, the results of both engines are compared definition by definition.
Prints the median time per patient of each engine and the ratio ours / cql-execution.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import time
from pathlib import Path

from service.elm.canonical import to_canonical
from tools.node import CQL_DIR, NodeHelper, node_available

HERE = Path(__file__).resolve().parent
BENCH_ELM = HERE / "cql" / "elm"
TERMINOLOGY = HERE / "cql" / "terminology"
LIBRARY = "DilationBench"
NOW = dt.datetime(2024, 9, 1, 12, 0, tzinfo=dt.UTC)

SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def _iso(d: dt.datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_patient(resources: int = 100, seed: int = 7) -> dict:
    """A deterministic record: Patient plus Conditions, Procedures, Observations, Encounters,
    MedicationRequests in the proportions of a colorectal follow-up (about `resources` in all).
    """
    rnd = random.Random(seed)
    pid = "bench-patient"
    subject = {"reference": f"Patient/{pid}"}
    out: list[dict] = [
        {
            "resourceType": "Patient",
            "id": pid,
            "gender": "female",
            "birthDate": "1971-04-23",
            "active": True,
        }
    ]
    n_other = resources - 1
    counts = {
        "Condition": n_other * 25 // 100,
        "Procedure": n_other * 25 // 100,
        "Observation": n_other * 30 // 100,
        "Encounter": n_other * 12 // 100,
    }
    counts["MedicationRequest"] = n_other - sum(counts.values())

    def day(back_max: int) -> dt.datetime:
        return NOW - dt.timedelta(days=rnd.randint(1, back_max), hours=rnd.randint(0, 23))

    condition_codes = [(SCT, "29053004"), (SCT, "12345001"), (SCT, "95213006"), (SCT, "1111")]
    for i in range(counts["Condition"]):
        system, code = condition_codes[i % len(condition_codes)]
        onset = (
            {"onsetDateTime": _iso(day(900))}
            if i % 3
            else {"onsetPeriod": {"start": _iso(day(900))}}
        )
        out.append(
            {
                "resourceType": "Condition",
                "id": f"cond-{i}",
                "subject": subject,
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "active" if i % 4 else "resolved",
                        }
                    ]
                },
                "code": {"coding": [{"system": system, "code": code}]},
                **onset,
            }
        )
    for i in range(counts["Procedure"]):
        code = "386768003" if i % 5 else "52451002"
        out.append(
            {
                "resourceType": "Procedure",
                "id": f"proc-{i}",
                "subject": subject,
                "status": "completed" if i % 7 else "not-done",
                "code": {"coding": [{"system": SCT, "code": code}]},
                "performedDateTime": _iso(day(500)),
            }
        )
    for i in range(counts["Observation"]):
        code = "72514-3" if i % 2 else "8310-5"
        out.append(
            {
                "resourceType": "Observation",
                "id": f"obs-{i}",
                "subject": subject,
                "status": "final" if i % 6 else "preliminary",
                "code": {"coding": [{"system": LOINC, "code": code}]},
                "effectiveDateTime": _iso(day(300)),
                "valueQuantity": {
                    "value": rnd.randint(0, 10),
                    "unit": "{score}",
                    "system": UCUM,
                    "code": "{score}",
                },
            }
        )
    for i in range(counts["Encounter"]):
        start = day(400)
        out.append(
            {
                "resourceType": "Encounter",
                "id": f"enc-{i}",
                "subject": subject,
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                },
                "period": {"start": _iso(start), "end": _iso(start + dt.timedelta(hours=3))},
            }
        )
    for i in range(counts["MedicationRequest"]):
        out.append(
            {
                "resourceType": "MedicationRequest",
                "id": f"med-{i}",
                "subject": subject,
                "status": "active" if i % 2 else "completed",
                "intent": "order",
                "authoredOn": _iso(day(600)),
                "medicationCodeableConcept": {
                    "coding": [
                        {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361"}
                    ]
                },
            }
        )
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in out],
    }


def libraries() -> list[dict]:
    paths = [BENCH_ELM / f"{LIBRARY}.json", CQL_DIR / "elm" / "FHIRHelpers.json"]
    return [json.loads(p.read_text()) for p in paths]


def time_ours(engine, bundle: dict, names: list[str], iterations: int, warmup: int) -> list[float]:
    times = []
    for i in range(warmup + iterations):
        t0 = time.perf_counter()
        engine.evaluate(LIBRARY, expressions=names, data=bundle, now=NOW)
        t1 = time.perf_counter()
        if i >= warmup:
            times.append((t1 - t0) * 1000)
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--resources", type=int, default=100)
    args = ap.parse_args(argv)
    if not node_available():
        print("cql-execution is needed for the comparison: cd cql && npm ci", file=sys.stderr)
        return 2

    from service.elm import ElmEngine, Terminology

    bundle = make_patient(args.resources)
    n_resources = len(bundle["entry"])
    terminology = Terminology.from_directory(TERMINOLOGY)
    t0 = time.perf_counter()
    engine = ElmEngine.from_libraries(libraries(), terminology=terminology)
    compile_ms = (time.perf_counter() - t0) * 1000

    from tests.oracle.harness import Oracle

    names = [n for n in engine.definitions(LIBRARY) if n != "Patient"]
    ours: dict[str, object] = {}
    for name in names:  # one by one: a definition our engine cannot run is reported, not fatal
        try:
            value = engine.evaluate(LIBRARY, expressions=[name], data=bundle, now=NOW)[name]
            ours[name] = to_canonical(value)
        except Exception as exc:
            ours[name] = {"@error": f"{type(exc).__name__}: {exc}"}
    failing = [n for n in names if isinstance(ours[n], dict) and "@error" in ours[n]]
    timed = [n for n in names if n not in failing]

    with NodeHelper() as node:
        value_sets = Oracle.value_sets_for_node(terminology)
        node.request("load", key="bench", libraries=libraries(), valueSets=value_sets)
        theirs = node.request(
            "evaluate", key="bench", library=LIBRARY, bundles=[bundle], now=NOW.isoformat()
        )["patients"][0]
        ref = node.request(
            "bench",
            key="bench",
            library=LIBRARY,
            bundle=bundle,
            now=NOW.isoformat(),
            iterations=args.iterations,
            warmup=args.warmup,
            expressions=timed,
        )
    differing = [n for n in timed if ours[n] != theirs.get(n)]
    our_times = time_ours(engine, bundle, timed, args.iterations, args.warmup)
    ours_ms = statistics.median(our_times)
    ref_ms = statistics.median(ref["times_ms"])
    print(f"library {LIBRARY}: {len(names)} definitions; patient: {n_resources} resources")
    print(f"our engine compile (once): {compile_ms:.1f} ms")
    for name in failing:
        print(f"  NOT TIMED (our engine fails): {name}: {ours[name]['@error'][:150]}")
    agree = len(timed) - len(differing)
    print(f"results: {agree}/{len(names)} definitions equal to cql-execution's")
    for name in differing:
        print(f"  differs: {name}: ours={json.dumps(ours[name])[:160]}")
        print(f"           ref ={json.dumps(theirs.get(name))[:160]}")
    print(f"timed: the same {len(timed)} definitions in both engines")
    print(f"median per patient, our engine:    {ours_ms:8.3f} ms  ({args.iterations} runs)")
    print(f"median per patient, cql-execution: {ref_ms:8.3f} ms  ({args.iterations} runs)")
    print(f"ratio ours / cql-execution: {ours_ms / ref_ms:.2f} (target <= 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
