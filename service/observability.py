"""Structured JSON logs and Prometheus text metrics, without extra dependencies.

Logs carry ids, codes, counts and timings only: never a token, a JWT, a request body or a
resource. Callers pass structured fields with `log_event(logger, "event", **fields)`; fields whose
names look secret are dropped by the formatter as a second line of defence.

Metrics are kept per process. With a metrics directory (CDS_METRICS_DIR, set by
deploy/gunicorn.conf.py), each worker also writes its snapshot there (at most once a second and
on every scrape it answers) and /metrics sums the snapshots of all workers, so a scrape that
reaches any one worker sees the whole server.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

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

    def __init__(self, directory: str | Path | None = None, ident: str | None = None) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple, float]] = {}
        self._hist: dict[str, dict[tuple, list]] = {}
        self._help: dict[str, tuple[str, str]] = {}
        self.directory = Path(directory) if directory else None
        self._ident = ident  # snapshot file name; default: the process id
        self._flushed = 0.0
        self._dirty = False
        self._flusher_pid = 0
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)

    def describe(self, name: str, kind: str, text: str) -> None:
        self._help[name] = (kind, text)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0.0) + amount
        self._maybe_flush()

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
        self._maybe_flush()

    # -- sharing between worker processes --------------------------------------------------------
    def _snapshot(self) -> dict:
        with self._lock:
            return {
                "counters": {
                    n: [[list(k), v] for k, v in s.items()] for n, s in self._counters.items()
                },
                "hist": {n: [[list(k), h] for k, h in s.items()] for n, s in self._hist.items()},
            }

    def _maybe_flush(self, force: bool = False) -> None:
        """Write this process's snapshot now (forced, or none for a second), else soon: a
        daemon thread per process writes pending changes once a second."""
        if self.directory is None:
            return
        self._dirty = True
        if force or time.monotonic() - self._flushed >= 1.0:
            self._write()
        elif self._flusher_pid != os.getpid():
            self._flusher_pid = os.getpid()
            threading.Thread(target=self._flush_loop, daemon=True, name="metrics-flush").start()

    def _flush_loop(self) -> None:
        while True:
            time.sleep(1.0)
            if self._dirty:
                self._write()

    def _write(self) -> None:
        self._dirty = False
        self._flushed = time.monotonic()
        target = self.directory / f"{self._ident or os.getpid()}.json"
        tmp = target.with_name(f"{target.stem}.{threading.get_ident()}.tmp")
        try:
            tmp.write_text(json.dumps(self._snapshot()))
            tmp.replace(target)
        except OSError:
            pass

    def _merged(self) -> tuple[dict, dict]:
        """Counters and histograms of every worker that wrote a snapshot (this one included)."""
        self._maybe_flush(force=True)
        counters: dict[str, dict[tuple, float]] = {}
        hist: dict[str, dict[tuple, list]] = {}
        for f in sorted(self.directory.glob("*.json")):
            try:
                snap = json.loads(f.read_text())
            except (OSError, ValueError):
                continue
            for name, series in snap["counters"].items():
                out = counters.setdefault(name, {})
                for k, v in series:
                    key = tuple(tuple(p) for p in k)
                    out[key] = out.get(key, 0.0) + v
            for name, series in snap["hist"].items():
                out = hist.setdefault(name, {})
                for k, (buckets, count, total) in series:
                    key = tuple(tuple(p) for p in k)
                    h = out.setdefault(key, [[0] * len(LATENCY_BUCKETS), 0, 0.0])
                    h[0] = [a + b for a, b in zip(h[0], buckets, strict=True)]
                    h[1] += count
                    h[2] += total
        return counters, hist

    def render(self) -> str:
        if self.directory is not None:
            counters, hist = self._merged()
            extra: dict[str, str] = {}
        else:
            with self._lock:
                counters = {n: dict(s) for n, s in self._counters.items()}
                hist = {
                    n: {k: [list(h[0]), h[1], h[2]] for k, h in s.items()}
                    for n, s in self._hist.items()
                }
            extra = {"worker": str(os.getpid())}
        return self._text(counters, hist, extra)

    def _text(self, counters: dict, hist: dict, extra: dict[str, str]) -> str:
        lines: list[str] = []
        for name in sorted(set(counters) | set(hist)):
            kind, text = self._help.get(name, ("histogram" if name in hist else "counter", name))
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")
            for key, value in sorted(counters.get(name, {}).items()):
                labels = dict(key) | extra
                lines.append(f"{name}{_labels(labels)} {value:g}")
            for key, (buckets, count, total) in sorted(hist.get(name, {}).items()):
                base = dict(key) | extra
                for b, c in zip(LATENCY_BUCKETS, buckets, strict=True):
                    lines.append(f"{name}_bucket{_labels(base | {'le': f'{b:g}'})} {c}")
                lines.append(f"{name}_bucket{_labels(base | {'le': '+Inf'})} {count}")
                lines.append(f"{name}_count{_labels(base)} {count}")
                lines.append(f"{name}_sum{_labels(base)} {total:.6f}")
        return "\n".join(lines) + "\n"


def standard_metrics(directory: str | Path | None = None) -> Metrics:
    m = Metrics(directory)
    m.describe("cds_http_requests_total", "counter", "HTTP requests by route and status")
    m.describe(
        "cds_request_duration_seconds", "histogram", "Hook invocation latency per CDS service"
    )
    m.describe("cds_cards_total", "counter", "Cards returned, by service and indicator")
    m.describe("cds_feedback_total", "counter", "Card feedback received, by service and outcome")
    m.describe("cds_auth_failures_total", "counter", "Rejected client JWTs")
    m.describe("cds_prefetch_fetches_total", "counter", "Prefetch keys fetched from the EHR")
    m.describe(
        "cds_patient_scope_rejections_total",
        "counter",
        "Resources rejected for not being about the request's patient, by service and source",
    )
    return m
