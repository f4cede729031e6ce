"""Translate generated conformance libraries with the pinned HL7 translator, in batches.

Each file becomes one library. When it does not translate, the definitions the errors point at
are isolated: the tests they belong to are translated one by one and the rest again as one
library, until every test has ELM or its own translation error. All libraries of a round go to
the Node helper in one request; results are cached on disk by content hash (plus a fingerprint
of the toolchain), so a re-run translates nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from tools.conformance.generate import GeneratedLibrary, generate_library, library_name
from tools.conformance.suite import ConformanceFile, ConformanceTest
from tools.node import CQL_DIR, NodeHelper


def toolchain_fingerprint() -> str:
    h = hashlib.sha256()
    for path in (CQL_DIR / "package-lock.json", CQL_DIR / "scripts" / "translate.mjs"):
        h.update(path.read_bytes() if path.exists() else b"-")
    return h.hexdigest()[:16]


class TranslationCache:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.fingerprint = toolchain_fingerprint()
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def key(self, text: str) -> str:
        return hashlib.sha256(f"{self.fingerprint}\n{text}".encode()).hexdigest()

    def get(self, text: str) -> dict | None:
        if self.directory is None:
            return None
        path = self.directory / f"{self.key(text)}.json"
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def put(self, text: str, result: dict) -> None:
        if self.directory is not None:
            path = self.directory / f"{self.key(text)}.json"
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(result, separators=(",", ":")))
            tmp.replace(path)


@dataclass
class TranslatedUnit:
    """A library that translated, and the tests whose definitions it holds."""

    library: GeneratedLibrary
    elm: dict


@dataclass
class FileTranslation:
    file: ConformanceFile
    units: list[TranslatedUnit] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # test key -> translation error
    libraries_translated: int = 0


def _group_name(file: ConformanceFile, tests: list[ConformanceTest], whole: bool) -> str:
    base = library_name(file.name)
    if whole:
        return base
    digest = hashlib.sha1(",".join(t.key for t in tests).encode()).hexdigest()[:8]
    return f"{base}_{digest}"


def _describe(errors: list[dict]) -> str:
    parts = []
    for e in errors[:3]:
        where = f"{e['line']}:{e['col']}: " if e.get("line") else ""
        parts.append(f"{where}{e.get('message')}")
    return "; ".join(parts) or "translation failed"


def translate_files(
    files: list[ConformanceFile], node: NodeHelper, cache: TranslationCache
) -> dict[str, FileTranslation]:
    results = {f.name: FileTranslation(file=f) for f in files}
    work: list[tuple[ConformanceFile, GeneratedLibrary]] = [
        (f, generate_library(_group_name(f, f.tests, True), f.tests)) for f in files if f.tests
    ]
    while work:
        answers: dict[str, dict] = {}
        missing: list[GeneratedLibrary] = []
        for _, lib in work:
            cached = cache.get(lib.text)
            if cached is not None:
                answers[lib.text] = cached
            else:
                missing.append(lib)
        if missing:
            units = [{"key": str(i), "cql": lib.text} for i, lib in enumerate(missing)]
            reply = node.request("translate", units=units)
            for item in reply:
                lib = missing[int(item["key"])]
                answer = {"elm": item["elm"], "errors": item["errors"]}
                cache.put(lib.text, answer)
                answers[lib.text] = answer
        next_work: list[tuple[ConformanceFile, GeneratedLibrary]] = []
        for file, lib in work:
            answer = answers[lib.text]
            ft = results[file.name]
            ft.libraries_translated += 1
            if answer["elm"] is not None:
                ft.units.append(TranslatedUnit(library=lib, elm=answer["elm"]))
                continue
            if len(lib.tests) == 1:
                ft.errors[lib.tests[0].key] = _describe(answer["errors"])
                continue
            culprits: dict[str, ConformanceTest] = {}
            for err in answer["errors"]:
                for t in lib.tests_at(err["line"]) if err.get("line") else lib.tests:
                    culprits[t.key] = t
            if not culprits:
                culprits = {t.key: t for t in lib.tests}
            rest = [t for t in lib.tests if t.key not in culprits]
            for t in culprits.values():
                next_work.append((file, generate_library(_group_name(file, [t], False), [t])))
            if rest:
                next_work.append((file, generate_library(_group_name(file, rest, False), rest)))
        work = next_work
    return results
