"""carepath's settings, read from the environment (CAREPATH_*) in one place.

The entry points (the `carepath` commands, the Celery app, the workers' service) ask
`settings()` and pass what they read on; the engine core never reads the environment.
Every variable is listed in docs/operations.md.
"""

from __future__ import annotations

import os

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

EMBEDDED_DATABASE = "sqlite:///carepath.db"
MOST_API_PROCESSES = 4  # by default: each holds its own database pool
SHORTEST_ADMIN_TOKEN = 16


class Settings(BaseSettings):
    """Every CAREPATH_* setting, typed, with the embedded defaults."""

    model_config = SettingsConfigDict(
        env_prefix="CAREPATH_", env_ignore_empty=True, str_strip_whitespace=True, extra="ignore"
    )

    database_url: str = EMBEDDED_DATABASE
    broker_url: str = "memory://"
    admin_token: str | None = None
    recover_after_seconds: float = Field(default=30.0, gt=0)
    quarantine_after: int = 5
    webhook_max_attempts: int = Field(default=12, ge=1)
    webhook_secret: str | None = None
    # How long the API trusts a token it has checked (revocation takes effect within it).
    token_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    # `carepath api` processes; unset: the CPU cores this process may use, at most 4.
    api_workers: int | None = Field(default=None, ge=1, le=32)
    # Sign-in with the hospital's OpenID Connect provider (api/oidc_settings.py); off without
    # an issuer.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_role_claim: str = "groups"
    oidc_role_map: str = ""
    oidc_redirect_url: str | None = None
    oidc_scopes: str = "openid profile"

    @field_validator("database_url")
    @classmethod
    def _psycopg(cls, url: str) -> str:
        # `postgresql://` as hosting providers give it means the psycopg 3 driver here.
        for scheme in ("postgresql://", "postgres://"):
            if url.startswith(scheme):
                return "postgresql+psycopg://" + url.removeprefix(scheme)
        return url

    @field_validator("admin_token")
    @classmethod
    def _long_enough(cls, token: str | None) -> str | None:
        if token is not None and len(token) < SHORTEST_ADMIN_TOKEN:
            raise ValueError(f"must be {SHORTEST_ADMIN_TOKEN}+ characters")
        return token

    def api_processes(self) -> int:
        """How many processes `carepath api` runs."""
        if self.api_workers is not None:
            return self.api_workers
        return max(1, min(MOST_API_PROCESSES, len(os.sched_getaffinity(0))))


def settings() -> Settings:
    """The settings as the environment has them now (read at each entry point)."""
    return Settings()


def database_url() -> str:
    """The database URL from the environment, or the embedded default."""
    return settings().database_url


def broker_url() -> str:
    """The Celery broker (CAREPATH_BROKER_URL, e.g. redis://...), or the in-process memory one."""
    return settings().broker_url
