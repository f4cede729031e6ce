"""The Node test helper (cql/scripts/oracle.mjs) as a long-lived subprocess speaking JSON lines.

One process serves a whole run: the HL7 translator and cql-execution are loaded once.
Test/dev tooling only; the service never starts Node.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
CQL_DIR = Path(os.environ.get("CQL_TOOLCHAIN_DIR", REPO_ROOT / "cql"))
HELPER = CQL_DIR / "scripts" / "oracle.mjs"


class NodeUnavailable(RuntimeError):
    """Node or cql/node_modules is missing (run `cd cql && npm ci`)."""


class NodeError(RuntimeError):
    """The helper answered a request with an error."""


def node_available() -> bool:
    return shutil.which("node") is not None and (CQL_DIR / "node_modules").is_dir()


class NodeHelper:
    """`request(op, **fields) -> result` against one oracle.mjs process.

    A request that takes longer than its `timeout` kills the process (NodeError); the next
    request starts a fresh one. `generation` counts processes, so callers that loaded state
    into the old one (library sets) know to load it again.
    """

    def __init__(self, timeout: float | None = 600.0) -> None:
        if not node_available():
            modules = CQL_DIR / "node_modules"
            raise NodeUnavailable(f"node and {modules} are needed (cd cql && npm ci)")
        self.timeout = timeout
        self.generation = 0
        self._next_id = 0
        self._lock = threading.Lock()
        self._stderr: list[str] = []
        self._proc: subprocess.Popen | None = None
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._start()

    def _start(self) -> None:
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
        self.generation += 1
        self._replies = queue.Queue()
        threading.Thread(
            target=self._read_stdout, args=(self._proc, self._replies), daemon=True
        ).start()
        threading.Thread(target=self._drain_stderr, args=(self._proc,), daemon=True).start()

    def _read_stdout(self, proc: subprocess.Popen, replies: queue.Queue) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("{"):
                replies.put(line)
            else:  # a library logging to stdout
                self._note(line)
        replies.put(None)

    def _drain_stderr(self, proc: subprocess.Popen) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self._note(line)

    def _note(self, line: str) -> None:
        self._stderr.append(line.rstrip("\n"))
        del self._stderr[:-50]

    def request(self, op: str, timeout: float | None = None, **fields: Any) -> Any:
        """Send one request and wait for its reply (`timeout` seconds, default self.timeout)."""
        limit = self.timeout if timeout is None else timeout
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            proc = self._proc
            assert proc is not None and proc.stdin is not None
            self._next_id += 1
            ident = self._next_id
            try:
                proc.stdin.write(json.dumps({"id": ident, "op": op, **fields}) + "\n")
                proc.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                raise NodeError(self._died()) from exc
            try:
                line = self._replies.get(timeout=limit)
            except queue.Empty:
                self._kill()
                raise NodeError(f"{op} took more than {limit} s; oracle.mjs restarted") from None
            if line is None:
                raise NodeError(self._died())
            reply = json.loads(line)
        if reply.get("id") != ident:
            raise NodeError(f"out-of-order reply {reply.get('id')} for request {ident}")
        if not reply.get("ok"):
            raise NodeError(reply.get("error") or "unknown error")
        return reply["result"]

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def _died(self) -> str:
        code = self._proc.poll() if self._proc is not None else None
        tail = "\n".join(self._stderr[-10:])
        return f"oracle.mjs exited (status {code}): {tail}"

    def close(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.write(json.dumps({"op": "exit"}) + "\n")
                proc.stdin.close()
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()

    def __enter__(self) -> NodeHelper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
