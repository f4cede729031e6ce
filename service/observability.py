"""Structured JSON logs and Prometheus metrics (prometheus_client).

Logs carry ids, codes, counts and timings only: never a token, a JWT, a request body or a
resource. Callers pass structured fields with `log_event(logger, "event", **fields)`; fields whose
names look secret are dropped by the formatter as a second line of defence.

Metrics use prometheus_client. Under gunicorn it runs in multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, made and cleaned by deploy/gunicorn.conf.py): each worker writes its
values to that directory and /metrics, answered by any one worker, sums all of them. Without the
variable (tests, the Flask dev server) the metrics are the process's own.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import values as prometheus_values
from prometheus_client.multiprocess import MultiProcessCollector

SECRET_MARKERS = ("token", "authorization", "jwt", "password", "secret", "prefetch", "body")
# The same series in both modes: multiprocess mode has no `_created` samples, so neither does
# the single-process fallback.
disable_created_metrics()

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


class Metrics:
    """The service's counters and latency histograms (prometheus_client), rendered as Prometheus
    text (0.0.4).

    `directory` is prometheus_client's multiprocess directory (PROMETHEUS_MULTIPROC_DIR, read by
    Settings): every gunicorn worker writes its values there and /metrics, answered by any one
    worker, reports the whole server (MultiProcessCollector). prometheus_client chooses its
    multiprocess value store when it is first imported, so the variable must be in the
    environment before then: deploy/gunicorn.conf.py sets it before the app is loaded. Without a
    directory (tests, the Flask dev server) the metrics are this process's own.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory else None
        if (
            self.directory is not None
            and prometheus_values.ValueClass is prometheus_values.MutexValue
        ):
            raise RuntimeError(
                "PROMETHEUS_MULTIPROC_DIR must be set before prometheus_client is first imported "
                "(deploy/gunicorn.conf.py sets it): this process would not share its metrics"
            )
        self.registry = CollectorRegistry()
        self._metrics: dict[str, Counter | Histogram] = {}

    def counter(self, name: str, text: str, labels: tuple[str, ...] = ()) -> None:
        self._metrics[name] = Counter(name, text, labelnames=labels, registry=self.registry)

    def histogram(self, name: str, text: str, labels: tuple[str, ...] = ()) -> None:
        self._metrics[name] = Histogram(
            name, text, labelnames=labels, buckets=LATENCY_BUCKETS, registry=self.registry
        )

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        metric = self._metrics[name]
        (metric.labels(**labels) if labels else metric).inc(amount)

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        metric = self._metrics[name]
        (metric.labels(**labels) if labels else metric).observe(seconds)

    def render(self) -> str:
        if self.directory is None:
            return generate_latest(self.registry).decode()
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.directory))
        return generate_latest(registry).decode()


def standard_metrics(directory: str | Path | None = None) -> Metrics:
    """The service's metrics. Label names are declared in sorted order, the order they are
    rendered in."""
    m = Metrics(directory)
    m.counter("cds_http_requests_total", "HTTP requests by route and status", ("route", "status"))
    m.histogram(
        "cds_request_duration_seconds", "Hook invocation latency per CDS service", ("service",)
    )
    m.counter(
        "cds_cards_total", "Cards returned, by service and indicator", ("indicator", "service")
    )
    m.counter(
        "cds_feedback_total",
        "Card feedback received, by service and outcome",
        ("outcome", "service"),
    )
    m.counter("cds_auth_failures_total", "Rejected client JWTs")
    m.counter("cds_prefetch_fetches_total", "Prefetch keys fetched from the EHR")
    m.counter(
        "cds_patient_scope_rejections_total",
        "Resources rejected for not being about the request's patient, by service and source",
        ("service", "source"),
    )
    return m
