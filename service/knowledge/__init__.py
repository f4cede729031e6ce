"""The knowledge base: every artifact loaded, validated and prepared once, at start-up.

```python
kb = KnowledgeBase.load(content_dir=Path("plandefinitions"), cql_dir=Path("cql"))
kb.plan_definitions            # list of PlanDefinition dicts
kb.resolve("url|version")      # or "url" (newest version) or "Type/id" -> dict | None
kb.engine, kb.terminology      # the compiled ELM engine and its terminology
kb.data_requirements(pd)       # FHIR DataRequirement JSON list for a PlanDefinition
kb = kb.with_parameters({"Severe Pain Score": 9})  # deployment CQL parameter values
kb.parameter_values(pd)        # the values a PlanDefinition's logic runs with
kb.search("ValueSet", {"name": ["demo"]})
```
A broken artifact (invalid FHIR, R4-only violations, a dangling canonical, stale generated
expressions) raises `KnowledgeError`. The `$apply` preparation of every PlanDefinition and
ActivityDefinition (a condition naming a definition that the ELM lacks, a bad dynamicValue, ...)
belongs to service.apply: the service loads its content with `service.apply.load_knowledge`,
which loads a `service.apply.prepare.PreparedKnowledge` (this class plus the prepared plans)
and prepares every definition.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from service.elm import ElmEngine, ElmError, Terminology
from service.knowledge.data_requirements import (
    included_libraries,
    iter_expression_libraries,
    library_requirements,
    merge_requirements,
)
from service.knowledge.libraries import CqlLibrary, library_bases, load_cql_libraries
from service.knowledge.loader import (
    SEARCH_PARAMETERS,
    ArtifactIndex,
    KnowledgeError,
    canonical_base,
    content_base,
    read_content,
    validate_r4,
)
from service.knowledge.parameters import effective_values

__all__ = ["SEARCH_PARAMETERS", "KnowledgeBase", "KnowledgeError", "canonical_base"]

KNOWLEDGE_TYPES = ("PlanDefinition", "ActivityDefinition", "Library", "ValueSet", "CodeSystem")


class KnowledgeBase:
    """Validated artifacts + generated Libraries + the compiled engine, all built in `load`."""

    def __init__(
        self,
        index: ArtifactIndex,
        libraries: dict[str, CqlLibrary],
        engine: Any,
        terminology: Any,
    ) -> None:
        self.index = index
        self.libraries = libraries
        self.engine = engine
        self.terminology = terminology
        self._requirements: dict[str, list[dict]] = {}
        #: Deployment values of CQL parameters ({name: CQL value}, service.knowledge.parameters):
        #: the base of every evaluation and of the data requirements' look-back windows.
        self.parameters: dict[str, Any] = {}
        self._displays: dict[tuple[str, str], str] = {}
        for rtype in ("CodeSystem", "ValueSet"):
            for res in index.all(rtype):
                self._collect_displays(res)

    # -- loading ------------------------------------------------------------------------------
    @classmethod
    def load(
        cls, content_dir: Path, cql_dir: Path, *, elm_dir: Path | None = None
    ) -> KnowledgeBase:
        """Load `content_dir/**/*.json` and `cql_dir/*.cql` + `cql_dir/elm/*.json`."""
        content_dir, cql_dir = Path(content_dir), Path(cql_dir)
        index = ArtifactIndex()
        resources = []
        for path, resource in read_content(content_dir):
            validate_r4(resource, str(path))
            if resource.get("resourceType") == "Library":
                raise KnowledgeError(
                    f"{path}: Library resources are generated from cql/, not hand-written"
                )
            index.add(resource, str(path))
            resources.append(resource)
        libraries = load_cql_libraries(
            cql_dir,
            elm_dir,
            bases=library_bases(resources),
            default_base=content_base(resources),
        )
        for lib in libraries.values():
            validate_r4(lib.resource, f"generated Library {lib.name}")
            index.add(lib.resource, f"generated Library {lib.name}")
        try:
            terminology = Terminology.from_resources(
                r for r in resources if r["resourceType"] in ("ValueSet", "CodeSystem")
            )
            engine = ElmEngine.from_libraries(
                [lib.elm for lib in libraries.values()],
                terminology=terminology,
                strict_terminology=True,  # a value set the CQL names but we lack fails start-up
            )
        except ElmError as exc:
            raise KnowledgeError(f"cannot compile the CQL content: {exc}") from exc
        kb = cls(index, libraries, engine, terminology)
        kb._check_references()
        for pd in kb.plan_definitions:
            kb.data_requirements(pd)
        return kb

    def with_parameters(self, parameters: dict[str, Any]) -> KnowledgeBase:
        """This knowledge base with deployment CQL parameter values (already converted and
        checked: `service.knowledge.parameters.resolve_parameters`). Artifacts, the compiled
        engine (and a subclass's prepared plans) are shared; data requirements are recomputed
        with them."""
        view = copy.copy(self)
        view.parameters = dict(parameters)
        view._requirements = {}
        for pd in view.plan_definitions:
            view.data_requirements(pd)
        return view

    def _check_references(self) -> None:
        """Every canonical our artifacts point at must resolve (external code systems aside)."""
        for rtype in ("PlanDefinition", "ActivityDefinition"):
            for res in self.index.all(rtype):
                where = f"{rtype}/{res.get('id')}"
                for canonical in iter_expression_libraries(res):
                    if self.library_for(canonical) is None:
                        raise KnowledgeError(f"{where}: library {canonical} is not loaded")
                stack = list(res.get("action") or [])
                while stack:
                    action = stack.pop()
                    ref = action.get("definitionCanonical")
                    if ref and self.resolve(ref) is None:
                        raise KnowledgeError(
                            f"{where}: action {action.get('id')}: {ref} does not resolve"
                        )
                    stack.extend(action.get("action") or [])
        for vs in self.index.all("ValueSet"):
            for inc in (vs.get("compose") or {}).get("include") or []:
                for ref in inc.get("valueSet") or []:
                    if self.resolve(ref) is None:
                        raise KnowledgeError(f"ValueSet/{vs.get('id')}: {ref} does not resolve")

    def _collect_displays(self, resource: dict) -> None:
        def walk(system: str | None, concepts: list[dict]) -> None:
            for c in concepts or []:
                if system and c.get("code") and c.get("display"):
                    self._displays.setdefault((system, c["code"]), c["display"])
                walk(c.get("system") or system, c.get("concept") or c.get("contains") or [])

        if resource.get("resourceType") == "CodeSystem":
            walk(resource.get("url"), resource.get("concept") or [])
        else:
            for inc in (resource.get("compose") or {}).get("include") or []:
                walk(inc.get("system"), inc.get("concept") or [])
            walk(None, (resource.get("expansion") or {}).get("contains") or [])

    def display_of(self, system: str | None, code: str | None) -> str | None:
        """The display our terminology gives a code (CodeSystems, ValueSet concepts)."""
        return self._displays.get((system or "", code or ""))

    # -- queries ------------------------------------------------------------------------------
    @property
    def plan_definitions(self) -> list[dict]:
        return self.index.all("PlanDefinition")

    @property
    def activity_definitions(self) -> list[dict]:
        return self.index.all("ActivityDefinition")

    @property
    def canonical_base(self) -> str | None:
        """The canonical base most of the loaded artifacts share (their own `url`s)."""
        return content_base(r for rtype in self.index.resource_types for r in self.index.all(rtype))

    @property
    def publisher(self) -> str | None:
        """Who publishes the loaded guidelines: the PlanDefinitions' `publisher`s (else their
        titles), in load order, joined with " / "; None without a PlanDefinition."""
        names = [pd.get("publisher") or pd.get("title") for pd in self.plan_definitions]
        names = list(dict.fromkeys(" ".join(n.split()) for n in names if isinstance(n, str)))
        return " / ".join(names) or None

    def resolve(self, reference: str) -> dict | None:
        """A canonical (`url` or `url|version`) or a `Type/id` reference → the resource."""
        return self.index.resolve(reference)

    def search(self, resource_type: str, params: dict[str, list[str]]) -> list[dict]:
        return self.index.search(resource_type, params)

    def library_for(self, canonical: str) -> CqlLibrary | None:
        """The CQL library behind a Library canonical (`{base}/Library/Name[|version]`)."""
        resource = self.resolve(canonical)
        if resource is None or resource.get("resourceType") != "Library":
            return None
        for lib in self.libraries.values():
            if lib.resource is resource:
                return lib
        return None

    def data_requirements(self, plan_definition: dict) -> list[dict]:
        """FHIR DataRequirements of a PlanDefinition: its libraries (with their includes), the
        libraries of the ActivityDefinitions and nested PlanDefinitions its actions use. Date
        windows bounded by a CQL parameter use the deployment's value (`with_parameters`)."""
        key = f"{plan_definition.get('url')}|{plan_definition.get('version')}"
        cached = self._requirements.get(key)
        if cached is None:
            found: list[dict] = []
            for name in self.libraries_of(plan_definition):
                found.extend(library_requirements(name, self.libraries, self.parameters))
            cached = merge_requirements(found)
            self._requirements[key] = cached
        return [dict(r) for r in cached]

    def libraries_of(self, plan_definition: dict) -> list[str]:
        """Names of the CQL libraries a PlanDefinition's logic uses, includes first-seen order."""
        names: list[str] = []
        for artifact in self._artifacts_of(plan_definition):
            for canonical in iter_expression_libraries(artifact):
                lib = self.library_for(canonical)
                if lib is not None:
                    names.extend(included_libraries(lib.name, self.libraries))
        return list(dict.fromkeys(names))

    def parameter_values(self, plan_definition: dict) -> dict[str, Any]:
        """{name: CQL value} of the parameters a PlanDefinition's logic runs with: the
        deployment's value, else the content's default (per-request parameters left out)."""

        return effective_values(self, self.libraries_of(plan_definition))

    def _artifacts_of(self, plan_definition: dict) -> list[dict]:
        out, seen = [plan_definition], {id(plan_definition)}
        stack = list(plan_definition.get("action") or [])
        while stack:
            action = stack.pop()
            target = self.resolve(action.get("definitionCanonical") or "")
            if target is not None and id(target) not in seen:
                seen.add(id(target))
                out.append(target)
                stack.extend(target.get("action") or [])
            stack.extend(action.get("action") or [])
        return out
