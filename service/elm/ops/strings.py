"""String operators (and Length/Indexer, which also apply to lists). Null in, null out.

Regular expressions follow Java semantics as the reference engines do: `Matches` must match
the whole string, and `ReplaceMatches` uses `$n` group references and `\\$` for a dollar.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from service.elm.compiler import Compiler, Evaluator
from service.elm.registry import null_propagating, operator


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


operator("Upper")(null_propagating(str.upper, 1))
operator("Lower")(null_propagating(str.lower, 1))
operator("Concatenate")(null_propagating(lambda *xs: "".join(xs), 0))
operator("EndsWith")(null_propagating(lambda s, suffix: s.endswith(suffix), 2))
operator("Matches")(null_propagating(lambda s, p: _regex(p).fullmatch(s) is not None, 2))


@operator("StartsWith")
def compile_starts_with(node: dict, c: Compiler) -> Evaluator:
    return null_propagating(lambda s, prefix: s.startswith(prefix), 2)(node, c)


def _java_replacement(repl: str) -> str:
    out = []
    i = 0
    while i < len(repl):
        ch = repl[i]
        if ch == "\\" and i + 1 < len(repl):
            out.append(repl[i + 1].replace("\\", "\\\\"))
            i += 2
            continue
        if ch == "$" and i + 1 < len(repl) and repl[i + 1].isdigit():
            j = i + 1
            while j < len(repl) and repl[j].isdigit():
                j += 1
            out.append(f"\\g<{repl[i + 1 : j]}>")
            i = j
            continue
        out.append(ch)
        i += 1
    return "".join(out)


operator("ReplaceMatches")(
    null_propagating(lambda s, p, r: _regex(p).sub(_java_replacement(r), s), 3)
)


@operator("Length")
def compile_length(node: dict, c: Compiler) -> Evaluator:
    a = c.compile_operand(node)

    def length(ctx: Any) -> int | None:
        x = a(ctx)
        if x is None:
            return 0 if _is_list_typed(node) else None
        return len(x)

    return length


def _is_list_typed(node: dict) -> bool:
    op = node.get("operand")
    if isinstance(op, list):
        op = op[0] if op else None
    spec = (op or {}).get("resultTypeSpecifier") or {}
    return spec.get("type") == "ListTypeSpecifier"


@operator("Indexer")
def compile_indexer(node: dict, c: Compiler) -> Evaluator:
    a, b = c.compile_operands(node)

    def indexer(ctx: Any) -> Any:
        x = a(ctx)
        if x is None:
            return None
        i = b(ctx)
        if i is None or i < 0 or i >= len(x):
            return None
        return x[i]

    return indexer


@operator("Combine")
def compile_combine(node: dict, c: Compiler) -> Evaluator:
    src = c.compile(node["source"])
    sep = c.compile(node["separator"]) if node.get("separator") is not None else None

    def combine(ctx: Any) -> str | None:
        items = src(ctx)
        if items is None:
            return None
        s = "" if sep is None else sep(ctx)
        if s is None:
            return None
        parts = [x for x in items if x is not None]
        if not parts:
            return None
        return s.join(parts)

    return combine


@operator("Split")
def compile_split(node: dict, c: Compiler) -> Evaluator:
    s = c.compile(node["stringToSplit"])
    sep = c.compile(node["separator"]) if node.get("separator") is not None else None

    def split(ctx: Any) -> list | None:
        x = s(ctx)
        if x is None:
            return None
        d = sep(ctx) if sep is not None else None
        if d is None or d == "":
            return [x]
        return x.split(d)

    return split


@operator("SplitOnMatches")
def compile_split_on_matches(node: dict, c: Compiler) -> Evaluator:
    s = c.compile(node["stringToSplit"])
    sep = c.compile(node["separatorPattern"])

    def split(ctx: Any) -> list | None:
        x = s(ctx)
        if x is None:
            return None
        p = sep(ctx)
        if p is None:
            return [x]
        return _regex(p).split(x)

    return split


def _position(find: Any) -> Any:
    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        p = c.compile(node["pattern"])
        s = c.compile(node["string"])

        def position(ctx: Any) -> int | None:
            pat, x = p(ctx), s(ctx)
            if pat is None or x is None:
                return None
            return find(x, pat)

        return position

    return compile_fn


operator("PositionOf")(_position(str.find))
operator("LastPositionOf")(_position(str.rfind))


@operator("Substring")
def compile_substring(node: dict, c: Compiler) -> Evaluator:
    s = c.compile(node["stringToSub"])
    start = c.compile(node["startIndex"])
    length = c.compile(node["length"]) if node.get("length") is not None else None

    def substring(ctx: Any) -> str | None:
        x, i = s(ctx), start(ctx)
        if x is None or i is None or i < 0 or i >= len(x):
            return None
        if length is None:
            return x[i:]
        n = length(ctx)
        if n is None:
            return x[i:]
        if n < 0:
            return None
        return x[i : i + n]

    return substring
