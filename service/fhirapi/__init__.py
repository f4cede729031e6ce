"""The FHIR REST face under /fhir (see docs/fhir-api.md).

`register(app, kb, auth)` mounts the blueprint `bp` at `/fhir` and binds the knowledge base; the app
factory (service/app.py) calls it with the $apply client-JWT guard (`ClientJwtGuard`,
service/cdshooks/security.py). Everything answers `application/fhir+json`; errors are
OperationOutcomes (400 bad input, 404 unknown resource/endpoint, 405 wrong method, 415 wrong
media type, 422 processing problem, 500 without any detail for our own bugs).
"""

from service.fhirapi.routes import bp, register

__all__ = ["bp", "register"]
