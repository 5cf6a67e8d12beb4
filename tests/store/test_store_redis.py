"""The Redis backend against a real redis-server: shared turns and stats, TTL carried and
refreshed, value limit, stored responses and their items per tenant, bounded failures."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from tests.support.redis import RedisServer, redis_server_binary

from thinkwire.ir import Message, Response, Text, Thinking, ToolCall
from thinkwire.store import Keys, StateBackend, StoreError, open_store
from thinkwire.store.base import ResponseDeletion, ResponseRecord, StoredResponse, TurnRecord
from thinkwire.store.redis import RedisStore

TENANT = "t-alice"
OTHER = "t-bob"
KEYS = Keys(b"0123456789abcdef-test-secret")


@pytest.fixture(scope="module")
def redis_server() -> Iterator[str]:
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with RedisServer() as server:
        yield server.url


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """An empty database 0, with the server's counters reset."""
    with redis.Redis.from_url(redis_server) as client:
        client.flushall()
        client.config_resetstat()
    return redis_server + "/0"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as opened:
        yield opened


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStore]:
    opened = RedisStore(redis_url)
    yield opened
    opened.close()


TURN = Message(
    role="assistant",
    blocks=(
        Thinking(text="plan", signature="s1"),
        ToolCall(id="call_1", name="search", arguments='{"q": "thinkwire"}'),
        Thinking(text="next", signature="s2"),
        ToolCall(id="call_2", name="open", arguments='{"url": "https://example.com"}'),
    ),
)
QUESTION = Message(role="user", blocks=(Text(text="find thinkwire"),))


def turn_keys(tenant: str = TENANT) -> tuple[str, ...]:
    return KEYS.turn_keys(tenant, None, (QUESTION, TURN), 1)


def turn_record(tenant: str = TENANT) -> TurnRecord:
    return TurnRecord(tenant=tenant, keys=turn_keys(tenant), message=TURN)


def stored(n: int, text: str = "answer") -> StoredResponse:
    return StoredResponse(
        response=Response(id=f"resp_{n}", blocks=(Text(text=f"{text} {n}"),), stop_reason="end_turn"),
        input=(Message(role="user", blocks=(Text(text=f"question {n}"),)),),
        items=(f"msg_{n}", f"rs_{n}"),
    )


def response_record(n: int, tenant: str = TENANT, text: str = "answer") -> ResponseRecord:
    return ResponseRecord(tenant=tenant, id=f"resp_{n}", stored=stored(n, text))


def test_two_stores_on_one_redis_share_turns_and_stats(redis_url: str) -> None:
    replica_a = RedisStore(redis_url)
    replica_b = RedisStore(redis_url)
    assert isinstance(replica_a, StateBackend)
    assert replica_a.commit([turn_record()]) == [True]
    (context,) = turn_keys()  # non-random call ids: the context key only
    assert replica_b.turns(TENANT, [context]) == [TURN]
    assert replica_a.turns(OTHER, list(turn_keys(OTHER))) == [None]  # another tenant's keys
    for stats in (replica_a.stats(), replica_b.stats()):
        assert (stats.entries, stats.hits, stats.misses) == (1, 1, 1)
        assert stats.bytes > 0
    replica_a.close()
    replica_b.close()


def test_a_turn_is_stored_under_each_of_its_keys(store: RedisStore, client: redis.Redis) -> None:
    record = TurnRecord(tenant=TENANT, keys=("ids-key", "context-key"), message=TURN)
    assert store.commit([record]) == [True]
    assert client.exists("thinkwire:turn:ids-key", "thinkwire:turn:context-key") == 2
    assert store.turns(TENANT, ["context-key", "ids-key"]) == [TURN, TURN]
    assert store.stats().entries == 2


def test_turns_keep_order_and_duplicates_and_count_hits(store: RedisStore) -> None:
    store.commit([TurnRecord(tenant=TENANT, keys=("a",), message=TURN)])
    assert store.turns(TENANT, ["0" * 64, "a", "1" * 64, "a"]) == [None, TURN, None, TURN]
    assert store.turns(TENANT, []) == []
    stats = store.stats()
    assert (stats.hits, stats.misses) == (2, 2)


def test_records_carry_the_ttl_and_a_hit_refreshes_it(redis_url: str, client: redis.Redis) -> None:
    store = RedisStore(redis_url, ttl=100)
    store.commit([TurnRecord(tenant=TENANT, keys=("a",), message=TURN), response_record(1)])
    names = ["thinkwire:turn:a", f"thinkwire:response:{TENANT}:resp_1", f"thinkwire:item:{TENANT}:msg_1"]
    for name in names:
        assert 0 < client.ttl(name) <= 100, name
        client.expire(name, 5)
    assert store.turns(TENANT, ["a"]) == [TURN]
    assert client.ttl("thinkwire:turn:a") > 5
    assert store.response(TENANT, "resp_1") == stored(1)
    assert client.ttl(f"thinkwire:response:{TENANT}:resp_1") > 5
    store.close()


def test_a_response_hit_keeps_its_items_as_long_as_the_response(redis_url: str, client: redis.Redis) -> None:
    """As with SQLite, where items live exactly as long as their response: a response kept
    alive by use must still answer ``item_reference`` to its output items."""
    store = RedisStore(redis_url, ttl=100)
    store.commit([response_record(1)])
    for name in (f"thinkwire:response:{TENANT}:resp_1", f"thinkwire:item:{TENANT}:msg_1"):
        client.expire(name, 5)
    assert store.response(TENANT, "resp_1") == stored(1)  # a use: it lives 100 s more
    assert client.ttl(f"thinkwire:item:{TENANT}:msg_1") > 5
    store.close()


