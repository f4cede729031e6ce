"""Service settings, read once from the environment with safe (production) defaults.

Every setting is documented in docs/deploy.md (operators) and docs/security.md (trust settings).
This module is the only place that reads the service's environment variables:
`Settings.from_env()` (the app; the app factory receives a `Settings` object so that tests build
one directly) and `ServerSettings.from_env()` (gunicorn, deploy/gunicorn.conf.py). A value that
cannot be understood raises ConfigError naming the variable and the form it expects.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting cannot be understood; the service refuses to start with it."""


@dataclass(frozen=True)
class TrustedIssuer:
    """A CDS client (EHR) allowed to call the service, and what it may make the service do.

    Keys come from a locally configured JWKS (`jwks` inline or `jwks_file`), from an out-of-band
    configured `jwks_url`, or from the token's `jku` header when that URL is in `jku_allowlist`.
    `fhir_servers` lists the FHIR base URLs this client may make the service call (with its token).
    """

    iss: str
    jwks: dict | None = None
    jwks_file: str | None = None
    jwks_url: str | None = None
    jku_allowlist: tuple[str, ...] = ()
    fhir_servers: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: dict) -> TrustedIssuer:
        if not isinstance(d, dict) or not isinstance(d.get("iss"), str) or not d["iss"]:
            raise ConfigError("each trusted issuer needs an 'iss' string")
        unknown = set(d) - {"iss", "jwks", "jwks_file", "jwks_url", "jku_allowlist", "fhir_servers"}
        if unknown:
            raise ConfigError(f"trusted issuer {d['iss']!r}: unknown keys {sorted(unknown)}")
        jwks = d.get("jwks")
        if jwks is not None and not (isinstance(jwks, dict) and isinstance(jwks.get("keys"), list)):
            raise ConfigError(f"trusted issuer {d['iss']!r}: 'jwks' must be a JWKS object")
        return cls(
            iss=d["iss"],
            jwks=jwks,
            jwks_file=d.get("jwks_file"),
            jwks_url=d.get("jwks_url"),
            jku_allowlist=tuple(d.get("jku_allowlist") or ()),
            fhir_servers=tuple(d.get("fhir_servers") or ()),
        )


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    v = value.strip().lower()
    if v in {"1", "true", "yes", "on"}:
        return True
    if v in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false (1/0, yes/no, on/off), not {value!r}")


def _number(env: dict[str, str], name: str, default, kind: type, minimum: float | None):
    """env[name] as an int or float (unset or blank: `default`), at least `minimum`."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    form = "a whole number" if kind is int else "a number"
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {form}, not {raw!r}") from None
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{name} must be {form}, not {raw!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be {form} of at least {minimum:g}, not {raw!r}")
    return value


def _int(env: dict[str, str], name: str, default: int | None, minimum: int | None = 0):
    return _number(env, name, default, int, minimum)


def _float(env: dict[str, str], name: str, default: float | None, minimum: float | None = 0):
    return _number(env, name, default, float, minimum)


def _choice(env: dict[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if raw.lower() not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return raw.lower()


def metrics_dir_from_env(env: dict[str, str] | None = None) -> Path | None:
    """PROMETHEUS_MULTIPROC_DIR: prometheus_client's multiprocess directory (None: unset)."""
    env = os.environ if env is None else env
    raw = (env.get("PROMETHEUS_MULTIPROC_DIR") or "").strip()
    return Path(raw) if raw else None


