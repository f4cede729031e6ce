"""Aggregate operators over lists (nulls are ignored; an empty input gives null except for
Count (0), AllTrue (true) and AnyTrue (false))."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from service.elm import semantics
from service.elm.compiler import Compiler, Evaluator
from service.elm.datatypes.numbers import DECIMAL_CONTEXT as D
from service.elm.datatypes.numbers import Long, check_decimal, check_int, check_long
from service.elm.ops.lists import sort_key
from service.elm.ops.structured import property_getter
from service.elm.registry import operator


def _aggregate(fn: Callable[[list], Any], keep_nulls: bool = False) -> Any:
    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        src = c.compile(node["source"])
        path = node.get("path")
        get = property_getter(path) if path else None

        def agg(ctx: Any) -> Any:
            items = src(ctx)
            if items is None:
                return fn([])
            if get is not None:
                items = [get(x) for x in items]
            if not keep_nulls:
                items = [x for x in items if x is not None]
            return fn(items)

        return agg

    return compile_fn


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return D.add(Decimal(a), Decimal(b))
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    return a.add(b)


def _finish(total: Any, sample: Any) -> Any:
    if isinstance(total, Decimal):
        return check_decimal(total)
    if isinstance(total, int) and not isinstance(total, bool):
        return check_long(total) if isinstance(sample, Long) else check_int(total)
    return total


def _sum(items: list) -> Any:
    if not items:
        return None
    total = items[0]
    for x in items[1:]:
        total = _add(total, x)
        if total is None:
            return None
    return _finish(total, items[0])


def _product(items: list) -> Any:
    if not items:
        return None
    total = items[0]
    for x in items[1:]:
        if isinstance(total, Decimal) or isinstance(x, Decimal):
            total = D.multiply(Decimal(total), Decimal(x))
        elif isinstance(total, int):
            total = total * x
        else:
            total = total.multiply(x)
    return _finish(total, items[0])


def _extreme(sign: int) -> Callable[[list], Any]:
    def pick(items: list) -> Any:
        best = None
        for x in items:
            if best is None:
                best = x
                continue
            r = semantics.compare(x, best)
            if r is not None and r * sign > 0:
                best = x
        return best

    return pick


def _value(x: Any) -> Decimal:
    return Decimal(x) if isinstance(x, (int, Decimal)) else x.value


def _quantity_like(sample: Any, value: Decimal) -> Any:
    if isinstance(sample, (int, Decimal)):
        return check_decimal(value)
    return type(sample)(check_decimal(value), sample.unit)


def _avg(items: list) -> Any:
    if not items:
        return None
    total = _sum(items)
    if total is None:
        return None
    return _quantity_like(items[0], D.divide(_value(total), Decimal(len(items))))


def _median(items: list) -> Any:
    if not items:
        return None
    ordered = sorted(items, key=_sort_key)
    n = len(ordered)
    mid = n // 2
    if n % 2:
        return (
            _quantity_like(ordered[mid], _value(ordered[mid]))
            if not isinstance(ordered[mid], int) or isinstance(ordered[mid], bool)
            else Decimal(ordered[mid])
        )
    s = D.add(_value(ordered[mid - 1]), _value(ordered[mid]))
    return _quantity_like(ordered[0], D.divide(s, Decimal(2)))


def _sort_key(x: Any) -> Any:
    return sort_key()(x)


def _mode(items: list) -> Any:
    if not items:
        return None
    best, best_count = None, 0
    counted: list[tuple[Any, int]] = []
    for x in items:
        for i, (y, n) in enumerate(counted):
            if semantics.equal(x, y) is True:
                counted[i] = (y, n + 1)
                break
        else:
            counted.append((x, 1))
    for y, n in counted:
        if n > best_count:
            best, best_count = y, n
    return best


def _variance(population: bool) -> Callable[[list], Any]:
    def variance(items: list) -> Any:
        n = len(items)
        if n == 0 or (n == 1 and not population):
            return None
        values = [_value(x) for x in items]
        mean = D.divide(sum(values, Decimal(0)), Decimal(n))
        ss = sum((D.power(v - mean, 2) for v in values), Decimal(0))
        r = D.divide(ss, Decimal(n if population else n - 1))
        return _quantity_like(items[0], r)

    return variance


def _stddev(population: bool) -> Callable[[list], Any]:
    var = _variance(population)

    def stddev(items: list) -> Any:
        v = var(items)
        if v is None:
            return None
        if isinstance(v, Decimal):
            return check_decimal(D.sqrt(v))
        return type(v)(check_decimal(D.sqrt(v.value)), v.unit)

    return stddev


def _geometric_mean(items: list) -> Any:
    if not items:
        return None
    prod = Decimal(1)
    for x in items:
        prod = D.multiply(prod, Decimal(x))
    if prod < 0:
        return None
    return check_decimal(D.power(prod, D.divide(Decimal(1), Decimal(len(items)))))


def _all_true(items: list) -> bool:
    return all(x is True for x in items)


def _any_true(items: list) -> bool:
    return any(x is True for x in items)


operator("Count")(_aggregate(len))
operator("Sum")(_aggregate(_sum))
operator("Product")(_aggregate(_product))
operator("Min")(_aggregate(_extreme(-1)))
operator("Max")(_aggregate(_extreme(1)))
operator("Avg")(_aggregate(_avg))
operator("Median")(_aggregate(_median))
operator("Mode")(_aggregate(_mode))
operator("Variance")(_aggregate(_variance(False)))
operator("PopulationVariance")(_aggregate(_variance(True)))
operator("StdDev")(_aggregate(_stddev(False)))
operator("PopulationStdDev")(_aggregate(_stddev(True)))
operator("GeometricMean")(_aggregate(_geometric_mean))
operator("AllTrue")(_aggregate(_all_true))
operator("AnyTrue")(_aggregate(_any_true))
