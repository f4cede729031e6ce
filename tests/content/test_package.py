"""`python -m tools.package` builds a loadable NPM-format FHIR package."""

from __future__ import annotations

import json
import tarfile

import pytest
from fhir.resources.R4B import get_fhir_model_class

from tests.content.content import artifacts, elm_libraries
from tools.package import PACKAGE_NAME, build, main, pack


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    return build(tmp_path_factory.mktemp("pkg") / "package")


def read(path):
    return json.loads(path.read_text())


def test_manifest_names_the_package_its_canonical_and_fhir_4_0_1(package):
    manifest = read(package / "package.json")
    assert manifest["name"] == PACKAGE_NAME
    assert manifest["version"] and manifest["canonical"] == "https://dilation-cds.org/fhir"
    assert manifest["fhirVersions"] == ["4.0.1"]


def test_index_lists_every_resource_file_with_its_identity(package):
    index = read(package / ".index.json")
    assert index["index-version"] == 1
    listed = {f["filename"]: f for f in index["files"]}
    on_disk = {p.name for p in package.iterdir()} - {"package.json", ".index.json"}
    assert set(listed) == on_disk
    for name, entry in listed.items():
        resource = read(package / name)
        assert (entry["resourceType"], entry["id"]) == (resource["resourceType"], resource["id"])
        assert entry.get("url") == resource.get("url")


def test_package_holds_every_artifact_and_a_generated_library_per_cql_library(package):
    files = {p.name for p in package.iterdir()}
    for _, resource in artifacts():
        assert f"{resource['resourceType']}-{resource['id']}.json" in files
    for name in elm_libraries():
        library = read(package / f"Library-{name}.json")
        types = {c["contentType"] for c in library["content"]}
        assert types == {"text/cql", "application/elm+json"}


def test_generated_libraries_are_valid_fhir(package):
    for path in package.glob("Library-*.json"):
        get_fhir_model_class("Library").model_validate(read(path))


def test_transaction_bundle_puts_every_packaged_resource(package):
    bundle = read(package / "bundle-transaction.json")
    assert bundle["type"] == "transaction"
    resources = [p for p in package.glob("*-*.json") if p.name != "bundle-transaction.json"]
    assert len(bundle["entry"]) == len(resources)
    for entry in bundle["entry"]:
        r = entry["resource"]
        assert entry["request"] == {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}
    get_fhir_model_class("Bundle").model_validate(bundle)


def test_plan_definition_libraries_resolve_inside_the_package(package):
    urls = {read(p).get("url") for p in package.glob("*-*.json")}
    for path in package.glob("PlanDefinition-*.json"):
        for canonical in read(path)["library"]:
            assert canonical.split("|")[0] in urls


def test_builds_are_reproducible_and_pack_as_npm_tarballs(package, tmp_path):
    again = build(tmp_path / "package")
    for path in package.iterdir():
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name
    tgz = pack(again, tmp_path / "p.tgz")
    with tarfile.open(tgz) as tar:
        names = tar.getnames()
    assert "package/package.json" in names and "package/.index.json" in names


def test_command_line_writes_the_folder(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "package")]) == 0
    assert (tmp_path / "package" / "package.json").is_file()
    assert "wrote" in capsys.readouterr().out
