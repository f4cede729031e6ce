"""Reading cql-tests XML and turning a file into one CQL library."""

from __future__ import annotations

from tools.conformance.generate import generate_library, library_name
from tools.conformance.suite import read_dir


def test_every_test_of_every_xml_file_is_read_with_its_group_outputs_and_invalid_flag(suite_dir):
    (suite_file,) = read_dir(suite_dir)
    assert suite_file.name == "MiniSuite"
    names = [t.name for t in suite_file.tests]
    assert names[:3] == ["AddInts", "NullPlus", "WrongExpectation"]
    assert len(names) == 8
    by_name = {t.name: t for t in suite_file.tests}
    assert by_name["AddInts"].outputs == ("3",)
    assert by_name["AddInts"].group == "Arithmetic"
    assert by_name["ExpectedSemanticError"].invalid == "semantic"
    assert by_name["ExpectedSemanticError"].expects_error
    assert not by_name["AddInts"].expects_error


def test_each_test_becomes_an_expression_define_and_an_output_define(suite_dir):
    (suite_file,) = read_dir(suite_dir)
    lib = generate_library("MiniSuite", suite_file.tests)
    assert lib.text.startswith("library MiniSuite version '1.0.0'\n")
    assert 'define "t1_e": 1 + 2\ndefine "t1_o": 3\n' in lib.text
    # a test that expects an error has no output definition
    assert "define \"t5_e\": 'a' + 1\n" in lib.text
    assert '"t5_o"' not in lib.text


def test_line_map_points_every_line_of_a_multi_line_test_back_to_that_test(suite_dir):
    (suite_file,) = read_dir(suite_dir)
    lib = generate_library("MiniSuite", suite_file.tests)
    lines = lib.text.split("\n")
    first, last = lib.lines["t8"]
    assert lines[first - 1].startswith('define "t8_e"')
    assert last - first == 2  # expression on two lines, then the output
    assert [t.key for t in lib.tests_at(first + 1)] == ["t8"]
    assert lib.tests_at(1) == []


def test_library_names_are_valid_identifiers():
    assert library_name("CqlArithmeticFunctionsTest") == "CqlArithmeticFunctionsTest"
    assert library_name("my-tests.v2") == "my_tests_v2"
    assert library_name("2024tests") == "L2024tests"


def test_errors_without_a_location_isolate_every_test_of_the_library(suite_dir, tmp_path):
    from tools.conformance.translation import TranslationCache, translate_files

    class Translator:
        """Fails any library with more than one test, without saying where."""

        def __init__(self):
            self.batches = []

        def request(self, op, units):
            self.batches.append(len(units))
            out = []
            for u in units:
                many = u["cql"].count('_e": ') > 1
                errors = [{"line": None, "col": None, "message": "somewhere"}] if many else []
                elm = None if many else {"library": {"identifier": {"id": "x"}}}
                out.append({"key": u["key"], "elm": elm, "errors": errors})
            return out

    files = read_dir(suite_dir)
    translator = Translator()
    (ft,) = translate_files(files, translator, TranslationCache(None)).values()
    assert translator.batches == [1, 8]  # the file, then every test alone in one batch
    assert len(ft.units) == 8 and not ft.errors
