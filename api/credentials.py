"""A few seconds' memory of the bearer tokens already checked: a poll costs no token look-up.

An accepted token is kept `seconds` (CAREPATH_TOKEN_CACHE_SECONDS, default 5; 0 keeps none),
so a token revoked with `carepath token revoke` is refused by every API process within that
time, never later. Expiry travels with the entry and is checked at every use: an expired
token is refused at once. Unknown and refused tokens are never kept (each attempt is looked
up again and told why), so guessing fills nothing; at most `most` tokens are kept, the least
recently used going first.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from api.security import Principal
from pathways.store.tokens import digest


class RecentTokens:
    """Tokens accepted in the last `seconds`, by digest (the token itself is never held)."""

    def __init__(
        self, seconds: float, clock: Callable[[], float] = time.monotonic, most: int = 10_000
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self.most = most
        self._kept: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()

    def recall(self, token: str, now: datetime) -> Principal | None:
        """Whom the token stood for when checked, if that was recent and it has not expired."""
        key = digest(token)
        with self._lock:
            entry = self._kept.get(key)
            if entry is None:
                return None
            checked_at, who = entry
            if self.clock() - checked_at >= self.seconds or (
                who.expires_at is not None and who.expires_at <= now
            ):
                del self._kept[key]
                return None
            self._kept.move_to_end(key)
            return who

    def keep(self, token: str, who: Principal) -> None:
        """Remember an accepted token for the next few seconds."""
        if self.seconds <= 0:
            return
        with self._lock:
            self._kept[digest(token)] = (self.clock(), who)
            self._kept.move_to_end(digest(token))
            while len(self._kept) > self.most:
                self._kept.popitem(last=False)
