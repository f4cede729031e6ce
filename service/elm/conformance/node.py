"""The Node test helper (cql/scripts/oracle.mjs) as a long-lived subprocess speaking JSON lines.

One process serves a whole run: the HL7 translator and cql-execution are loaded once.
Test/dev tooling only; the service never starts Node.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
CQL_DIR = Path(os.environ.get("CQL_TOOLCHAIN_DIR", REPO_ROOT / "cql"))
HELPER = CQL_DIR / "scripts" / "oracle.mjs"


class NodeUnavailable(RuntimeError):
    """Node or cql/node_modules is missing (run `cd cql && npm ci`)."""


class NodeError(RuntimeError):
    """The helper answered a request with an error."""


def node_available() -> bool:
    return shutil.which("node") is not None and (CQL_DIR / "node_modules").is_dir()


class NodeHelper:
    """`request(op, **fields) -> result` against one oracle.mjs process."""

    def __init__(self) -> None:
        if not node_available():
            modules = CQL_DIR / "node_modules"
            raise NodeUnavailable(f"node and {modules} are needed (cd cql && npm ci)")
        self._proc = subprocess.Popen(
            ["node", str(HELPER)],
            cwd=str(CQL_DIR),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._next_id = 0
        self._lock = threading.Lock()
        self._stderr: list[str] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _drain_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line.rstrip("\n"))
            del self._stderr[:-50]

    def request(self, op: str, **fields: Any) -> Any:
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            assert self._proc.stdin is not None and self._proc.stdout is not None
            try:
                self._proc.stdin.write(json.dumps({"id": ident, "op": op, **fields}) + "\n")
                self._proc.stdin.flush()
                line = self._proc.stdout.readline()
                while line and not line.startswith("{"):  # a library logging to stdout
                    self._stderr.append(line.rstrip("\n"))
                    line = self._proc.stdout.readline()
            except BrokenPipeError as exc:
                raise NodeError(self._died()) from exc
            if not line:
                raise NodeError(self._died())
            reply = json.loads(line)
        if reply.get("id") != ident:
            raise NodeError(f"out-of-order reply {reply.get('id')} for request {ident}")
        if not reply.get("ok"):
            raise NodeError(reply.get("error") or "unknown error")
        return reply["result"]

    def _died(self) -> str:
        self._proc.poll()
        tail = "\n".join(self._stderr[-10:])
        return f"oracle.mjs exited (status {self._proc.returncode}): {tail}"

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write(json.dumps({"op": "exit"}) + "\n")
                self._proc.stdin.close()
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> NodeHelper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
