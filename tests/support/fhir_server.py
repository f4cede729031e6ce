"""A small FHIR R4 server for tests: reads and patient searches over an in-memory record.

Started on 127.0.0.1 with an ephemeral port by the tests that need it (`with FhirTestServer() as
srv:`). It answers `GET {base}/{Type}/{id}` and `GET {base}/{Type}?patient=...` (other search
parameters are ignored, so a search returns a superset of what a filter would), pages searchsets
with absolute `next` links, and records every request (path, query, Authorization header) so
tests can assert what the service asked for and which token it sent where.

Fault modes make the server misbehave on purpose. A fault is registered for a resource type (or
"*" for every request) and fires on matching requests, optionally only a number of times:

    srv.add_fault("Condition", "status", status=503, times=1)   # one 503, then normal answers
    srv.add_fault("Observation", "next-elsewhere", url="https://evil.example/fhir/x")
    srv.add_fault("*", "delay", seconds=0.5)

Built-in modes are in `FAULTS`; add a new one by decorating a function with `@fault("name")`
that receives (handler, request info, options) and either writes a response and returns True
(the request is answered) or returns False to let the normal answer proceed (possibly after
changing `info["page_size"]`, `info["next_url"]` etc.).
"""

from __future__ import annotations

import json
import posixpath
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

FAULTS: dict[str, Callable[..., bool]] = {}
PATIENT_PARAMS = ("patient", "subject")


def fault(name: str):
    def register(fn):
        FAULTS[name] = fn
        return fn

    return register


@fault("status")
def _status(handler, info, opts) -> bool:
    """Answer with an HTTP error status (default 503) and an OperationOutcome."""
    handler.send_json(opts.get("status", 503), _outcome("simulated failure"))
    return True


@fault("delay")
def _delay(handler, info, opts) -> bool:
    """Sleep before answering normally (timeouts)."""
    time.sleep(opts.get("seconds", 1.0))
    return False


@fault("invalid-json")
def _invalid_json(handler, info, opts) -> bool:
    handler.send_raw(200, b"{not json", "application/fhir+json")
    return True


@fault("body")
def _body(handler, info, opts) -> bool:
    """Answer 200 with exactly `body` (bytes or text): any JSON, or anything that is not JSON."""
    body = opts["body"]
    handler.send_raw(200, body.encode() if isinstance(body, str) else body, "application/fhir+json")
    return True


@fault("operation-outcome")
def _operation_outcome(handler, info, opts) -> bool:
    """Answer 200 with an OperationOutcome instead of the data."""
    handler.send_json(200, _outcome("simulated OperationOutcome"))
    return True


@fault("next-elsewhere")
def _next_elsewhere(handler, info, opts) -> bool:
    """Page searches with a `next` link on another origin."""
    info["page_size"] = opts.get("page_size", 1)
    info["next_url"] = opts.get("url", "https://elsewhere.invalid/fhir/Bundle/page2")
    return False


@fault("relative-next")
def _relative_next(handler, info, opts) -> bool:
    """Page searches (`page_size`, default 1) with relative `next` links (`?_page=n&...`),
    which a FHIR `uri` allows: they resolve against the page's own URL."""
    info["page_size"] = opts.get("page_size", 1)
    info["relative_next"] = True
    return False


@fault("error-in-searchset")
def _error_in_searchset(handler, info, opts) -> bool:
    """Answer 200 with a searchset holding no matches and an OperationOutcome entry
    (search.mode outcome) with an error issue: a search the server could not run (FHIR R4
    search: "MAY ... return success with an outcome containing details of the error")."""
    outcome = _outcome("the search could not be executed")
    outcome["issue"][0]["severity"] = opts.get("severity", "error")
    handler.send_json(
        200,
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": 0,
            "entry": [{"resource": outcome, "search": {"mode": "outcome"}}],
        },
    )
    return True


@fault("reject-in")
def _reject_in(handler, info, opts) -> bool:
    """Answer 400 to searches with a `:in` (ValueSet) modifier, like servers without it."""
    if any(k.endswith(":in") for k in info["query"]):
        handler.send_json(400, _outcome("modifier :in is not supported"))
        return True
    return False


@fault("ignore-patient")
def _ignore_patient(handler, info, opts) -> bool:
    """Answer searches as if they had no `patient`/`subject` parameter: a server that ignores
    the patient filter returns every patient's resources of the type."""
    info["ignore_patient"] = True
    return False


@fault("endless-pages")
def _endless(handler, info, opts) -> bool:
    """Every page links to another page (page cap)."""
    info["endless"] = True
    return False


