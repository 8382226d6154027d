"""The abuse-limit tables on SQLite and PostgreSQL: failures counted in a window, lock-outs that keep
the later end, and rate-limit counters that count every request exactly once under concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from faceauth.storage.sql.abuse import SqlAbuseStore
from faceauth.storage.sql.backend import SqlStorage

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_failures_are_counted_per_key_inside_the_window(storage: SqlStorage) -> None:
    store = SqlAbuseStore(storage.database)
    old = store.add_failure("face:user:1", NOW - timedelta(seconds=400))
    recent = [store.add_failure("face:user:1", NOW - timedelta(seconds=s)) for s in (100, 10)]
    store.add_failure("face:user:2", NOW)
    assert store.count_failures("face:user:1", NOW - timedelta(seconds=180)) == 2
    assert store.count_failures("face:user:1", NOW - timedelta(seconds=500)) == 3
    store.remove_failures(recent[:1])
    assert store.count_failures("face:user:1", NOW - timedelta(seconds=180)) == 1
    store.clear_failures("face:user:1")
    assert store.count_failures("face:user:1", NOW - timedelta(days=1)) == 0
    assert store.count_failures("face:user:2", NOW - timedelta(days=1)) == 1
    assert old != recent[0]


def test_a_lock_keeps_its_later_end_and_ends(storage: SqlStorage) -> None:
    store = SqlAbuseStore(storage.database)
    assert store.locked_until(["face:user:1"], NOW) is None
    store.lock("face:user:1", NOW + timedelta(minutes=30))
    store.lock("face:user:1", NOW + timedelta(minutes=5))  # an earlier end does not shorten it
    assert store.locked_until(["face:user:1", "other"], NOW) == NOW + timedelta(minutes=30)
    store.lock("face:user:1", NOW + timedelta(minutes=40))
    assert store.locked_until(["face:user:1"], NOW) == NOW + timedelta(minutes=40)
    assert store.locked_until(["face:user:1"], NOW + timedelta(minutes=41)) is None
    store.unlock("face:user:1")
    assert store.locked_until(["face:user:1"], NOW) is None


def test_rate_counters_count_each_request_once_under_concurrency(storage: SqlStorage) -> None:
    store = SqlAbuseStore(storage.database)
    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = list(pool.map(lambda _: store.hit("login|198.51.100.7", 1_000), range(40)))
    assert sorted(counts) == list(range(1, 41))
    assert store.hit("login|198.51.100.7", 1_060) == 1
    assert store.hit("register|198.51.100.7", 1_000) == 1


def test_purge_forgets_what_no_longer_counts(storage: SqlStorage) -> None:
    store = SqlAbuseStore(storage.database)
    store.add_failure("k", NOW - timedelta(hours=3))
    store.add_failure("k", NOW)
    store.hit("b", 1_000)
    store.hit("b", 2_000)
    store.lock("ended", NOW - timedelta(seconds=1))
    store.lock("running", NOW + timedelta(seconds=60))
    assert store.purge(NOW - timedelta(hours=1), 1_500, NOW) == 3
    assert store.count_failures("k", NOW - timedelta(days=1)) == 1
    assert store.hit("b", 2_000) == 2
    assert store.locked_until(["running"], NOW) is not None
