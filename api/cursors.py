"""Keyset cursors: the position after a page's last row, handed out as an opaque string.

A cursor is the sort key of the last row served, so the next page starts strictly after it
and rows added or closed meanwhile never shift a page (no duplicates, no gaps, unlike an
offset). Two spellings, one per kind of list:

- a list in id order (the change feed, an enrollment's events) gives a letter and the id,
  `c812`: short, and a poller may keep it for as long as it polls;
- a list sorted by several columns (enrollments, a task queue) gives URL-safe base64 of a
  small JSON object holding the last row's sort key.

The client treats either as opaque; anything it sends that does not decode to what its list
expects is refused with 422, never a 500 and never a silently wrong page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException

from api.strict_json import text_problem

BAD_CURSOR = "cursor is not one this API issued (give the next_cursor of a previous page)"
SMALLEST_INTEGER = -(2**63)
LARGEST_INTEGER = 2**63 - 1


def encoded(position: Mapping[str, Any]) -> str:
    """The cursor for a position (datetimes as ISO 8601 text, the rest as JSON)."""
    plain = {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in position.items()
    }
    raw = json.dumps(plain, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decoded(cursor: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """The position a cursor stands for; 422 unless it has exactly `fields`, each its kind.

    `fields` names each field's kind: "text", "integer", "time" (timezone-aware ISO 8601)
    or "time?" (the same, or null for a row with no time)."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, TypeError) as error:  # UnicodeDecodeError is a ValueError
        raise HTTPException(422, BAD_CURSOR) from error
    if not isinstance(raw, dict) or set(raw) != set(fields):
        raise HTTPException(422, BAD_CURSOR)
    return {name: _read(raw[name], kind) for name, kind in fields.items()}


def _read(value: Any, kind: str) -> Any:
    if kind == "text" and isinstance(value, str) and text_problem(value) is None:
        return value  # a NUL or a lone surrogate would reach the database, which refuses it
    if kind == "integer" and type(value) is int and SMALLEST_INTEGER <= value <= LARGEST_INTEGER:
        return value
    if kind == "time?" and value is None:
        return None
    if kind in ("time", "time?") and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is not None:
                return moment.astimezone(UTC)  # as the store compares them
        except (ValueError, OverflowError):  # e.g. the year 1 at +05:00 is before the year 1 UTC
            raise HTTPException(422, BAD_CURSOR) from None
    raise HTTPException(422, BAD_CURSOR)


def numbered(letter: str, row_id: int) -> str:
    """The cursor of a list in id order: its letter, then the last id served."""
    return f"{letter}{row_id}"


def number(cursor: str, letter: str) -> int:
    """The id a numbered cursor holds; 422 unless it is `letter` then a 64-bit id."""
    digits = cursor[len(letter) :]
    if not cursor.startswith(letter) or not (digits.isascii() and digits.isdigit()):
        raise HTTPException(422, BAD_CURSOR)
    if len(digits) > 19 or int(digits) > LARGEST_INTEGER:  # beyond 64 bits: never issued
        raise HTTPException(422, BAD_CURSOR)
    return int(digits)
