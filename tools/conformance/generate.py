"""CQL library text for a group of conformance tests."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tools.conformance.suite import ConformanceTest


@dataclass(frozen=True)
class GeneratedLibrary:
    name: str
    text: str
    tests: tuple[ConformanceTest, ...]
    lines: dict[str, tuple[int, int]]  # test key -> (first line, last line), 1-based, inclusive

    def tests_at(self, line: int) -> list[ConformanceTest]:
        return [t for t in self.tests if self.lines[t.key][0] <= line <= self.lines[t.key][1]]


def library_name(base: str) -> str:
    name = re.sub(r"\W", "_", base)
    return name if name[:1].isalpha() else f"L{name}"


def generate_library(
    name: str, tests: list[ConformanceTest] | tuple[ConformanceTest, ...]
) -> GeneratedLibrary:
    """`define "tN_e": <expression>` and `define "tN_o": <output>` for every test.

    Tests that expect an error get no output definition.
    """
    out = [f"library {name} version '1.0.0'", ""]
    lines: dict[str, tuple[int, int]] = {}
    for t in tests:
        first = len(out) + 1
        out.extend(f'define "{t.expression_define}": {t.expression}'.split("\n"))
        if not t.expects_error:
            for define, output in zip(t.output_defines, t.outputs, strict=True):
                out.extend(f'define "{define}": {output}'.split("\n"))
        lines[t.key] = (first, len(out))
        out.append("")
    return GeneratedLibrary(name=name, text="\n".join(out) + "\n", tests=tuple(tests), lines=lines)
