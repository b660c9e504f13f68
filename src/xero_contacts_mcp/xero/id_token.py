"""Who signed in at Xero: the OpenID Connect id_token, verified against Xero's published keys.

joserfc (authlib's own JOSE library, installed with it; `authlib.jose` is deprecated in its favour)
checks the RS256 signature and the claims: `iss` is Xero's issuer, `aud` our client id, `exp`/`iat`
current (a minute of leeway for clock skew), and `nonce` the one this login sent, so a token minted
for another app or another login cannot be replayed here. The JWKS is fetched with httpx2 and cached;
a `kid` it does not hold makes one refetch (Xero rotating its keys), at most once every 5 s.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import anyio
import httpx2

from ..identity import Person

ALGORITHMS = ("RS256",)
LEEWAY = 60
JWKS_TTL = 3600.0
REFETCH_AFTER = 5.0  # an unknown kid refetches the keys, but not more often than this


class IdTokenError(Exception):
    """The id_token is missing, forged, expired, for someone else, or the keys could not be fetched."""


class IdTokenVerifier:
    def __init__(self, jwks_url: str, issuer: str, client_id: str,
                 transport: httpx2.AsyncBaseTransport | None = None, timeout: float = 10.0) -> None:
        self.jwks_url = jwks_url
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._transport = transport
        self._timeout = timeout
        self._keys: Any = None  # a joserfc KeySet
        self._kids: set[str] = set()
        self._fetched = 0.0
        self._lock = anyio.Lock()
        self.fetches = 0  # JWKS downloads (observability, tests)

    async def verify(self, id_token: str, *, nonce: str) -> Person:
        """The person the token names; IdTokenError when anything about it is wrong."""
        from joserfc import jwt
        from joserfc.errors import JoseError

        kid = _kid(id_token)
        keys = await self._keyset(kid)
        try:
            token = jwt.decode(id_token, keys, algorithms=list(ALGORITHMS))
            registry = jwt.JWTClaimsRegistry(
                leeway=LEEWAY,
                iss={"essential": True, "values": [self.issuer, self.issuer + "/"]},
                aud={"essential": True, "value": self.client_id},
                exp={"essential": True}, iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            )
            registry.validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise IdTokenError(f"Xero's id_token did not verify ({_describe(exc)})") from None
        claims = token.claims
        user_id = claims.get("xero_userid") or claims.get("sub")
        if not isinstance(user_id, str) or not user_id:
            raise IdTokenError("Xero's id_token names no user (no xero_userid or sub claim)")
        names = [claims.get(k) for k in ("given_name", "family_name")]
        name = " ".join(n for n in names if isinstance(n, str) and n) or None
        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        return Person(user_id=user_id, email=email, name=name)

    async def _keyset(self, kid: str | None) -> Any:
        async with self._lock:
            now = time.monotonic()
            stale = self._keys is None or now - self._fetched > JWKS_TTL
            unknown = kid is not None and kid not in self._kids and now - self._fetched > REFETCH_AFTER
            if stale or unknown:
                await self._fetch()
            if kid is not None and kid not in self._kids:
                raise IdTokenError("Xero's id_token is signed with a key Xero does not publish "
                                   f"(kid {kid[:40]!r} is not in {self.jwks_url})")
            return self._keys

    async def _fetch(self) -> None:
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        try:
            async with httpx2.AsyncClient(transport=self._transport, timeout=self._timeout) as http:
                reply = await http.get(self.jwks_url, headers={"Accept": "application/json"})
        except httpx2.HTTPError as exc:
            raise IdTokenError(f"could not fetch Xero's signing keys from {self.jwks_url} "
                               f"({type(exc).__name__})") from None
        if reply.status_code != 200:
            raise IdTokenError(f"fetching Xero's signing keys from {self.jwks_url} failed ({reply.status_code})")
        try:
            data = reply.json()
            keys = [k for k in data["keys"] if isinstance(k, dict) and k.get("kty") == "RSA"]
            keyset = KeySet.import_key_set({"keys": keys})
        except (ValueError, KeyError, TypeError, JoseError):
            raise IdTokenError(f"{self.jwks_url} did not answer with a JSON Web Key Set") from None
        self._keys = keyset
        self._kids = {str(k["kid"]) for k in keys if k.get("kid")}
        self._fetched = time.monotonic()
        self.fetches += 1


def _kid(id_token: str) -> str | None:
    """The `kid` in the token's (unverified) header, to choose a key; IdTokenError if it is no JWT."""
    try:
        header_b64 = id_token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    except (ValueError, IndexError):
        raise IdTokenError("Xero's id_token is not a JWT") from None
    if not isinstance(header, dict):
        raise IdTokenError("Xero's id_token is not a JWT")
    kid = header.get("kid")
    return str(kid) if kid is not None else None


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]
