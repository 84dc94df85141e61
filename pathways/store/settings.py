"""Where the database is: CAREPATH_DATABASE_URL, else the embedded SQLite file."""

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
