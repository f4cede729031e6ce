"""Command line: `python -m service.elm evaluate ...` (evaluate ELM against a data file).

The conformance runner is a development tool outside the runtime package:
`python -m tools.conformance DIR`."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Any

from service.elm import ElmEngine, ElmError, Terminology
from service.elm.canonical import from_canonical, to_canonical


def _to_json(value: Any) -> Any:
    return to_canonical(value)


def _from_json(value: Any) -> Any:
    """Parameter values: canonical JSON (`{"@type": "DateTime", ...}`) becomes CQL values."""
    return from_canonical(value)


def _evaluate(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m service.elm evaluate")
    ap.add_argument("--elm-dir", required=True, type=Path, help="directory of ELM JSON")
    ap.add_argument("--library", required=True, help="library to evaluate")
    ap.add_argument("--expression", action="append", help="definition name (repeatable)")
    ap.add_argument("--data", type=Path, help="FHIR Bundle or JSON list of resources")
    ap.add_argument(
        "--param",
        action="append",
        default=[],
        help='NAME=JSON (repeatable); canonical JSON such as {"@type": "DateTime", ...} for '
        "temporal, Quantity and Interval values",
    )
    ap.add_argument("--now", help="evaluation time, ISO 8601 with offset (default: now)")
    ap.add_argument("--terminology", type=Path, help="directory of ValueSet/CodeSystem JSON")
    args = ap.parse_args(argv)
    try:
        terminology = Terminology.from_directory(args.terminology) if args.terminology else None
        engine = ElmEngine.from_directory(args.elm_dir, terminology=terminology)
        data = json.loads(args.data.read_text(encoding="utf-8")) if args.data else None
        params: dict[str, Any] = {}
        for p in args.param:
            name, sep, raw = p.partition("=")
            if not sep:
                ap.error(f"--param expects NAME=JSON, got {p!r}")
            params[name] = _from_json(json.loads(raw))
        now = None
        if args.now:
            now = _dt.datetime.fromisoformat(args.now.replace("Z", "+00:00"))
            if now.tzinfo is None:
                now = now.replace(tzinfo=_dt.UTC)
        results = engine.evaluate(
            args.library, expressions=args.expression, data=data, parameters=params, now=now
        )
    except ElmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({k: _to_json(v) for k, v in results.items()}, indent=2, ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m service.elm evaluate ...")
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "evaluate":
        return _evaluate(rest)
    if cmd == "conformance":
        print("the conformance runner moved: python -m tools.conformance DIR", file=sys.stderr)
        return 2
    print(f"unknown command {cmd!r} (expected evaluate)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
