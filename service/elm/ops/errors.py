"""Message: CQL's way to report or raise from inside an expression."""

from __future__ import annotations

import logging
from typing import Any

from service.elm.compiler import Compiler, Evaluator
from service.elm.errors import CqlError
from service.elm.registry import operator

log = logging.getLogger("service.elm.message")


@operator("Message")
def compile_message(node: dict, c: Compiler) -> Evaluator:
    """Return the source; when the condition is true record the message (severity Error
    raises a `CqlError`, which the definition reports as an `ElmRuntimeError`)."""
    source = c.compile(node["source"])
    cond = c.compile(node["condition"]) if node.get("condition") is not None else None
    code = c.compile(node["code"]) if node.get("code") is not None else None
    severity = c.compile(node["severity"]) if node.get("severity") is not None else None
    message = c.compile(node["message"]) if node.get("message") is not None else None
    c.not_constant()

    def msg(ctx: Any) -> Any:
        value = source(ctx)
        if cond is not None and cond(ctx) is not True:
            return value
        sev = (severity(ctx) if severity is not None else None) or "Message"
        text = message(ctx) if message is not None else None
        cd = code(ctx) if code is not None else None
        if str(sev).lower() == "error":
            raise CqlError(f"{cd}: {text}" if cd else str(text))
        ctx.messages.append({"severity": sev, "code": cd, "message": text})
        log.debug("CQL message %s %s", sev, cd)
        return value

    return msg
