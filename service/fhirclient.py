"""Outbound FHIR reads and searches against an EHR's `fhirServer` (requests).

Safety rules (docs/security.md):
- `OutboundPolicy.check` decides whether a base URL may be called at all: it must be on the
  deployment allow-list or on the calling issuer's list, use https (unless http is allowed), and
  resolve only to public addresses unless private addresses are explicitly allowed. A refused URL
  is never connected to.
- A `FhirSession` is bound to one base URL and one bearer token. It only requests URLs on that
  exact origin and under that base: a `next` link elsewhere is refused, so the token never
  leaves the origin it was issued for. Redirects are not followed.
- Timeouts on connect and read, retries with backoff on idempotent reads (GET) for connection
  errors and 502/503/504, a page cap and a response size cap.
- A time budget per hook call (`FhirSession.deadline`): a server that answers slowly, or trickles
  its answer within every read timeout, costs the EHR one budget, not one timeout per query.
  Missing prefetch keys are fetched concurrently (`FhirClient.pool`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

FHIR_JSON = "application/fhir+json"
MAX_RESPONSE_BYTES = 20 * 1024 * 1024


class FhirAccessDenied(Exception):
    """The service refuses to call this URL (policy); no connection was made."""


class FhirFetchError(Exception):
    """The FHIR server could not deliver the data (network, status, format, page cap)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def normalise_base(url: str) -> str:
    parts = urlsplit(url.strip())
    scheme, host, port = _origin(url)
    default = 443 if scheme == "https" else 80
    netloc = host if port == default else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        netloc = f"[{host}]" if port == default else f"[{host}]:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


