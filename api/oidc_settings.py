"""The OIDC settings (CAREPATH_OIDC_*): where the provider is and how its groups map to roles.

Checked from the Settings the command line reads (pathways/store/settings.py), so api/
modules never read the environment.
"""

from __future__ import annotations

from dataclasses import dataclass

from pathways.roles import known_role
from pathways.store.settings import Settings


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


def oidc_config(read: Settings) -> OidcConfig | None:
    """The OIDC settings from CAREPATH_OIDC_* variables; None (sign-in off) without an issuer."""
    if not read.oidc_issuer:  # kept exactly as given: tokens' `iss` is compared to it
        return None
    if not read.oidc_client_id:
        raise OidcSettingsError("set CAREPATH_OIDC_CLIENT_ID (carepath's client at the provider)")
    return OidcConfig(
        issuer=read.oidc_issuer,
        client_id=read.oidc_client_id,
        client_secret=read.oidc_client_secret,
        role_claim=read.oidc_role_claim,
        role_map=role_map(read.oidc_role_map),
        redirect_url=read.oidc_redirect_url,
        scopes=read.oidc_scopes,
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
