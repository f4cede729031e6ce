"""FHIR DataRequirements derived from ELM Retrieve nodes (libraries and PlanDefinitions).

For every `Retrieve` of a library (and, transitively, of the libraries it includes):
- `type` = the retrieved FHIR type, `profile` = its `templateId`;
- `codeFilter` = the code property with the ValueSet canonical (`valueSet`) or the direct codes
  (`code`: system, code, display) when the retrieve is filtered by terminology;
- `dateFilter` = `{path, valueDuration}` when the retrieve is the source of a query whose `where`
  (through `and`) bounds a date property of the alias from below by `Now()`/`Today()` minus a
  quantity (a literal, or a parameter: its deployment value, else its default), e.g.
  `(O.effective as dateTime) during Interval[Now() - 30 days, Now()]` or
  `... on or after Today() - 6 months`. The Duration means "no older than this before the
  evaluation time". A retrieve whose results are also used without a date bound produces the
  unfiltered requirement, which subsumes the dated one. Library resources carry the content's
  defaults; a deployment's requirements (discovery, $data-requirements) use its values.

The result is deduplicated (same type, profile and code filter: the widest date window wins; no
window at all wins over any window), sorted, and JSON-ready. cdshooks turns it into prefetch
templates; Library resources carry it as `dataRequirement`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from service.elm.units import MILLISECOND, TIME_UNITS, UCUM_DAYS

if TYPE_CHECKING:
    from service.knowledge.libraries import CqlLibrary

#: A function's operand names → (scan, argument node, the env the argument is evaluated in).
Env = dict[str, tuple["_LibraryScan", Any, Any]]

_FHIR = "{http://hl7.org/fhir}"
UCUM = "http://unitsofmeasure.org"
#: CQL calendar duration → UCUM code (Duration) and its length in days (to compare windows).
#: One table for the whole service (service.elm.units): the emitted Durations are UCUM-coded,
#: so their lengths are UCUM's ('a' = 365.25 days, 'mo' = 30.4375 days).
_UNITS = {u.name: (u.ucum, float(UCUM_DAYS[u.ucum])) for u in TIME_UNITS if u.index != MILLISECOND}
_LOWER_BOUND_OPS = {"SameOrAfter", "After", "GreaterOrEqual", "Greater"}
_UPPER_BOUND_OPS = {"SameOrBefore", "Before", "LessOrEqual", "Less"}
_IN_INTERVAL_OPS = {"In", "IncludedIn", "During", "Overlaps", "OverlapsAfter", "OverlapsBefore"}
_UNWRAP_FUNCTIONS = {"ToDateTime", "ToDate", "ToInterval"}
_MAX_DEPTH = 8


def _unit(unit: str) -> tuple[str, str, float] | None:
    u = unit.strip().rstrip("s") if unit not in _UNITS else unit
    for name, (code, days) in _UNITS.items():
        if u == name or unit == code:
            return name, code, days
    return None


class _LibraryScan:
    """Walks one library's ELM collecting requirements."""

    def __init__(
        self,
        lib: CqlLibrary,
        libraries: dict[str, CqlLibrary],
        values: dict[str, Any] | None = None,
    ) -> None:
        self.lib = lib
        self.libraries = libraries
        #: Deployment values of CQL parameters (bare or `Library.Name` keys, CQL values).
        self.values = values or {}
        section = lib.elm.get("library") or {}
        self.valuesets = {v["name"]: v for v in (section.get("valueSets") or {}).get("def", [])}
        self.codesystems = {c["name"]: c for c in (section.get("codeSystems") or {}).get("def", [])}
        self.codes = {c["name"]: c for c in (section.get("codes") or {}).get("def", [])}
        self.concepts = {c["name"]: c for c in (section.get("concepts") or {}).get("def", [])}
        self.parameters = {p["name"]: p for p in (section.get("parameters") or {}).get("def", [])}
        self.includes = {
            i["localIdentifier"]: i["path"] for i in (section.get("includes") or {}).get("def", [])
        }
        self.found: list[dict] = []

    # -- terminology ------------------------------------------------------------------------
    def _scan_for(self, library_name: str | None) -> _LibraryScan:
        if library_name and library_name in self.includes:
            target = self.libraries.get(self.includes[library_name])
            if target is not None:
                return _LibraryScan(target, self.libraries, self.values)
        return self

    def _code(self, ref: dict) -> dict | None:
        scan = self._scan_for(ref.get("libraryName"))
        c = scan.codes.get(ref.get("name"))
        if c is None:
            return None
        cs = scan.codesystems.get((c.get("codeSystem") or {}).get("name"), {})
        out = {"system": cs.get("id"), "code": c.get("id")}
        if c.get("display"):
            out["display"] = c["display"]
        return {k: v for k, v in out.items() if v is not None}

    def code_filter(self, retrieve: dict) -> dict | None:
        codes = retrieve.get("codes")
        if not codes:
            return None
        path = retrieve.get("codeProperty") or "code"
        if codes.get("type") == "ValueSetRef":
            scan = self._scan_for(codes.get("libraryName"))
            vs = scan.valuesets.get(codes.get("name"))
            return {"path": path, "valueSet": vs["id"]} if vs else {"path": path}
        found: list[dict] = []
        stack = [codes]
        while stack:
            node = stack.pop()
            if not isinstance(node, dict):
                continue
            t = node.get("type")
            if t == "CodeRef":
                c = self._code(node)
                if c:
                    found.append(c)
            elif t == "ConceptRef":
                scan = self._scan_for(node.get("libraryName"))
                concept = scan.concepts.get(node.get("name")) or {}
                for cref in concept.get("code") or []:
                    c = scan._code(cref)
                    if c:
                        found.append(c)
            elif t == "Code":
                cs_ref = node.get("system") or {}
                scan = self._scan_for(cs_ref.get("libraryName"))
                cs = scan.codesystems.get(cs_ref.get("name"), {})
                found.append(
                    {
                        k: v
                        for k, v in {
                            "system": cs.get("id"),
                            "code": node.get("code"),
                            "display": node.get("display"),
                        }.items()
                        if v is not None
                    }
                )
            else:
                for key in ("operand", "element", "source", "codes", "code"):
                    sub = node.get(key)
                    if isinstance(sub, list):
                        stack.extend(sub)
                    elif isinstance(sub, dict):
                        stack.append(sub)
        if not found:
            return {"path": path}
        found.sort(key=lambda c: (c.get("system", ""), c.get("code", "")))
        return {"path": path, "code": found}

    # -- dates ------------------------------------------------------------------------------
    # `env` maps a function's operand names to (caller scan, argument node) while a function
    # body is analysed for a call site (see `function_date_filters`).
    def _literal(self, node: Any, env: Env) -> Any:
        """A constant behind a node: literal, parameter default, or a function argument."""
        for _ in range(_MAX_DEPTH):
            if not isinstance(node, dict):
                return None
            t = node.get("type")
            if t == "Literal":
                return node.get("value")
            if t in ("ToDecimal", "ToInteger", "ToLong", "ToQuantity"):
                node = node.get("operand")
            elif t == "OperandRef" and node.get("name") in env:
                scan, arg, arg_env = env[node["name"]]
                return scan._literal(arg, arg_env)
            elif t == "ParameterRef" and node.get("libraryName"):
                # A parameter of an included library (e.g. Common."Home Program Expiry Months"):
                # its deployment value or default, as that library sees it.
                scan = self._scan_for(node["libraryName"])
                if scan is None or scan is self:
                    return None
                return scan._literal({"type": "ParameterRef", "name": node.get("name")}, {})
            elif t == "ParameterRef":
                name = node.get("name")
                for key in (f"{self.lib.name}.{name}", name):
                    if key in self.values and name in self.parameters:
                        return _constant(self.values[key])
                node = (self.parameters.get(name) or {}).get("default")
            else:
                return node if t in ("Quantity", "Instance") else None
        return None

    def _quantity(self, node: Any, env: Env) -> tuple[Decimal, str] | None:
        found = (
            self._literal(node, env)
            if not (isinstance(node, dict) and node.get("type") in ("Quantity", "Instance"))
            else node
        )
        if not isinstance(found, dict):
            return None
        if found.get("type") == "Quantity" and found.get("value") is not None:
            return Decimal(str(found["value"])), str(found.get("unit") or "")
        if found.get("type") == "Instance" and str(found.get("classType", "")).endswith("Quantity"):
            parts = {e.get("name"): e.get("value") for e in found.get("element") or []}
            value, unit = (
                self._literal(parts.get("value"), env),
                self._literal(parts.get("unit"), env),
            )
            if value is not None and isinstance(unit, str):
                try:
                    return Decimal(str(value)), unit
                except ArithmeticError:
                    return None
        return None

    def _lookback(self, node: Any, env: Env) -> dict | None:
        """`Now()/Today() - quantity` → a FHIR Duration."""
        if not isinstance(node, dict):
            return None
        if node.get("type") == "ToDateTime":  # Today() - x promoted to DateTime
            return self._lookback(node.get("operand"), env)
        if node.get("type") != "Subtract":
            return None
        left, right = (node.get("operand") or [None, None])[:2]
        if not isinstance(left, dict) or left.get("type") not in ("Now", "Today"):
            return None
        q = self._quantity(right, env)
        if q is None:
            return None
        unit = _unit(q[1])
        if unit is None:
            return None
        value = int(q[0]) if q[0] == q[0].to_integral_value() else float(q[0])
        return {"value": value, "unit": unit[0] + "s", "system": UCUM, "code": unit[1]}

    def function_def(self, ref: dict) -> tuple[_LibraryScan, dict] | None:
        scan = self._scan_for(ref.get("libraryName"))
        arity = len(ref.get("operand") or [])
        for d in _statements(scan.lib):
            if (
                d.get("type") == "FunctionDef"
                and d.get("name") == ref.get("name")
                and len(d.get("operand") or []) == arity
                and d.get("expression") is not None
            ):
                return scan, d
        return None

    def _operand_paths(self, node: Any, operand: str, out: set[str]) -> None:
        if isinstance(node, list):
            for n in node:
                self._operand_paths(n, operand, out)
        elif isinstance(node, dict):
            src = node.get("source")
            if (
                node.get("type") == "Property"
                and isinstance(src, dict)
                and src.get("type") == "OperandRef"
                and src.get("name") == operand
            ):
                out.add(str(node.get("path")).split(".")[0])
            for key, value in node.items():
                if key not in ("annotation", "resultTypeSpecifier", "signature"):
                    self._operand_paths(value, operand, out)

    def _alias_path(self, node: Any, alias: str) -> str | None:
        while isinstance(node, dict):
            t = node.get("type")
            if t == "Property":
                if node.get("scope") == alias:
                    return node.get("path")
                src = node.get("source")
                if isinstance(src, dict) and src.get("type") == "AliasRef":
                    return node.get("path") if src.get("name") == alias else None
                return None
            if t == "As" or t in ("ToDateTime", "ToDate"):
                node = node.get("operand")
            elif t == "FunctionRef":
                ops = node.get("operand") or []
                if len(ops) != 1:
                    return None
                if node.get("name") in _UNWRAP_FUNCTIONS and node.get("libraryName") in (
                    None,
                    "FHIRHelpers",
                ):
                    node = ops[0]
                    continue
                # A helper such as "Procedure Date"(P): the one element of P it reads.
                found = self.function_def(node)
                arg = ops[0]
                if found is None or not (
                    isinstance(arg, dict)
                    and arg.get("type") == "AliasRef"
                    and arg.get("name") == alias
                ):
                    return None
                scan, fdef = found
                paths: set[str] = set()
                scan._operand_paths(fdef["expression"], fdef["operand"][0]["name"], paths)
                return paths.pop() if len(paths) == 1 else None
            else:
                return None
        return None

    def date_filters(self, where: Any, alias: str, env: Env | None = None) -> list[dict]:
        env = env or {}
        out: list[dict] = []
        stack = [where]
        while stack:
            node = stack.pop()
            if not isinstance(node, dict):
                continue
            t = node.get("type")
            if t == "And":
                stack.extend(node.get("operand") or [])
                continue
            ops = node.get("operand") or []
            if len(ops) != 2:
                continue
            left, right = ops
            if t in _UPPER_BOUND_OPS:  # bound <= property  is  property >= bound
                left, right, t = right, left, "SameOrAfter"
            if t in _LOWER_BOUND_OPS:
                path, duration = self._alias_path(left, alias), self._lookback(right, env)
            elif (
                t in _IN_INTERVAL_OPS
                and isinstance(right, dict)
                and right.get("type") == "Interval"
            ):
                path = self._alias_path(left, alias)
                duration = self._lookback(right.get("low"), env)
            else:
                continue
            if path and duration:
                out.append({"path": path, "valueDuration": duration})
        return out

    def operand_filters(
        self, body: Any, operand: str, env: Env, depth: int = 0
    ) -> list[dict] | None:
        """Date filters a function body applies to the elements of its list operand `operand`,
        or None when the body does not return a subset of that operand."""
        if depth > _MAX_DEPTH or not isinstance(body, dict):
            return None
        t = body.get("type")
        if t == "OperandRef":
            return [] if body.get("name") == operand else None
        if t == "FunctionRef":
            found = self.function_def(body)
            if found is None:
                return None
            scan, fdef = found
            args = body.get("operand") or []
            inner_env = {
                op["name"]: (self, arg, env) for op, arg in zip(fdef["operand"], args, strict=False)
            }
            for op, arg in zip(fdef["operand"], args, strict=False):
                below = self.operand_filters(arg, operand, env, depth + 1)
                if below is None:
                    continue
                mine = scan.operand_filters(fdef["expression"], op["name"], inner_env, depth + 1)
                return None if mine is None else below + mine
            return None
        if t == "Query" and len(body.get("source") or []) == 1 and not body.get("return"):
            src = body["source"][0]
            below = self.operand_filters(src.get("expression"), operand, env, depth + 1)
            if below is None:
                return None
            return below + self.date_filters(body.get("where"), src.get("alias"), env)
        return None

    def function_date_filters(self, ref: dict, index: int) -> list[dict]:
        """Date filters a call `F(..., [Retrieve], ...)` applies to the retrieve at `index`."""
        found = self.function_def(ref)
        if found is None:
            return []
        scan, fdef = found
        operands = fdef.get("operand") or []
        env = {
            op["name"]: (self, arg, {})
            for op, arg in zip(operands, ref.get("operand") or [], strict=False)
        }
        filters = scan.operand_filters(fdef["expression"], operands[index]["name"], env)
        return filters or []

    # -- walk -------------------------------------------------------------------------------
    def requirement(self, retrieve: dict, date_filters: list[dict]) -> dict:
        dtype = str(retrieve.get("dataType") or "")
        req: dict = {"type": dtype[len(_FHIR) :] if dtype.startswith(_FHIR) else dtype}
        if retrieve.get("templateId"):
            req["profile"] = [retrieve["templateId"]]
        cf = self.code_filter(retrieve)
        if cf:
            req["codeFilter"] = [cf]
        dfs = list(date_filters)
        if retrieve.get("dateProperty") and retrieve.get("dateRange"):
            rng = retrieve["dateRange"]
            d = self._lookback(rng.get("low") if isinstance(rng, dict) else None, {})
            if d:
                dfs.append({"path": retrieve["dateProperty"], "valueDuration": d})
        if dfs:
            req["dateFilter"] = [max(dfs, key=_window_days)]
        return req

    def walk(self, node: Any) -> None:
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, list):
                stack.extend(n)
                continue
            if not isinstance(n, dict):
                continue
            t = n.get("type")
            if t == "Query":
                handled = set()
                for src in n.get("source") or []:
                    expr = src.get("expression")
                    if isinstance(expr, dict) and expr.get("type") == "Retrieve":
                        dfs = self.date_filters(n.get("where"), src.get("alias"))
                        self.found.append(self.requirement(expr, dfs))
                        handled.add(id(expr))
                        stack.extend(v for k, v in expr.items() if k in ("codes", "dateRange"))
                for key, value in n.items():
                    if key == "source":
                        for src in value or []:
                            e = src.get("expression")
                            if id(e) not in handled:
                                stack.append(e)
                    elif key not in ("annotation", "resultTypeSpecifier"):
                        stack.append(value)
                continue
            if t == "FunctionRef":
                for i, arg in enumerate(n.get("operand") or []):
                    if isinstance(arg, dict) and arg.get("type") == "Retrieve":
                        self.found.append(self.requirement(arg, self.function_date_filters(n, i)))
                        stack.extend(v for k, v in arg.items() if k in ("codes", "dateRange"))
                    else:
                        stack.append(arg)
                continue
            if t == "Retrieve":
                self.found.append(self.requirement(n, []))
            for key, value in n.items():
                skip = key in ("annotation", "resultTypeSpecifier", "signature")
                if not skip and isinstance(value, dict | list):
                    stack.append(value)


