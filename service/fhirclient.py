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
- Paths are normalised (RFC 3986: `%2e` decoded, dot segments removed; `normalise_path`) before
  the allow-list or the base is compared, on a segment boundary, and the normalised URL is the
  one requested; what servers read differently (`%2f`, `%5c`, `\\`, `%25`, `..;`) is refused.
- Addresses: `is_public_address` also vets the IPv4 address inside IPv6 forms that embed one
  (IPv4-mapped/-compatible, NAT64, 6to4, Teredo) and refuses non-public IPv6 ranges.
- Timeouts on connect and read, retries with backoff on idempotent reads (GET) for connection
  errors and 502/503/504, a page cap and a response size cap.
- Per worker process, at most `max_concurrency` requests are in flight at once, across all the
  hook calls it serves (`FhirClient.slots`); per hook call, at most `max_bytes_per_call` bytes
  are fetched in all (`FhirSession`): beyond it the data cannot be obtained (412).
- A time budget per hook call (`FhirSession.deadline`): a server that answers slowly, or trickles
  its answer within every read timeout, costs the EHR one budget, not one timeout per query.
  Missing prefetch keys are fetched concurrently (`FhirClient.pool`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import string
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from service import http_json

FHIR_JSON = "application/fhir+json"
MAX_RESPONSE_BYTES = 20 * 1024 * 1024


class FhirAccessDenied(Exception):
    """The service refuses to call this URL (policy); no connection was made."""


class FhirFetchError(Exception):
    """The FHIR server could not deliver the data (network, status, format, page cap)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _split(url: str):
    """urlsplit, refusing (FhirAccessDenied) what URL parsers disagree about or cannot parse:
    a backslash anywhere (read as `/` by WHATWG parsers), a bracket mismatch, a bad port."""
    if "\\" in url:
        raise FhirAccessDenied("URL contains a backslash")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        raise FhirAccessDenied("URL cannot be parsed") from None
    return parts


def _origin(url: str) -> tuple[str, str, int]:
    parts = _split(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
# Escapes that servers may decode into a path separator or into another escape (double
# encoding): where such a path leads depends on the server, so it is refused, never guessed.
_AMBIGUOUS_ESCAPES = ("%2F", "%5C", "%25")
_DOT_PREFIX = re.compile(r"[;\x00]")  # what ends a segment for some servers: `..;x` is `..`


def _decode_unreserved(m: re.Match) -> str:
    char = chr(int(m.group(1), 16))
    return char if char in _UNRESERVED else "%" + m.group(1).upper()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4: `/a/./b/../c` -> `/a/c`, `/a/..` -> `/`; `..` above the root
    stays at the root (`/../x` -> `/x`). Linear in the length of the path."""
    lead = path.startswith("/")
    stack: list[str] = []
    segments = path.split("/")[1:] if lead else path.split("/")
    for segment in segments:
        if segment == "..":
            if stack:
                stack.pop()
        elif segment != ".":
            stack.append(segment)
    out = ("/" if lead else "") + "/".join(stack)
    if segments and segments[-1] in (".", "..") and stack:
        out += "/"
    return out


def normalise_path(path: str) -> str:
    """A URL path as RFC 3986 normalises it, so that a prefix check means what it says:
    percent-encoded unreserved characters decoded (`%2e%2E` -> `..`, `.%2e` -> `..`), then dot
    segments removed (`/fhir/a/../b` -> `/fhir/b`, `/fhir/../admin` -> `/admin`).

    Refused (FhirAccessDenied): a backslash or an encoded slash or backslash (`%2f`, `%5c`:
    a path separator to some servers, a character to others), an encoded percent (`%25`, which
    a server decoding twice turns into `%2e`...) and a disguised dot segment (`..;x`, `..%3Bx`,
    `..%00`: `..` to servers that drop path parameters or stop at a NUL)."""
    if "\\" in path:
        raise FhirAccessDenied("URL path contains a backslash")
    decoded = _ESCAPE.sub(_decode_unreserved, path)
    if any(escape in decoded for escape in _AMBIGUOUS_ESCAPES):
        raise FhirAccessDenied("URL path contains an encoded slash, backslash or percent sign")
    for segment in decoded.split("/"):
        if segment not in (".", "..") and _DOT_PREFIX.split(unquote(segment))[0] in (".", ".."):
            raise FhirAccessDenied("URL path contains a disguised dot segment")
    return _remove_dot_segments(decoded)


def _under(path: str, base_path: str) -> bool:
    """`path` is `base_path` or below it, on a segment boundary (`/fhir` covers `/fhir/x`, not
    `/fhir-evil`). Both paths must already be normalised (`normalise_path`)."""
    base_path = base_path.rstrip("/")
    return path == base_path or path.startswith(base_path + "/")


def normalise_base(url: str) -> str:
    """`scheme://host[:port]/path` with a lower-case scheme and host, no default port, the
    path normalised (`normalise_path`, which may refuse it) and no trailing slash."""
    parts = _split(url.strip())
    scheme, host, port = _origin(url.strip())
    default = 443 if scheme == "https" else 80
    netloc = host if port == default else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        netloc = f"[{host}]" if port == default else f"[{host}]:{port}"
    return f"{scheme}://{netloc}{normalise_path(parts.path).rstrip('/')}"


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
        parts = _split(base_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise FhirAccessDenied("fhirServer is not an absolute http(s) URL")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise FhirAccessDenied("fhirServer must not carry credentials, a query or a fragment")
        if parts.scheme == "http" and not self.allow_http:
            raise FhirAccessDenied("fhirServer must use https")
        base = normalise_base(base_url)  # dot segments resolved before the allow-list check
        allowed = self.deployment_allowlist + tuple(issuer_allowlist)
        if not any(_matches(base, entry) for entry in allowed):
            raise FhirAccessDenied("fhirServer is not on the allow-list for this client")
        scheme, host, port = _origin(base)
        addresses = _addresses(host, port)
        if not self.allow_private_addresses:
            # Every answer must be public: the connection is then pinned to the first one.
            for addr in addresses:
                if not is_public_address(addr):
                    raise FhirAccessDenied("fhirServer resolves to a non-public address")
        pin = Pin(hostname=host.strip("[]"), address=str(addresses[0]), port=port, scheme=scheme)
        return VettedBase(base=base, pin=pin)


def _matches(base: str, entry: str) -> bool:
    """The normalised `base` is on the entry's origin and at or below its normalised path, on a
    segment boundary (`https://h/fhir` covers `https://h/fhir/r4`, not `https://h/fhir-evil`)."""
    if entry.strip() == "*":
        return True
    try:
        e = normalise_base(entry)
    except FhirAccessDenied:
        return False  # an entry that cannot be normalised allows nothing
    return _origin(base) == _origin(e) and _under(_split(base).path, _split(e).path)


def _v4_networks(*cidrs: str) -> tuple[ipaddress.IPv4Network, ...]:
    return tuple(ipaddress.IPv4Network(c) for c in cidrs)


def _v6_networks(*cidrs: str) -> tuple[ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.IPv6Network(c) for c in cidrs)


# Refused in addition to what `ipaddress` calls non-global (Python versions differ on some).
NON_PUBLIC_V4 = _v4_networks(
    "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host
    "10.0.0.0/8",
    "100.64.0.0/10",  # carrier-grade NAT
    "127.0.0.0/8",
    "169.254.0.0/16",  # link-local, cloud metadata
    "172.16.0.0/12",
    "192.0.0.0/24",  # IETF protocol assignments
    "192.0.2.0/24",  # documentation
    "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
    "192.168.0.0/16",
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",  # documentation
    "203.0.113.0/24",  # documentation
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, broadcast
)
NON_PUBLIC_V6 = _v6_networks(
    "::/128",  # unspecified
    "::1/128",  # loopback
    "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215): operator-defined layout, internal by design
    "100::/64",  # discard
    "2001:db8::/32",  # documentation
    "3fff::/20",  # documentation (RFC 9637)
    "fc00::/7",  # unique-local
    "fe80::/10",  # link-local
    "fec0::/10",  # site-local (deprecated)
    "ff00::/8",  # multicast
)
# RFC 6052 well-known NAT64 prefix: the IPv4 address is in the last 32 bits.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated `::a.b.c.d`
IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT `::ffff:0:a.b.c.d`


def embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...] | None:
    """The IPv4 addresses an IPv6 address stands for, which a connection to it may reach:
    IPv4-mapped `::ffff:a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`, IPv4-compatible
    `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:AABB:CCDD::` (bits 16-48) and Teredo
    `2001:0:SSSS:SSSS:…:CCCC:CCCC` (server, and client XOR 0xffffffff); None for other forms."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if any(ip in net for net in (NAT64, IPV4_COMPATIBLE, IPV4_TRANSLATED)):
        return (low32,)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip.teredo is not None:
        return ip.teredo
    return None


def is_public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """May the service connect to `ip` when private addresses are not allowed? An IPv4 address
    must be global and outside `NON_PUBLIC_V4`. An IPv6 address must be outside `NON_PUBLIC_V6`;
    when it embeds IPv4 addresses (`embedded_ipv4`), every one of them must be public by the
    IPv4 rules (`64:ff9b::808:808` is 8.8.8.8: public; `::ffff:127.0.0.1` is loopback), else
    it must be global."""
    if ip.version == 4:
        return ip.is_global and not any(ip in net for net in NON_PUBLIC_V4)
    if any(ip in net for net in NON_PUBLIC_V6):
        return False
    embedded = embedded_ipv4(ip)
    if embedded is not None:
        return all(is_public_address(v4) for v4 in embedded)
    return ip.is_global


def _addresses(host: str, port: int) -> list[ipaddress._BaseAddress]:
    """The host's addresses: an IP literal itself, else every DNS answer (`vet` checks them all
    with `is_public_address` and pins the first)."""
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
        max_concurrency: int = 8,
        max_bytes_per_call: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.timeout = (connect_timeout, read_timeout)
        self.max_pages = max_pages
        self.max_concurrency = max_concurrency
        self.max_bytes_per_call = max_bytes_per_call
        self._slots: threading.BoundedSemaphore | None = None
        self._slots_pid = 0
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
    def slots(self) -> threading.BoundedSemaphore:
        """Outbound requests in flight in this (forked) worker process, shared by every hook
        call it serves: at most `max_concurrency` at once."""
        with self._pool_lock:
            if self._slots is None or self._slots_pid != os.getpid():
                self._slots = threading.BoundedSemaphore(self.max_concurrency)
                self._slots_pid = os.getpid()
            return self._slots

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
        self.bytes_fetched = 0  # every response of this hook call, all threads
        self._bytes_lock = threading.Lock()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def abandon(self) -> None:
        """Give up: requests in flight stop at their next read, no new request is made."""
        self.deadline = float("-inf")

    def url_for(self, relative: str) -> str:
        """The absolute URL of a query (e.g. a filled prefetch template); `get_json` checks it."""
        return urljoin(self.base + "/", relative.lstrip("/"))

    def checked_url(self, url: str) -> str:
        """`url` with its path normalised (`normalise_path`: `%2e` decoded, dot segments removed),
        if it is on this session's origin and, normalised, at or below the base path on a
        segment boundary; else FhirAccessDenied. The normalised URL is the one requested, so
        the server is asked for exactly the path that was checked."""
        parts = _split(url)
        if _origin(url) != self.origin:
            raise FhirAccessDenied("refusing to send the token to another origin")
        path = normalise_path(parts.path)
        if not _under(path, urlsplit(self.base).path):
            raise FhirAccessDenied("refusing to send the token outside the fhirServer base path")
        return urlunsplit(parts._replace(path=path, fragment=""))

    def _same_base(self, url: str) -> bool:
        try:
            self.checked_url(url)
        except FhirAccessDenied:
            return False
        return True

    def get_json(self, url: str) -> dict:
        url = self.checked_url(url)  # on the base after normalisation, or FhirAccessDenied
        if self.remaining() <= 0:
            raise FhirFetchError("time budget for FHIR requests exhausted")
        self._check_bytes(0)
        slots = self.client.slots
        if not slots.acquire(timeout=max(0.0, self.remaining())):
            raise FhirFetchError(
                "time budget for FHIR requests exhausted waiting for an outbound slot "
                f"(CDS_FHIR_MAX_CONCURRENCY={self.client.max_concurrency})"
            )
        try:
            return self._get_json(url)
        finally:
            slots.release()

    def _check_bytes(self, received: int) -> None:
        """Count `received` bytes against this hook call's budget; FhirFetchError beyond it."""
        limit = self.client.max_bytes_per_call
        with self._bytes_lock:
            self.bytes_fetched += received
            over = self.bytes_fetched > limit
        if over:
            raise FhirFetchError(
                f"the FHIR data for this hook call exceeds {limit} bytes "
                "(CDS_FHIR_MAX_BYTES_PER_CALL): send it as prefetch or raise the limit"
            )

    def _get_json(self, url: str) -> dict:
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
                self._check_bytes(len(chunk))
                if self.remaining() <= 0:
                    raise FhirFetchError("time budget for FHIR requests exhausted")
                chunks.append(chunk)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError) as e:
            raise FhirFetchError(f"read failed: {type(e).__name__}") from None
        finally:
            resp.close()
        try:  # strict: too deeply nested to parse, NaN/Infinity literals → invalid JSON (412)
            data = http_json.loads(b"".join(chunks))
        except ValueError:
            raise FhirFetchError("FHIR server returned invalid JSON") from None
        if not isinstance(data, dict) or "resourceType" not in data:
            raise FhirFetchError("FHIR server returned something other than a resource")
        return data

    def fetch(self, relative_query: str) -> list[dict]:
        """Resources answered by a read or a search (all pages, up to the page cap)."""
        url = self.url_for(relative_query)
        return self.resources_of(self.get_json(url), url=url)

    def resources_of(self, data: dict, pages_used: int = 1, url: str | None = None) -> list[dict]:
        """Resources of a read result or a searchset, following `next` on this base only.
        `url`: where `data` came from (a relative `next` link resolves against it; default the
        base). A page whose search reports an error (`search_error`) fails the whole query: its
        missing matches could hide a red flag."""
        if data.get("resourceType") == "OperationOutcome":
            raise FhirFetchError("FHIR server returned an OperationOutcome")
        if data.get("resourceType") != "Bundle":
            return [data]
        out: list[dict] = []
        pages = pages_used
        page_url = urljoin(self.base + "/", url or self_link(data) or "")
        while True:
            if search_error(data):
                raise FhirFetchError("FHIR server reported an error for the search")
            out.extend(bundle_resources(data))
            nxt = next_link(data)
            if not nxt:
                return out
            if pages >= self.client.max_pages:
                raise FhirFetchError("page cap reached")
            page_url = urljoin(page_url, nxt)  # a relative link is on the same base
            data = self.get_json(page_url)
            if data.get("resourceType") != "Bundle":
                raise FhirFetchError("a next page is not a Bundle")
            pages += 1


