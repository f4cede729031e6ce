"""ValueSet/$expand for the value sets of the knowledge base."""

from __future__ import annotations

import uuid
from typing import Any

from service.errors import ApiError


def expand(kb: Any, valueset: dict, *, text_filter: str | None, offset: int, count: int | None,
           timestamp: str) -> dict:  # fmt: skip
    """The ValueSet with an `expansion` (codes from the engine's terminology, which expanded
    every value set at load: explicit concepts, whole local code systems, imported value sets)."""
    url, version = valueset.get("url"), valueset.get("version")
    held = kb.terminology.valueset(url, version) if url else None
    if held is None:
        raise ApiError(422, "not-supported", f"ValueSet {valueset.get('id')} cannot be expanded")
    contains = []
    for code in held.codes:
        item = {"system": code.system, "version": code.version, "code": code.code,
                "display": code.display}  # fmt: skip
        contains.append({k: v for k, v in item.items() if v is not None})
    if text_filter:
        needle = text_filter.lower()
        contains = [
            c for c in contains
            if needle in (c.get("display") or "").lower() or needle in c.get("code", "").lower()
        ]  # fmt: skip
    total = len(contains)
    page = contains[offset : offset + count] if count is not None else contains[offset:]
    out = {k: v for k, v in valueset.items() if k not in ("expansion", "text")}
    expansion: dict = {
        "identifier": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{url}|{version}')}",
        "timestamp": timestamp,
        "total": total,
    }
    if offset:
        expansion["offset"] = offset
    params = []
    if text_filter:
        params.append({"name": "filter", "valueString": text_filter})
    if count is not None:
        params.append({"name": "count", "valueInteger": count})
    if params:
        expansion["parameter"] = params
    if page:
        expansion["contains"] = page
    out["expansion"] = expansion
    return out
