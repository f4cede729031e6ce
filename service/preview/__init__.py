"""Clinician preview: try the guideline on bundled scenario patients or a pasted Bundle, and see
each PlanDefinition drawn as a decision diagram. Server-rendered HTML, a little vanilla JS, no
build step (docs/preview.md)."""

from service.preview.views import create_blueprint

__all__ = ["create_blueprint"]