def test_expired_records_are_gone(store: RedisStore, client: redis.Redis) -> None:
    store.commit([TurnRecord(tenant=TENANT, keys=("a",), message=TURN), response_record(1)])
    for name in ("thinkwire:turn:a", f"thinkwire:response:{TENANT}:resp_1"):
        client.pexpire(name, 1)
    time.sleep(0.01)
    assert store.turns(TENANT, ["a"]) == [None]
    assert store.response(TENANT, "resp_1") is None
    assert store.stats().expired >= 2


def test_a_record_over_the_value_limit_is_rejected_and_counted(redis_url: str) -> None:
    store = RedisStore(redis_url, max_value_bytes=200)
    results = store.commit(
        [
            turn_record(),
            TurnRecord(tenant=TENANT, keys=("small",), message=Message(role="assistant", blocks=())),
            response_record(1, text="x" * 300),
            ResponseDeletion(tenant=TENANT, id="resp_1"),
        ]
    )
    assert results == [False, True, False, False]
    assert store.turns(TENANT, list(turn_keys())) == [None]
    assert store.response(TENANT, "resp_1") is None
    stats = store.stats()
    assert (stats.entries, stats.rejected) == (1, 2)
    store.close()


def test_a_batch_reports_each_write_in_order(store: RedisStore) -> None:
    """Deletions report whether they removed something, wherever they stand in the batch."""
    store.commit([response_record(1)])
    results = store.commit(
        [
            TurnRecord(tenant=TENANT, keys=("a", "b"), message=TURN),
            ResponseDeletion(tenant=TENANT, id="resp_9"),
            response_record(2),
            ResponseDeletion(tenant=TENANT, id="resp_1"),
            ResponseDeletion(tenant=TENANT, id="resp_2"),
            ResponseDeletion(tenant=TENANT, id="resp_1"),
        ]
    )
    assert results == [True, False, True, True, True, False]
    assert store.commit([]) == []


def test_a_stored_response_and_its_items_are_per_tenant(store: RedisStore) -> None:
    assert store.commit([response_record(1)]) == [True]
    assert store.response(TENANT, "resp_1") == stored(1)
    assert store.item(TENANT, "msg_1") == store.item(TENANT, "rs_1") == "resp_1"
    assert store.response(OTHER, "resp_1") is None
    assert store.item(OTHER, "msg_1") is None
    assert store.commit([ResponseDeletion(tenant=OTHER, id="resp_1")]) == [False]
    assert store.response(TENANT, "resp_1") == stored(1)
    assert store.commit([response_record(1, tenant=OTHER, text="theirs")]) == [True]
    assert store.response(OTHER, "resp_1") == stored(1, "theirs")
    assert store.response(TENANT, "resp_1") == stored(1)


def test_deleting_a_response_reports_whether_it_was_there(store: RedisStore) -> None:
    store.commit([response_record(1)])
    assert store.commit([ResponseDeletion(tenant=TENANT, id="resp_1")]) == [True]
    assert store.response(TENANT, "resp_1") is None
    assert store.commit([ResponseDeletion(tenant=TENANT, id="resp_1")]) == [False]


def test_deleting_a_response_removes_its_items(store: RedisStore) -> None:
    """As with SQLite: ``item`` names only a response that is stored."""
    store.commit([response_record(1), response_record(2)])
    assert store.commit([ResponseDeletion(tenant=TENANT, id="resp_1")]) == [True]
    assert store.item(TENANT, "msg_2") == "resp_2"
    assert store.item(TENANT, "msg_1") is None
    assert store.item(TENANT, "rs_1") is None


def test_a_corrupt_value_is_a_store_error(store: RedisStore, client: redis.Redis) -> None:
    client.set("thinkwire:turn:a", b"not json")
    client.set(f"thinkwire:response:{TENANT}:resp_1", b"not json")
    with pytest.raises(StoreError, match="does not decode"):
        store.turns(TENANT, ["a"])
    with pytest.raises(StoreError, match="does not decode"):
        store.response(TENANT, "resp_1")


def test_open_store_picks_redis_for_a_url(redis_url: str) -> None:
    store = open_store(redis_url, ttl=10.5, max_value_bytes=1234)
    assert isinstance(store, RedisStore)
    assert (store.ttl, store.max_value_bytes) == (11, 1234)
    store.close()


def test_bad_bounds_are_refused(redis_url: str) -> None:
    with pytest.raises(ValueError, match="positive"):
        RedisStore(redis_url, ttl=0)
    with pytest.raises(ValueError, match="positive"):
        RedisStore(redis_url, max_value_bytes=0)


def test_an_unreachable_server_is_a_store_error_at_once() -> None:
    store = RedisStore("redis://:hunter2@127.0.0.1:1/0", timeout=0.5)
    start = time.monotonic()
    with pytest.raises(StoreError, match=r"redis redis://:\*\*\*@127.0.0.1:1/0") as info:
        store.commit([turn_record()])
    assert time.monotonic() - start < 2.0
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(store)
    store.close()


def test_a_server_that_does_not_answer_is_a_store_error_within_the_timeout() -> None:
    """A paused Redis: the connection is accepted, nothing ever comes back."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        store = RedisStore(f"redis://127.0.0.1:{port}/0", timeout=0.15)
        calls: list[Callable[[], object]] = [
            lambda: store.commit([turn_record()]),
            lambda: store.turns(TENANT, ["a"]),
            lambda: store.response(TENANT, "resp_1"),
            lambda: store.item(TENANT, "msg_1"),
            lambda: store.stats(),
        ]
        for call in calls:
            start = time.monotonic()
            with pytest.raises(StoreError, match=r"127\.0\.0\.1"):
                call()
            assert time.monotonic() - start < 1.0
        store.close()
