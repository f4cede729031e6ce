"""Reading cql-tests XML files (schema: testSchema.xsd of cqframework/cql-tests)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

NS = "{http://hl7.org/fhirpath/tests}"


@dataclass(frozen=True)
class ConformanceTest:
    """One `<test>`: an expression and its expected output(s), or an expected error."""

    file: str
    group: str
    name: str
    index: int  # position in the file, 1-based: the N of the generated tN_e / tN_o
    expression: str
    outputs: tuple[str, ...]
    invalid: str | None  # None, or 'syntax' | 'semantic' | 'execution' | 'true'

    @property
    def key(self) -> str:
        return f"t{self.index}"

    @property
    def expression_define(self) -> str:
        return f"{self.key}_e"

    @property
    def output_defines(self) -> tuple[str, ...]:
        if len(self.outputs) == 1:
            return (f"{self.key}_o",)
        return tuple(f"{self.key}_o{i}" for i in range(1, len(self.outputs) + 1))

    @property
    def expects_error(self) -> bool:
        return self.invalid is not None


@dataclass
class ConformanceFile:
    path: Path
    name: str
    tests: list[ConformanceTest] = field(default_factory=list)


def _text(el: ET.Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def read_file(path: Path) -> ConformanceFile:
    root = ET.parse(path).getroot()
    suite = ConformanceFile(path=path, name=root.get("name") or path.stem)
    index = 0
    for group in root.iter(f"{NS}group"):
        for test in group.findall(f"{NS}test"):
            index += 1
            expr = test.find(f"{NS}expression")
            invalid = expr.get("invalid") if expr is not None else None
            suite.tests.append(
                ConformanceTest(
                    file=path.name,
                    group=group.get("name") or "",
                    name=test.get("name") or f"test{index}",
                    index=index,
                    expression=_text(expr),
                    outputs=tuple(_text(o) for o in test.findall(f"{NS}output")),
                    invalid=None if invalid in (None, "false") else invalid,
                )
            )
    return suite


def read_dir(directory: Path) -> list[ConformanceFile]:
    """Every cql-tests XML file in `directory` (sorted by name; the schema itself is skipped)."""
    files = []
    for path in sorted(directory.glob("*.xml")):
        root_tag = ET.parse(path).getroot().tag
        if root_tag == f"{NS}tests":
            files.append(read_file(path))
    return files
