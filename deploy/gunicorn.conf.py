"""gunicorn settings: `gunicorn -c deploy/gunicorn.conf.py 'service.app:create_app()'`.

Environment overrides (all optional, parsed by service.config.ServerSettings): CDS_BIND (default
127.0.0.1:8080), WEB_CONCURRENCY (workers; default CPU count + 1), CDS_WORKER_TIMEOUT (seconds,
default 30; start-up is refused unless the FHIR time budget of one hook call is shorter),
CDS_ACCESS_LOG ("-" = stdout, "off" = none), CDS_FORWARDED_ALLOW_IPS, CDS_GUNICORN_LOG_LEVEL,
PROMETHEUS_MULTIPROC_DIR (metrics shared by the workers; default: a temporary directory).
See docs/deploy.md.
"""

import gc
import os
import shutil
import tempfile
from pathlib import Path

from service.config import ConfigError, ServerSettings, Settings

REFUSED = "configuration error, the service does not start"

try:
    _server = ServerSettings.from_env()
except ConfigError as e:
    raise SystemExit(f"{REFUSED}: {e}") from None

bind = _server.bind
workers = _server.workers
worker_class = "sync"
timeout = _server.worker_timeout
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
forwarded_allow_ips = _server.forwarded_allow_ips

# Access log as JSON lines: path without the query string (%(U)s), no headers, no tokens.
accesslog = _server.access_log
access_log_format = (
    '{"ts":"%(t)s","remote":"%(h)s","method":"%(m)s","path":"%(U)s","status":%(s)s,'
    '"bytes":"%(B)s","duration_ms":%(M)s}'
)
errorlog = "-"
loglevel = _server.log_level
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# prometheus_client in multiprocess mode: every worker writes its metric values to this directory
# and /metrics, answered by any one worker, reports the whole server (service/observability.py).
# The variable must be set before the app (and so prometheus_client) is loaded: here. Unset: a
# fresh temporary directory, removed on exit. Set: made if missing, and emptied of the files of
# an earlier run (their counters would otherwise be added to this run's).
_metrics_dir_made = _server.metrics_dir is None
metrics_dir = _server.metrics_dir or Path(tempfile.mkdtemp(prefix="cds-metrics-"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
try:
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for _stale in metrics_dir.glob("*.db"):
        _stale.unlink()
except OSError as e:
    raise SystemExit(
        f"{REFUSED}: PROMETHEUS_MULTIPROC_DIR must be a writable directory ({metrics_dir}): {e}"
    ) from None


def _remove_metrics_dir() -> None:
    if _metrics_dir_made:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def on_exit(server):
    _remove_metrics_dir()


def child_exit(server, worker):
    """A worker ended: prometheus_client drops its live-gauge files (its counters stay)."""
    # Imported here, not at the top of this file: prometheus_client chooses its multiprocess
    # store when first imported, which must come after PROMETHEUS_MULTIPROC_DIR is set above
    # (and the tests run this file inside the pytest process, where it must not be imported so).
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, str(metrics_dir))


def on_starting(server):
    """Refuse to start when one hook call's FHIR time budget does not end before the worker
    timeout: gunicorn would kill a worker waiting on a slow EHR FHIR server (the EHR gets a
    dropped connection instead of a 412) before the budget could end the call."""
    try:
        budget = Settings.from_env().fhir_time_budget
    except ConfigError as e:
        _refuse(f"{REFUSED}: {e}")
    if budget >= server.cfg.timeout:
        _refuse(
            f"{REFUSED}: the FHIR time budget of one hook "
            f"call ({budget:g} s: CDS_FHIR_TOTAL_TIMEOUT, else (CDS_FHIR_CONNECT_TIMEOUT + "
            f"CDS_FHIR_READ_TIMEOUT) x (CDS_FHIR_RETRIES + 1) + 0.5) must be shorter than "
            f"gunicorn's worker timeout ({server.cfg.timeout} s: CDS_WORKER_TIMEOUT)"
        )


def _refuse(message: str):
    """Stop gunicorn before it listens: the message on stderr, exit status 1, no stack trace."""
    _remove_metrics_dir()
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
