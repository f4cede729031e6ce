"""How the content's CQL expressions map onto the generated `<L>Expressions` libraries.

The service has no CQL translator at run time: inline `text/cql-expression` / `text/cql`
expressions are extracted at build time (`python -m tools.expressions`) into one generated
library per logic library `L`, `cql/<L>Expressions.cql`, with one `define "Expression <hash>"`
per distinct expression text and a pass-through define per `text/cql-identifier` the content
uses. The build tool and the run-time `$apply` preparation must agree on those names, so the
naming rules live here, in the runtime package, and the tool imports them.
"""

from __future__ import annotations

import hashlib

from service import conventions

SUFFIX = "Expressions"
INLINE_LANGUAGES = ("text/cql-expression", "text/cql")
IDENTIFIER_LANGUAGE = "text/cql-identifier"
EVIDENCE_URL = conventions.EVIDENCE_EXPRESSION
#: On a child action of type `remove`: the definition returning the resources to remove.
TARGET_URL = conventions.TARGET_EXPRESSION
#: The command that regenerates the expressions libraries (named in start-up errors).
REGENERATE = "python -m tools.expressions"


def action_text_element(path: object) -> str | None:
    """The RequestGroup action element an `action.<element>` / `%action.<element>` dynamicValue
    path names (None when the path does not target the action)."""
    if not isinstance(path, str):
        return None
    path = path.strip().removeprefix("%")
    return path.removeprefix("action.") if path.startswith("action.") else None


def expression_name(expression: str) -> str:
    """The generated definition name of an inline CQL expression (stable across runs)."""
    digest = hashlib.sha256(expression.strip().encode("utf-8")).hexdigest()[:12]
    return f"Expression {digest}"


def generated_library_name(library: str) -> str:
    return f"{library}{SUFFIX}"


def library_name_from_canonical(canonical: str) -> str:
    url = canonical.split("|", 1)[0]
    return url.rstrip("/").rsplit("/", 1)[-1]