def _constant(value: Any) -> Any:
    """A deployment's CQL parameter value in the form `_literal` returns (a Quantity node)."""
    if type(value).__name__ == "Quantity":
        return {"type": "Quantity", "value": value.value, "unit": value.unit}
    return value


def _statements(lib: CqlLibrary) -> list[dict]:
    return list(((lib.elm.get("library") or {}).get("statements") or {}).get("def") or [])


def _window_days(date_filter: dict) -> float:
    d = date_filter.get("valueDuration") or {}
    unit = _unit(str(d.get("unit", ""))) or ("day", "d", 1.0)
    return float(d.get("value", 0)) * unit[2]


def retrieve_requirements(
    lib: CqlLibrary, libraries: dict[str, CqlLibrary], values: dict[str, Any] | None = None
) -> list[dict]:
    """Requirements of one library's own statements (includes not followed); `values` are
    deployment CQL parameter values (default: the parameters' defaults)."""
    scan = _LibraryScan(lib, libraries, values)
    statements = ((lib.elm.get("library") or {}).get("statements") or {}).get("def") or []
    scan.walk(statements)
    return scan.found


def included_libraries(name: str, libraries: dict[str, CqlLibrary]) -> list[str]:
    """`name` and every library it includes, transitively (depth first, no duplicates)."""
    seen: list[str] = []
    stack = [name]
    while stack:
        current = stack.pop()
        if current in seen or current not in libraries:
            continue
        seen.append(current)
        incs = ((libraries[current].elm.get("library") or {}).get("includes") or {}).get("def")
        stack.extend(i["path"] for i in reversed(incs or []))
    return seen


