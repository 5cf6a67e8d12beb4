"""The SQLite backend: batched commits, WAL, persistence, TTL, LRU bounds over turns and
stored responses, per-tenant responses and items, schema upgrades, threads."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from thinkwire.ir import Message, Response, Text, Thinking, ToolCall
from thinkwire.store import SQLiteStore, StateBackend, StoreError, open_store
from thinkwire.store.base import (
    ResponseDeletion,
    ResponseRecord,
    StoredResponse,
    TurnRecord,
    encode_response,
    encode_turn,
)

TENANT = "t-alice"
OTHER = "t-bob"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "state.db", clock=clock)
    yield opened
    opened.close()


def turn(n: int, thinking: str = "thought") -> Message:
    return Message(
        role="assistant",
        blocks=(
            Thinking(text=f"{thinking} {n}", signature=f"sig-{n}"),
            ToolCall(id=f"call_{n}", name="f", arguments="{}"),
        ),
    )


def key(n: int) -> str:
    return f"key-{n}"


def turn_record(n: int, thinking: str = "thought", tenant: str = TENANT) -> TurnRecord:
    return TurnRecord(tenant=tenant, keys=(key(n),), message=turn(n, thinking))


def stored(n: int, previous: str | None = None, text: str = "answer") -> StoredResponse:
    return StoredResponse(
        response=Response(id=f"resp_{n}", blocks=(Text(text=f"{text} {n}"),), stop_reason="end_turn"),
        input=(Message(role="user", blocks=(Text(text=f"question {n}"),)),),
        previous=previous,
        items=(f"msg_{n}", f"rs_{n}"),
    )


def response_record(n: int, tenant: str = TENANT, text: str = "answer") -> ResponseRecord:
    return ResponseRecord(tenant=tenant, id=f"resp_{n}", stored=stored(n, text=text))


def found(store: SQLiteStore, n: int, tenant: str = TENANT) -> Message | None:
    return store.turns(tenant, [key(n)])[0]


def column(store: SQLiteStore, sql: str) -> list[object]:
    with sqlite3.connect(store.path) as db:
        values = [row[0] for row in db.execute(sql)]
    db.close()
    return values


# ---------------------------------------------------------------------------------------------
# the file


def test_the_file_is_in_wal_mode_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "home" / "state.db"
    store = SQLiteStore(path)
    assert isinstance(store, StateBackend)
    assert store.commit([turn_record(1), response_record(1)]) == [True, True]
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA user_version").fetchone() == (2,)
        assert [row[1] for row in db.execute("PRAGMA table_info(turns)")] == [
            "key",
            "tenant",
            "value",
            "last_used",
            "size",
        ]
    db.close()
    again = SQLiteStore(path)
    assert found(again, 1) == turn(1)
    assert again.response(TENANT, "resp_1") == stored(1)
    assert again.item(TENANT, "msg_1") == "resp_1"
    stats = again.stats()
    assert stats.entries == 2
    assert stats.bytes == len(encode_turn(turn(1))) + len(encode_response(stored(1)))
    again.close()


@pytest.mark.parametrize(("fsync", "level"), [(False, 1), (True, 2)])
def test_fsync_sets_synchronous_full_on_every_connection(tmp_path: Path, fsync: bool, level: int) -> None:
    """NORMAL (1) by default; FULL (2) with ``fsync=True``, for the writer and the readers."""
    store = open_store(tmp_path / "state.db", fsync=fsync)
    assert isinstance(store, SQLiteStore)
    assert store.fsync is fsync
    assert store._db.execute("PRAGMA synchronous").fetchone() == (level,)
    assert store._reader().execute("PRAGMA synchronous").fetchone() == (level,)
    store.close()


def test_open_store_picks_the_backend(tmp_path: Path) -> None:
    store = open_store(tmp_path / "state.db")
    assert isinstance(store, SQLiteStore)
    store.close()
    store = open_store(
        str(tmp_path / "other.db"), max_entries=5, ttl=50, max_bytes=1000, max_value_bytes=2000
    )
    assert isinstance(store, SQLiteStore)
    assert (store.max_entries, store.ttl, store.max_bytes) == (5, 50, 1000)
    assert store.max_value_bytes == 1000  # never above max_bytes
    assert store.touch_interval == 5  # at most a tenth of the TTL
    store.close()


V1_SCHEMA = """
CREATE TABLE turns (
    key TEXT PRIMARY KEY NOT NULL, tenant TEXT NOT NULL, value BLOB NOT NULL,
    created_at REAL NOT NULL, last_used REAL NOT NULL, size INTEGER NOT NULL
);
CREATE INDEX turns_last_used ON turns (last_used);
CREATE TABLE totals (id INTEGER PRIMARY KEY CHECK (id = 0), entries INTEGER NOT NULL, bytes INTEGER NOT NULL);
INSERT INTO totals (id, entries, bytes) VALUES (0, 0, 0);
CREATE TRIGGER turns_insert AFTER INSERT ON turns BEGIN
    UPDATE totals SET entries = entries + 1, bytes = bytes + NEW.size WHERE id = 0;
