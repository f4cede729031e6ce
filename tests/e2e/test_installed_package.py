"""The service is a package that runs without the repository's `tests/`, `tools/` and
`benchmarks/` folders.

No `service` module imports `tests` or builds a path into it; built as setuptools builds it
(`build_py`, which honours `[tool.setuptools.package-data]`) and run from that build with `tests`
not importable, every module imports and the preview still lists its example patients, dated
relative to now (`service/preview/example_patients/`, package data)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.preview.examples import EXAMPLES_DIR

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "service"


def imported_modules(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_no_service_module_imports_tests_or_reads_files_from_it():
    offenders = []
    for path in sorted(SERVICE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        where = path.relative_to(ROOT)
        for name in imported_modules(tree):
            if name == "tests" or name.startswith("tests."):
                offenders.append(f"{where}: imports {name}")
        for node in ast.walk(tree):  # a path into tests/: ROOT / "tests" / ..., "tests/..."
            divided = [node.left, node.right] if isinstance(node, ast.BinOp) else []
            if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.Div):
                divided = []
            if any(isinstance(o, ast.Constant) and o.value == "tests" for o in divided):
                offenders.append(f"{where}:{node.lineno}: builds a path into tests/")
            if isinstance(node, ast.Constant) and str(node.value).startswith("tests/"):
                offenders.append(f"{where}:{node.lineno}: names a file in tests/")
    assert offenders == []


SMOKE = r"""
import importlib, json, pkgutil, sys
from pathlib import Path

OUTSIDE = ("tests", "tools", "benchmarks")  # the repository's folders that are not the service
for name in OUTSIDE:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
    else:
        sys.exit(f"{name} is importable in the packaged run")

import service
modules = [m.name for m in pkgutil.walk_packages(service.__path__, "service.")]
for name in modules:
    if not name.endswith("__main__"):
        importlib.import_module(name)
assert not [m for m in sys.modules if m.split(".")[0] in OUTSIDE], "a repository folder imported"

from service.app import create_app
from service.config import Settings

settings = Settings.from_env()
client = create_app(settings).test_client()
page = client.get("/preview")
scenarios = client.get("/preview/api/scenarios")
print(json.dumps({
    "modules": len(modules),
    "service_file": service.__file__,
    "page": page.status_code,
    "scenarios": [s["slug"] for s in scenarios.get_json()["scenarios"]],
    "dated": scenarios.get_json()["scenarios"][0]["bundle"]["entry"][0]["resource"],
}))
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """`service` as setuptools packages it (modules and package data), outside the checkout."""
    lib = tmp_path_factory.mktemp("installed") / "lib"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import setuptools; setuptools.setup()",
            "-q",
            "build_py",
            "-d",
            lib,
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return lib


def test_the_packaged_service_runs_the_preview_without_the_tests_folder(built, tmp_path):
    assert sorted(p.name for p in built.iterdir()) == ["service"], "the wheel holds service only"
    assert sorted(p.name for p in (built / "service/preview/example_patients").glob("*.json")) == (
        sorted(p.name for p in EXAMPLES_DIR.glob("*.json"))
    ), "every example patient is package data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "PYTHON", "DATABASE"))}
    env |= {
        "PYTHONPATH": str(built),
        "CDS_AUTH": "off",
        "CDS_CONTENT_DIR": str(ROOT / "plandefinitions"),
        "CDS_CQL_DIR": str(ROOT / "cql"),
        "CDS_SQLITE_PATH": str(tmp_path / "cds.sqlite3"),
        "CDS_LOG_LEVEL": "ERROR",
    }
    run = subprocess.run(
        [sys.executable, "-c", SMOKE],
        cwd=tmp_path,  # sys.path[0]: an empty folder, not the checkout
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(result["service_file"]).is_relative_to(built)
    assert result["modules"] > 20 and result["page"] == 200
    assert result["scenarios"] == sorted(p.stem for p in EXAMPLES_DIR.glob("*.json"))
    assert not any(v.startswith("@") for v in result["dated"].values() if isinstance(v, str))
