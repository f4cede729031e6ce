"""gunicorn settings: `gunicorn -c deploy/gunicorn.conf.py 'service.app:create_app()'`.

Environment overrides (all optional): CDS_BIND (default 127.0.0.1:8080), WEB_CONCURRENCY
(workers; default CPU count + 1), CDS_WORKER_TIMEOUT (seconds, default 30; start-up is refused
unless the FHIR time budget of one hook call is shorter), CDS_ACCESS_LOG ("-" = stdout, "off" =
none). See docs/deploy.md.
"""

import gc
import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("CDS_BIND", "127.0.0.1:8080")
# The work is CPU-bound Python (CQL evaluation): one sync worker per core, plus one to cover I/O
# waits (database, EHR FHIR fetches).
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1))
worker_class = "sync"
timeout = int(os.environ.get("CDS_WORKER_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
# Load the content and compile the logic once in the master; forked workers share it.
preload_app = True
max_requests = 20000
max_requests_jitter = 2000
# Request line and header limits (bodies are limited by the app: CDS_MAX_REQUEST_BYTES).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 16384
forwarded_allow_ips = os.environ.get("CDS_FORWARDED_ALLOW_IPS", "127.0.0.1")

# Access log as JSON lines: path without the query string (%(U)s), no headers, no tokens.
_access = os.environ.get("CDS_ACCESS_LOG", "-")
accesslog = None if _access == "off" else _access
access_log_format = (
    '{"ts":"%(t)s","remote":"%(h)s","method":"%(m)s","path":"%(U)s","status":%(s)s,'
    '"bytes":"%(B)s","duration_ms":%(M)s}'
)
errorlog = "-"
loglevel = os.environ.get("CDS_GUNICORN_LOG_LEVEL", "info")
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Workers share metric snapshots through this directory so that /metrics, answered by any one
# worker, reports the whole server (service/observability.py). A fresh one per start.
_metrics_dir_made = not os.environ.get("CDS_METRICS_DIR")
if _metrics_dir_made:
    _metrics_dir = tempfile.mkdtemp(prefix="cds-metrics-")
    os.environ["CDS_METRICS_DIR"] = _metrics_dir

    def on_exit(server):
        shutil.rmtree(_metrics_dir, ignore_errors=True)


def on_starting(server):
    """Refuse to start when one hook call's FHIR time budget does not end before the worker
    timeout: gunicorn would kill a worker waiting on a slow EHR FHIR server (the EHR gets a
    dropped connection instead of a 412) before the budget could end the call."""
    from service.config import ConfigError, Settings

    try:
        budget = Settings.from_env().fhir_time_budget
    except ConfigError as e:
        _refuse(f"configuration error, the service does not start: {e}")
    if budget >= server.cfg.timeout:
        _refuse(
            f"configuration error, the service does not start: the FHIR time budget of one hook "
            f"call ({budget:g} s: CDS_FHIR_TOTAL_TIMEOUT, else (CDS_FHIR_CONNECT_TIMEOUT + "
            f"CDS_FHIR_READ_TIMEOUT) x (CDS_FHIR_RETRIES + 1) + 0.5) must be shorter than "
            f"gunicorn's worker timeout ({server.cfg.timeout} s: CDS_WORKER_TIMEOUT)"
        )


def _refuse(message: str):
    """Stop gunicorn before it listens: the message on stderr, exit status 1, no stack trace."""
    if _metrics_dir_made:
        shutil.rmtree(os.environ["CDS_METRICS_DIR"], ignore_errors=True)
    raise SystemExit(message)


# The preloaded app (content, compiled logic: ~130k objects) is long-lived. Freezing it before the
# workers fork keeps the garbage collector from re-scanning it in every full collection (tens of
# ms of pause in the latency tail) and keeps its memory pages shared between workers.
_frozen = False


def pre_fork(server, worker):
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen = True
