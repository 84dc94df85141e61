"""The hospital's OpenID Connect provider: its metadata, its signing keys, and whom a JWT names.

A bearer JWT is accepted when the provider signed it (RS256/ES256 with a key from its JWKS),
it was issued by the configured issuer for the configured client, and it is in date; the caller's
carepath role comes from a group claim through the configured group -> role mapping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
from fastapi import HTTPException

from api.oidc_settings import OidcConfig
from api.security import Principal

ALGORITHMS = ("RS256", "ES256")  # never `none`, never HS* (a public key is no secret)
MIN_REFRESH = 60.0  # an unknown `kid` refetches the JWKS at most once a minute (no fetch storms)
MAX_AGE = 3600.0  # keys are refetched hourly anyway, so a retired key stops working
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")  # what discovery must give


class TokenRefused(Exception):
    """A JWT carepath does not accept (401), with the reason."""


class NoRole(Exception):
    """A valid JWT whose groups map to no carepath role (403), naming the claim and mapping."""


class ProviderUnreachable(Exception):
    """The provider's discovery document or keys could not be fetched (503)."""


class IdentityProvider:
    """The configured provider as carepath uses it: metadata and keys, fetched and cached."""

    def __init__(
        self,
        config: OidcConfig,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.http = http  # None: a client per call (calls are rare: discovery, keys, sign-in)
        self.clock = clock
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")

    def send(self, method: str, url: str, **options: Any) -> httpx.Response:
        """An HTTP request to the provider (5 s timeout, redirects not followed)."""
        if self.http is not None:
            return self.http.request(method, url, **options)
        with httpx.Client(timeout=5.0) as client:
            return client.request(method, url, **options)

    def _get(self, url: str) -> dict[str, Any]:
        try:
            response = self.send("GET", url)
            response.raise_for_status()
            found = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise ProviderUnreachable(f"the sign-in provider did not answer {url}") from error
        if not isinstance(found, dict):
            raise ProviderUnreachable(f"{url} did not answer a JSON object")
        return found

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (fetched once), checked to name our issuer."""
        with self._lock:
            if self._metadata is None:
                issuer = self.config.issuer
                found = self._get(f"{issuer.rstrip('/')}/.well-known/openid-configuration")
                if found.get("issuer") != issuer:  # exactly, as OpenID Connect Discovery says
                    raise ProviderUnreachable(
                        f"the discovery document names issuer {found.get('issuer')!r}, "
                        f"not CAREPATH_OIDC_ISSUER {issuer!r}"
                    )
                lacking = [key for key in ENDPOINTS if not isinstance(found.get(key), str)]
                if lacking:
                    raise ProviderUnreachable(f"the discovery document lacks {', '.join(lacking)}")
                self._metadata = found
            return self._metadata

    def signing_key(self, kid: str) -> jwt.PyJWK:
        """The provider's key `kid`; an unknown kid refetches the JWKS, at most once a minute."""
        jwks_uri = str(self.metadata()["jwks_uri"])
        with self._lock:
            age = self.clock() - self._fetched_at
            if (kid not in self._keys and age >= MIN_REFRESH) or age >= MAX_AGE:
                try:
                    keys = jwt.PyJWKSet.from_dict(self._get(jwks_uri))
                except jwt.PyJWTError as error:
                    raise ProviderUnreachable(f"{jwks_uri} holds no usable key") from error
                self._keys = {key.key_id: key for key in keys.keys if key.key_id}
                self._fetched_at = self.clock()
            if kid not in self._keys:
                raise TokenRefused(f"the token is signed with key {kid!r}, unknown to the provider")
            return self._keys[kid]

    def verify(self, token: str, nonce: str | None = None) -> dict[str, Any]:
        """The claims of a JWT the provider signed for carepath, in date (and for `nonce`)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise TokenRefused(f"the token is not a JWT ({error})") from error
        algorithm = str(header.get("alg"))
        if algorithm not in ALGORITHMS:
            raise TokenRefused(f"tokens signed with {algorithm} are not accepted (RS256, ES256)")
        key = self.signing_key(str(header.get("kid", "")))
        if key.algorithm_name != algorithm:  # e.g. an RSA key, or a P-384 key, for ES256
            raise TokenRefused(f"key {key.key_id!r} is for {key.algorithm_name}, not {algorithm}")
        try:
            # Times are checked below against our clock; PyJWT checks signature, iss and aud.
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.config.client_id,
                issuer=self.config.issuer,
                options={
                    "require": ["iss", "aud", "exp", "sub"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as error:
            raise TokenRefused(f"the token is not valid: {error}") from error
        self._check_times(claims)
        if nonce is not None and claims.get("nonce") != nonce:
            raise TokenRefused("the ID token's nonce is not the one this sign-in sent")
        return claims

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now, leeway = self.clock(), self.config.leeway
        try:
            expires, begins = float(claims["exp"]), float(claims.get("nbf", now))
        except (TypeError, ValueError) as error:
            raise TokenRefused("the token's exp or nbf is not a number") from error
        if expires <= now - leeway:
            raise TokenRefused("the token has expired: sign in again")
        if begins > now + leeway:
            raise TokenRefused("the token is not valid yet (nbf): check the clocks")

    def principal(self, claims: Mapping[str, Any]) -> Principal:
        """The caller a verified token names: actor from preferred_username or sub, mapped role."""
        groups = _claim(claims, self.config.role_claim)
        for group, role in self.config.role_map:
            if group in groups:
                actor = str(claims.get("preferred_username") or claims["sub"])
                expires = datetime.fromtimestamp(float(claims["exp"]), UTC)  # checked already
                return Principal(actor, role, expires)
        mapping = ", ".join(f"{group}={role}" for group, role in self.config.role_map)
        raise NoRole(
            f"none of the groups in the token's '{self.config.role_claim}' claim "
            f"({', '.join(groups) or 'none'}) maps to a carepath role; CAREPATH_OIDC_ROLE_MAP "
            f"maps {mapping} (CAREPATH_OIDC_ROLE_CLAIM names the claim)"
        )


def _claim(claims: Mapping[str, Any], name: str) -> list[str]:
    """The groups in claim `name` (a list or one string); a dotted name reaches nested claims."""
    value: Any = claims.get(name)
    if value is None and "." in name:  # e.g. Keycloak's realm_access.roles
        value = claims
        for part in name.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value] if isinstance(value, list) else []


def looks_like_jwt(token: str) -> bool:
    """Whether a bearer token is a JWT (three dotted parts) rather than an opaque carepath token."""
    return token.startswith("eyJ") and token.count(".") == 2


def bearer_principal(provider: IdentityProvider, token: str) -> Principal:
    """The caller a bearer JWT names; 401 when refused, 403 without a role, 503 when unreachable."""
    try:
        return provider.principal(provider.verify(token))
    except TokenRefused as error:
        raise HTTPException(401, str(error)) from error
    except NoRole as error:
        raise HTTPException(403, str(error)) from error
    except ProviderUnreachable as error:
        raise HTTPException(503, str(error)) from error
