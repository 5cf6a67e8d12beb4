"""The Redis backend against a real redis-server: shared turns and stats, TTL, limits."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from thinkwire.ir import Message, Thinking, ToolCall
from thinkwire.store import Keys, StoreError, open_store, restore
from thinkwire.store.testing import RedisServer, redis_server_binary

redis = pytest.importorskip("redis")

from thinkwire.store.redis import RedisStore  # noqa: E402  (needs redis-py)

TENANT = "t-alice"


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
def keys() -> Keys:
    return Keys(b"0123456789abcdef-test-secret")


TURN = Message(
    role="assistant",
    blocks=(
        Thinking(text="plan", signature="s1"),
        ToolCall(id="call_1", name="search", arguments='{"q": "thinkwire"}'),
        Thinking(text="next", signature="s2"),
        ToolCall(id="call_2", name="open", arguments='{"url": "https://example.com"}'),
    ),
)
VISIBLE = Message(role="assistant", blocks=tuple(b for b in TURN.blocks if isinstance(b, ToolCall)))


def test_two_stores_on_one_redis_share_turns_and_stats(redis_url: str, keys: Keys) -> None:
    replica_a = RedisStore(redis_url, keys=keys)
    replica_b = RedisStore(redis_url, keys=Keys(b"0123456789abcdef-test-secret"))
    assert replica_a.put(TENANT, TURN)
    messages, restored = restore(replica_b, TENANT, [VISIBLE])
    assert (messages, restored) == ((TURN,), 1)
    assert restore(replica_a, "t-bob", [VISIBLE]) == ((VISIBLE,), 0)
    for stats in (replica_a.stats(), replica_b.stats()):
        assert (stats.entries, stats.hits, stats.misses) == (1, 1, 1)
        assert stats.bytes > 0
    replica_a.close()
    replica_b.close()


def test_a_replica_with_another_secret_shares_nothing(redis_url: str, keys: Keys) -> None:
    a = RedisStore(redis_url, keys=keys)
    b = RedisStore(redis_url, keys=Keys(b"another-secret-of-16+bytes"))
    a.put(TENANT, TURN)
    assert restore(b, TENANT, [VISIBLE]) == ((VISIBLE,), 0)
    a.close()
    b.close()


def test_keys_carry_the_ttl_and_a_hit_refreshes_it(redis_url: str, keys: Keys) -> None:
    store = RedisStore(redis_url, keys=keys, ttl=100)
    store.put(TENANT, TURN)
    fp = keys.fingerprint(TENANT, TURN)
    client = redis.Redis.from_url(redis_url)
    key = f"thinkwire:state:{fp}"
    assert 0 < client.ttl(key) <= 100
    client.expire(key, 5)
    assert store.get(TENANT, fp) == TURN
    assert client.ttl(key) > 5
    client.delete(key)
    assert store.get(TENANT, fp) is None
    client.close()
    store.close()


def test_expired_turns_are_gone(redis_url: str, keys: Keys) -> None:
    store = RedisStore(redis_url, keys=keys)
    store.put(TENANT, TURN)
    client = redis.Redis.from_url(redis_url)
    client.pexpire(f"thinkwire:state:{keys.fingerprint(TENANT, TURN)}", 1)
    client.close()
    time.sleep(0.01)
    assert store.get(TENANT, keys.fingerprint(TENANT, TURN)) is None
    assert store.stats().expired >= 1
    store.close()


def test_a_turn_over_the_value_limit_is_rejected_and_counted(redis_url: str, keys: Keys) -> None:
    store = RedisStore(redis_url, keys=keys, max_value_bytes=100)
    assert not store.put(TENANT, TURN)
    stats = store.stats()
    assert (stats.entries, stats.rejected) == (0, 1)
    store.close()


def test_get_many_keeps_order(redis_url: str, keys: Keys) -> None:
    store = RedisStore(redis_url, keys=keys)
    store.put(TENANT, TURN)
    fp = keys.fingerprint(TENANT, TURN)
    assert store.get_many(TENANT, ["0" * 64, fp, "1" * 64, fp]) == [None, TURN, None, TURN]
    assert store.get_many(TENANT, []) == []
    store.close()


def test_open_store_picks_redis_for_a_url(redis_url: str, keys: Keys) -> None:
    store = open_store(redis_url, keys=keys, ttl=10.5)
    assert isinstance(store, RedisStore)
    assert store.ttl == 11
    store.close()


def test_an_unreachable_server_is_a_store_error(keys: Keys) -> None:
    store = RedisStore("redis://:hunter2@127.0.0.1:1/0", keys=keys, timeout=0.5)
    with pytest.raises(StoreError, match=r"redis redis://:\*\*\*@127.0.0.1:1/0") as info:
        store.put(TENANT, TURN)
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(store)
    store.close()
