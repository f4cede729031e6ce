"""Load, validate and index the knowledge artifacts (FHIR R4 JSON) once, at start-up.

Every `*.json` under the content directory must be a FHIR resource that validates with the
fhir.resources R4B models; on top of that an R4 guard rejects what R4B accepts but R4 does not
(`subjectCanonical`, R5-only extension value types). Any problem raises `KnowledgeError` naming the
file, so a broken artifact stops the service from starting instead of failing a request.

`ArtifactIndex` answers the three questions the service asks: resolve a canonical
(`url` or `url|version`, newest version when unversioned) or a `Type/id` reference, and search a
resource type by `_id`, `url`, `version`, `name`, `title`, `status`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

#: A canonical URL of the form `{base}/{ResourceType}/{id}` (docs/content-conventions.md).
CANONICAL = re.compile(
    r"^(?P<base>https?://.+)/(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})$"
)

#: Resource types whose `url` makes them canonical artifacts.
SEARCH_PARAMETERS = ("_id", "url", "version", "name", "title", "status")

#: R4 has no `subjectCanonical` (R4B added it) on these resource types and their actions.
_SUBJECT_CANONICAL_TYPES = {"PlanDefinition", "ActivityDefinition"}
#: Extension value types R4B accepts that do not exist in R4.
_R4_FORBIDDEN_EXTENSION_VALUES = ("valueCodeableReference", "valueRatioRange")


class KnowledgeError(Exception):
    """A knowledge artifact is broken: raised at load time, never per request."""


def validate_r4(resource: dict, where: str) -> None:
    """Validate one resource with the R4B model, then apply the R4 guard. Raises KnowledgeError."""
    from fhir.resources.R4B import get_fhir_model_class

    rtype = resource.get("resourceType") if isinstance(resource, dict) else None
    if not isinstance(rtype, str):
        raise KnowledgeError(f"{where}: not a FHIR resource (no resourceType)")
    try:
        model = get_fhir_model_class(rtype)
    except KeyError:
        raise KnowledgeError(f"{where}: unknown resourceType {rtype!r}") from None
    try:
        model.model_validate(resource)
    except (ValidationError, KeyError, ValueError, TypeError) as exc:
        raise KnowledgeError(f"{where}: {rtype} is not valid FHIR: {exc}") from None
    problems = list(r4_guard(resource))
    if problems:
        raise KnowledgeError(f"{where}: not valid FHIR R4: {'; '.join(problems)}")


def r4_guard(resource: dict) -> Iterable[str]:
    """Yield R4 violations that the R4B models let through."""
    if resource.get("resourceType") in _SUBJECT_CANONICAL_TYPES:
        if "subjectCanonical" in resource:
            yield f"{resource['resourceType']}.subjectCanonical does not exist in R4"
        stack = list(resource.get("action") or [])
        while stack:
            action = stack.pop()
            if isinstance(action, dict):
                if "subjectCanonical" in action:
                    yield f"action {action.get('id', '?')}: subjectCanonical does not exist in R4"
                stack.extend(action.get("action") or [])
    yield from _extension_guard(resource, resource.get("resourceType", ""))


def _extension_guard(node: Any, path: str) -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("extension", "modifierExtension") and isinstance(value, list):
                for ext in value:
                    if isinstance(ext, dict):
                        for bad in _R4_FORBIDDEN_EXTENSION_VALUES:
                            if bad in ext:
                                yield f"{path}.{key}({ext.get('url')}): {bad} does not exist in R4"
            yield from _extension_guard(value, f"{path}.{key}")
    elif isinstance(node, list):
        for item in node:
            yield from _extension_guard(item, path)


def read_content(content_dir: Path) -> list[tuple[Path, dict]]:
    """Read every JSON resource under `content_dir` (sorted, recursive)."""
    if not content_dir.is_dir():
        raise KnowledgeError(f"content directory {content_dir} does not exist")
    out = []
    for path in sorted(content_dir.rglob("*.json")):
        try:
            resource = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise KnowledgeError(f"{path}: unreadable JSON: {exc}") from None
        out.append((path, resource))
    return out


def canonical_base(resource: dict) -> str | None:
    """The canonical base of an artifact, read from its own `url` (`{base}/{its type}/{id}`)."""
    m = CANONICAL.match(resource.get("url") or "") if isinstance(resource, dict) else None
    if m is None or m.group("type") != resource.get("resourceType"):
        return None
    return m.group("base")


def content_base(resources: Iterable[dict]) -> str | None:
    """The canonical base most of the content's artifacts share (None: no canonical artifact)."""
    counts = Counter(b for r in resources if (b := canonical_base(r)) is not None)
    if not counts:
        return None
    return min(counts, key=lambda b: (-counts[b], b))


