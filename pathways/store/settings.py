"""Where the database and the broker are, from the environment, with embedded defaults."""

from __future__ import annotations

import os

EMBEDDED_DATABASE = "sqlite:///carepath.db"


def database_url() -> str:
    """The database URL from the environment, or the embedded default."""
    url = os.environ.get("CAREPATH_DATABASE_URL", "").strip()
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            url = "postgresql+psycopg://" + url.removeprefix(scheme)
    return url or EMBEDDED_DATABASE


def broker_url() -> str:
    """The Celery broker (CAREPATH_BROKER_URL, e.g. redis://...), or the in-process memory one."""
    return os.environ.get("CAREPATH_BROKER_URL", "").strip() or "memory://"
