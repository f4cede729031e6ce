"""A patient record as the complete prefetch of a CDS service (what an EHR would send).

Every prefetch key the service declares is answered from the record: a read template
(`Patient/{{context.patientId}}`) with the first resource of that type, a search template with a
searchset of every resource of the searched type (a superset of the search; the logic filters by
code). preview.js does the same in the browser; tests and the soak benchmark use this one.
"""

from __future__ import annotations


def prefetch_for(descriptor: dict, resources: list[dict]) -> dict:
    out: dict = {}
    for key, template in (descriptor.get("prefetch") or {}).items():
        rtype = template.split("?")[0].split("/")[0]
        if "?" not in template:
            out[key] = next((r for r in resources if r.get("resourceType") == rtype), None)
        else:
            out[key] = {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": r} for r in resources if r.get("resourceType") == rtype],
            }
    return out
