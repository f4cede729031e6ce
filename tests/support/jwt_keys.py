"""A test CDS client: its signing keys, its JWKS, and the JWTs it sends (good and bad ones)."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://ehr.test.example"


class TestClient:
    """An EHR with an ES384 and an RS384 key (kid `es-1` and `rs-1`)."""

    __test__ = False  # not a pytest class

    def __init__(self, iss: str = ISSUER) -> None:
        self.iss = iss
        self.keys = {
            "es-1": ("ES384", ec.generate_private_key(ec.SECP384R1())),
            "rs-1": ("RS384", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        }

    def jwks(self, kids: tuple[str, ...] | None = None) -> dict:
        out = []
        for kid, (alg, key) in self.keys.items():
            if kids is not None and kid not in kids:
                continue
            algo = ECAlgorithm if alg == "ES384" else RSAAlgorithm
            jwk = json.loads(algo.to_jwk(key.public_key()))
            jwk.update({"kid": kid, "alg": alg, "use": "sig"})
            out.append(jwk)
        return {"keys": out}

    def add_key(self, kid: str) -> None:
        self.keys[kid] = ("ES384", ec.generate_private_key(ec.SECP384R1()))

    def token(
        self,
        aud: str,
        *,
        kid: str = "es-1",
        iss: str | None = None,
        lifetime: int = 300,
        iat_offset: int = 0,
        jti: str | None = None,
        header: dict | None = None,
        omit: tuple[str, ...] = (),
        claims: dict | None = None,
    ) -> str:
        """A signed token; `claims` replaces or adds claims as given (any JSON value)."""
        alg, key = self.keys[kid]
        now = int(time.time()) + iat_offset
        payload = {
            "iss": iss or self.iss,
            "aud": aud,
            "iat": now,
            "exp": now + lifetime,
            "jti": jti or str(uuid.uuid4()),
        }
        for k in omit:
            payload.pop(k, None)
        payload.update(claims or {})
        headers = {"kid": kid, "typ": "JWT", **(header or {})}
        return jwt.encode(payload, key, algorithm=alg, headers=headers)

    def signed_payload(self, payload: str, *, kid: str = "es-1") -> str:
        """A correctly signed token whose payload is exactly `payload` (JSON text the json
        module would not write: NaN, Infinity, a 5,000-digit number...)."""
        alg, key = self.keys[kid]
        return jwt.api_jws.encode(
            payload.encode(), key, algorithm=alg, headers={"kid": kid, "typ": "JWT"}
        )

    def _claims(self, aud: str) -> dict:
        now = int(time.time())
        return {"iss": self.iss, "aud": aud, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}

    def hmac_token(self, aud: str, secret: str = "shared-secret-of-32-bytes-minimum!") -> str:
        return jwt.encode(self._claims(aud), secret, algorithm="HS256", headers={"kid": "es-1"})

    def none_token(self, aud: str) -> str:
        claims = self._claims(aud)

        def b64(d: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

        return f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': 'es-1'})}.{b64(claims)}."
