"""The API's short memory of checked tokens: a few seconds, never past expiry, bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.credentials import RecentTokens
from api.security import Principal

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LEE = Principal("lee", "lab", NOW + timedelta(days=7))


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.at = 100.0

    def __call__(self) -> float:
        return self.at


def test_a_checked_token_is_recalled_for_the_window_and_then_looked_up_again() -> None:
    ticks = Ticks()
    recent = RecentTokens(5, clock=ticks)
    assert recent.recall("secret-token", NOW) is None
    recent.keep("secret-token", LEE)
    ticks.at += 4.9
    assert recent.recall("secret-token", NOW) == LEE
    ticks.at += 0.1  # the window is over: a revocation made meanwhile now takes effect
    assert recent.recall("secret-token", NOW) is None


def test_an_expired_token_is_never_recalled_even_inside_the_window() -> None:
    recent = RecentTokens(5, clock=Ticks())
    recent.keep("secret-token", LEE)
    assert recent.recall("secret-token", LEE.expires_at or NOW) is None


def test_nothing_is_kept_when_the_window_is_zero() -> None:
    recent = RecentTokens(0, clock=Ticks())
    recent.keep("secret-token", LEE)
    assert recent.recall("secret-token", NOW) is None


def test_the_least_recently_used_token_goes_first_when_full() -> None:
    recent = RecentTokens(5, clock=Ticks(), most=2)
    recent.keep("first", LEE)
    recent.keep("second", LEE)
    assert recent.recall("first", NOW) == LEE  # used: now the most recent
    recent.keep("third", LEE)
    assert recent.recall("second", NOW) is None
    assert recent.recall("first", NOW) == LEE and recent.recall("third", NOW) == LEE