def _version_key(version: str | None) -> tuple:
    """Order versions: numeric dotted parts numerically, then text; None lowest."""
    if version is None:
        return ((-1,),)
    parts = []
    for p in version.replace("-", ".").split("."):
        parts.append((0, int(p), "") if p.isdigit() else (1, 0, p))
    return tuple(parts)


class ArtifactIndex:
    """In-memory index of knowledge artifacts by `Type/id` and by canonical URL + version."""

    def __init__(self) -> None:
        self._by_ref: dict[str, dict] = {}
        self._by_url: dict[str, list[dict]] = {}
        self._by_type: dict[str, list[dict]] = {}
        #: Canonical bases of the loaded artifacts: `{base}/Type/id` also resolves as `Type/id`.
        self.bases: list[str] = []

    def add(self, resource: dict, where: str) -> None:
        rtype, rid = resource.get("resourceType"), resource.get("id")
        if not rid:
            raise KnowledgeError(f"{where}: {rtype} has no id")
        ref = f"{rtype}/{rid}"
        if ref in self._by_ref:
            raise KnowledgeError(f"{where}: duplicate {ref}")
        url = resource.get("url")
        if url:
            version = resource.get("version")
            for other in self._by_url.get(url, []):
                if other.get("version") == version:
                    raise KnowledgeError(f"{where}: duplicate canonical {url}|{version}")
            self._by_url.setdefault(url, []).append(resource)
            self._by_url[url].sort(key=lambda r: _version_key(r.get("version")))
            base = canonical_base(resource)
            if base is not None and base not in self.bases:
                self.bases.append(base)
        self._by_ref[ref] = resource
        self._by_type.setdefault(rtype, []).append(resource)

    @property
    def resource_types(self) -> list[str]:
        return sorted(self._by_type)

    def all(self, resource_type: str) -> list[dict]:
        return list(self._by_type.get(resource_type, []))

    def resolve(self, reference: str) -> dict | None:
        """`url`, `url|version` (canonical) or `Type/id` (also relative to a loaded artifact's
        canonical base)."""
        if not isinstance(reference, str) or not reference:
            return None
        url, _, version = reference.partition("|")
        candidates = self._by_url.get(url)
        if candidates:
            if version:
                return next((r for r in candidates if r.get("version") == version), None)
            return candidates[-1]
        local = url
        for base in self.bases:
            if url.startswith(base + "/"):
                local = url[len(base) + 1 :]
                break
        found = self._by_ref.get(local)
        if found is not None and version and found.get("version") != version:
            return None
        return found

    def search(self, resource_type: str, params: Mapping[str, list[str]]) -> list[dict]:
        """FHIR search over one type. `params` maps a parameter to its values (AND); a value may
        hold comma-separated alternatives (OR). url/version/status/_id match exactly; name and
        title are case-insensitive prefix matches (FHIR string search); `:exact` is exact."""
        result = self.all(resource_type)
        for raw_name, values in params.items():
            name, _, modifier = raw_name.partition(":")
            for value in values:
                options = [v for v in value.split(",") if v != ""]
                result = [r for r in result if _matches(r, name, modifier, options)]
        return result


def _matches(resource: dict, name: str, modifier: str, options: list[str]) -> bool:
    if name == "_id":
        actual = resource.get("id")
    elif name == "url" and "|" in "".join(options):
        canon = f"{resource.get('url')}|{resource.get('version')}"
        return canon in options or resource.get("url") in options
    else:
        actual = resource.get(name)
    if not isinstance(actual, str):
        return False
    if name in ("name", "title"):
        if modifier == "exact":
            return actual in options
        if modifier == "contains":
            return any(o.lower() in actual.lower() for o in options)
        return any(actual.lower().startswith(o.lower()) for o in options)
    return actual in options
