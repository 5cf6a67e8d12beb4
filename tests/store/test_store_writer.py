"""The write-behind store: puts queued for one thread, visible to reads at once, bounded."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from thinkwire.ir import Message, Text, Thinking
from thinkwire.store import Keys, SQLiteStore, StoreError, StoreStats, restore
from thinkwire.store.writer import WriteBehind

TENANT = "t-alice"
KEYS = Keys(b"0123456789abcdef-test-secret")


def turn(n: int) -> Message:
    return Message(role="assistant", blocks=(Thinking(text=f"thought {n}"), Text(text=f"answer {n}")))


def sent_back(n: int) -> Message:
    return Message(role="assistant", blocks=(Text(text=f"answer {n}"),))


class Gated:
    """A backend whose puts wait until ``gate`` is set (or fail with ``fail``)."""

    def __init__(self, fail: bool = False) -> None:
        self.keys = KEYS
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.fail = fail
        self.turns: dict[str, Message] = {}
        self.closed = False

    def put(self, tenant: str, message: Message) -> bool:
        self.entered.set()
        self.gate.wait(10)
        if self.fail:
            raise StoreError("disk full")
        self.turns[self.keys.fingerprint(tenant, message)] = message
        return True

    def get(self, tenant: str, fingerprint: str) -> Message | None:
        return self.turns.get(fingerprint)

    def get_many(self, tenant: str, fingerprints: Sequence[str]) -> list[Message | None]:
        return [self.turns.get(f) for f in fingerprints]

    def stats(self) -> StoreStats:
        return StoreStats(entries=len(self.turns))

    def close(self) -> None:
        self.closed = True


def test_a_queued_turn_is_restored_before_it_is_written() -> None:
    backend = Gated()
    store = WriteBehind(backend)
    assert store.put(TENANT, turn(1))
    assert backend.turns == {}  # the writer waits at the gate
    messages, count = restore(store, TENANT, [sent_back(1)])
    assert count == 1
    assert messages[0].blocks[0] == Thinking(text="thought 1")
    assert restore(store, "t-bob", [sent_back(1)])[1] == 0  # another tenant's fingerprint differs
    backend.gate.set()
    assert store.flush(10)
    assert len(backend.turns) == 1
    assert store.recorded == 1
    assert restore(store, TENANT, [sent_back(1)])[1] == 1  # now from the backend
    store.close()
    assert backend.closed


def test_a_full_queue_drops_instead_of_blocking() -> None:
    backend = Gated()
    store = WriteBehind(backend, capacity=2)
    assert store.put(TENANT, turn(0))
    assert backend.entered.wait(10)  # the writer holds turn 0 at the gate
    assert [store.put(TENANT, turn(n)) for n in range(1, 5)] == [True, True, False, False]
    assert (store.dropped, store.queued) == (2, 2)
    backend.gate.set()
    store.close()
    assert len(backend.turns) == 3


def test_unrecordable_turns_are_not_queued_and_failures_are_counted() -> None:
    backend = Gated(fail=True)
    backend.gate.set()
    store = WriteBehind(backend)
    assert not store.put(TENANT, sent_back(1))  # no reasoning: nothing to record
    assert store.put(TENANT, turn(1))
    assert store.flush(10)
    assert (store.errors, store.recorded) == (1, 0)
    store.close()


def test_close_writes_everything_queued_and_stats_see_every_put(tmp_path: Path) -> None:
    store = WriteBehind(SQLiteStore(tmp_path / "state.db", keys=KEYS))
    for n in range(50):
        store.put(TENANT, turn(n))
    assert store.stats().entries == 50  # stats() flushes first
    for n in range(50, 100):
        store.put(TENANT, turn(n))
    store.close()
    reopened = SQLiteStore(tmp_path / "state.db", keys=KEYS)
    assert reopened.stats().entries == 100
    reopened.close()
