"""Verification of the CDS client's JWT (CDS Hooks 2.0.1, "Trusting CDS Clients").

Rules, in order (any failure → `AuthError`, answered as a bare 401):
1. A bearer token is present; its header has `alg` ES384 or RS384 (never `none`/HMAC/others),
   a `kid`, and `typ` JWT when present.
2. The (unverified) `iss` is on the trusted-issuer list.
3. Keys: the issuer's locally configured JWKS (inline or file) or its configured `jwks_url`; a
   token's `jku` is used only when it is on the issuer's `jku_allowlist`. Remote JWKS are cached
   for `jwks_cache_seconds` and refetched early (at most every `jwks_min_refresh_seconds`)
   when a token names an unknown `kid`, so key rotation works without a restart. A JWKS file is
   reloaded when it changes.
4. Signature, `aud` = the exact URL invoked, `iss`, `exp` and `iat` (with a small leeway), all of
   `iss aud exp iat jti` present, and `exp - iat` at most 5 minutes. `exp`, `iat` and `nbf` must
   be NumericDates: JSON numbers (not strings, booleans, NaN or infinities) from 0 to the end
   of year 9999, checked before any arithmetic on them.
5. `jti` not seen before for this issuer: remembered in the shared store (across workers).

`@requires_client_jwt(face)` puts this check in front of a Flask view (CDS Hooks discovery,
invocation and feedback; the FHIR face's $apply): from the request line and headers alone,
before the view runs, so before any body is read (the app reads bodies lazily).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import requests
from flask import Blueprint, Flask, current_app, g, request

from service.config import Settings, TrustedIssuer
from service.errors import ApiError
from service.observability import log_event

log = logging.getLogger("service.cdshooks.security")
ALLOWED_ALGORITHMS = ("ES384", "RS384")
DATE_CLAIMS = ("exp", "iat", "nbf")
MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z


class AuthError(Exception):
    """The request is not authenticated; `reason` goes to the log, never to the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    iss: str
    sub: str | None
    tenant: str | None
    issuer: TrustedIssuer | None


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthError("missing Authorization header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization is not a bearer token")
    return token.strip()


