"""OpenID Connect at the sandbox: a signing key, the JWKS, the discovery document and id_tokens.

Like Xero, id_tokens are RS256 JWTs whose header names the key (`kid`), verifiable against the JWKS at
`{issuer}/.well-known/openid-configuration/jwks`. Each Sandbox has its own key pair, made on first use
(RSA generation costs tens of milliseconds, and most sandboxes in the test suite never sign anything).
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from xero_contacts_mcp.sandbox.config import KNOWN_SCOPES, SandboxUser

JWKS_PATH = "/.well-known/openid-configuration/jwks"
DISCOVERY_PATH = "/.well-known/openid-configuration"
ID_TOKEN_CLAIMS = (
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "auth_time",
    "nonce",
    "at_hash",
    "sub",
    "xero_userid",
    "email",
    "given_name",
    "family_name",
    "preferred_username",
    "global_session_id",
    "sid",
)


class Signer:
    """The sandbox's RS256 key pairs: the newest signs; the JWKS publishes the public half of each."""

    def __init__(self) -> None:
        self._keys: list[RSAKey] = []

    @staticmethod
    def _new_key() -> RSAKey:
        key = RSAKey.generate_key(2048, private=True)
        return RSAKey.import_key(key.as_dict(private=True) | {"kid": key.thumbprint()})

    def _published(self) -> list[RSAKey]:
        if not self._keys:
            self._keys.append(self._new_key())
        return self._keys

    @property
    def key(self) -> RSAKey:
        return self._published()[-1]

    @property
    def kid(self) -> str:
        return str(self.key.kid)

    def rotate(self, *, keep_previous: bool = True) -> str:
        """Sign with a new key from now on, as Xero's key rollover does; `keep_previous` keeps
        publishing the old one (tokens already issued still verify), else it is withdrawn. The new kid."""
        fresh = self._new_key()
        self._keys = [*self._keys[-1:], fresh] if keep_previous else [fresh]
        return str(fresh.kid)

    def jwks(self) -> dict[str, Any]:
        public = [
            k.as_dict(private=False) | {"kid": str(k.kid), "use": "sig", "alg": "RS256"} for k in self._published()
        ]
        return {"keys": public}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": "RS256", "kid": self.kid, "typ": "JWT"}, claims, self.key)


def at_hash(access_token: str) -> str:
    """OIDC's `at_hash`: the left half of the token's SHA-256, base64url without padding."""
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def id_token_claims(
    *,
    issuer: str,
    client_id: str,
    user: SandboxUser,
    auth_time: float,
    session_id: str,
    lifetime: float,
    nonce: str | None,
    access_token: str,
) -> dict[str, Any]:
    """Xero's id_token claims for `user`. Times are real wall-clock time, not the sandbox clock: the
    id_token is checked by the client against its own clock, which `/_sandbox/clock` does not move."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "nbf": now,
        "exp": now + int(lifetime),
        "iss": issuer,
        "aud": client_id,
        "iat": now,
        "at_hash": at_hash(access_token),
        "sid": uuid.uuid5(uuid.NAMESPACE_OID, session_id).hex,
        "sub": user.user_id.replace("-", ""),
        "auth_time": int(auth_time),
        "xero_userid": user.user_id,
        "global_session_id": session_id,
        "preferred_username": user.email,
        "email": user.email,
        "given_name": user.given_name,
        "family_name": user.family_name,
    }
    if nonce is not None:
        claims["nonce"] = nonce
    return claims


def discovery(issuer: str, base_url: str) -> dict[str, Any]:
    """The discovery document, with every endpoint at `base_url` (where the sandbox is reached)."""
    return {
        "issuer": issuer,
        "jwks_uri": f"{base_url}{JWKS_PATH}",
        "authorization_endpoint": f"{base_url}/identity/connect/authorize",
        "token_endpoint": f"{base_url}/connect/token",
        "userinfo_endpoint": f"{base_url}/connect/userinfo",
        "revocation_endpoint": f"{base_url}/connect/revocation",
        "scopes_supported": sorted(KNOWN_SCOPES),
        "claims_supported": list(ID_TOKEN_CLAIMS),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
        "request_parameter_supported": False,
    }
