"""CDS Hooks 2.0 protocol layer: discovery, invocation, cards, feedback, client authentication."""

from service.cdshooks.api import CdsRuntime, create_blueprint

__all__ = ["CdsRuntime", "create_blueprint"]