END;
CREATE TRIGGER turns_delete AFTER DELETE ON turns BEGIN
    UPDATE totals SET entries = entries - 1, bytes = bytes - OLD.size WHERE id = 0;
END;
CREATE TRIGGER turns_resize AFTER UPDATE OF size ON turns BEGIN
    UPDATE totals SET bytes = bytes - OLD.size + NEW.size WHERE id = 0;
END;
PRAGMA user_version = 1;
"""


def test_a_version_1_file_has_its_turns_dropped_and_works_after(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    value = encode_turn(turn(1))
    db.execute(
        "INSERT INTO turns (key, tenant, value, created_at, last_used, size) VALUES (?, ?, ?, 0, 0, ?)",
        ("old-fingerprint", TENANT, value, len(value)),
    )
    db.commit()
    db.close()
    store = SQLiteStore(path)
    assert store.stats().entries == store.stats().bytes == 0
    assert store.turns(TENANT, ["old-fingerprint"]) == [None]
    assert store.commit([turn_record(2), response_record(2)]) == [True, True]
    assert found(store, 2) == turn(2)
    assert store.response(TENANT, "resp_2") == stored(2)
    assert store.stats().entries == 2
    store.close()
    assert column(store, "PRAGMA user_version") == [2]
    assert "created_at" not in column(store, "SELECT name FROM pragma_table_info('turns')")
    again = SQLiteStore(path)  # a version-2 file is opened as it is
    assert found(again, 2) == turn(2)
    again.close()


def test_a_file_from_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StoreError, match="schema version 99"):
        SQLiteStore(path)


def test_a_file_that_is_not_sqlite_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not a database, just some text long enough to have a header" * 10)
    with pytest.raises(StoreError, match=r"s\.db"):
        SQLiteStore(path)


def test_a_corrupt_value_is_a_store_error(store: SQLiteStore) -> None:
    store.commit([turn_record(1), response_record(1)])
    db = sqlite3.connect(store.path)
    db.execute("UPDATE turns SET value = ?", (b"not json",))
    db.execute("UPDATE responses SET value = ?", (b"not json",))
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="does not decode"):
        found(store, 1)
    with pytest.raises(StoreError, match="does not decode"):
        store.response(TENANT, "resp_1")


def test_use_after_close_is_a_store_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.commit([turn_record(1)])
    assert found(store, 1) == turn(1)  # this thread has a reader connection now
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.commit([turn_record(2)])
    with pytest.raises(StoreError):
        found(store, 1)
    with pytest.raises(StoreError):
        store.response(TENANT, "resp_1")
    with pytest.raises(StoreError):
        store.item(TENANT, "msg_1")
    with pytest.raises(StoreError):
        store.stats()
    errors: list[BaseException] = []

    def another_thread() -> None:  # no reader connection yet: none is opened
        try:
            found(store, 1)
        except BaseException as e:
            errors.append(e)

    worker = threading.Thread(target=another_thread)
    worker.start()
    worker.join(timeout=10)
    assert len(errors) == 1
    assert isinstance(errors[0], StoreError)


@pytest.mark.parametrize(
    "bounds",
    [{"ttl": 0}, {"ttl": -1}, {"max_entries": 0}, {"max_bytes": 0}, {"max_value_bytes": 0}],
)
def test_bad_bounds_are_refused(tmp_path: Path, bounds: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="positive"):
        SQLiteStore(tmp_path / "s.db", **bounds)  # type: ignore[arg-type]
    assert not (tmp_path / "s.db").exists()


# ---------------------------------------------------------------------------------------------
# turns


def test_a_turn_is_stored_under_each_of_its_keys(store: SQLiteStore) -> None:
    record = TurnRecord(tenant=TENANT, keys=("ids-key", "context-key"), message=turn(1))
    assert store.commit([record]) == [True]
    assert store.turns(TENANT, ["context-key", "ids-key"]) == [turn(1), turn(1)]
    stats = store.stats()
    assert (stats.entries, stats.bytes) == (2, 2 * len(encode_turn(turn(1))))


def test_turns_keep_order_and_duplicates_and_count_hits(store: SQLiteStore) -> None:
    store.commit([turn_record(1), turn_record(2)])
    assert store.turns(TENANT, ["missing", key(2), key(1), key(2)]) == [None, turn(2), turn(1), turn(2)]
    assert store.turns(TENANT, []) == []
    stats = store.stats()
    assert (stats.hits, stats.misses) == (3, 1)


def test_many_keys_are_looked_up_and_touched_in_chunks(store: SQLiteStore, clock: Clock) -> None:
    keys = tuple(f"k{i}" for i in range(1_200))  # more than one IN (...) clause
    store.commit([TurnRecord(tenant=TENANT, keys=keys, message=turn(1))])
    clock.now += 120  # every row is stale: all are touched
    assert store.turns(TENANT, [*keys, "missing"]) == [*([turn(1)] * len(keys)), None]
    assert set(column(store, "SELECT last_used FROM turns")) == {clock.now}
    assert store.stats().entries == len(keys)


def test_another_tenants_turn_is_not_found(store: SQLiteStore) -> None:
    store.commit([turn_record(1)])
    assert found(store, 1, tenant=OTHER) is None
    assert found(store, 1) == turn(1)


def test_a_recorded_turn_is_replaced_and_the_totals_follow(store: SQLiteStore) -> None:
    store.commit([turn_record(1, thinking="short")])
    longer = turn_record(1, thinking="a much longer thought than before")
    assert store.commit([longer]) == [True]
    assert found(store, 1) == longer.message
    stats = store.stats()
    assert (stats.entries, stats.bytes) == (1, len(encode_turn(longer.message)))


def test_threads_share_one_store(store: SQLiteStore) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(40):
                n = worker * 1000 + i
                tenant = f"t-{worker}"
                assert store.commit([turn_record(n, tenant=tenant)]) == [True]
                assert found(store, n, tenant=tenant) == turn(n)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert errors == []
    stats = store.stats()
    assert (stats.entries, stats.hits, stats.misses) == (320, 320, 0)


def test_two_stores_on_one_file_see_each_others_records(tmp_path: Path) -> None:
    a = SQLiteStore(tmp_path / "s.db")
    b = SQLiteStore(tmp_path / "s.db")
    a.commit([turn_record(1), response_record(1)])
    assert found(b, 1) == turn(1)
    assert b.response(TENANT, "resp_1") == stored(1)
    assert b.item(TENANT, "rs_1") == "resp_1"
    b.commit([turn_record(2), ResponseDeletion(tenant=TENANT, id="resp_1")])
    assert a.response(TENANT, "resp_1") is None
    assert a.stats().entries == b.stats().entries == 2
    a.close()
    b.close()


# ---------------------------------------------------------------------------------------------
# TTL


def test_expired_records_are_not_returned_and_hits_extend_the_ttl(tmp_path: Path, clock: Clock) -> None:
    store = SQLiteStore(tmp_path / "s.db", ttl=100, clock=clock)  # touch interval: 10 s
    store.commit([turn_record(1), turn_record(2), response_record(1), response_record(2)])
    clock.now += 60
    assert found(store, 1) is not None  # used at +60: lives until +160
    assert store.response(TENANT, "resp_1") is not None
    clock.now += 60
    assert found(store, 1) is not None
    assert store.response(TENANT, "resp_1") is not None
    assert found(store, 2) is None  # last used at 0, now +120
    assert store.response(TENANT, "resp_2") is None
    stats = store.stats()
    assert (stats.hits, stats.misses) == (2, 1)  # turn lookups only
    store.close()


def test_a_hit_writes_last_used_only_when_it_is_older_than_the_touch_interval(
    tmp_path: Path, clock: Clock
) -> None:
    store = SQLiteStore(tmp_path / "s.db", touch_interval=30, clock=clock)
    store.commit([turn_record(1), response_record(1)])
    start = clock.now
    clock.now += 29
    assert found(store, 1) is not None
    assert store.response(TENANT, "resp_1") is not None
    assert column(store, "SELECT last_used FROM turns") == [start]
    assert column(store, "SELECT last_used FROM responses") == [start]
    clock.now += 1
    assert found(store, 1) is not None
    assert store.response(TENANT, "resp_1") is not None
    assert column(store, "SELECT last_used FROM turns") == [start + 30]
    assert column(store, "SELECT last_used FROM responses") == [start + 30]
    store.close()


def test_expired_records_are_purged_at_most_every_purge_interval(tmp_path: Path, clock: Clock) -> None:
    store = SQLiteStore(tmp_path / "s.db", ttl=100, purge_interval=150, clock=clock)
    store.commit([turn_record(n) for n in range(5)] + [response_record(1)])  # purges (first commit)
    clock.now += 101
    store.commit([turn_record(9)])  # 101 s after the last purge: none
    assert store.stats().entries == 7
    assert (store.stats().expired, found(store, 0)) == (0, None)  # expired, not yet purged
    clock.now += 59  # 160 s after the last purge
    store.commit([turn_record(10)])
    stats = store.stats()
    assert (stats.entries, stats.expired, stats.evictions) == (2, 6, 0)
    assert stats.bytes == len(encode_turn(turn(9))) + len(encode_turn(turn(10)))
    assert column(store, "SELECT count(*) FROM items") == [0]  # the response's items went with it
    store.close()


# ---------------------------------------------------------------------------------------------
# bounds


def test_max_entries_evicts_the_least_recently_used_turns_and_responses(tmp_path: Path, clock: Clock) -> None:
    store = SQLiteStore(tmp_path / "s.db", max_entries=3, touch_interval=0, clock=clock)
    store.commit([turn_record(0)])
    clock.now += 1
    store.commit([response_record(1)])
    clock.now += 1
    store.commit([turn_record(2)])
    clock.now += 1
    assert found(store, 0) is not None  # turn 0 is now the most recent; response 1 the least
    clock.now += 1
    store.commit([turn_record(3)])
    assert store.response(TENANT, "resp_1") is None
    assert store.item(TENANT, "msg_1") is None  # its items went with it
    for n in (2, 0, 3):  # used in this order: turn 2 is the least recently used
        clock.now += 1
        assert found(store, n) is not None
    clock.now += 1
    store.commit([response_record(4)])
    assert found(store, 2) is None
    assert store.response(TENANT, "resp_4") == stored(4)
    stats = store.stats()
    assert (stats.entries, stats.evictions) == (3, 2)
    store.close()


def test_max_bytes_evicts_until_the_total_fits(tmp_path: Path, clock: Clock) -> None:
    size = len(encode_turn(turn(10)))
    store = SQLiteStore(tmp_path / "s.db", max_bytes=size * 4 + size // 2, clock=clock)
    for n in range(10, 14):
        store.commit([turn_record(n)])
        clock.now += 1
    assert store.stats().evictions == 0
    big = turn_record(20, thinking="x" * size)  # about two small turns
    store.commit([big])
    stats = store.stats()
    assert stats.evictions == 2
    assert stats.bytes <= store.max_bytes
    assert found(store, 20) == big.message
    assert [found(store, n) is None for n in range(10, 14)] == [True, True, False, False]
    store.close()


def test_a_record_over_the_value_limit_is_rejected_and_counted(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", max_value_bytes=300)
    results = store.commit(
        [
            turn_record(1, thinking="x" * 500),
            turn_record(2),
            response_record(3, text="y" * 500),
            response_record(4),
        ]
    )
    assert results == [False, True, False, True]
    assert found(store, 1) is None
    assert store.response(TENANT, "resp_3") is None
    assert store.item(TENANT, "msg_3") is None
    stats = store.stats()
    assert (stats.entries, stats.rejected) == (2, 2)
    store.close()


# ---------------------------------------------------------------------------------------------
# stored responses


def test_a_stored_response_and_its_items_are_per_tenant(store: SQLiteStore) -> None:
    assert store.commit([response_record(1)]) == [True]
    assert store.response(TENANT, "resp_1") == stored(1)
    assert store.item(TENANT, "msg_1") == store.item(TENANT, "rs_1") == "resp_1"
    assert store.response(OTHER, "resp_1") is None
    assert store.item(OTHER, "msg_1") is None
    assert store.commit([ResponseDeletion(tenant=OTHER, id="resp_1")]) == [False]
    assert store.response(TENANT, "resp_1") == stored(1)
    # the same id in another tenant is another record
    assert store.commit([response_record(1, tenant=OTHER, text="theirs")]) == [True]
    assert store.response(OTHER, "resp_1") == stored(1, text="theirs")
    assert store.response(TENANT, "resp_1") == stored(1)
    assert store.stats().entries == 2


def test_deleting_a_response_removes_it_and_its_items(store: SQLiteStore) -> None:
    store.commit([response_record(1), response_record(2)])
    assert store.commit([ResponseDeletion(tenant=TENANT, id="resp_1")]) == [True]
    assert store.response(TENANT, "resp_1") is None
    assert store.item(TENANT, "msg_1") is None
    assert store.item(TENANT, "rs_1") is None
    assert store.item(TENANT, "msg_2") == "resp_2"
    assert store.commit([ResponseDeletion(tenant=TENANT, id="resp_1")]) == [False]
    stats = store.stats()
    assert (stats.entries, stats.bytes) == (1, len(encode_response(stored(2))))


def test_a_replaced_response_updates_the_totals(store: SQLiteStore) -> None:
    store.commit([response_record(1)])
    longer = response_record(1, text="a much longer answer than the first one")
    store.commit([longer])
    assert store.response(TENANT, "resp_1") == longer.stored
    stats = store.stats()
    assert (stats.entries, stats.bytes) == (1, len(encode_response(longer.stored)))


def test_a_batch_applies_in_order(store: SQLiteStore) -> None:
    results = store.commit(
        [
            response_record(1),
            ResponseDeletion(tenant=TENANT, id="resp_1"),
            ResponseDeletion(tenant=TENANT, id="resp_1"),
            turn_record(1),
            response_record(2),
        ]
    )
    assert results == [True, True, False, True, True]
    assert store.response(TENANT, "resp_1") is None
    assert store.response(TENANT, "resp_2") == stored(2)
    assert store.stats().entries == 2
    assert store.commit([]) == []


def test_a_batch_is_one_transaction(store: SQLiteStore) -> None:
    """A write that fails (here a trigger aborting one insert) rolls the whole batch back, and
    the store goes on working."""
    store.commit([turn_record(0)])
    before = store.stats()
    with sqlite3.connect(store.path) as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON responses WHEN NEW.id = 'resp_666'"
            " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
    db.close()
    with pytest.raises(StoreError, match="refused by the test"):
        store.commit([turn_record(1), response_record(2), response_record(666), turn_record(3)])
    assert store.turns(TENANT, [key(1), key(3)]) == [None, None]
    assert store.response(TENANT, "resp_2") is None
    assert store.item(TENANT, "msg_2") is None
    after = store.stats()
    assert (after.entries, after.bytes) == (before.entries, before.bytes)
    assert store.commit([turn_record(1), response_record(2)]) == [True, True]
    assert found(store, 1) == turn(1)
    assert store.stats().entries == 3


@pytest.mark.parametrize("table", ["turns", "responses"])
def test_a_failed_touch_leaves_no_transaction_open(store: SQLiteStore, clock: Clock, table: str) -> None:
    """A hit whose ``last_used`` update fails (disk full; here a trigger refusing it) is an
    error, and the file is not left write-locked by the reader's transaction."""
    store.commit([turn_record(1), response_record(1)])
    with closing(sqlite3.connect(store.path)) as db, db:
        db.execute(
            f"CREATE TRIGGER refuse BEFORE UPDATE ON {table} BEGIN SELECT RAISE(ABORT, 'no room'); END"
        )
    clock.now += store.touch_interval
    reads: dict[str, Callable[[], object]] = {
        "turns": lambda: found(store, 1),
        "responses": lambda: store.response(TENANT, "resp_1"),
    }
    hit = reads[table]
    with pytest.raises(StoreError, match="no room"):
        hit()
    with closing(sqlite3.connect(store.path, timeout=0, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # "database is locked" at once if the reader kept its lock
        other.execute("DROP TRIGGER refuse")
        other.execute("COMMIT")
    assert store.commit([turn_record(2)]) == [True]
    assert store.response(TENANT, "resp_1") == stored(1)
    assert found(store, 1) == turn(1)
