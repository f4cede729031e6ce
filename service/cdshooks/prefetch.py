"""Prefetch resolution exactly as CDS Hooks 2.0.1 specifies it.

For every prefetch template of the service:
- key present with a resource or a complete searchset Bundle → that data;
- key present and `null` → the client says there is no data;
- key present with an OperationOutcome → the client failed: fetch it ourselves if we can;
- a Bundle with a `next` link → follow it on the `fhirServer` base only (same origin, page cap);
  if it points elsewhere, fetch the whole query ourselves instead;
- key absent → fetch from `fhirServer` with the bearer token.
Data that is needed and cannot be obtained raises `DataUnavailable` (→ 412).
Each resource keeps its `Origin` (prefetch key; sent by the client or fetched by the service) so
that the patient-scope check can answer 400 for the client's data and 412 for fetched data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, wait
from dataclasses import dataclass, field
from functools import partial

from service.fhirclient import (
    FhirAccessDenied,
    FhirFetchError,
    bundle_resources,
    next_link,
    search_error,
)

TOKEN = re.compile(r"\{\{\s*([A-Za-z.]+)\s*\}\}")
USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}


class DataUnavailable(Exception):
    def __init__(self, keys: list[str], reason: str) -> None:
        super().__init__(reason)
        self.keys = keys
        self.reason = reason


@dataclass(frozen=True)
class Origin:
    """Where one resource of `PatientData` came from: its prefetch key, and whether the service
    fetched it from `fhirServer` (True) or the client sent it in the prefetch (False)."""

    key: str
    fetched: bool


@dataclass
class PatientData:
    resources: list[dict] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)  # one per resource, same order


def fill_template(template: str, context: dict) -> str | None:
    """The query with its tokens replaced, or None when a token has no value in this call."""
    missing = False

    def sub(m: re.Match) -> str:
        nonlocal missing
        name = m.group(1)
        value = None
        if name.startswith("context."):
            value = context.get(name[len("context.") :])
        elif name in USER_TOKENS:
            user = context.get("userId") or ""
            rtype, _, rid = user.partition("/")
            value = rid if rtype == USER_TOKENS[name] else None
        if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
            missing = True
            return ""
        return str(value)

    out = TOKEN.sub(sub, template)
    return None if missing else out


def resolve(
    templates: dict[str, str],
    prefetch: dict | None,
    context: dict,
    fhir=None,
    no_fhir_reason: str = "no fhirServer in the request",
) -> PatientData:
    """The patient's data for these templates; `fhir` (a FhirSession-like object or None)
    supplies what the prefetch lacks. Missing keys are fetched concurrently within the session's
    time budget; the first key that cannot be obtained ends the attempt (412, fail fast)."""
    prefetch = prefetch or {}
    data = PatientData()
    found: dict[str, list[dict]] = {}
    tasks: dict[str, Callable[[], list[dict]]] = {}
    client_pages: dict[str, set[int]] = {}  # paged keys: the resources the client itself sent
    for key, template in templates.items():
        query = fill_template(template, context)
        if query is None:
            data.empty.append(key)
            continue
        value = prefetch.get(key, _ABSENT)
        if value is None:
            data.empty.append(key)
            continue
        if _complete(value):
            found[key] = [value] if value["resourceType"] != "Bundle" else bundle_resources(value)
            continue
        if fhir is None:
            continue
        if _paged(value):
            tasks[key] = partial(_follow, fhir, value, query)
            client_pages[key] = {id(r) for r in bundle_resources(value)}
        else:
            tasks[key] = partial(fetch_query, fhir, query)
            data.fetched.append(key)
    missing = [k for k in templates if k not in found and k not in data.empty and k not in tasks]
    if missing:
        raise DataUnavailable(missing, no_fhir_reason)
    if tasks:
        try:
            fhir.prepare()
        except FhirAccessDenied as e:
            raise DataUnavailable(list(tasks), str(e)) from None
        found.update(_run(tasks, fhir))
    seen: set[tuple[str, str]] = set()
    for key in templates:  # template order: deterministic input to the logic
        for r in found.get(key, ()):
            rid = r.get("id")
            if isinstance(rid, str):
                k = (r.get("resourceType"), rid)
                if k in seen:
                    continue
                seen.add(k)
            data.resources.append(r)
            fetched = key in tasks and id(r) not in client_pages.get(key, ())
            data.origins.append(Origin(key, fetched))
    return data


_ABSENT = object()


def _complete(value) -> bool:
    """A usable prefetch value: a resource, or a searchset Bundle without further pages and
    without an error outcome (the client's search failed: fetch it, as for an
    OperationOutcome value)."""
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return False
    if value["resourceType"] == "OperationOutcome":
        return False
    if value["resourceType"] != "Bundle":
        return True
    return not next_link(value) and not search_error(value)


def _paged(value) -> bool:
    return (
        isinstance(value, dict)
        and value.get("resourceType") == "Bundle"
        and bool(next_link(value))
        and not search_error(value)
    )


def _follow(fhir, bundle: dict, query: str) -> list[dict]:
    """Follow a prefetched Bundle's pages on the FHIR server, else run the query again."""
    try:
        return fhir.resources_of(bundle)
    except (FhirFetchError, FhirAccessDenied):
        return fetch_query(fhir, query)


# Statuses with which servers reject a search parameter or modifier they do not support.
UNSUPPORTED_SEARCH = {400, 422, 501}


def fetch_query(fhir, query: str) -> list[dict]:
    """Run a prefetch query; when the server rejects its `:in` (ValueSet) filters, which many
    servers do not support or cannot resolve for our ValueSets, run it again without them: the
    wider result is a superset and the logic applies the ValueSets itself."""
    try:
        return fhir.fetch(query)
    except FhirFetchError as e:
        wider = without_value_set_filters(query)
        if e.status not in UNSUPPORTED_SEARCH or wider == query:
            raise
        return fhir.fetch(wider)


def without_value_set_filters(query: str) -> str:
    path, _, params = query.partition("?")
    kept = [p for p in params.split("&") if p and ":in=" not in p]
    return path + ("?" + "&".join(kept) if kept else "")


def _run(tasks: dict[str, Callable[[], list[dict]]], fhir) -> dict[str, list[dict]]:
    if len(tasks) == 1:
        ((key, task),) = tasks.items()
        try:
            return {key: task()}
        except (FhirFetchError, FhirAccessDenied) as e:
            raise DataUnavailable([key], str(e)) from None
    futures = {fhir.pool.submit(task): key for key, task in tasks.items()}
    results: dict[str, list[dict]] = {}
    pending = set(futures)
    failed = True
    try:
        while pending:
            done, pending = wait(
                pending, timeout=max(0.0, fhir.remaining()), return_when=FIRST_EXCEPTION
            )
            if not done:
                raise DataUnavailable(
                    sorted(futures[f] for f in pending), "time budget for FHIR requests exhausted"
                )
            for f in done:
                try:
                    results[futures[f]] = f.result()
                except (FhirFetchError, FhirAccessDenied) as e:
                    raise DataUnavailable([futures[f]], str(e)) from None
        failed = False
    finally:
        if failed:  # stop the fetches still running: no new requests or pages once we gave up
            fhir.abandon()
            for f in pending:
                f.cancel()
    return results
