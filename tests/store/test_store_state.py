"""``ConversationState``: restore and record over a backend, read-your-writes, durability
modes, group commit, backpressure without drops, degrading when the backend fails or hangs, a
``health()`` that never blocks, and stored responses (chains, deletion, tenants).

The backend is a real ``SQLiteStore`` behind ``Hooked``, whose calls a test can hold (until it
lets them go) or make fail. Every wait is bounded (``TIMEOUT``), so nothing can hang the suite.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from thinkwire.ir import Message, Request, Response, Text, Thinking, ToolCall, ToolResult
from thinkwire.store import ConversationState, Keys, SQLiteStore, StoreError, StoreUnavailable, open_state
from thinkwire.store.base import ResponseRecord, StoredResponse, StoreStats, TurnRecord, Write
from thinkwire.store.state import MAX_BATCH, READERS, ChainBroken

T = TypeVar("T")
TIMEOUT = 5.0
"""The longest any wait in this file may take."""
TENANT = "t-alice"
OTHER = "t-bob"
KEYS = Keys(b"0123456789abcdef-test-secret")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, 4 * TIMEOUT))


async def until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.002)


class Hooked:
    """A ``SQLiteStore`` whose calls wait while their gate is closed (at most ``TIMEOUT``)
    and raise ``fail[method]`` when set. Counts calls and the size of each committed batch."""

    def __init__(self, inner: SQLiteStore) -> None:
        self.inner = inner
        self.gates = {name: threading.Event() for name in ("commit", "turns", "stats")}
        for gate in self.gates.values():
            gate.set()
        self.started = {name: threading.Event() for name in self.gates}
        self.fail: dict[str, StoreError] = {}
        self.calls: Counter[str] = Counter()
        self.finished: Counter[str] = Counter()
        self.batches: list[int] = []
        self.log: list[str] = []

    def hold(self, name: str) -> None:
        self.started[name].clear()
        self.gates[name].clear()

    def release(self) -> None:
        for gate in self.gates.values():
            gate.set()

    def _enter(self, name: str) -> None:
        self.calls[name] += 1
        self.started.get(name, threading.Event()).set()
        gate = self.gates.get(name)
        if gate is not None and not gate.wait(TIMEOUT):
            raise StoreError(f"the test never let {name} go")
        if name in self.fail:
            raise self.fail[name]

    def commit(self, writes: Sequence[Write]) -> list[bool]:
        try:
            self._enter("commit")
            done = self.inner.commit(writes)
            self.batches.append(len(writes))
            self.log.append("committed")
            return done
        finally:
            self.finished["commit"] += 1

    def turns(self, tenant: str, keys: Sequence[str]) -> list[Message | None]:
        try:
            self._enter("turns")
            return self.inner.turns(tenant, keys)
        finally:
            self.finished["turns"] += 1

    def response(self, tenant: str, id: str) -> StoredResponse | None:
        self._enter("response")
        return self.inner.response(tenant, id)

    def item(self, tenant: str, item: str) -> str | None:
        self._enter("item")
        return self.inner.item(tenant, item)

    def stats(self) -> StoreStats:
        try:
            self._enter("stats")
            return self.inner.stats()
        finally:
            self.finished["stats"] += 1

    def close(self) -> None:
        self.release()
        self.inner.close()


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Hooked]:
    hooked = Hooked(SQLiteStore(tmp_path / "state.db"))
    yield hooked
    hooked.close()


@pytest.fixture
def states(backend: Hooked) -> Iterator[Callable[..., ConversationState]]:
    """``states(**options)``: a ``ConversationState`` over ``backend``, closed after the test."""
    made: list[ConversationState] = []

    def make(**options: Any) -> ConversationState:
        state = ConversationState(backend, KEYS, **options)
        made.append(state)
        return state

    yield make
    backend.release()
    for state in made:
        state.close()


QUESTION = Message(role="user", blocks=(Text(text="weather in Paris and Lyon?"),), plain=True)


def turn(n: int) -> Message:
    return Message(
        role="assistant",
        blocks=(
            Thinking(text=f"look up city {n}", signature=f"sig-{n}"),
            ToolCall(id=f"call_{n}", name="get_weather", arguments=f'{{"city": {n}}}'),
        ),
    )


def visible(message: Message) -> Message:
    return Message(
        role="assistant", blocks=tuple(b for b in message.blocks if isinstance(b, Text | ToolCall))
    )


def asked() -> Request:
    return Request(messages=(QUESTION,))


def sent_back(n: int) -> Request:
    """The client's next request: turn ``n`` without its thinking, and the tool's result."""
    result = Message(role="tool", blocks=(ToolResult(call_id=f"call_{n}", content="sunny"),))
    return Request(messages=(QUESTION, visible(turn(n)), result))


def record_of(state: ConversationState, n: int, tenant: str = TENANT) -> TurnRecord:
    return state.turn_record(tenant, asked(), turn(n))


def stored(n: int, previous: str | None = None) -> StoredResponse:
    return StoredResponse(
        response=Response(id=f"resp_{n}", blocks=(Text(text=f"answer {n}"),), stop_reason="end_turn"),
        input=(Message(role="user", blocks=(Text(text=f"question {n}"),)),),
        previous=previous,
        items=(f"msg_{n}",),
    )


def response_record(n: int, previous: str | None = None, tenant: str = TENANT) -> ResponseRecord:
    return ResponseRecord(tenant=tenant, id=f"resp_{n}", stored=stored(n, previous))


# ---------------------------------------------------------------------------------------------
# restore and record


def test_a_recorded_turn_is_restored_for_its_tenant_only(
    backend: Hooked, states: Callable[..., ConversationState]
) -> None:
    async def main() -> None:
        state = states()
        assert await state.record([record_of(state, 1)])
        assert (state.recorded, state.commits) == (1, 1)
        request = sent_back(1)
        restored, count = await state.restore(TENANT, request)
        assert count == 1
        assert restored.messages == (QUESTION, turn(1), request.messages[2])
        assert backend.calls["turns"] == 1  # committed: read from the backend
        theirs, count = await state.restore(OTHER, request)
        assert (theirs, count) == (request, 0)
        assert theirs is request
        whole = Request(messages=(QUESTION, turn(1)))
        assert await state.restore(TENANT, whole) == (whole, 0)
        assert backend.calls["turns"] == 2  # nothing to look up: no lookup

    run(main())


def test_a_committed_turn_survives_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "home" / "state.db"

    async def main() -> None:
        first = open_state(path, keys=KEYS)
        assert first.durability == "commit"
        assert await first.record([record_of(first, 1)])
        await first.aclose()
        again = open_state(path, keys=KEYS)
        _, count = await again.restore(TENANT, sent_back(1))
        assert count == 1
        await again.aclose()

    run(main())


def test_fsync_durability_opens_sqlite_with_fsync(tmp_path: Path) -> None:
    for durability, fsync in (("commit", False), ("fsync", True), ("async", False)):
        state = open_state(tmp_path / f"{durability}.db", keys=KEYS, durability=durability)  # type: ignore[arg-type]
        assert isinstance(state.backend, SQLiteStore)
        assert state.backend.fsync is fsync
        assert state.durability == durability
        state.close()


def test_an_unknown_durability_is_refused(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    with pytest.raises(ValueError, match="durability"):
        ConversationState(store, KEYS, durability="eventually")  # type: ignore[arg-type]
    store.close()


def test_recording_nothing_touches_nothing(backend: Hooked, states: Callable[..., ConversationState]) -> None:
    async def main() -> None:
        state = states()
        assert await state.record([])
        assert backend.calls["commit"] == 0

    run(main())


def test_reads_see_a_queued_record_while_the_committer_is_blocked(
    backend: Hooked, states: Callable[..., ConversationState]
) -> None:
    async def main() -> None:
        state = states(durability="async")
        backend.hold("commit")
        assert await state.record([record_of(state, 1), response_record(1)])  # returns at once
        await until(backend.started["commit"].is_set)
        assert backend.batches == []
        _, count = await state.restore(TENANT, sent_back(1))
        assert count == 1
        assert await state.response(TENANT, "resp_1") == stored(1)
        assert await state.item(TENANT, "msg_1") == "resp_1"
        assert await state.conversation(TENANT, "resp_1") == (
            stored(1).input[0],
            stored(1).response.to_message(),
        )
        assert await state.response(OTHER, "resp_1") is None  # the queue is per tenant too
        assert await state.item(OTHER, "msg_1") is None
        assert backend.calls["turns"] == 0
        assert backend.calls["response"] == backend.calls["item"] == 1  # the other tenant's only
        health = state.health()
        assert health["pending_bytes"] > 0
        backend.release()
        assert await asyncio.to_thread(state.flush, TIMEOUT)
        assert backend.batches == [2]
        _, count = await state.restore(TENANT, sent_back(1))  # now from the backend
        assert (count, backend.calls["turns"]) == (1, 1)

        # a queued deletion is seen too
        backend.hold("commit")
        deletion = asyncio.create_task(state.delete_response(TENANT, "resp_1"))
        await until(backend.started["commit"].is_set)
        reads = backend.calls["response"]
        assert await state.response(TENANT, "resp_1") is None
        assert backend.calls["response"] == reads
        backend.release()
        assert await asyncio.wait_for(deletion, TIMEOUT)

    run(main())


@pytest.mark.parametrize("durability", ["commit", "fsync"])
def test_record_returns_only_once_the_backend_has_committed(
    backend: Hooked, states: Callable[..., ConversationState], durability: str
) -> None:
    async def main() -> None:
        state = states(durability=durability)
        backend.hold("commit")
        record = record_of(state, 1)
        task = asyncio.create_task(state.record([record]))
        await until(backend.started["commit"].is_set)
        await asyncio.sleep(0.05)
        assert not task.done()
        backend.release()
        assert await asyncio.wait_for(task, TIMEOUT)
        backend.log.append("record returned")
        assert backend.log == ["committed", "record returned"]
        assert backend.inner.turns(TENANT, record.keys) == [turn(1)] * len(record.keys)

    run(main())


def test_async_record_returns_before_the_commit_and_close_writes_the_rest(
    backend: Hooked, states: Callable[..., ConversationState]
) -> None:
    state = states(durability="async")

    async def main() -> list[TurnRecord]:
        backend.hold("commit")
        records = [record_of(state, n) for n in range(5)]
        for record in records:
            assert await asyncio.wait_for(state.record([record]), 1.0)
        assert backend.log == []
        return records

    records = run(main())
    backend.release()
    state.close()
    reopened = SQLiteStore(backend.inner.path)
    assert all(reopened.turns(TENANT, r.keys)[0] == r.message for r in records)
    assert state.recorded == 5
    reopened.close()


def test_concurrent_records_share_one_commit(
    backend: Hooked, states: Callable[..., ConversationState]
) -> None:
    """Group commit: 50 records that arrive while a commit is in progress are written by the
    next one, together."""
    n = 50

    async def main() -> None:
        state = states()
        backend.hold("commit")
        first = asyncio.create_task(state.record([record_of(state, 0)]))
        await until(backend.started["commit"].is_set)
        others = [asyncio.create_task(state.record([record_of(state, i)])) for i in range(1, n + 1)]
        await until(lambda: state.health()["pending"] == n)
        backend.release()
        results = await asyncio.wait_for(asyncio.gather(first, *others), TIMEOUT)
        assert all(results)
        assert backend.batches == [1, n]
        assert (state.commits, state.recorded, state.unrecorded) == (2, n + 1, 0)

    run(main())


def test_a_transaction_holds_at_most_max_batch_records(
    backend: Hooked, states: Callable[..., ConversationState]
) -> None:
    async def main() -> None:
        state = states()
        records = [TurnRecord(tenant=TENANT, keys=(f"k{i}",), message=turn(1)) for i in range(MAX_BATCH + 6)]
        assert await state.record(records)
        assert backend.batches == [MAX_BATCH, 6]
        assert state.recorded == MAX_BATCH + 6

    run(main())


def test_backpressure_makes_record_wait_for_room_and_drops_nothing(
    backend: Hooked, states: Callable[..., ConversationState]
) -> None:
    async def main() -> None:
        state = states(durability="async", max_pending_bytes=1, commit_timeout=TIMEOUT)
        backend.hold("commit")
        assert await state.record([record_of(state, 0)])  # an empty queue has room
        await until(backend.started["commit"].is_set)
        waiting = [asyncio.create_task(state.record([record_of(state, i)])) for i in range(1, 11)]
        await asyncio.sleep(0.05)
        assert not any(task.done() for task in waiting)
        assert state.health()["pending"] == 0  # nothing queued past the bound
        backend.release()
        assert all(await asyncio.wait_for(asyncio.gather(*waiting), TIMEOUT))
        assert await asyncio.to_thread(state.flush, TIMEOUT)
        assert (state.recorded, state.unrecorded) == (11, 0)
        assert set(backend.batches) == {1}  # never more than the bound in the queue
        for i in range(11):
            record = record_of(state, i)
            assert backend.inner.turns(TENANT, record.keys)[0] == turn(i)

    run(main())


def test_a_commit_slower_than_commit_timeout_makes_record_return_false(
    backend: Hooked, states: Callable[..., ConversationState]
) -> None:
    async def main() -> None:
        state = states(commit_timeout=0.1)
        backend.hold("commit")
        start = time.monotonic()
        assert not await state.record([record_of(state, 1)])
        assert time.monotonic() - start < 1.0
        backend.release()
        assert await asyncio.to_thread(state.flush, TIMEOUT)  # ... and the turn is still written
        assert state.recorded == 1

    run(main())


def test_a_waiter_whose_event_loop_has_closed_does_not_stop_the_committer(
    backend: Hooked, states: Callable[..., ConversationState]
) -> None:
    """A ``record`` still waiting when its event loop ends (a second ``asyncio.run``, a
    shutdown without ``close``): the committer cannot wake it, and must go on committing."""
    state = states(commit_timeout=1.0)
    pending: list[asyncio.Task[bool]] = []

    async def abandon() -> None:
        backend.hold("commit")
        pending.append(asyncio.create_task(state.record([record_of(state, 1)])))
        await until(backend.started["commit"].is_set)

    run(abandon())  # the loop closes with the record waiting for its commit
    backend.release()
    assert state.flush(TIMEOUT)

    async def later() -> bool:
        return await state.record([record_of(state, 2)])

    assert run(later())
    assert state.recorded == 2


# ---------------------------------------------------------------------------------------------
# degrading


def test_a_failing_backend_is_skipped_until_the_retry_interval_passes(
    backend: Hooked, states: Callable[..., ConversationState]
) -> None:
    async def main() -> None:
        state = states(retry_interval=0.3)
        backend.fail["commit"] = StoreError("disk full")
        assert await state.record([record_of(state, 1), response_record(1)]) is False
        assert (state.recorded, state.unrecorded, state.errors) == (0, 0, 1)
        assert state.deferred == 2  # kept for another try, not dropped
        assert state.down
        assert state.health()["status"] == "degraded"

        # while down: lookups are skipped at once, and what is still queued is readable
        request = sent_back(2)
        start = time.monotonic()
        restored, count = await state.restore(TENANT, request)
        assert (restored, count) == (request, 0)
        assert restored is request
        with pytest.raises(StoreUnavailable):
            await state.response(TENANT, "resp_2")
        assert (await state.response(TENANT, "resp_1")) is not None  # queued, readable
        assert time.monotonic() - start < 0.2
        assert backend.calls["turns"] == backend.calls["response"] == 0
        assert state.skipped == 1
        # a record made while down returns at once and waits in the queue too
        start = time.monotonic()
        assert await state.record([record_of(state, 2)]) is False
        assert time.monotonic() - start < 0.2

        del backend.fail["commit"]  # the store comes back: the queued records are written
        await until(lambda: state.recorded == 2 and not state.down, timeout=2.0)
        assert state.unrecorded == 0
        _, count = await state.restore(TENANT, sent_back(1))
        assert count == 1
        _, count = await state.restore(TENANT, request)
        assert count == 1
        assert state.health()["status"] == "ok"

    run(main())


def test_records_queued_while_the_store_is_down_are_given_up_on_closing(
    backend: Hooked, states: Callable[..., ConversationState]
) -> None:
    async def main() -> None:
        state = states(retry_interval=0.2)
        backend.fail["commit"] = StoreError("disk full")
        assert await state.record([record_of(state, 1)]) is False
        await state.aclose()
        assert (state.recorded, state.unrecorded) == (0, 1)

    run(main())


def test_a_failing_lookup_marks_the_store_down(
    backend: Hooked, states: Callable[..., ConversationState]
) -> None:
    async def main() -> None:
        state = states(retry_interval=60)
        backend.fail["turns"] = StoreError("database disk image is malformed")
        request = sent_back(1)
        assert await state.restore(TENANT, request) == (request, 0)
        assert (state.skipped, state.errors, state.down) == (1, 1, True)
        assert await state.restore(TENANT, request) == (request, 0)
        assert (state.skipped, backend.calls["turns"]) == (2, 1)

    run(main())


def test_a_hanging_lookup_is_given_up_after_lookup_timeout(
    backend: Hooked, states: Callable[..., ConversationState]
) -> None:
    async def main() -> None:
        state = states(lookup_timeout=0.2, retry_interval=60)
        backend.hold("turns")
        request = sent_back(1)
        start = time.monotonic()
        restored, count = await state.restore(TENANT, request)
        elapsed = time.monotonic() - start
        assert (restored, count) == (request, 0)
        assert 0.15 < elapsed < 1.5
        assert (state.skipped, state.down) == (1, True)
        backend.release()  # let the abandoned worker thread end before the loop does
        await until(lambda: backend.finished["turns"] == 1)

    run(main())


def test_health_never_blocks_even_when_stats_hang(
    backend: Hooked, states: Callable[..., ConversationState]
) -> None:
    async def main() -> None:
        state = states()
        backend.hold("stats")
        for _ in range(3):
            start = time.monotonic()
            health = state.health()
            assert time.monotonic() - start < 0.1
            assert health["stats"] is None
            assert health["status"] == "ok"
        await until(backend.started["stats"].is_set)
        assert backend.calls["stats"] == 1  # one refresh at a time
        backend.release()
        await until(lambda: state.health()["stats"] is not None)
        health = state.health()
        assert health["stats"]["entries"] == 0
        assert health["durability"] == "commit"

    run(main())


# ---------------------------------------------------------------------------------------------
# stored responses


def test_a_conversation_is_its_chain_of_stored_responses_in_order(
    backend: Hooked, states: Callable[..., ConversationState]
) -> None:
    async def main() -> None:
        state = states()
        chain = [response_record(1), response_record(2, "resp_1"), response_record(3, "resp_2")]
        assert await state.record(chain)
        assert state.recorded == 0  # turns only
        expected: tuple[Message, ...] = ()
        for record in chain:
            expected += (*record.stored.input, record.stored.response.to_message())
        assert await state.conversation(TENANT, "resp_3") == expected
        assert await state.conversation(TENANT, "resp_1") == expected[:2]
        assert await state.conversation(TENANT, "resp_9") is None
        assert await state.response(TENANT, "resp_2") == stored(2, "resp_1")
        assert await state.item(TENANT, "msg_2") == "resp_2"

    run(main())


def test_a_missing_link_breaks_the_chain(backend: Hooked, states: Callable[..., ConversationState]) -> None:
    async def main() -> None:
        state = states()
        await state.record([response_record(1), response_record(2, "resp_1"), response_record(3, "resp_2")])
        assert await state.delete_response(TENANT, "resp_2")
        with pytest.raises(ChainBroken) as broken:
            await state.conversation(TENANT, "resp_3")
        assert (broken.value.id, broken.value.missing) == ("resp_3", "resp_2")
        assert isinstance(broken.value, StoreError)
        assert len(await state.conversation(TENANT, "resp_1") or ()) == 2

    run(main())


def test_deleting_a_response_forgets_it_and_its_items(
    backend: Hooked, states: Callable[..., ConversationState]
) -> None:
    async def main() -> None:
        state = states()
        await state.record([response_record(1), response_record(2)])
        assert await state.delete_response(TENANT, "resp_1") is True
        assert await state.response(TENANT, "resp_1") is None
        assert await state.item(TENANT, "msg_1") is None
        assert await state.delete_response(TENANT, "resp_1") is False
        assert await state.response(TENANT, "resp_2") == stored(2)

    run(main())


def test_stored_responses_are_per_tenant(backend: Hooked, states: Callable[..., ConversationState]) -> None:
    async def main() -> None:
        state = states()
        await state.record([response_record(1)])
        assert await state.response(OTHER, "resp_1") is None
        assert await state.item(OTHER, "msg_1") is None
        assert await state.conversation(OTHER, "resp_1") is None
        assert await state.delete_response(OTHER, "resp_1") is False
        assert await state.response(TENANT, "resp_1") == stored(1)
        await state.record([response_record(1, tenant=OTHER)])
        assert await state.delete_response(OTHER, "resp_1") is True
        assert await state.response(TENANT, "resp_1") == stored(1)

    run(main())


def test_stats_refreshes_reuse_the_reader_threads_and_their_connections(tmp_path: Path) -> None:
    """Each refresh ran on a thread of its own, whose SQLite connection the store kept until it
    closed: one more connection a second while ``/healthz`` was polled (``serve --model
    scripted`` grew by tens of MB over the fuzz run)."""
    state = open_state(tmp_path / "state.db", keys=Keys(b"k" * 32))
    backend = state.backend
    assert isinstance(backend, SQLiteStore)
    try:
        for _ in range(3 * READERS):
            state._stats_at = -1.0  # due now
            state.health()
            deadline = time.monotonic() + 5
            while state._refreshing and time.monotonic() < deadline:
                time.sleep(0.005)
        assert state.health()["stats"] is not None
        assert len(backend._readers) <= READERS
    finally:
        state.close()
