"""`python -m tools.conformance DIR [--report PATH] [--cache DIR] [--no-oracle]`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from tools.conformance.runner import (
    ERROR,
    FAIL,
    PASS,
    FileResult,
    OurEngine,
    elapsed,
    oracle_runner,
    run_file,
)
from tools.conformance.suite import read_dir
from tools.conformance.translation import TranslationCache, translate_files
from tools.node import NodeHelper, node_available

DEFAULT_REPORT = Path("var/conformance-report.json")
DEFAULT_CACHE = Path("var/conformance-cache")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tools.conformance",
        description="Run HL7 cql-tests XML files against our ELM engine (and cql-execution).",
    )
    p.add_argument("directory", type=Path, help="folder of cql-tests XML files")
    p.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="JSON report path")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="translated-ELM cache")
    p.add_argument("--no-cache", action="store_true", help="translate everything again")
    oracle = p.add_mutually_exclusive_group()
    oracle.add_argument("--compare-oracle", dest="oracle", action="store_true", default=None)
    oracle.add_argument("--no-oracle", dest="oracle", action="store_false")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per evaluation")
    p.add_argument("--file", action="append", default=[], help="only these files (name or stem)")
    p.add_argument("-v", "--verbose", action="store_true", help="print every failing test")
    return p


def _pct(n: int, total: int) -> str:
    return f"{100.0 * n / total:.1f}%" if total else "n/a"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    if not args.directory.is_dir():
        print(f"not a directory: {args.directory}", file=sys.stderr)
        return 2
    files = read_dir(args.directory)
    if args.file:
        wanted = {f.removesuffix(".xml") for f in args.file}
        files = [f for f in files if f.path.stem in wanted or f.name in wanted]
    if not files:
        print(f"no cql-tests XML files in {args.directory}", file=sys.stderr)
        return 2
    if not node_available():
        print("the HL7 translator is needed: cd cql && npm ci", file=sys.stderr)
        return 2
    use_oracle = args.oracle if args.oracle is not None else True
    now = dt.datetime.now(dt.UTC)

    try:
        engine: OurEngine | None = OurEngine(args.timeout)
    except Exception as exc:  # the engine package itself failed to import
        print(f"our engine is unavailable: {exc}", file=sys.stderr)
        engine = None

    with NodeHelper() as node:
        versions = node.request("ping")["versions"]
        cache = TranslationCache(None if args.no_cache else args.cache)
        translations = translate_files(files, node, cache)
        n_libs = sum(t.libraries_translated for t in translations.values())
        print(f"translated {n_libs} libraries for {len(files)} files ({elapsed(started)})")
        oracle = oracle_runner(node, now) if use_oracle else None
        results: list[FileResult] = []
        for f in files:
            fr = run_file(translations[f.name], engine, now, oracle)
            results.append(fr)
            line = (
                f"{f.path.name:45} {fr.count(PASS):4} pass {fr.count(FAIL):4} fail "
                f"{fr.count(ERROR):4} error"
            )
            if use_oracle:
                line += f"   | cql-execution {fr.count(PASS, oracle=True):4} pass"
            print(line, flush=True)
            if args.verbose:
                for r in fr.results:
                    if r.status != PASS:
                        print(f"    {r.status:5} {r.test.name}: {r.message}")

    total = sum(len(r.results) for r in results)
    passed = sum(r.count(PASS) for r in results)
    report = {
        "directory": str(args.directory),
        "evaluated_at": now.isoformat(),
        "toolchain": versions,
        "summary": {
            "total": total,
            "passed": passed,
            "failed": sum(r.count(FAIL) for r in results),
            "errors": sum(r.count(ERROR) for r in results),
        },
        "files": [
            {
                "file": r.name,
                "passed": r.count(PASS),
                "failed": r.count(FAIL),
                "errors": r.count(ERROR),
                "tests": [x.to_json() for x in r.results],
            }
            for r in results
        ],
    }
    if use_oracle:
        o_pass = sum(r.count(PASS, oracle=True) for r in results)
        oracle_name = f"cql-execution {versions['cql-execution']}"
        report["oracle"] = {"engine": oracle_name, "passed": o_pass}
        print(
            f"cql-execution {versions['cql-execution']} (same libraries): "
            f"{o_pass} passed, {total - o_pass} failed ({_pct(o_pass, total)})"
        )
    valid = [r for fr in results for r in fr.results if not r.test.expects_error]
    v_ours = sum(r.status == PASS for r in valid)
    line = f"valid (non-error) tests: ours {v_ours}/{len(valid)} ({_pct(v_ours, len(valid))})"
    report["summary"]["valid"] = {"total": len(valid), "passed": v_ours}
    if use_oracle:
        v_ref = sum(bool(r.oracle and r.oracle["status"] == PASS) for r in valid)
        line += f", cql-execution {v_ref}/{len(valid)} ({_pct(v_ref, len(valid))})"
        report["oracle"]["valid_passed"] = v_ref
    print(line)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(f"our engine: {_pct(passed, total)}; report: {args.report} ({elapsed(started)})")
    print(f"{passed} passed, {total - passed} failed")
    return 0 if passed == total else 1


if __name__ == "__main__":
    sys.exit(main())