def is_numeric_date(value: object) -> bool:
    """A JSON number of seconds in [0, end of 9999]: no bool, string, NaN, infinity or a
    number too large to compare with a clock (RFC 7519 §2 "NumericDate")."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return 0 <= value <= MAX_NUMERIC_DATE  # False for NaN; never converts a huge int to float


def _key_set(jwks: dict) -> dict[str, jwt.PyJWK]:
    """kid → key, keeping only keys usable with the allowed algorithms."""
    keys: dict[str, jwt.PyJWK] = {}
    for jwk in jwks.get("keys") or ():
        if not isinstance(jwk, dict) or not jwk.get("kid"):
            continue
        alg = jwk.get("alg")
        if alg is None:
            alg = {"EC": "ES384", "RSA": "RS384"}.get(jwk.get("kty"))
        if alg not in ALLOWED_ALGORITHMS:
            continue
        try:
            keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm=alg)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, KeyError):
            continue
    return keys


class _RemoteJwks:
    def __init__(self, url: str, ttl: int, min_refresh: int, session: requests.Session) -> None:
        self.url, self.ttl, self.min_refresh, self.session = url, ttl, min_refresh, session
        self.keys: dict[str, jwt.PyJWK] = {}
        self.fetched_at = 0.0
        self.lock = threading.Lock()

    def get(self, kid: str) -> jwt.PyJWK | None:
        now = time.monotonic()
        with self.lock:
            stale = now - self.fetched_at > self.ttl
            unknown = kid not in self.keys and now - self.fetched_at > self.min_refresh
            if stale or unknown:
                self._refresh(now)
            return self.keys.get(kid)

    def _refresh(self, now: float) -> None:
        try:
            resp = self.session.get(self.url, timeout=(2, 3), allow_redirects=False)
            resp.raise_for_status()
            self.keys = _key_set(resp.json())
        except (requests.RequestException, ValueError) as e:
            log_event(
                log, "jwks fetch failed", logging.WARNING, url=self.url, error=type(e).__name__
            )
        self.fetched_at = now


class _FileJwks:
    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.mtime = -1.0
        self.keys: dict[str, jwt.PyJWK] = {}
        self.lock = threading.Lock()

    def get(self, kid: str) -> jwt.PyJWK | None:
        with self.lock:
            try:
                mtime = self.path.stat().st_mtime
                if mtime != self.mtime:
                    self.keys = _key_set(json.loads(self.path.read_text()))
                    self.mtime = mtime
            except (OSError, ValueError) as e:
                log_event(log, "jwks file unreadable", logging.WARNING, error=type(e).__name__)
            return self.keys.get(kid)


class JwtVerifier:
    def __init__(self, settings: Settings, store, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.store = store
        self.issuers = {i.iss: i for i in settings.trusted_issuers}
        self.session = session or requests.Session()
        self.session.trust_env = False
        self._inline = {i.iss: _key_set(i.jwks) for i in settings.trusted_issuers if i.jwks}
        self._files = {
            i.iss: _FileJwks(i.jwks_file) for i in settings.trusted_issuers if i.jwks_file
        }
        self._remote: dict[str, _RemoteJwks] = {}
        self._lock = threading.Lock()

    def _remote_for(self, url: str) -> _RemoteJwks:
        with self._lock:
            r = self._remote.get(url)
            if r is None:
                r = self._remote[url] = _RemoteJwks(
                    url,
                    self.settings.jwks_cache_seconds,
                    self.settings.jwks_min_refresh_seconds,
                    self.session,
                )
            return r

    def _key(self, issuer: TrustedIssuer, header: dict) -> jwt.PyJWK:
        kid = header["kid"]
        jku = header.get("jku")
        if jku is not None and not isinstance(jku, str):
            raise AuthError("jku is not a string")
        local = issuer.jwks is not None or issuer.jwks_file is not None
        if jku and jku not in issuer.jku_allowlist and not local:
            raise AuthError("jku is not on the issuer's allow-list")
        key = None
        if issuer.iss in self._inline:
            key = self._inline[issuer.iss].get(kid)
        if key is None and issuer.iss in self._files:
            key = self._files[issuer.iss].get(kid)
        if key is None and jku and jku in issuer.jku_allowlist:
            key = self._remote_for(jku).get(kid)
        if key is None and issuer.jwks_url:
            key = self._remote_for(issuer.jwks_url).get(kid)
        if key is None:
            raise AuthError("unknown kid")
        return key

    def verify(self, authorization: str | None, audience: str) -> Principal:
        token = bearer_token(authorization)
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
            raise AuthError("malformed JWT") from None
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise AuthError(f"algorithm {alg!r} not allowed")
        if not isinstance(header.get("kid"), str) or not header["kid"]:
            raise AuthError("missing kid")
        if "typ" in header and str(header["typ"]).upper() != "JWT":
            raise AuthError("typ is not JWT")
        iss = unverified.get("iss")
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise AuthError("issuer not trusted")
        for name in DATE_CLAIMS:
            if name in unverified and not is_numeric_date(unverified[name]):
                raise AuthError(f"{name} is not a NumericDate")
        key = self._key(issuer, header)
        if key.algorithm_name != alg:
            raise AuthError("key and token algorithms differ")
        leeway = self.settings.jwt_leeway_seconds
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=audience,
                issuer=iss,
                leeway=leeway,
                options={"require": ["iss", "aud", "exp", "iat", "jti"], "strict_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError("aud is not the invoked URL") from None
        except jwt.PyJWTError as e:
            raise AuthError(f"invalid token: {type(e).__name__}") from None
        except (ValueError, TypeError, OverflowError) as e:  # defensive: claims checked above
            raise AuthError(f"invalid token: {type(e).__name__}") from None
        if claims["exp"] - claims["iat"] > self.settings.jwt_max_lifetime_seconds + leeway:
            raise AuthError("token lifetime exceeds 5 minutes")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise AuthError("jti is not a string")
        keep_until = max(claims["exp"] + leeway, time.time() + self.settings.jti_retention_seconds)
        if not self.store.remember_jti(iss, jti, keep_until):
            raise AuthError("replayed jti")
        return Principal(iss=iss, sub=claims.get("sub"), tenant=claims.get("tenant"), issuer=issuer)


# -- the client JWT in front of a Flask view ----------------------------------------------------
#: app.extensions key: {face: ClientJwtGuard, or None when that face does not verify JWTs}
CLIENT_JWT = "client_jwt"
CDS_HOOKS = "cds-hooks"  # discovery, invocation, feedback (CDS_AUTH)
FHIR_APPLY = "fhir-apply"  # the FHIR face's $apply (CDS_FHIR_AUTH)


@dataclass(frozen=True)
class ClientJwtGuard:
    """How one face checks the client's JWT: `verifier.verify(authorization, audience)` (a
    `JwtVerifier`, with its jti replay store), `invoked_url()` the exact URL `aud` must name
    (CDS_EXTERNAL_BASE_URL + the path), `on_failure()` counts a rejection."""

    verifier: Any
    invoked_url: Callable[[], str]
    on_failure: Callable[[], None] = lambda: None

    def check(self) -> Principal:
        """The caller, or a bare 401 OperationOutcome (`WWW-Authenticate: Bearer`); the reason
        goes to the log, never the token."""
        try:
            return self.verifier.verify(request.headers.get("Authorization"), self.invoked_url())
        except AuthError as e:
            self.on_failure()
            log_event(
                log, "authentication failed", logging.WARNING, reason=e.reason, path=request.path
            )
            raise ApiError(
                401, "login", "authentication failed", headers={"WWW-Authenticate": "Bearer"}
            ) from None


def install_client_jwt(app: Flask, face: str, guard: ClientJwtGuard | None) -> None:
    """Set how `face` checks client JWTs in `app` (None: not verified, development mode)."""
    app.extensions.setdefault(CLIENT_JWT, {})[face] = guard


def install_client_jwt_on(bp: Blueprint, face: str, guard: ClientJwtGuard | None) -> None:
    """`install_client_jwt` on the app `bp` is registered on."""
    bp.record_once(lambda state: install_client_jwt(state.app, face, guard))


def requires_client_jwt(face: str) -> Callable:
    """Decorate a view: the client's JWT is verified as `face` says (`install_client_jwt`)
    before the view runs; `g.principal` is the caller (None when the face does not verify
    JWTs). A face never installed is a 500, never an open door."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            guards = current_app.extensions.get(CLIENT_JWT, {})
            if face not in guards:
                raise RuntimeError(f"no client JWT rule installed for {face}")
            guard = guards[face]
            g.principal = guard.check() if guard is not None else None
            return view(*args, **kwargs)

        return guarded

    return decorate
