"""Webhook signatures by the Standard Webhooks scheme (https://www.standardwebhooks.com).

Each post carries `webhook-id` (the message id: the same on every retry, so a receiver can
deduplicate), `webhook-timestamp` (Unix seconds of this attempt, so a receiver can refuse a
replayed post older than a few minutes) and `webhook-signature`: `v1,` and the base64
HMAC-SHA256 of "{id}.{timestamp}.{body}" under the subscription's secret. A secret is
`whsec_` and the base64 of 24 to 64 random bytes; any Standard Webhooks library verifies it.

Subscriptions made before this scheme have a plain-text secret: their posts are signed the
same way with the secret's UTF-8 bytes as the key, and keep the old `X-Carepath-*` headers
(`X-Carepath-Signature: sha256=<hex HMAC of the body>`) until they are replaced.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from datetime import datetime

SECRET_PREFIX = "whsec_"
SECRET_BYTES = (24, 64)  # the scheme's range for the key's length


def new_secret() -> str:
    """A fresh signing secret: `whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def check_secret(secret: str) -> None:
    """Refuse a secret that is not `whsec_` and the base64 of 24 to 64 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("the signing secret must start with whsec_ (or leave it out to get one)")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise ValueError("the signing secret after whsec_ must be base64") from None
    low, high = SECRET_BYTES
    if not low <= len(key) <= high:
        raise ValueError(f"the signing secret must decode to {low} to {high} bytes")


def is_legacy(secret: str) -> bool:
    """A secret from before Standard Webhooks: its posts also carry the old headers."""
    return not secret.startswith(SECRET_PREFIX)


def signing_key(secret: str) -> bytes:
    """The HMAC key: the decoded bytes of a whsec_ secret, a legacy secret's UTF-8 bytes."""
    if is_legacy(secret):
        return secret.encode("utf-8")
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: "v1," and the base64 HMAC-SHA256 of id.timestamp.body."""
    signed = message_id.encode("utf-8") + b"." + str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(
    secret: str, message_id: str, attempt_at: datetime, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt posted at `attempt_at`."""
    timestamp = int(attempt_at.timestamp())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }


def legacy_signature(secret: str, body: bytes) -> str:
    """The old X-Carepath-Signature value: "sha256=" and the hex HMAC-SHA256 of the body."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: str, headers: dict[str, str], body: bytes, now: datetime, tolerance: int = 300
) -> bool:
    """Whether a post is signed with `secret` and stamped within `tolerance` seconds of `now`."""
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        message_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        offered = lowered["webhook-signature"].split(" ")
    except (KeyError, ValueError):
        return False
    if abs(now.timestamp() - timestamp) > tolerance:
        return False  # too old (a replay) or from too far ahead
    expected = signature(secret, message_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)
