from __future__ import annotations

from pathlib import Path

import pytest

SUITE_XML = """<?xml version='1.0' encoding='utf-8'?>
<tests xmlns="http://hl7.org/fhirpath/tests" name="MiniSuite" version="1.0">
  <group name="Arithmetic">
    <test name="AddInts"><expression>1 + 2</expression><output>3</output></test>
    <test name="NullPlus"><expression>1 + null</expression><output>null</output></test>
    <test name="WrongExpectation"><expression>2 * 2</expression><output>5</output></test>
  </group>
  <group name="Errors">
    <test name="UnknownFunction"><expression>NoSuchFunction(1)</expression><output>1</output></test>
    <test name="ExpectedSemanticError">
      <expression invalid="semantic">'a' + 1</expression>
    </test>
    <test name="ExpectedRuntimeError">
      <expression invalid="true">Message(1, true, 'E1', 'Error', 'boom')</expression>
    </test>
  </group>
  <group name="Lists">
    <test name="ListWithNulls"><expression>{null, 1}</expression><output>{null, 1}</output></test>
    <test name="MultiLine"><expression>({ 3, 1,
      2 }) X sort asc</expression><output>{1, 2, 3}</output></test>
  </group>
</tests>
"""


@pytest.fixture
def suite_dir(tmp_path: Path) -> Path:
    d = tmp_path / "suite"
    d.mkdir()
    (d / "MiniSuite.xml").write_text(SUITE_XML)
    (d / "testSchema.xsd").write_text("<schema/>")
    return d