@fault("trickle")
def _trickle(handler, info, opts) -> bool:
    """Announce a large body, then send one space every `interval` seconds (default 0.2) for
    `seconds` (default 5) and hang up: every read completes within a read timeout, so only a
    limit on the total time stops a client from waiting."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/fhir+json")
    handler.send_header("Content-Length", "1000000")
    handler.end_headers()
    deadline = time.monotonic() + opts.get("seconds", 5.0)
    try:
        while time.monotonic() < deadline:
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(opts.get("interval", 0.2))
    except OSError:
        pass  # the client gave up
    handler.close_connection = True
    return True


def as_a_lenient_server_reads(path: str) -> str:
    """The path the most lenient server could make of a request path: percent-decoded until
    nothing changes, backslashes as slashes, `;parameters` and anything after a NUL dropped from
    each segment, dot segments resolved. Tests use it to prove where a token could end up."""
    while (decoded := unquote(path)) != path:
        path = decoded
    path = path.replace("\\", "/")
    path = "/".join(s.split(";")[0].split("\x00")[0] for s in path.split("/"))
    return posixpath.normpath(path)


def _outcome(text: str) -> dict:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "exception", "diagnostics": text}],
    }


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    host: str | None = None


@dataclass
class _Fault:
    target: str
    mode: str
    times: int | None
    options: dict = field(default_factory=dict)


class FhirTestServer:
    def __init__(self, resources: list[dict] | None = None, page_size: int = 50) -> None:
        self.resources: list[dict] = list(resources or [])
        self.page_size = page_size
        self.requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_path = "/fhir"
        self._port = 0
        self.static: dict[str, dict] = {}  # path → JSON document (e.g. a JWKS), outside the base

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> FhirTestServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        return self.origin + self.base_path

    # -- configuration -------------------------------------------------------------------------
    def add(self, *resources: dict) -> None:
        self.resources.extend(resources)

    def add_fault(self, target: str, mode: str, times: int | None = None, **options) -> None:
        if mode not in FAULTS:
            raise ValueError(f"unknown fault mode {mode!r}; known: {sorted(FAULTS)}")
        with self._lock:
            self._faults.append(_Fault(target, mode, times, options))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_faults(self, rtype: str) -> list[_Fault]:
        out = []
        with self._lock:
            for f in self._faults:
                if f.target not in ("*", rtype) or f.times == 0:
                    continue
                if f.times is not None:
                    f.times -= 1
                out.append(f)
        return out

    def tokens_outside_the_base(self) -> list[str]:
        """Paths (as received) of requests that carried an Authorization header and that, read
        as leniently as any server might (`as_a_lenient_server_reads`), are outside the base."""
        out = []
        for r in self.requests:
            read = as_a_lenient_server_reads(r.path)
            inside = read == self.base_path or read.startswith(self.base_path + "/")
            if r.authorization is not None and not inside:
                out.append(r.path)
        return out

    def requests_for(self, rtype: str) -> list[RecordedRequest]:
        prefix = f"{self.base_path}/{rtype}"
        return [r for r in self.requests if r.path == prefix or r.path.startswith(prefix + "/")]

    # -- data ----------------------------------------------------------------------------------
    def search(self, rtype: str, query: dict[str, list[str]]) -> list[dict]:
        patient = (query.get("patient") or query.get("subject") or [None])[0]
        out = []
        for r in self.resources:
            if r.get("resourceType") != rtype:
                continue
            if patient is not None:
                ref = (r.get("subject") or r.get("patient") or {}).get("reference", "")
                if ref not in (patient, f"Patient/{patient}"):
                    continue
            out.append(r)
        return out

    def read(self, rtype: str, rid: str) -> dict | None:
        for r in self.resources:
            if r.get("resourceType") == rtype and r.get("id") == rid:
                return r
        return None


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # clients that time out (fault tests) break the pipe: expected


class _Handler(BaseHTTPRequestHandler):
    owner: FhirTestServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def send_raw(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, data: dict) -> None:
        self.send_raw(status, json.dumps(data).encode(), "application/fhir+json")

    def do_GET(self) -> None:
        srv = self.owner
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        srv.requests.append(
            RecordedRequest(
                "GET",
                parts.path,
                query,
                self.headers.get("Authorization"),
                self.headers.get("Host"),
            )
        )
        if parts.path in srv.static:
            self.send_raw(200, json.dumps(srv.static[parts.path]).encode(), "application/json")
            return
        if not parts.path.startswith(srv.base_path + "/"):
            self.send_json(404, _outcome("not found"))
            return
        segments = parts.path[len(srv.base_path) + 1 :].split("/")
        rtype = segments[0]
        info: dict = {
            "page_size": srv.page_size,
            "next_url": None,
            "endless": False,
            "query": query,
        }
        for f in srv._take_faults(rtype):
            if FAULTS[f.mode](self, info, f.options):
                return
        if len(segments) == 2 and segments[1]:
            res = srv.read(rtype, segments[1])
            if res is None:
                self.send_json(404, _outcome("no such resource"))
            else:
                self.send_json(200, res)
            return
        if info.get("ignore_patient"):
            matches = srv.search(rtype, {k: v for k, v in query.items() if k not in PATIENT_PARAMS})
        else:
            matches = srv.search(rtype, query)
        page = int((query.get("_page") or ["0"])[0])
        size = max(1, info["page_size"])
        chunk = matches[page * size : (page + 1) * size]
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matches),
            "link": [{"relation": "self", "url": srv.origin + self.path}],
            "entry": [
                {"fullUrl": f"{srv.base_url}/{r['resourceType']}/{r.get('id')}", "resource": r}
                for r in chunk
            ],
        }
        more = (page + 1) * size < len(matches) or info["endless"]
        if more:
            nxt = info["next_url"]
            if nxt is None:
                q = {k: v[0] for k, v in query.items() if k != "_page"}
                q["_page"] = str(page + 1)
                nxt = f"{srv.base_url}/{rtype}?" + "&".join(f"{k}={v}" for k, v in q.items())
                if info.get("relative_next"):
                    nxt = "?" + nxt.partition("?")[2]
            bundle["link"].append({"relation": "next", "url": nxt})
        self.send_json(200, bundle)
