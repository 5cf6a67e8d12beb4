"""The SQLite backend: WAL, persistence, TTL, bounds with LRU eviction, threads."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from thinkwire.ir import Message, Text, Thinking, ToolCall
from thinkwire.store import Keys, SQLiteStore, StoreError, open_store
from thinkwire.store.base import encode_turn

TENANT = "t-alice"


@pytest.fixture
def keys() -> Keys:
    return Keys(b"0123456789abcdef-test-secret")


@pytest.fixture
def sqlite_store(tmp_path: Path, keys: Keys) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "state.db", keys=keys)
    yield store
    store.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def turn(n: int, thinking: str = "thought") -> Message:
    return Message(
        role="assistant",
        blocks=(
            Thinking(text=f"{thinking} {n}", signature=f"sig-{n}"),
            ToolCall(id=f"call_{n}", name="f", arguments="{}"),
        ),
    )


def lookup(store: SQLiteStore, message: Message, tenant: str = TENANT) -> Message | None:
    return store.get(tenant, store.keys.fingerprint(tenant, message))


def test_the_file_is_in_wal_mode_and_survives_reopening(tmp_path: Path, keys: Keys) -> None:
    path = tmp_path / "home" / "state.db"
    store = SQLiteStore(path, keys=keys)
    assert store.put(TENANT, turn(1))
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        columns = [row[1] for row in db.execute("PRAGMA table_info(turns)")]
        assert columns == ["key", "tenant", "value", "created_at", "last_used", "size"]
    db.close()
    again = SQLiteStore(path, keys=keys)
    assert lookup(again, turn(1)) == turn(1)
    assert again.stats().entries == 1
    assert again.stats().bytes == len(encode_turn(turn(1)))
    again.close()


def test_expired_turns_are_not_returned_and_hits_extend_the_ttl(tmp_path: Path, keys: Keys) -> None:
    clock = Clock()
    store = SQLiteStore(tmp_path / "s.db", keys=keys, ttl=100, clock=clock)
    store.put(TENANT, turn(1))
    store.put(TENANT, turn(2))
    clock.now += 60
    assert lookup(store, turn(1)) is not None  # used at +60: lives until +160
    clock.now += 60
    assert lookup(store, turn(1)) is not None
    assert lookup(store, turn(2)) is None  # last used at 0, now +120
    stats = store.stats()
    assert (stats.hits, stats.misses, stats.expired, stats.entries) == (2, 1, 1, 1)
    store.close()


def test_a_hit_writes_last_used_only_when_it_is_older_than_the_touch_interval(
    tmp_path: Path, keys: Keys
) -> None:
    clock = Clock()
    store = SQLiteStore(tmp_path / "s.db", keys=keys, touch_interval=30, clock=clock)
    store.put(TENANT, turn(1))
    start = clock.now

    def last_used() -> float:
        with sqlite3.connect(store.path) as db:
            (value,) = db.execute("SELECT last_used FROM turns").fetchone()
        db.close()
        return float(value)

    clock.now += 29
    assert lookup(store, turn(1)) is not None
    assert last_used() == start
    clock.now += 1
    assert lookup(store, turn(1)) is not None
    assert last_used() == start + 30
    store.close()


def test_expired_turns_are_purged_periodically(tmp_path: Path, keys: Keys) -> None:
    clock = Clock()
    store = SQLiteStore(tmp_path / "s.db", keys=keys, ttl=100, purge_interval=50, clock=clock)
    for n in range(5):
        store.put(TENANT, turn(n))
    clock.now += 101
    store.put(TENANT, turn(9))
    stats = store.stats()
    assert (stats.entries, stats.expired, stats.evictions) == (1, 5, 0)
    store.close()


def test_max_entries_evicts_the_least_recently_used(tmp_path: Path, keys: Keys) -> None:
    clock = Clock()
    store = SQLiteStore(tmp_path / "s.db", keys=keys, max_entries=3, touch_interval=0, clock=clock)
    for n in range(3):
        store.put(TENANT, turn(n))
        clock.now += 1
    assert lookup(store, turn(0)) is not None  # 0 is now the most recent
    clock.now += 1
    store.put(TENANT, turn(3))
    assert lookup(store, turn(1)) is None
    assert all(lookup(store, turn(n)) is not None for n in (0, 2, 3))
    stats = store.stats()
    assert (stats.entries, stats.evictions) == (3, 1)
    store.close()


def test_max_bytes_evicts_until_the_total_fits(tmp_path: Path, keys: Keys) -> None:
    clock = Clock()
    size = len(encode_turn(turn(10)))
    store = SQLiteStore(tmp_path / "s.db", keys=keys, max_bytes=size * 4 + size // 2, clock=clock)
    for n in range(10, 14):
        store.put(TENANT, turn(n))
        clock.now += 1
    assert store.stats().evictions == 0
    big = turn(20, thinking="x" * size)  # about two small turns
    store.put(TENANT, big)
    stats = store.stats()
    assert stats.evictions == 2
    assert stats.bytes <= store.max_bytes
    assert lookup(store, big) == big
    assert [lookup(store, turn(n)) is None for n in range(10, 14)] == [True, True, False, False]
    store.close()


def test_a_turn_over_the_value_limit_is_rejected(tmp_path: Path, keys: Keys) -> None:
    store = SQLiteStore(tmp_path / "s.db", keys=keys, max_value_bytes=200)
    assert not store.put(TENANT, turn(1, thinking="x" * 500))
    stats = store.stats()
    assert (stats.entries, stats.rejected) == (0, 1)
    store.close()


def test_a_recorded_turn_is_replaced_and_the_totals_follow(tmp_path: Path, keys: Keys) -> None:
    store = SQLiteStore(tmp_path / "s.db", keys=keys)
    store.put(TENANT, turn(1, thinking="short"))
    longer = turn(1, thinking="a much longer thought")
    store.put(TENANT, longer)
    assert lookup(store, turn(1)) == longer
    assert store.stats().entries == 1
    assert store.stats().bytes == len(encode_turn(longer))
    store.close()


def test_tenants_are_apart(sqlite_store: SQLiteStore) -> None:
    sqlite_store.put(TENANT, turn(1))
    assert lookup(sqlite_store, turn(1), tenant="t-bob") is None
    assert lookup(sqlite_store, turn(1)) == turn(1)


def test_get_many_keeps_order_and_duplicates(sqlite_store: SQLiteStore) -> None:
    sqlite_store.put(TENANT, turn(1))
    fp = sqlite_store.keys.fingerprint(TENANT, turn(1))
    assert sqlite_store.get_many(TENANT, ["0" * 64, fp, fp]) == [None, turn(1), turn(1)]
    assert sqlite_store.get_many(TENANT, []) == []
    stats = sqlite_store.stats()
    assert (stats.hits, stats.misses) == (2, 1)


def test_threads_share_one_store(sqlite_store: SQLiteStore) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(40):
                message = turn(worker * 1000 + i)
                sqlite_store.put(f"t-{worker}", message)
                assert lookup(sqlite_store, message, tenant=f"t-{worker}") == message
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stats = sqlite_store.stats()
    assert (stats.entries, stats.hits, stats.misses) == (320, 320, 0)


def test_two_stores_on_one_file_see_each_others_turns(tmp_path: Path, keys: Keys) -> None:
    a = SQLiteStore(tmp_path / "s.db", keys=keys)
    b = SQLiteStore(tmp_path / "s.db", keys=keys)
    a.put(TENANT, turn(1))
    assert lookup(b, turn(1)) == turn(1)
    b.put(TENANT, turn(2))
    assert a.stats().entries == b.stats().entries == 2
    a.close()
    b.close()


def test_open_store_picks_the_backend(tmp_path: Path, keys: Keys) -> None:
    store = open_store(tmp_path / "state.db", keys=keys)
    assert isinstance(store, SQLiteStore)
    store.close()
    store = open_store(str(tmp_path / "other.db"), keys=keys, max_entries=5)
    assert isinstance(store, SQLiteStore)
    assert store.max_entries == 5
    store.close()


def test_a_file_from_a_newer_schema_is_refused(tmp_path: Path, keys: Keys) -> None:
    path = tmp_path / "s.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StoreError, match="schema version 99"):
        SQLiteStore(path, keys=keys)


def test_a_corrupt_value_is_a_store_error(sqlite_store: SQLiteStore) -> None:
    sqlite_store.put(TENANT, turn(1))
    db = sqlite3.connect(sqlite_store.path)
    db.execute("UPDATE turns SET value = ?", (b"not json",))
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="does not decode"):
        lookup(sqlite_store, turn(1))


def test_use_after_close_is_a_store_error(tmp_path: Path, keys: Keys) -> None:
    store = SQLiteStore(tmp_path / "s.db", keys=keys)
    store.close()
    with pytest.raises(StoreError):
        store.put(TENANT, turn(1))


def test_bad_bounds_are_refused(tmp_path: Path, keys: Keys) -> None:
    with pytest.raises(ValueError, match="positive"):
        SQLiteStore(tmp_path / "s.db", keys=keys, ttl=0)


def test_text_answers_are_stored_too(sqlite_store: SQLiteStore) -> None:
    answer = Message(role="assistant", blocks=(Thinking(text="t"), Text(text="42")))
    assert sqlite_store.put(TENANT, answer)
    assert lookup(sqlite_store, Message(role="assistant", blocks=(Text(text="42 "),))) == answer