def library_requirements(
    name: str, libraries: dict[str, CqlLibrary], values: dict[str, Any] | None = None
) -> list[dict]:
    """Requirements of a library and all the libraries it includes, merged."""
    found: list[dict] = []
    for lib_name in included_libraries(name, libraries):
        found.extend(retrieve_requirements(libraries[lib_name], libraries, values))
    return merge_requirements(found)


def _key(req: dict) -> str:
    return json.dumps({k: req.get(k) for k in ("type", "profile", "codeFilter")}, sort_keys=True)


def merge_requirements(requirements: Iterable[dict]) -> list[dict]:
    """Deduplicate: per (type, profile, codeFilter) keep the widest date window (none = widest)."""
    merged: dict[str, dict] = {}
    for req in requirements:
        key = _key(req)
        have = merged.get(key)
        if have is None:
            merged[key] = json.loads(json.dumps(req))
        elif "dateFilter" in have:
            if "dateFilter" not in req:
                del have["dateFilter"]
            elif _window_days(req["dateFilter"][0]) > _window_days(have["dateFilter"][0]):
                have["dateFilter"] = json.loads(json.dumps(req["dateFilter"]))
    return sorted(merged.values(), key=lambda r: (r["type"], _key(r)))


def iter_expression_libraries(resource: dict) -> Iterator[str]:
    """Canonicals in a PlanDefinition's / ActivityDefinition's `library` element."""
    for lib in resource.get("library") or []:
        if isinstance(lib, str):
            yield lib
