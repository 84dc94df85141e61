"""Exactly one beat: the Redis lock (on fakeredis)."""

from __future__ import annotations

import fakeredis

from workers.beat_lock import LOCK_KEY, TTL_MS, BeatLock


def test_a_second_beat_cannot_take_the_lock_the_first_holds() -> None:
    server = fakeredis.FakeServer()
    first = BeatLock(fakeredis.FakeRedis(server=server))
    second = BeatLock(fakeredis.FakeRedis(server=server))
    assert first.acquire()
    assert not second.acquire()
    assert 0 < second.holder_ttl_ms() <= TTL_MS


def test_renewing_extends_only_the_holders_lock_and_release_frees_it() -> None:
    client = fakeredis.FakeRedis()
    first, second = BeatLock(client), BeatLock(client)
    assert first.acquire()
    client.pexpire(LOCK_KEY, 1000)
    assert first.renew() and client.pttl(LOCK_KEY) > 1000
    assert not second.renew()  # not its lock
    first.release()
    assert second.acquire()


def test_a_beat_whose_lock_lapsed_to_another_learns_it_lost() -> None:
    client = fakeredis.FakeRedis()
    first, second = BeatLock(client), BeatLock(client)
    assert first.acquire()
    client.delete(LOCK_KEY)  # lapsed, e.g. the process froze past the TTL
    assert second.acquire()
    assert not first.renew()
