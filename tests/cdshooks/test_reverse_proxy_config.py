"""The compose deployment puts a buffering nginx in front of gunicorn's sync workers.

A sync worker reading a request serves nobody else until the request is complete: a client
sending its headers or body a byte at a time would hold it for the whole worker timeout. nginx
reads every request whole (short timeouts, bodies buffered) before passing it to gunicorn,
which is reachable only through nginx. Docker cannot run here, so these tests read the files
themselves: deploy/nginx/nginx.conf (parsed into its directives) and deploy/docker-compose.yml.
"""

from __future__ import annotations

import re
import runpy
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from service.config import Settings

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"
COMPOSE = ROOT / "deploy" / "docker-compose.yml"
SHORT = 10  # seconds: the longest a silent client may hold a connection at the proxy


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def all(self, name: str) -> list[Directive]:
        return [d for d in self.block or () if d.name == name]

    def one(self, name: str, *args: str) -> Directive:
        found = [d for d in self.all(name) if list(args) == d.args[: len(args)]]
        assert len(found) == 1, f"{name} {' '.join(args)}: {len(found)} found in {self.name}"
        return found[0]

    def value(self, name: str) -> str:
        [arg] = self.one(name).args
        return arg


@dataclass
class _Parser:
    tokens: list[str]
    pos: int = 0

    def block(self) -> list[Directive]:
        out: list[Directive] = []
        words: list[str] = []
        while self.pos < len(self.tokens):
            tok = self.tokens[self.pos]
            self.pos += 1
            if tok == ";":
                out.append(Directive(words[0], words[1:]))
                words = []
            elif tok == "{":
                out.append(Directive(words[0], words[1:], self.block()))
                words = []
            elif tok == "}":
                assert not words, f"unterminated directive {words}"
                return out
            else:
                words.append(tok)
        assert not words, f"unterminated directive {words}"
        return out


def parse_nginx(text: str) -> Directive:
    """nginx configuration syntax: `name args;` and `name args { ... }`, # comments, quotes."""
    tokens = [
        m.group(1) or m.group(2) or m.group(3)
        for m in re.finditer(r"#[^\n]*|'([^']*)'|\"([^\"]*)\"|([{};]|[^\s{};'\"#]+)", text)
        if not m.group(0).startswith("#")
    ]
    parser = _Parser(tokens)
    main = Directive("main", [], parser.block())
    assert parser.pos == len(tokens), "unbalanced braces"
    return main


def seconds(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(ms|s|m)?", value).groups()
    return int(number) * {"ms": 0.001, "s": 1, None: 1, "m": 60}[unit]


def size_bytes(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG])?", value).groups()
    return int(number) * {None: 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit and unit.lower()]


@pytest.fixture(scope="module")
def nginx() -> Directive:
    return parse_nginx(NGINX_CONF.read_text())


@pytest.fixture(scope="module")
def http(nginx) -> Directive:
    return nginx.one("http")


@pytest.fixture(scope="module")
def proxied(http) -> Directive:
    """The location that passes requests on to the service."""
    [location] = [
        loc
        for server in http.all("server")
        for loc in server.all("location")
        if loc.all("proxy_pass")
    ]
    return location


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture
def gunicorn(monkeypatch, tmp_path) -> dict:
    """deploy/gunicorn.conf.py's settings (its own metrics directory not made)."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    return runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))


# -- nginx: whole requests only, quickly -------------------------------------------------------
def test_the_config_parses_into_an_http_block_with_a_server(nginx, http):
    assert nginx.one("events").block is not None
    assert http.all("server"), "no server block"


@pytest.mark.parametrize(
    "directive", ["client_header_timeout", "client_body_timeout", "send_timeout"]
)
def test_slow_clients_are_cut_off_within_seconds(http, directive):
    assert seconds(http.value(directive)) <= SHORT


def test_idle_keep_alive_connections_are_closed_within_seconds(http):
    assert 0 < seconds(http.one("keepalive_timeout").args[0]) <= SHORT


def test_request_bodies_are_buffered_whole_before_gunicorn_sees_them(http, proxied):
    assert proxied.value("proxy_request_buffering") == "on"
    assert size_bytes(http.value("client_body_buffer_size")) >= 64 * 1024
    assert proxied.value("proxy_buffering") == "on"  # slow readers do not hold a worker either


def test_the_body_limit_is_the_services_request_limit(http, compose):
    env = compose["services"]["cds"].get("environment") or {}
    limit = int(env.get("CDS_MAX_REQUEST_BYTES", Settings().max_request_bytes))
    assert size_bytes(http.value("client_max_body_size")) == limit


def test_header_buffers_admit_what_gunicorn_admits(http, gunicorn):
    _count, size = http.one("large_client_header_buffers").args
    assert size_bytes(size) >= gunicorn["limit_request_field_size"]
    assert size_bytes(size) >= gunicorn["limit_request_line"]


def test_forwarded_headers_are_passed_to_the_service(proxied):
    sent = {d.args[0]: d.args[1] for d in proxied.all("proxy_set_header")}
    assert sent["X-Forwarded-For"] == "$proxy_add_x_forwarded_for"
    assert sent["X-Forwarded-Proto"] == "$scheme"
    assert sent["Host"] == sent["X-Forwarded-Host"] == "$host"


def test_nginx_waits_for_the_service_longer_than_gunicorn_lets_a_worker_run(proxied, gunicorn):
    assert seconds(proxied.value("proxy_read_timeout")) > gunicorn["timeout"]


def test_metrics_are_not_served_to_the_outside(http):
    [metrics] = [
        loc
        for s in http.all("server")
        for loc in s.all("location")
        if loc.args == ["=", "/metrics"]
    ]
    assert metrics.value("deny") == "all"


# -- compose: nginx → gunicorn on the internal network only -----------------------------------
def test_compose_runs_nginx_with_this_config_in_front_of_the_service(compose, http, proxied):
    services = compose["services"]
    nginx = services["nginx"]
    assert nginx["image"].startswith("nginx:")
    assert "./nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    assert (COMPOSE.parent / "nginx" / "nginx.conf").is_file()
    assert "cds" in nginx["depends_on"]
    # proxy_pass names the upstream, whose one server is the compose service on gunicorn's port
    upstream_name = proxied.value("proxy_pass").removeprefix("http://")
    upstream = http.one("upstream", upstream_name)
    bind_port = re.search(r"CDS_BIND=\S*:(\d+)", (COMPOSE.parent / "Dockerfile").read_text())
    assert upstream.one("server").args[0] == f"cds:{bind_port.group(1)}"
    listen = {d.args[0] for s in http.all("server") for d in s.all("listen")}
    assert any(p.split(":")[-1] in listen for p in nginx["ports"])


def test_only_nginx_is_published_and_it_shares_a_network_with_the_service(compose):
    services = compose["services"]
    published = sorted(name for name, svc in services.items() if svc.get("ports"))
    assert published == ["nginx"]
    shared = set(services["nginx"].get("networks") or ["default"]) & set(
        services["cds"].get("networks") or ["default"]
    )
    assert shared, "nginx and the service share no network"


def test_compose_sets_the_public_base_url_that_jwts_name(compose):
    env = compose["services"]["cds"]["environment"]
    assert re.fullmatch(r"\$\{CDS_EXTERNAL_BASE_URL:-https://[^}]+\}", env["CDS_EXTERNAL_BASE_URL"])
    Settings.from_env({"CDS_EXTERNAL_BASE_URL": "https://cds.example.org"}).check_startup()
