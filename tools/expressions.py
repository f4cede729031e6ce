"""Build-time generation of the CQL library that holds inline CQL expressions of the content.

The service has no CQL translator at run time, so `text/cql-expression` / `text/cql` expressions in
PlanDefinitions (conditions, evidence and target expressions, action dynamicValues such as the
`action.title` / `action.description` that compute card text) and ActivityDefinitions
(dynamicValues) are extracted at BUILD time into one generated library per logic library `L`:
`cql/<L>Expressions.cql`, which includes `L` (called `L`) and holds

- one `define "Expression <sha256[:12]>": <expression>` per distinct expression text, and
- one pass-through `define "<name>": L."<name>"` per `text/cql-identifier` the content uses
  with `L`, so that a request evaluates everything it needs in ONE call on the generated library.

Inline expressions are evaluated in the context of the artifact's library, which is included
under its own name: qualify its definitions, e.g.
`DemoDilation."Has Anal Stenosis" and AgeInYears() > 60`.
The generated CQL is translated by the pinned translator and committed like all ELM;
`tests/knowledge/test_generated_expressions.py` fails when it is stale.

Regenerate:  `.venv/bin/python -m tools.expressions [--content DIR] [--cql DIR]`

The naming rules shared with the run-time `$apply` preparation are in
`service.knowledge.expression_names`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from service.knowledge.expression_names import (
    EVIDENCE_URL,
    IDENTIFIER_LANGUAGE,
    INLINE_LANGUAGES,
    REGENERATE,
    SUFFIX,
    TARGET_URL,
    expression_name,
    generated_library_name,
    library_name_from_canonical,
)
from service.knowledge.libraries import library_name_of
from service.knowledge.loader import read_content

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class LibraryUses:
    """What the content asks of one logic library."""

    identifiers: set[str] = field(default_factory=set)
    expressions: dict[str, str] = field(default_factory=dict)  # text -> where (first use)


def iter_expressions(resource: dict) -> Iterator[tuple[str, dict]]:
    """(where, Expression) for every condition, evidence or target expression and dynamicValue."""
    rid = f"{resource.get('resourceType')}/{resource.get('id')}"
    for dv in resource.get("dynamicValue") or []:
        if isinstance(dv.get("expression"), dict):
            yield f"{rid} dynamicValue {dv.get('path')}", dv["expression"]
    stack = [(a, f"{rid} action {a.get('id')}") for a in resource.get("action") or []]
    while stack:
        action, where = stack.pop()
        for cond in action.get("condition") or []:
            if isinstance(cond.get("expression"), dict):
                yield f"{where} condition", cond["expression"]
        for ext in action.get("extension") or []:
            if ext.get("url") in (EVIDENCE_URL, TARGET_URL) and isinstance(
                ext.get("valueExpression"), dict
            ):
                kind = "evidence" if ext["url"] == EVIDENCE_URL else "target"
                yield f"{where} {kind}", ext["valueExpression"]
        for dv in action.get("dynamicValue") or []:
            if isinstance(dv.get("expression"), dict):
                yield f"{where} dynamicValue {dv.get('path')}", dv["expression"]
        stack.extend((a, f"{rid} action {a.get('id')}") for a in action.get("action") or [])


def collect_uses(resources: list[dict]) -> dict[str, LibraryUses]:
    """Per logic library name: the identifiers and inline expressions the content uses."""
    uses: dict[str, LibraryUses] = {}
    for res in resources:
        if res.get("resourceType") not in ("PlanDefinition", "ActivityDefinition"):
            continue
        libs = [lib for lib in res.get("library") or [] if isinstance(lib, str)]
        if not libs:
            continue
        primary = library_name_from_canonical(libs[0])
        entry = uses.setdefault(primary, LibraryUses())
        for where, expr in iter_expressions(res):
            text = expr.get("expression")
            if not isinstance(text, str):
                continue
            if expr.get("language") == IDENTIFIER_LANGUAGE:
                entry.identifiers.add(text)
            elif expr.get("language") in INLINE_LANGUAGES:
                entry.expressions.setdefault(text.strip(), where)
    return uses


def _version_of(cql_dir: Path, library: str) -> str | None:
    for path in sorted(cql_dir.glob("*.cql")):
        text = path.read_text(encoding="utf-8")
        if library_name_of(text) == library:
            m = re.search(r"^\s*library\s+\S+\s+version\s+'([^']*)'", text, re.MULTILINE)
            return m.group(1) if m else None
    return None


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(library: str, version: str | None, uses: LibraryUses) -> str:
    """The generated CQL text (deterministic: sorted definitions)."""
    gen = generated_library_name(library)
    ver = f" version '{version}'" if version else ""
    lines = [
        f"// GENERATED by `{REGENERATE}` from the PlanDefinitions and",
        f"// ActivityDefinitions that use library {library}.",
        "// Do not edit: edit the content and regenerate.",
        f"library {gen}{ver}",
        "",
        "using FHIR version '4.0.1'",
        "",
        "include FHIRHelpers version '4.0.1' called FHIRHelpers",
        f"include {library}{ver} called {library}",
        "",
        "context Patient",
        "",
    ]
    for ident in sorted(uses.identifiers):
        lines += [f"define {_quote(ident)}:", f"  {library}.{_quote(ident)}", ""]
    for text in sorted(uses.expressions, key=expression_name):
        lines += [
            f"// {uses.expressions[text]}",
            f"define {_quote(expression_name(text))}:",
            *(f"  {line}" for line in text.splitlines()),
            "",
        ]
    return "\n".join(lines)


def generate(content_dir: Path, cql_dir: Path) -> dict[Path, str]:
    """The generated CQL files (path → text) for the content; only libraries with inline
    expressions get one."""
    resources = [r for _, r in read_content(content_dir)]
    out: dict[Path, str] = {}
    for library, uses in sorted(collect_uses(resources).items()):
        if not uses.expressions:
            continue
        path = cql_dir / f"{generated_library_name(library)}.cql"
        out[path] = render(library, _version_of(cql_dir, library), uses)
    return out


def stale_files(content_dir: Path, cql_dir: Path) -> list[str]:
    """Problems between the committed generated CQL and what the content needs now."""
    wanted = generate(content_dir, cql_dir)
    problems = []
    for path, text in wanted.items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            problems.append(f"{path} is missing or stale")
    for path in cql_dir.glob(f"*{SUFFIX}.cql"):
        head = path.read_text(encoding="utf-8")[:200]
        if f"GENERATED by `{REGENERATE}`" in head and path not in wanted:
            problems.append(f"{path} is generated but no content needs it any more")
    return problems


def translate(files: list[Path], cql_dir: Path, elm_dir: Path) -> None:
    """Translate generated files with the pinned translator (includes resolved from cql_dir,
    falling back to the repository's cql/ for shared libraries such as FHIRHelpers)."""
    with tempfile.TemporaryDirectory() as tmp:
        for source_dir in (ROOT / "cql", cql_dir):
            for src in source_dir.glob("*.cql"):
                link = Path(tmp) / src.name
                if link.exists():
                    link.unlink()
                os.symlink(src.resolve(), link)
        script = str(ROOT / "cql/scripts/translate.mjs")
        cmd = ["node", script, "--out", str(elm_dir.resolve()), "--lib", tmp]
        subprocess.run([*cmd, *(str(f.resolve()) for f in files)], check=True, cwd=ROOT / "cql")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--content", type=Path, default=ROOT / "plandefinitions")
    ap.add_argument("--cql", type=Path, default=ROOT / "cql")
    ap.add_argument("--elm", type=Path, default=None)
    ap.add_argument("--check", action="store_true", help="fail if the generated CQL is stale")
    args = ap.parse_args(argv)
    if args.check:
        problems = stale_files(args.content, args.cql)
        for p in problems:
            print("STALE", p, file=sys.stderr)
        return 1 if problems else 0
    files = generate(args.content, args.cql)
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
        print("wrote", path)
    if files:
        translate(sorted(files), args.cql, args.elm or args.cql / "elm")
    print(json.dumps({"generated": [p.name for p in files]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
