"""Exactly one beat: a Redis lock with a time-to-live, renewed while beat runs.

A second `carepath beat` finds the lock taken and exits with a message. Were two beats ever
to run (say, the lock's holder froze past its TTL), nothing breaks: every sweep is safe to
run twice (timers fire into uniquely keyed events, escalation marks tasks once).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable

from redis import Redis

LOCK_KEY = "carepath:beat:lock"
TTL_MS = 15_000
RENEW_EVERY_S = 5.0

# Extend the lock only if we still hold it (atomic check-and-set).
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


class BeatLock:
    """Holds the single-beat lock, renewing it in the background."""

    def __init__(self, client: Redis[bytes]) -> None:
        self.client = client
        self.token = secrets.token_hex(16)
        self.lost = threading.Event()
        self._stop = threading.Event()

    def acquire(self) -> bool:
        """Take the lock if no other beat holds it."""
        return bool(self.client.set(LOCK_KEY, self.token, nx=True, px=TTL_MS))

    def holder_ttl_ms(self) -> int:
        """How long before the current holder's lock lapses."""
        return int(self.client.pttl(LOCK_KEY))

    def renew(self) -> bool:
        """Extend the lock; False when it was lost to another beat."""
        return bool(self.client.eval(_RENEW, 1, LOCK_KEY, self.token, TTL_MS))

    def keep(self, on_lost: Callable[[], None]) -> threading.Thread:
        """Renew every few seconds until released; call `on_lost` if the lock was lost."""

        def loop() -> None:
            while not self._stop.wait(RENEW_EVERY_S):
                try:
                    if not self.renew():
                        self.lost.set()
                        on_lost()
                        return
                except Exception:  # Redis away for a moment: try again next round
                    continue

        thread = threading.Thread(target=loop, name="beat-lock", daemon=True)
        thread.start()
        return thread

    def release(self) -> None:
        """Give the lock up (only if still ours)."""
        self._stop.set()
        self.client.eval(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
            "end return 0",
            1,
            LOCK_KEY,
            self.token,
        )
