"""api/cursors.py: a cursor the API issues reads back as the position it was made from, and
anything else is refused with 422, never an exception that would be a 500."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi import HTTPException
from hypothesis import given
from hypothesis import strategies as st

from api.cursors import BAD_CURSOR, decoded, encoded, number, numbered

KINDS = {"due": "time?", "rank": "integer", "id": "text"}
moments = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
texts = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"))


@given(
    due=st.none() | moments,
    rank=st.integers(-(2**63), 2**63 - 1),
    row_id=texts,
)
def test_an_issued_keyset_cursor_reads_back_as_its_position(
    due: datetime | None, rank: int, row_id: str
) -> None:
    position = {"due": due, "rank": rank, "id": row_id}
    assert decoded(encoded(position), KINDS) == position


@given(st.integers(0, 2**63 - 1))
def test_an_issued_numbered_cursor_reads_back_as_its_id(row_id: int) -> None:
    assert number(numbered("e", row_id), "e") == row_id


def test_a_moment_in_another_zone_reads_back_as_the_same_instant_in_utc() -> None:
    toronto = datetime(2026, 12, 1, 9, 0, tzinfo=timezone(timedelta(hours=-5)))
    due = decoded(encoded({"due": toronto, "rank": 0, "id": "t"}), KINDS)["due"]
    assert due == toronto and due.tzinfo == UTC


@given(st.text(max_size=80))
def test_any_other_text_is_refused_with_422_and_nothing_else(text: str) -> None:
    for read in (lambda: decoded(text, KINDS), lambda: number(text, "e")):
        try:
            read()
        except HTTPException as refused:
            assert (refused.status_code, refused.detail) == (422, BAD_CURSOR)


@pytest.mark.parametrize("cursor", ["e", "c12", "e-1", "e 1", "e99999999999999999999", "e\u0661"])
def test_a_numbered_cursor_that_was_never_issued_is_refused(cursor: str) -> None:
    with pytest.raises(HTTPException) as refused:
        number(cursor, "e")
    assert refused.value.status_code == 422
