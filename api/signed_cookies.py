"""Short-lived cookies signed by the server (HMAC-SHA256), for the sign-in flow's own state.

Signed, not encrypted: they are HttpOnly, path-scoped and live minutes, and hold no PHI.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


def _mac(key: bytes, purpose: str, body: str) -> bytes:
    # The purpose is signed too, so one cookie can never be passed off as another.
    return hmac.new(key, f"{purpose}:{body}".encode(), hashlib.sha256).hexdigest().encode()


def sign(key: bytes, purpose: str, payload: dict[str, Any], seconds: int) -> str:
    """A cookie value carrying `payload` for `purpose`, good for `seconds`."""
    data = {**payload, "until": int(time.time()) + seconds}
    body = base64.urlsafe_b64encode(json.dumps(data).encode()).decode()
    return f"{body}.{_mac(key, purpose, body).decode()}"


def unsign(key: bytes, purpose: str, value: str | None) -> dict[str, Any] | None:
    """The payload of a cookie signed for `purpose` that has not run out, else None."""
    body, _, mac = (value or "").rpartition(".")
    if not body or not hmac.compare_digest(mac.encode(), _mac(key, purpose, body)):
        return None
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body))
    return payload if payload.get("until", 0) > time.time() else None
