"""The import graph of `service`: no cycles, and no function-local imports hiding them.

The graph is built with `ast` from module-level imports only (imports under
`if TYPE_CHECKING:` are type-only and left out). Imports inside functions are collected
separately: each must be on `LAZY_IMPORTS` (genuinely optional or heavy dependencies, with the
reason) or on `CYCLE_DEBT` (a cycle not broken yet: that list only shrinks).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "service"

#: (importing module, imported module) -> why it is imported inside a function.
LAZY_IMPORTS: dict[tuple[str, str], str] = {
    # fhir.resources builds hundreds of pydantic models on import (~0.5 s): loaded on first
    # use (R4 validation of content at load, of proposed resources in $apply) for start-up
    # speed of the CLI tools and of processes that never validate.
    ("service.knowledge.loader", "fhir.resources.R4B"): "heavy: fhir.resources, on first use",
    ("service.apply.prepare", "fhir.resources.R4B"): "heavy: fhir.resources, on first use",
    ("service.apply.processor", "fhir.resources.R4B"): "heavy: fhir.resources, on first use",
    # fhirpathpy (and its R4 model tables, ~0.2 s) is needed only when the content has
    # `text/fhirpath` expressions; the shipped content has none.
    ("service.apply.prepare", "fhirpathpy"): "optional: only for text/fhirpath expressions",
    ("service.apply.prepare", "fhirpathpy.models"): "optional: only for text/fhirpath",
    # The PostgreSQL driver is loaded only in PostgreSQL mode (SQLite needs no driver).
    ("service.store", "psycopg"): "optional: only with a PostgreSQL store",
}

#: Function-local imports that still hide an import cycle. Empty: the last one (knowledge.load
#: -> apply.prepare.prepare_all) was broken by `service.apply.load_knowledge`, which loads the
#: knowledge base and then prepares the $apply plans. Never add an entry: break the cycle.
CYCLE_DEBT: dict[tuple[str, str], str] = {}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> tuple[list[ast.stmt], list[ast.stmt]]:
    """(module-level imports, function-local imports); `if TYPE_CHECKING:` blocks skipped."""
    module_level: list[ast.stmt] = []
    local: list[ast.stmt] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit_one(sub, in_function)
                continue
            visit_one(child, in_function)

    def visit_one(child: ast.AST, in_function: bool) -> None:
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            (local if in_function else module_level).append(child)
            return
        func = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        visit(child, in_function or func)

    visit(tree, False)
    return module_level, local


def _targets(module: str, node: ast.stmt) -> list[str]:
    """The modules an import statement executes (as dotted names, possibly not ours)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    assert isinstance(node, ast.ImportFrom)
    is_package = MODULES[module].name == "__init__.py"
    if node.level:
        base = module if is_package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        name = f"{base}.{node.module}" if node.module else base
    else:
        name = node.module or ""
    subs = [f"{name}.{a.name}" for a in node.names if f"{name}.{a.name}" in MODULES]
    # `from pkg import submodule` needs `pkg` itself only for names that are not submodules
    return ([name] if len(subs) < len(node.names) else []) + subs


def _own(name: str) -> str | None:
    """The `service` module that importing `name` runs (None: not ours)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, str, int]]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    local: list[tuple[str, str, int]] = []
    for module, path in MODULES.items():
        module_level, function_local = _imports(ast.parse(path.read_text(encoding="utf-8")))
        for node in function_local:
            for name in _targets(module, node):
                local.append((module, name, node.lineno))
        for node in module_level:
            for name in _targets(module, node):
                target = _own(name)
                if target is None or target == module:
                    continue
                graph[module].add(target)
                # importing a.b.c runs the packages a and a.b first (our own parents excepted:
                # Python initialises them before this module, so they are no cycle)
                parts = target.split(".")
                for i in range(1, len(parts)):
                    parent = ".".join(parts[:i])
                    if (
                        parent in MODULES
                        and parent != module
                        and not module.startswith(parent + ".")
                    ):
                        graph[module].add(parent)
    return graph, local


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_the_service_package_has_no_import_cycles():
    graph = _graph()[0]
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_function_local_imports_are_only_the_allowed_lazy_ones():
    local = _graph()[1]
    allowed = set(LAZY_IMPORTS) | set(CYCLE_DEBT)
    unexpected = [
        f"{module}:{line} imports {name}"
        for module, name, line in local
        if (module, name) not in allowed
    ]
    assert not unexpected, (
        "function-local imports (import at module level; a genuinely optional/heavy one goes "
        "on LAZY_IMPORTS with the reason):\n" + "\n".join(unexpected)
    )


def test_allow_lists_have_no_stale_entries():
    local = _graph()[1]
    present = {(module, name) for module, name, _line in local}
    stale = sorted((set(LAZY_IMPORTS) | set(CYCLE_DEBT)) - present)
    assert not stale, f"allow-list entries without such an import (remove them): {stale}"


def test_the_function_local_imports_are_counted():
    local = _graph()[1]
    # 7 today (105 before the cycles were broken): all lazy (psycopg twice), none hiding a cycle
    assert len(local) <= 7, sorted(local)


def test_there_is_no_cycle_debt():
    assert CYCLE_DEBT == {}, "import cycles hidden by function-local imports: break them"


def test_the_knowledge_layer_does_not_import_apply():
    graph, local = _graph()
    core = [m for m in graph if m == "service.knowledge" or m.startswith("service.knowledge.")]
    offenders = {m: sorted(t for t in graph[m] if t.startswith("service.apply")) for m in core}
    assert not any(offenders.values()), offenders
    hidden = [(m, n) for m, n, _ in local if m in core and n.startswith("service.apply")]
    assert not hidden, hidden


def test_the_elm_core_does_not_import_the_fhir_data_model():
    graph = _graph()[0]
    core = [m for m in graph if m == "service.elm.compiler" or m.startswith("service.elm.ops")]
    offenders = {m: sorted(t for t in graph[m] if t.startswith("service.elm.fhir")) for m in core}
    assert not any(offenders.values()), offenders


def test_the_cycle_finder_reports_the_path():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def _every_import() -> list[tuple[str, str]]:
    """(module, imported top-level name) for every import in `service`, module-level, local or
    type-only."""
    out = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                out += [(module, a.name.split(".")[0]) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                out.append((module, node.module.split(".")[0]))
    return out


def test_the_runtime_package_imports_no_build_tool_test_or_benchmark():
    # tools/ (codegen, guideline doc, FHIR package, OpenAPI generator, conformance runner),
    # tests/ and benchmarks/ are not in the wheel: importing them would break an installed service
    offenders = [(m, n) for m, n in _every_import() if n in ("tools", "tests", "benchmarks")]
    assert not offenders, offenders


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_runtime_package_imports_only_runtime_dependencies():
    # A development dependency (apispec, pytest, hypothesis, playwright, ...) imported by the
    # service would be missing where only `pip install .` ran.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_requirement_name(r) for r in project["dependencies"]}
    distributions = importlib.metadata.packages_distributions()
    stdlib = sys.stdlib_module_names
    offenders = set()
    for module, name in _every_import():
        if name in stdlib or name == PACKAGE:
            continue
        dists = {d.lower().replace("_", "-") for d in distributions.get(name, [])}
        if not dists & runtime:
            offenders.add((module, name, tuple(sorted(dists))))
    assert not offenders, sorted(offenders)