def bundle_resources(bundle: dict) -> list[dict]:
    """The resources of a Bundle's entries, those of nested Bundles included (a `batch-response`
    wrapping searchsets, a searchset entry that is a `collection`): the logic reads nested
    Bundles too, so every consumer (the patient-scope check first) must see what it reads.
    OperationOutcome entries are messages about the search, not data."""
    out = []
    for entry in bundle.get("entry") or ():
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict) or res.get("resourceType") == "OperationOutcome":
            continue
        if res.get("resourceType") == "Bundle":
            out.extend(bundle_resources(res))
        else:
            out.append(res)
    return out


#: OperationOutcome severities that mean the search did not run (completely).
ERROR_SEVERITIES = frozenset({"error", "fatal"})


def search_error(bundle: dict) -> bool:
    """Whether a Bundle carries an OperationOutcome entry with an error or fatal issue (FHIR R4
    search: a server that cannot run a search may answer 200 with such an outcome). Warning and
    information outcomes (e.g. "results limited") do not count. Nested Bundles are looked into."""
    for entry in bundle.get("entry") or ():
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict):
            continue
        if res.get("resourceType") == "Bundle" and search_error(res):
            return True
        if res.get("resourceType") == "OperationOutcome" and any(
            isinstance(issue, dict) and issue.get("severity") in ERROR_SEVERITIES
            for issue in res.get("issue") or ()
        ):
            return True
    return False


def _link(bundle: dict, relation: str) -> str | None:
    for link in bundle.get("link") or ():
        if isinstance(link, dict) and link.get("relation") == relation and link.get("url"):
            url = link["url"]
            return url if isinstance(url, str) else None
    return None


def next_link(bundle: dict) -> str | None:
    return _link(bundle, "next")


def self_link(bundle: dict) -> str | None:
    return _link(bundle, "self")