@dataclass(frozen=True)
class OutboundPolicy:
    deployment_allowlist: tuple[str, ...] = ()
    allow_private_addresses: bool = False
    allow_http: bool = False

    def check(self, base_url: str, issuer_allowlist: tuple[str, ...] = ()) -> str:
        """Return the normalised base URL, or raise FhirAccessDenied without connecting."""
        if not isinstance(base_url, str) or not base_url:
            raise FhirAccessDenied("no fhirServer")
        parts = urlsplit(base_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise FhirAccessDenied("fhirServer is not an absolute http(s) URL")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise FhirAccessDenied("fhirServer must not carry credentials, a query or a fragment")
        if parts.scheme == "http" and not self.allow_http:
            raise FhirAccessDenied("fhirServer must use https")
        base = normalise_base(base_url)
        allowed = self.deployment_allowlist + tuple(issuer_allowlist)
        if not any(_matches(base, entry) for entry in allowed):
            raise FhirAccessDenied("fhirServer is not on the allow-list for this client")
        if not self.allow_private_addresses:
            for addr in _addresses(parts.hostname, parts.port or 443):
                if not addr.is_global:
                    raise FhirAccessDenied("fhirServer resolves to a non-public address")
        return base


def _matches(base: str, entry: str) -> bool:
    if entry.strip() == "*":
        return True
    e = normalise_base(entry)
    return base == e or base.startswith(e + "/")


def _addresses(host: str, port: int) -> list[ipaddress._BaseAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError:
        raise FhirAccessDenied("fhirServer host does not resolve") from None
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


class FhirClient:
    """One per process: a pooled requests.Session with retries and timeouts."""

    def __init__(
        self,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        retries: int = 2,
        max_pages: int = 10,
        total_timeout: float | None = None,
        parallel: int = 8,
    ) -> None:
        self.timeout = (connect_timeout, read_timeout)
        self.max_pages = max_pages
        # Default budget: one worst-case fetch (every attempt timing out) plus its backoff.
        self.total_timeout = total_timeout or (connect_timeout + read_timeout) * (retries + 1) + 0.5
        self.parallel = parallel
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._pool_lock = threading.Lock()
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy or netrc credentials from the environment
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=0.1,
            status_forcelist=(502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            raise_on_status=False,
            respect_retry_after_header=False,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=8)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def bind(self, base_url: str, access_token: str | None) -> FhirSession:
        return FhirSession(self, base_url, access_token)

    @property
    def pool(self) -> ThreadPoolExecutor:
        """Threads for concurrent fetches, created lazily in each (forked) worker process."""
        with self._pool_lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="fhir-fetch")
                self._pool_pid = os.getpid()
            return self._pool


class FhirSession:
    def __init__(self, client: FhirClient, base_url: str, access_token: str | None) -> None:
        self.client = client
        self.base = normalise_base(base_url)
        self.origin = _origin(self.base)
        self._headers = {"Accept": FHIR_JSON}
        if access_token:
            self._headers["Authorization"] = f"Bearer {access_token}"
        self.requests_made = 0
        self.deadline = time.monotonic() + client.total_timeout

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def abandon(self) -> None:
        """Give up: requests in flight stop at their next read, no new request is made."""
        self.deadline = float("-inf")

    def url_for(self, relative: str) -> str:
        return urljoin(self.base + "/", relative.lstrip("/"))

    def _same_base(self, url: str) -> bool:
        if _origin(url) != self.origin:
            return False
        path = urlsplit(url).path
        base_path = urlsplit(self.base).path
        return path == base_path or path.startswith(base_path.rstrip("/") + "/")

    def get_json(self, url: str) -> dict:
        if not self._same_base(url):
            raise FhirAccessDenied("refusing to send the token to another origin")
        if self.remaining() <= 0:
            raise FhirFetchError("time budget for FHIR requests exhausted")
        self.requests_made += 1
        connect, read = self.client.timeout
        try:
            resp = self.client.session.get(
                url,
                headers=self._headers,
                timeout=(min(connect, self.remaining()), min(read, self.remaining())),
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as e:
            raise FhirFetchError(f"request failed: {type(e).__name__}") from None
        try:
            if resp.status_code != 200:
                raise FhirFetchError(f"FHIR server answered {resp.status_code}", resp.status_code)
            chunks, size = [], 0
            while True:
                chunk = resp.raw.read1(65536, decode_content=True)  # what has arrived, no waiting
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise FhirFetchError("FHIR response too large")
                if self.remaining() <= 0:
                    raise FhirFetchError("time budget for FHIR requests exhausted")
                chunks.append(chunk)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError) as e:
            raise FhirFetchError(f"read failed: {type(e).__name__}") from None
        finally:
            resp.close()
        try:
            data = json.loads(b"".join(chunks))
        except ValueError:
            raise FhirFetchError("FHIR server returned invalid JSON") from None
        if not isinstance(data, dict) or "resourceType" not in data:
            raise FhirFetchError("FHIR server returned something other than a resource")
        return data

    def fetch(self, relative_query: str) -> list[dict]:
        """Resources answered by a read or a search (all pages, up to the page cap)."""
        data = self.get_json(self.url_for(relative_query))
        return self.resources_of(data)

    def resources_of(self, data: dict, pages_used: int = 1) -> list[dict]:
        """Resources of a read result or a searchset, following `next` on this base only."""
        if data.get("resourceType") == "OperationOutcome":
            raise FhirFetchError("FHIR server returned an OperationOutcome")
        if data.get("resourceType") != "Bundle":
            return [data]
        out: list[dict] = []
        pages = pages_used
        while True:
            out.extend(bundle_resources(data))
            nxt = next_link(data)
            if not nxt:
                return out
            if pages >= self.client.max_pages:
                raise FhirFetchError("page cap reached")
            data = self.get_json(nxt)
            if data.get("resourceType") != "Bundle":
                raise FhirFetchError("a next page is not a Bundle")
            pages += 1


def bundle_resources(bundle: dict) -> list[dict]:
    out = []
    for entry in bundle.get("entry") or ():
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict) or res.get("resourceType") == "OperationOutcome":
            continue
        out.append(res)
    return out


def next_link(bundle: dict) -> str | None:
    for link in bundle.get("link") or ():
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            return link["url"]
    return None
