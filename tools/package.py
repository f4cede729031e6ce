"""Build the guideline's NPM-format FHIR package and a transaction Bundle of its artifacts.

    python -m tools.package [--out DIR] [--tgz]

writes DIR (default ``package/``):

- ``package.json``: name, version, canonical, fhirVersions ["4.0.1"], dependencies;
- one ``<Type>-<id>.json`` per artifact: every PlanDefinition, ActivityDefinition, ValueSet and
  CodeSystem of ``plandefinitions/`` and the Library resources generated from ``cql/`` (CQL and
  ELM as base64 content, data requirements), never hand-copied;
- ``.index.json`` (index-version 1): filename, resourceType, id, url, version of every resource;
- ``bundle-transaction.json``: a transaction Bundle (PUT ``Type/id``) that loads all artifacts
  into any FHIR R4 server.

The content is loaded with ``service.apply.load_knowledge`` first (``KnowledgeBase.load`` and
the ``$apply`` preparation of every plan), so a package is only built from content
the service itself accepts. With ``--tgz`` the folder is also packed as
``<name>-<version>.tgz`` (folder ``package/`` inside, as NPM expects). Output is deterministic.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

from service.apply import load_knowledge
from service.knowledge.loader import content_base, read_content

ROOT = Path(__file__).resolve().parents[1]
CONTENT_DIR = ROOT / "plandefinitions"
CQL_DIR = ROOT / "cql"
PACKAGE_NAME = "dilation-cds.anal-dilation"
PACKAGE_VERSION = "1.0.0"
BUNDLE_ID = "anal-dilation-content"


def manifest(base: str) -> dict[str, Any]:
    """package.json; `base`: the content's canonical base (`loader.content_base`)."""
    return {
        "name": PACKAGE_NAME,
        "version": PACKAGE_VERSION,
        "canonical": base,
        "url": base,
        "title": "Anal dilation CDS: professional versus clinician-prescribed home dilation",
        "description": (
            "CDS Hooks / PlanDefinition $apply content: when anal dilation should be professional, "
            "when a clinician-prescribed home dilator program fits, and when red flags escalate "
            "home care to professional review (rows R1-R17)."
        ),
        "fhirVersions": ["4.0.1"],
        "type": "fhir.ig",
        "license": "Apache-2.0",
        "author": "Anal dilation CDS project",
        "dependencies": {"hl7.fhir.r4.core": "4.0.1"},
    }


def collect(content_dir: Path = CONTENT_DIR, cql_dir: Path = CQL_DIR) -> list[dict]:
    """All artifacts, validated by loading them as the service does, sorted by type and id."""
    kb = load_knowledge(content_dir, cql_dir)
    resources = [resource for _, resource in read_content(content_dir)]
    resources += [lib.resource for lib in kb.libraries.values()]
    return sorted(resources, key=lambda r: (r["resourceType"], r["id"]))


def filename(resource: dict) -> str:
    return f"{resource['resourceType']}-{resource['id']}.json"


def transaction_bundle(resources: list[dict]) -> dict[str, Any]:
    base = content_base(resources)
    return {
        "resourceType": "Bundle",
        "id": BUNDLE_ID,
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in resources
        ],
    }


def index_entry(name: str, resource: dict) -> dict[str, Any]:
    entry = {"filename": name, "resourceType": resource["resourceType"], "id": resource["id"]}
    for key in ("url", "version"):
        if key in resource:
            entry[key] = resource[key]
    return entry


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def build(out_dir: Path, content_dir: Path = CONTENT_DIR, cql_dir: Path = CQL_DIR) -> Path:
    """Write the package folder; returns it."""
    resources = collect(content_dir, cql_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    files = {filename(r): r for r in resources}
    bundle = transaction_bundle(resources)
    files["bundle-transaction.json"] = bundle
    for name, resource in files.items():
        (out_dir / name).write_text(_dump(resource), encoding="utf-8")
    index = {
        "index-version": 1,
        "files": [index_entry(name, files[name]) for name in sorted(files)],
    }
    (out_dir / ".index.json").write_text(_dump(index), encoding="utf-8")
    (out_dir / "package.json").write_text(
        _dump(manifest(content_base(resources))), encoding="utf-8"
    )
    return out_dir


def pack(package_dir: Path, target: Path) -> Path:
    """A reproducible .tgz with the folder stored as ``package/`` (NPM layout)."""
    with tarfile.open(target, "w:gz") as tar:
        for path in sorted(package_dir.iterdir()):
            data = path.read_bytes()
            info = tarfile.TarInfo(f"package/{path.name}")
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "package", help="package folder")
    parser.add_argument("--tgz", action="store_true", help="also write <name>-<version>.tgz")
    args = parser.parse_args(argv)
    out = build(args.out)
    count = len(json.loads((out / ".index.json").read_text())["files"])
    print(f"wrote {out} ({count} files)")
    if args.tgz:
        tgz = pack(out, out.parent / f"{PACKAGE_NAME}-{PACKAGE_VERSION}.tgz")
        print(f"wrote {tgz}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
