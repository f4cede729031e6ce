"""Serve a Flask app over real HTTP on 127.0.0.1 (ephemeral port) for the duration of a test."""

from __future__ import annotations

import json
import socket
import threading

from werkzeug.serving import make_server


class LiveServer:
    def __init__(self, app) -> None:
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> LiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


class NoAnswer(AssertionError):
    """The server did not answer within the bounded wait (it is waiting for something)."""


def post_headers_only(
    server_url: str,
    path: str,
    headers: dict[str, str],
    content_length: int,
    wait: float = 10.0,
) -> tuple[int, dict]:
    """Send a POST's request line and headers announcing `content_length` bytes of body, never
    send the body, and read the answer: (status, JSON body). `wait` bounds each read: a server
    that waits for the body never answers, and NoAnswer is raised."""
    host, port = server_url.removeprefix("http://").rsplit(":", 1)
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        f"Content-Length: {content_length}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    received = b""
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            while not _complete_response(received):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            raise NoAnswer(f"no answer within {wait} s: the server waits for the body") from None
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def _complete_response(received: bytes) -> bool:
    head, sep, body = received.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False  # no Content-Length: read until the server closes
