"""The service under gunicorn on a free loopback port, for the load and soak benchmarks.

Started exactly as `make run` does (deploy/gunicorn.conf.py, `service.app:create_app()`, the
bundled content), quiet (no access log, warnings only), in its own process group so that
stopping it also stops its workers.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY_WITHIN_S = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status == 200
    finally:
        conn.close()


def start_gunicorn(port: int, env: Mapping[str, str | None], log: Path) -> subprocess.Popen:
    """gunicorn bound to 127.0.0.1:`port`, once /readyz answers 200 (SystemExit when it exits or
    is not ready within 60 s). `env` is laid over this process's environment; a None value
    removes the variable. gunicorn's stderr goes to `log`."""
    merged = {
        **os.environ,
        "CDS_BIND": f"127.0.0.1:{port}",
        "CDS_ACCESS_LOG": "off",
        "CDS_LOG_LEVEL": "WARNING",
    }
    for key, value in env.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen(
        [gunicorn, "-c", "deploy/gunicorn.conf.py", "service.app:create_app()"],
        cwd=ROOT,
        env=merged,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),  # noqa: SIM115 - lives as long as the process
        start_new_session=True,
    )
    deadline = time.time() + READY_WITHIN_S
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("gunicorn exited: " + log.read_text()[-2000:])
        try:
            if _ready(port):
                return proc
        except OSError:
            pass
        time.sleep(0.2)
    stop(proc)
    raise SystemExit(f"gunicorn did not become ready within {READY_WITHIN_S} s")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to gunicorn's process group, SIGKILL after 30 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
