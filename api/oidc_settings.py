"""The OIDC settings (CAREPATH_OIDC_*): where the provider is and how its groups map to roles.

Parsed from a mapping the command line passes in, so api/ modules never read the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pathways.roles import known_role


class OidcSettingsError(ValueError):
    """A CAREPATH_OIDC_* setting that cannot be used, with the fix."""


@dataclass(frozen=True)
class OidcConfig:
    """Where the provider is, who carepath is to it, and how its groups map to roles."""

    issuer: str
    client_id: str
    client_secret: str | None = None
    role_claim: str = "groups"
    role_map: tuple[tuple[str, str], ...] = ()  # (group, role), first match wins
    redirect_url: str | None = None  # None: this server's own /auth/callback
    scopes: str = "openid profile"
    leeway: float = 30.0  # seconds of clock difference tolerated on exp/nbf/iat


def oidc_config(environ: Mapping[str, str]) -> OidcConfig | None:
    """The OIDC settings from CAREPATH_OIDC_* variables; None (sign-in off) without an issuer."""
    issuer = environ.get("CAREPATH_OIDC_ISSUER", "").strip()  # exactly as tokens' `iss`
    if not issuer:
        return None
    client_id = environ.get("CAREPATH_OIDC_CLIENT_ID", "").strip()
    if not client_id:
        raise OidcSettingsError("set CAREPATH_OIDC_CLIENT_ID (carepath's client at the provider)")
    return OidcConfig(
        issuer=issuer,
        client_id=client_id,
        client_secret=environ.get("CAREPATH_OIDC_CLIENT_SECRET", "").strip() or None,
        role_claim=environ.get("CAREPATH_OIDC_ROLE_CLAIM", "").strip() or "groups",
        role_map=role_map(environ.get("CAREPATH_OIDC_ROLE_MAP", "")),
        redirect_url=environ.get("CAREPATH_OIDC_REDIRECT_URL", "").strip() or None,
        scopes=environ.get("CAREPATH_OIDC_SCOPES", "").strip() or "openid profile",
    )


def role_map(text: str) -> tuple[tuple[str, str], ...]:
    """`group=role,group=role` as pairs, each role checked; the first listed match wins."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        group, equals, role = (side.strip() for side in item.partition("="))
        if not (equals and group and role):
            raise OidcSettingsError(
                f"CAREPATH_OIDC_ROLE_MAP: '{item}' is not GROUP=ROLE "
                "(e.g. spine-navigators=navigator,lab-staff=lab)"
            )
        if not known_role(role):
            raise OidcSettingsError(f"CAREPATH_OIDC_ROLE_MAP: '{role}' is not a carepath role")
        pairs.append((group, role))
    if not pairs:
        raise OidcSettingsError(
            "set CAREPATH_OIDC_ROLE_MAP (e.g. spine-navigators=navigator,lab-staff=lab)"
        )
    return tuple(pairs)
