"""Structured JSON logs and Prometheus text metrics, without extra dependencies.

Logs carry ids, codes, counts and timings only: never a token, a JWT, a request body or a
resource. Callers pass structured fields with `log_event(logger, "event", **fields)`; fields whose
names look secret are dropped by the formatter as a second line of defence.

Metrics are kept per process. Under gunicorn each worker answers /metrics with its own counters
(the `worker` label tells them apart); see docs/deploy.md.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time

SECRET_MARKERS = ("token", "authorization", "jwt", "password", "secret", "prefetch", "body")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None) or {}
        for k, v in fields.items():
            if any(m in k.lower() for m in SECRET_MARKERS):
                continue
            out[k] = v
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = record.exc_info[0].__name__
        return json.dumps(out, default=str)


class _StderrHandler(logging.StreamHandler):
    """Writes to the current sys.stderr (so redirected or captured streams are honoured)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger("service")
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(level)


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={"fields": fields})


def _labels(d: dict[str, str]) -> str:
    if not d:
        return ""
    inner = ",".join(
        f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in sorted(d.items())
    )
    return "{" + inner + "}"


class Metrics:
    """Counters and latency histograms rendered in the Prometheus text format (0.0.4)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple, float]] = {}
        self._hist: dict[str, dict[tuple, list]] = {}
        self._help: dict[str, tuple[str, str]] = {}
        self.worker = str(os.getpid())

    def describe(self, name: str, kind: str, text: str) -> None:
        self._help[name] = (kind, text)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0.0) + amount

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._hist.setdefault(name, {})
            h = series.get(key)
            if h is None:
                h = series[key] = [[0] * len(LATENCY_BUCKETS), 0, 0.0]
            for i, b in enumerate(LATENCY_BUCKETS):
                if seconds <= b:
                    h[0][i] += 1
            h[1] += 1
            h[2] += seconds

    def counter_value(self, name: str, **labels: str) -> float:
        return self._counters.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        worker = str(os.getpid())
        lines: list[str] = []
        with self._lock:
            for name in sorted(set(self._counters) | set(self._hist)):
                kind, text = self._help.get(
                    name, ("histogram" if name in self._hist else "counter", name)
                )
                lines.append(f"# HELP {name} {text}")
                lines.append(f"# TYPE {name} {kind}")
                for key, value in sorted(self._counters.get(name, {}).items()):
                    labels = dict(key) | {"worker": worker}
                    lines.append(f"{name}{_labels(labels)} {value:g}")
                for key, (buckets, count, total) in sorted(self._hist.get(name, {}).items()):
                    base = dict(key) | {"worker": worker}
                    for b, c in zip(LATENCY_BUCKETS, buckets, strict=True):
                        lines.append(f"{name}_bucket{_labels(base | {'le': f'{b:g}'})} {c}")
                    lines.append(f"{name}_bucket{_labels(base | {'le': '+Inf'})} {count}")
                    lines.append(f"{name}_count{_labels(base)} {count}")
                    lines.append(f"{name}_sum{_labels(base)} {total:.6f}")
        return "\n".join(lines) + "\n"


def standard_metrics() -> Metrics:
    m = Metrics()
    m.describe("cds_http_requests_total", "counter", "HTTP requests by route and status")
    m.describe(
        "cds_request_duration_seconds", "histogram", "Hook invocation latency per CDS service"
    )
    m.describe("cds_cards_total", "counter", "Cards returned, by service and indicator")
    m.describe("cds_feedback_total", "counter", "Card feedback received, by service and outcome")
    m.describe("cds_auth_failures_total", "counter", "Rejected client JWTs")
    m.describe("cds_prefetch_fetches_total", "counter", "Prefetch keys fetched from the EHR")
    return m
