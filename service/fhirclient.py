"""Outbound FHIR reads and searches against an EHR's `fhirServer` (requests).

Safety rules (docs/security.md):
- `OutboundPolicy.check` decides whether a base URL may be called at all: it must be on the
  deployment allow-list or on the calling issuer's list, use https (unless http is allowed), and
  resolve only to public addresses unless private addresses are explicitly allowed. A refused URL
  is never connected to.
- No DNS-rebinding window: the policy resolves the host once and returns the vetted address
  (`VettedBase`); every connection of the session (reads, `next` pages, urllib3 retries) is made
  to exactly that address by `PinnedAddressAdapter`, which keeps the original host name for the
  `Host` header, TLS SNI and certificate verification. A request without a pin is refused.
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
class Pin:
    """The one address a host name was vetted to: connections go there and nowhere else."""

    hostname: str  # lower-case, no brackets
    address: str  # the IP literal that passed the policy
    port: int
    scheme: str

    @property
    def host_header(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def pool_host(self) -> str:
        return f"[{self.address}]" if ":" in self.address else self.address


@dataclass(frozen=True)
class VettedBase:
    """A base URL allowed by the policy and the address its host was resolved to."""

    base: str
    pin: Pin


@dataclass(frozen=True)
class OutboundPolicy:
    deployment_allowlist: tuple[str, ...] = ()
    allow_private_addresses: bool = False
    allow_http: bool = False

    def check(self, base_url: str, issuer_allowlist: tuple[str, ...] = ()) -> str:
        """Return the normalised base URL, or raise FhirAccessDenied without connecting."""
        return self.vet(base_url, issuer_allowlist).base

    def vet(self, base_url: str, issuer_allowlist: tuple[str, ...] = ()) -> VettedBase:
        """The allowed base and the single address to connect to (resolved once, here)."""
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
        scheme, host, port = _origin(base)
        addresses = _addresses(host, port)
        if not self.allow_private_addresses:
            # Every answer must be public: the connection is then pinned to the first one.
            for addr in addresses:
                if not addr.is_global:
                    raise FhirAccessDenied("fhirServer resolves to a non-public address")
        pin = Pin(hostname=host.strip("[]"), address=str(addresses[0]), port=port, scheme=scheme)
        return VettedBase(base=base, pin=pin)


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
    out = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not out:
        raise FhirAccessDenied("fhirServer host does not resolve")
    return out


class PinnedAddressAdapter(HTTPAdapter):
    """Connects each request to the address its `Pin` names, never resolving the host again.

    The urllib3 pool is keyed by the pinned IP *and* the original host name; for https the pool
    gets `server_hostname` (SNI) and `assert_hostname` (certificate check) = the original host
    name, so certificate verification is unchanged. Retries inside urllib3 reuse the pool, hence
    the same address. A request that carries no pin, or whose host differs from its pin's, is
    refused before any connection (`FhirAccessDenied`).
    """

    @staticmethod
    def pin_of(request: requests.PreparedRequest) -> Pin:
        pin = getattr(request, "fhir_pin", None)
        scheme, host, port = _origin(request.url or "")
        if not isinstance(pin, Pin):
            raise FhirAccessDenied("no vetted address for this request")
        if (scheme, host.strip("[]"), port) != (pin.scheme, pin.hostname, pin.port):
            raise FhirAccessDenied("request origin differs from the vetted origin")
        return pin

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        pin = self.pin_of(request)
        host_params["host"] = pin.pool_host
        host_params["port"] = pin.port
        if pin.scheme == "https":
            pool_kwargs["server_hostname"] = pin.hostname
            pool_kwargs["assert_hostname"] = pin.hostname
        return host_params, pool_kwargs

    def send(self, request, *args, **kwargs):
        request.headers["Host"] = self.pin_of(request).host_header
        return super().send(request, *args, **kwargs)


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
        adapter = PinnedAddressAdapter(max_retries=retry, pool_maxsize=8)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def bind(self, vetted: VettedBase, access_token: str | None) -> FhirSession:
        """A session on a base the policy vetted (`OutboundPolicy.vet`), pinned to its address."""
        return FhirSession(self, vetted, access_token)

    @property
    def pool(self) -> ThreadPoolExecutor:
        """Threads for concurrent fetches, created lazily in each (forked) worker process."""
        with self._pool_lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="fhir-fetch")
                self._pool_pid = os.getpid()
            return self._pool


class FhirSession:
    def __init__(self, client: FhirClient, vetted: VettedBase, access_token: str | None) -> None:
        self.client = client
        self.base = normalise_base(vetted.base)
        self.pin = vetted.pin
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
        session = self.client.session
        prepared = session.prepare_request(requests.Request("GET", url, headers=self._headers))
        prepared.fhir_pin = self.pin  # read by PinnedAddressAdapter: connect to this address only
        try:
            resp = session.send(
                prepared,
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