def _list(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(p.strip() for p in value.split(",") if p.strip())


@dataclass(frozen=True)
class Settings:
    # Content loaded once at start-up.
    content_dir: Path = ROOT / "plandefinitions"
    cql_dir: Path = ROOT / "cql"
    # Storage: PostgreSQL when database_url is a postgres URL, SQLite file otherwise.
    database_url: str | None = None
    sqlite_path: Path = ROOT / "var" / "cds.sqlite3"
    audit_retention_days: float = 365.0  # 0 keeps audit records forever
    feedback_retention_days: float = 365.0  # 0 keeps feedback forever
    # Authentication of CDS clients (JWT). auth_enabled=False is a development-only setting.
    auth_enabled: bool = True
    # The FHIR face's operations that receive patient data ($apply): the same JWT verification
    # (aud = the exact URL invoked). None follows auth_enabled (CDS_AUTH); reads, searches and
    # /fhir/metadata carry no PHI and stay public.
    fhir_auth_enabled: bool | None = None
    trusted_issuers: tuple[TrustedIssuer, ...] = ()
    jwt_leeway_seconds: int = 5
    jwt_max_lifetime_seconds: int = 300
    jti_retention_seconds: int = 3600
    jwks_cache_seconds: int = 300
    jwks_min_refresh_seconds: int = 30
    # The externally visible base URL (scheme://host[:port][/prefix]) behind a reverse proxy;
    # the JWT `aud` must equal this base + the invoked path. None: the URL the request arrived at.
    external_base_url: str | None = None
    # Outbound FHIR access: base URLs any client may use (in addition to each issuer's list).
    fhir_server_allowlist: tuple[str, ...] = ()
    allow_private_fhir_addresses: bool = False
    allow_http_fhir: bool = False
    fhir_connect_timeout: float = 2.0
    fhir_read_timeout: float = 5.0
    fhir_retries: int = 2
    fhir_max_pages: int = 10
    # Budget for all FHIR requests of one hook call; None: one worst-case fetch
    # ((connect + read timeout) * (retries + 1) + 0.5 s). Must end before gunicorn's worker
    # timeout (deploy/gunicorn.conf.py refuses to start otherwise).
    fhir_total_timeout: float | None = None
    # Outbound FHIR requests in flight at once in one worker process (across its requests), and
    # bytes fetched for one hook call (all responses and pages): beyond it the call answers 412.
    fhir_max_concurrency: int = 8
    fhir_max_bytes_per_call: int = 20 * 1024 * 1024
    # HTTP surface.
    cors_origins: tuple[str, ...] = ("*",)
    max_request_bytes: int = 5 * 1024 * 1024
    smart_app_url: str | None = None
    log_level: str = "INFO"
    # prometheus_client's multiprocess directory (PROMETHEUS_MULTIPROC_DIR: set, made and cleaned
    # by deploy/gunicorn.conf.py). None: single-process metrics (tests, the Flask dev server).
    metrics_dir: Path | None = None
    # Deployment values of CQL parameters (thresholds, look-backs): a FHIR Parameters resource
    # (the shape of $apply's `parameters`), checked against the loaded libraries at start-up
    # (service.knowledge.parameters). None: every parameter keeps its documented default.
    cql_parameters: dict | None = None

    @property
    def fhir_auth_required(self) -> bool:
        return self.auth_enabled if self.fhir_auth_enabled is None else self.fhir_auth_enabled

    @property
    def fhir_time_budget(self) -> float:
        """Seconds all FHIR requests of one hook call may take (CDS_FHIR_TOTAL_TIMEOUT, else one
        worst-case fetch: every attempt timing out, plus its backoff)."""
        if self.fhir_total_timeout:
            return self.fhir_total_timeout
        attempts = self.fhir_retries + 1
        return (self.fhir_connect_timeout + self.fhir_read_timeout) * attempts + 0.5

    def check_startup(self) -> None:
        """Checks across settings, made when the app starts; ConfigError: it does not start.

        With client JWTs verified (CDS_AUTH=jwt, or CDS_FHIR_AUTH=jwt) the token's `aud` must be
        compared with this deployment's public URL, never with one built from the request's
        Host header: a client controls that header, so a token minted for another deployment
        (aud = its URL) would be accepted by sending its host name.
        """
        if (self.auth_enabled or self.fhir_auth_required) and not self.external_base_url:
            raise ConfigError(
                "CDS_EXTERNAL_BASE_URL is required when client JWTs are verified (CDS_AUTH=jwt, "
                "the default, or CDS_FHIR_AUTH=jwt): set it to the public base URL clients call, "
                "e.g. CDS_EXTERNAL_BASE_URL=https://cds.example.org; the JWT aud is checked "
                "against it, never against the request's Host header. For local development "
                "only: CDS_AUTH=off"
            )

    @property
    def uses_postgres(self) -> bool:
        return bool(self.database_url) and self.database_url.split(":", 1)[0] in {
            "postgres",
            "postgresql",
        }

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        issuers = _issuers(env)
        audit_days = _float(env, "CDS_AUDIT_RETENTION_DAYS", cls.audit_retention_days)
        return cls(
            content_dir=Path(env.get("CDS_CONTENT_DIR") or cls.content_dir),
            cql_dir=Path(env.get("CDS_CQL_DIR") or cls.cql_dir),
            database_url=env.get("DATABASE_URL") or None,
            sqlite_path=Path(env.get("CDS_SQLITE_PATH") or cls.sqlite_path),
            audit_retention_days=audit_days,
            # Unset: the audit retention (feedback is about cards the audit records).
            feedback_retention_days=_float(env, "CDS_FEEDBACK_RETENTION_DAYS", audit_days),
            auth_enabled=_auth_enabled(env.get("CDS_AUTH")),
            fhir_auth_enabled=_fhir_auth(env.get("CDS_FHIR_AUTH")),
            trusted_issuers=issuers,
            jwt_leeway_seconds=_int(env, "CDS_JWT_LEEWAY_SECONDS", cls.jwt_leeway_seconds),
            jti_retention_seconds=_int(env, "CDS_JTI_RETENTION_SECONDS", cls.jti_retention_seconds),
            jwks_cache_seconds=_int(env, "CDS_JWKS_CACHE_SECONDS", cls.jwks_cache_seconds),
            external_base_url=_base_url(env.get("CDS_EXTERNAL_BASE_URL")),
            fhir_server_allowlist=_list(env.get("CDS_FHIR_SERVER_ALLOWLIST")),
            allow_private_fhir_addresses=_bool(env, "CDS_FHIR_ALLOW_PRIVATE_ADDRESSES", False),
            allow_http_fhir=_bool(env, "CDS_FHIR_ALLOW_HTTP", False),
            fhir_connect_timeout=_float(env, "CDS_FHIR_CONNECT_TIMEOUT", cls.fhir_connect_timeout),
            fhir_read_timeout=_float(env, "CDS_FHIR_READ_TIMEOUT", cls.fhir_read_timeout),
            fhir_retries=_int(env, "CDS_FHIR_RETRIES", cls.fhir_retries),
            fhir_max_pages=_int(env, "CDS_FHIR_MAX_PAGES", cls.fhir_max_pages, minimum=1),
            fhir_total_timeout=_float(env, "CDS_FHIR_TOTAL_TIMEOUT", None) or None,
            fhir_max_concurrency=_positive_int(env, "CDS_FHIR_MAX_CONCURRENCY", 8),
            fhir_max_bytes_per_call=_positive_int(
                env, "CDS_FHIR_MAX_BYTES_PER_CALL", cls.fhir_max_bytes_per_call
            ),
            cors_origins=_list(env.get("CDS_CORS_ORIGINS", "*")) or ("*",),
            max_request_bytes=_int(env, "CDS_MAX_REQUEST_BYTES", cls.max_request_bytes, minimum=1),
            smart_app_url=env.get("CDS_SMART_APP_URL") or None,
            log_level=_choice(env, "CDS_LOG_LEVEL", "info", LOG_LEVELS).upper(),
            metrics_dir=metrics_dir_from_env(env),
            cql_parameters=_cql_parameters(env),
        )


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


@dataclass(frozen=True)
class ServerSettings:
    """gunicorn's settings (deploy/gunicorn.conf.py); the app's are `Settings`."""

    bind: str = "127.0.0.1:8080"
    # The work is CPU-bound Python (CQL evaluation): one sync worker per core, plus one to cover
    # I/O waits (database, EHR FHIR fetches).
    workers: int = field(default_factory=lambda: multiprocessing.cpu_count() + 1)
    worker_timeout: int = 30
    forwarded_allow_ips: str = "127.0.0.1"
    access_log: str | None = "-"  # "-": stdout; None: no access log; else a file path
    log_level: str = "info"
    metrics_dir: Path | None = None  # None: gunicorn.conf.py makes a temporary one

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ServerSettings:
        env = dict(os.environ if env is None else env)
        bind = (env.get("CDS_BIND") or "").strip() or cls.bind
        access = (env.get("CDS_ACCESS_LOG") or "").strip() or "-"
        return cls(
            bind=bind,
            workers=_int(env, "WEB_CONCURRENCY", None, minimum=1) or cls().workers,
            worker_timeout=_int(env, "CDS_WORKER_TIMEOUT", cls.worker_timeout, minimum=1),
            forwarded_allow_ips=(env.get("CDS_FORWARDED_ALLOW_IPS") or "").strip()
            or cls.forwarded_allow_ips,
            access_log=None if access.lower() == "off" else access,
            log_level=_choice(env, "CDS_GUNICORN_LOG_LEVEL", cls.log_level, LOG_LEVELS),
            metrics_dir=metrics_dir_from_env(env),
        )


def _positive_int(env: dict[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, not {value}")
    return value


def _base_url(value: str | None) -> str | None:
    """CDS_EXTERNAL_BASE_URL: scheme://host[:port][/prefix], without a trailing slash."""
    v = (value or "").strip().rstrip("/")
    if not v:
        return None
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"CDS_EXTERNAL_BASE_URL must be an absolute http(s) URL, not {v!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError("CDS_EXTERNAL_BASE_URL must not carry a query, fragment or credentials")
    return v


def _auth_enabled(value: str | None) -> bool:
    """CDS_AUTH=jwt (default) verifies client JWTs; CDS_AUTH=off is for development only."""
    v = (value or "jwt").strip().lower()
    if v == "jwt":
        return True
    if v == "off":
        return False
    raise ConfigError("CDS_AUTH must be 'jwt' (default) or 'off' (development only)")


def _fhir_auth(value: str | None) -> bool | None:
    """CDS_FHIR_AUTH: unset follows CDS_AUTH; 'jwt' requires a client JWT on $apply; 'off' not."""
    v = (value or "").strip().lower()
    if not v:
        return None
    if v in ("jwt", "off"):
        return v == "jwt"
    raise ConfigError("CDS_FHIR_AUTH must be 'jwt' or 'off' (unset: the same as CDS_AUTH)")


def _issuers(env: dict[str, str]) -> tuple[TrustedIssuer, ...]:
    """CDS_TRUSTED_ISSUERS (inline JSON list) and/or CDS_TRUSTED_ISSUERS_FILE (path to one)."""
    raw: list = []
    sources = []
    if env.get("CDS_TRUSTED_ISSUERS"):
        try:
            sources.append(("CDS_TRUSTED_ISSUERS", json.loads(env["CDS_TRUSTED_ISSUERS"])))
        except json.JSONDecodeError as e:
            raise ConfigError(f"CDS_TRUSTED_ISSUERS is not JSON: {e}") from None
    if env.get("CDS_TRUSTED_ISSUERS_FILE"):
        try:
            text = Path(env["CDS_TRUSTED_ISSUERS_FILE"]).read_text()
            sources.append(("CDS_TRUSTED_ISSUERS_FILE", json.loads(text)))
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"CDS_TRUSTED_ISSUERS_FILE unreadable: {e}") from None
    for name, value in sources:
        if not isinstance(value, list):
            raise ConfigError(f"{name} must be a JSON list of issuers")
        raw += value
    return tuple(TrustedIssuer.from_dict(d) for d in raw)


def _cql_parameters(env: dict[str, str]) -> dict | None:
    """CDS_CQL_PARAMETERS (inline JSON) and/or CDS_CQL_PARAMETERS_FILE (path to a JSON file):
    each a FHIR Parameters resource; both together are combined, and a name set in both is an
    error. Names and value types are checked against the content when the app starts."""
    sources = []
    if env.get("CDS_CQL_PARAMETERS", "").strip():
        try:
            sources.append(("CDS_CQL_PARAMETERS", json.loads(env["CDS_CQL_PARAMETERS"])))
        except json.JSONDecodeError as e:
            raise ConfigError(f"CDS_CQL_PARAMETERS is not JSON: {e}") from None
    if env.get("CDS_CQL_PARAMETERS_FILE", "").strip():
        path = env["CDS_CQL_PARAMETERS_FILE"]
        try:
            sources.append(("CDS_CQL_PARAMETERS_FILE", json.loads(Path(path).read_text())))
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"CDS_CQL_PARAMETERS_FILE {path!r} unreadable: {e}") from None
    if not sources:
        return None
    combined: list[dict] = []
    origin: dict[str, str] = {}
    for setting, value in sources:
        if not isinstance(value, dict) or value.get("resourceType") != "Parameters":
            raise ConfigError(
                f"{setting} must be a FHIR Parameters resource: "
                '{"resourceType": "Parameters", "parameter": [{"name": "Severe Pain Score", '
                '"valueInteger": 8}]}'
            )
        items = value.get("parameter") or []
        if not isinstance(items, list):
            raise ConfigError(f"{setting}: Parameters.parameter must be a list")
        for i, item in enumerate(items):
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str) or not name:
                raise ConfigError(f"{setting}: parameter[{i}] needs a name")
            if origin.get(name, setting) != setting:
                raise ConfigError(
                    f"CQL parameter {name!r} is set in both {origin[name]} and {setting}"
                )
            origin[name] = setting
            combined.append(item)
    return {"resourceType": "Parameters", "parameter": combined}
