"""The conversation state as the server uses it: async, durable by default, never a stall.

``ConversationState(backend, keys, durability=...)`` sits between the request path and a
storage backend (``SQLiteStore``, ``RedisStore``):

* **Reads** (restore lookups, stored responses) run on the state's reader threads, never on
  the event loop, each bounded by ``lookup_timeout``.
* **Writes** go to one committer thread that writes everything queued in one transaction
  (group commit): many concurrent turns cost one commit, not one each.
* **Durability** (``--durability``), named the way Redis (``appendfsync``) and PostgreSQL
  (``synchronous_commit``) name theirs:

  - ``commit`` (default): ``record`` returns once the backend has committed the records, and
    the server sends the end of a response (its last event, or a whole body) only then, so a
    turn a client has fully received survives a crash of the server process. SQLite: the
    transaction is in the WAL (``synchronous=NORMAL``); an OS crash or power loss may lose the
    last ones. Redis: the records are in Redis; what survives a crash of Redis is its own
    persistence (docs/state.md).
  - ``fsync``: as ``commit``, and SQLite syncs the WAL to disk on every commit
    (``synchronous=FULL``), so a power loss loses nothing acknowledged either.
  - ``async``: ``record`` returns at once; the committer writes shortly after. Faster; a crash
    loses what was not yet written (milliseconds of turns).

  In every mode reads see a turn the moment it is queued (a client that sends a turn back at
  once is restored however far behind the committer is).
* **Backpressure, never drops.** At most ``max_pending_bytes`` of records wait for the
  committer; ``record`` waits for room beyond that (the response's end waits with it). A
  record is never dropped because the committer is behind.
* **Degrade, never stall.** A backend error or a lookup over ``lookup_timeout`` marks the
  store *down* for ``retry_interval`` seconds: lookups are skipped (the request goes on as the
  client sent it, counted in ``skipped``), stored-response reads of records not still queued
  raise ``StoreUnavailable`` (the endpoint answers 503 with ``retry-after``), ``record``
  returns at once instead of waiting for a commit, and a warning is logged at most once a
  second. A batch the store refused goes back to the front of the queue (``deferred``) and is
  tried again every ``retry_interval``, readable meanwhile, so a store that comes back within
  the queue's bound loses nothing; what does not fit while it is down is not kept
  (``unrecorded``), and neither is what is still queued when the state closes with the store
  down. ``record`` waits at most ``commit_timeout`` for a commit (``late``). ``health()``
  never touches the backend on the caller's thread: it returns the last statistics,
  refreshed in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar, get_args

import anyio.to_thread
import msgspec

from thinkwire.ir.conversation import Message, Request
from thinkwire.store.base import (
    ResponseDeletion,
    ResponseRecord,
    StateBackend,
    StoredResponse,
    StoreError,
    StoreStats,
    TurnRecord,
    Write,
    encode_turn,
)
from thinkwire.store.fingerprint import Keys
from thinkwire.store.restore import restore, wanted

Durability = Literal["commit", "fsync", "async"]
DURABILITIES: tuple[Durability, ...] = get_args(Durability)
DEFAULT_MAX_PENDING_BYTES: Final = 64 * 1024 * 1024
READERS: Final = 8
"""Threads that run store reads (a hung one holds a thread until the store's own timeout)."""
MAX_BATCH: Final = 1024
"""Records per transaction at most."""
MAX_CHAIN: Final = 10_000
"""Stored responses a ``previous_response_id`` chain may have."""

log = logging.getLogger("thinkwire.store")
T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


class StoreUnavailable(StoreError):
    """The state store is down (or too slow); the request cannot be answered from it now."""


class ChainBroken(StoreError):
    """A stored response continues one that is no longer stored (expired or evicted)."""

    def __init__(self, id: str, missing: str) -> None:
        super().__init__(f"response {id!r} continues {missing!r}, which is no longer stored")
        self.id = id
        self.missing = missing


@dataclass
class _Queued:
    write: Write
    size: int
    done: Callable[[bool], None] | None


class ConversationState:
    """The state between the request path and ``backend`` (module docstring)."""

    def __init__(
        self,
        backend: StateBackend,
        keys: Keys,
        *,
        durability: Durability = "commit",
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        commit_timeout: float = 10.0,
        lookup_timeout: float = 1.0,
        retry_interval: float = 1.0,
    ) -> None:
        if durability not in DURABILITIES:
            raise ValueError(f"durability must be one of {', '.join(DURABILITIES)}")
        self.backend = backend
        self.keys = keys
        self.durability: Durability = durability
        self.max_pending_bytes = max_pending_bytes
        self.commit_timeout = commit_timeout
        self.lookup_timeout = lookup_timeout
        self.retry_interval = retry_interval
        self.recorded = 0
        self.unrecorded = 0
        self.skipped = 0
        self.errors = 0
        self.commits = 0
        self.late = 0
        """Records whose commit outlasted ``commit_timeout`` (their answers went out first)."""
        self.deferred = 0
        """Records put back in the queue after the store refused their batch, for a retry."""
        self._cond = threading.Condition()
        self._queue: deque[_Queued] = deque()
        self._queued_bytes = 0
        self._turns: dict[str, tuple[Message, int]] = {}  # key -> (turn, writes queued)
        self._responses: dict[tuple[str, str], tuple[StoredResponse | None, int]] = {}
        self._items: dict[tuple[str, str], tuple[str, int]] = {}
        self._closing = False
        self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="thinkwire-state-reader")
        self._thread = threading.Thread(target=self._run, name="thinkwire-state-committer", daemon=True)
        self._thread.start()
        self._down_until = 0.0
        self._last_success = 0.0
        self._last_warning = 0.0
        self._stats: StoreStats | None = None
        self._stats_at = -1.0
        self._refreshing = False

    def __repr__(self) -> str:
        return f"ConversationState({self.backend!r}, durability={self.durability!r})"

    # ------------------------------------------------------------------ health

    @property
    def down(self) -> bool:
        return time.monotonic() < self._down_until

    def _failed(self, what: str, exc: BaseException, started: float) -> None:
        """A store call begun at ``started`` failed: the store is down for ``retry_interval``,
        unless a commit has gone through since that call began (a late report of an outage
        that is over)."""
        self.errors += 1
        if started > self._last_success:
            self._down_until = time.monotonic() + self.retry_interval
        self._warn(f"state store unavailable ({what}): {exc or type(exc).__name__}")

    def _warn(self, message: str) -> None:
        """Log ``message``, at most one warning a second."""
        now = time.monotonic()
        if now - self._last_warning >= 1.0:
            self._last_warning = now
            log.warning("%s", message)

    def health(self) -> dict[str, Any]:
        """What the state reports to ``/healthz`` and ``/metrics``; never blocks."""
        now = time.monotonic()
        if now - self._stats_at >= 1.0 and not self._refreshing and not self._closing:
            self._refreshing = True
            try:  # on a reader thread: a new thread per refresh left a SQLite connection each
                self._readers.submit(self._refresh)
            except RuntimeError:  # closed meanwhile
                self._refreshing = False
        return {
            "status": "degraded" if self.down else "ok",
            "durability": self.durability,
            "recorded": self.recorded,
            "unrecorded": self.unrecorded,
            "skipped": self.skipped,
            "errors": self.errors,
            "commits": self.commits,
            "late": self.late,
            "deferred": self.deferred,
            "pending": len(self._queue),
            "pending_bytes": self._queued_bytes,
            "stats": msgspec.structs.asdict(self._stats) if self._stats is not None else None,
        }

    def _refresh(self) -> None:
        started = time.monotonic()
        try:
            self._stats = self.backend.stats()
        except Exception as exc:
            self._failed("statistics", exc, started)
        finally:
            self._stats_at = time.monotonic()
            self._refreshing = False

    # ------------------------------------------------------------------ reads

    async def _read(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on one of the state's reader threads, given up after
        ``lookup_timeout`` (the thread is left to finish: a hung call costs a thread, never
        the request)."""
        if self.down:
            raise StoreUnavailable(f"the state store is unavailable ({what} skipped)")
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        future = loop.run_in_executor(self._readers, fn, *args)
        late: list[bool] = []

        def expire() -> None:
            late.append(True)
            future.cancel()

        timer = loop.call_later(self.lookup_timeout, expire)
        try:
            return await future
        except asyncio.CancelledError:
            if not late:
                raise  # the request itself was cancelled
            self._failed(what, TimeoutError(), started)
            raise StoreUnavailable(f"the state store did not answer within {self.lookup_timeout} s") from None
        except StoreError as exc:
            self._failed(what, exc, started)
            raise StoreUnavailable(str(exc)) from None
        finally:
            timer.cancel()

    async def restore(self, tenant: str, request: Request) -> tuple[Request, int]:
        """``request`` with recorded thinking put back into turns that lack it, and how many
        turns were restored. With the store down: ``request`` as it is, and 0."""
        want = wanted(self.keys, tenant, request)
        if not want:
            return request, 0
        found: dict[int, Message | None] = {}
        missing: list[tuple[int, tuple[str, ...]]] = []
        with self._cond:
            for index, keys in want:
                turn = next((t[0] for k in keys if (t := self._turns.get(k)) is not None), None)
                if turn is not None:
                    found[index] = turn
                else:
                    missing.append((index, keys))
        if missing:
            flat = [k for _, keys in missing for k in keys]
            try:
                turns = await self._read("restore", self.backend.turns, tenant, flat)
            except StoreUnavailable:
                self.skipped += 1
                turns = [None] * len(flat)
            hits = iter(turns)
            for index, keys in missing:
                values = [next(hits) for _ in keys]
                found[index] = next((t for t in values if t is not None), None)
        messages, count = restore(request.messages, [(i, found.get(i)) for i, _ in want])
        if not count:
            return request, 0
        return msgspec.structs.replace(request, messages=messages), count

    async def response(self, tenant: str, id: str) -> StoredResponse | None:
        """``tenant``'s stored response ``id`` (``None``: not there, or another tenant's)."""
        with self._cond:
            pending = self._responses.get((tenant, id))
        if pending is not None:
            return pending[0]
        return await self._read("stored response", self.backend.response, tenant, id)

    async def conversation(self, tenant: str, id: str) -> tuple[Message, ...] | None:
        """The whole conversation up to and including stored response ``id``: every earlier
        response's input and turn, in order (``None``: ``id`` is not stored; ``ChainBroken``
        when a response it continues is gone)."""
        chain: list[StoredResponse] = []
        current: str | None = id
        while current is not None and len(chain) < MAX_CHAIN:
            stored = await self.response(tenant, current)
            if stored is None:
                if not chain:
                    return None
                raise ChainBroken(id, current)
            chain.append(stored)
            current = stored.previous
        messages: list[Message] = []
        for stored in reversed(chain):
            messages.extend(stored.input)
            messages.append(stored.response.to_message())
        return tuple(messages)

    async def item(self, tenant: str, item: str) -> str | None:
        """The id of ``tenant``'s stored response with an output item ``item``."""
        with self._cond:
            pending = self._items.get((tenant, item))
        if pending is not None:
            return pending[0]
        return await self._read("item reference", self.backend.item, tenant, item)

    # ------------------------------------------------------------------ writes

    def turn_record(self, tenant: str, request: Request, message: Message) -> TurnRecord:
        """The record of ``message``, the turn that answers ``request``."""
        messages = (*request.messages, message)
        keys = self.keys.turn_keys(tenant, request.system, messages, len(messages) - 1)
        return TurnRecord(tenant=tenant, keys=keys, message=message, value=encode_turn(message))

    async def record(self, writes: Sequence[Write]) -> bool:
        """Queue ``writes`` for the committer and wait as the durability says (module
        docstring). True when they are committed (``commit``, ``fsync``) or queued
        (``async``). False when they are not safe yet: the store refused them (they stay queued
        for a retry), is down (queued, not waited for), did not commit within
        ``commit_timeout`` (``late``), or had no room while down or behind (not kept:
        ``unrecorded``)."""
        if not writes:
            return True
        deadline = time.monotonic() + self.commit_timeout
        while self._queued_bytes > self.max_pending_bytes and not self._closing:
            if self.down or time.monotonic() > deadline:  # an outage is not waited out
                self.unrecorded += sum(1 for w in writes if isinstance(w, TurnRecord))
                self._warn(f"state store is behind or down: {len(writes)} record(s) not kept")
                return False
            await asyncio.sleep(0.002)  # backpressure: the response's end waits for room
        # while the store is down the records wait for its return, and the answer does not
        wait = self.durability != "async" and not self.down
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] | None = loop.create_future() if wait else None
        remaining = len(writes)
        results: list[bool] = []

        def done(ok: bool) -> None:
            nonlocal remaining
            results.append(ok)
            remaining -= 1
            if remaining == 0 and future is not None:
                loop.call_soon_threadsafe(_settle, future, all(results))

        self._submit(writes, done)
        if future is None:
            return not self.down
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(deadline - time.monotonic(), 0.001))
        except TimeoutError:
            log.warning(
                "state store did not commit within %.1f s; the answer goes out before its turn is safe",
                self.commit_timeout,
            )
            self.late += 1
            return False

    def _submit(self, writes: Sequence[Write], done: Callable[[bool], None]) -> None:
        with self._cond:
            if self._closing:
                raise StoreError("the state store is closed")
            for write in writes:
                size = _size(write)
                if isinstance(write, TurnRecord):
                    for key in write.keys:
                        _hold(self._turns, key, write.message)
                elif isinstance(write, ResponseRecord):
                    _hold(self._responses, (write.tenant, write.id), write.stored)
                    for item in write.stored.items:
                        _hold(self._items, (write.tenant, item), write.id)
                else:  # a queued deletion reads as no response
                    _hold(self._responses, (write.tenant, write.id), None)
                self._queue.append(_Queued(write=write, size=size, done=done))
                self._queued_bytes += size
            self._cond.notify()

    async def delete_response(self, tenant: str, id: str) -> bool:
        """Forget ``tenant``'s stored response ``id``; False when there was none."""
        if await self.response(tenant, id) is None:
            return False
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        deletion = ResponseDeletion(tenant=tenant, id=id)

        def done(ok: bool) -> None:
            loop.call_soon_threadsafe(_settle, future, ok)

        self._submit([deletion], done)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.commit_timeout)
        except TimeoutError:
            raise StoreUnavailable("the state store did not confirm the deletion in time") from None

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._closing)
                if not self._queue:
                    return
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), MAX_BATCH))]
            started = time.monotonic()
            try:
                results = self.backend.commit([q.write for q in batch])
            except Exception as exc:  # a bug must not stop the committer for good
                self._failed("commit", exc, started)
                if not isinstance(exc, StoreError):
                    log.exception("state store commit failed")
                self._retry_later(batch)
                continue
            with self._cond:
                self._release(batch)
                self.commits += 1
                self._down_until = 0.0  # a commit went through: the store is back
                self._last_success = time.monotonic()
                kept = zip(batch, results, strict=True)
                self.recorded += sum(1 for q, r in kept if r and isinstance(q.write, TurnRecord))
                self._cond.notify_all()
            for queued, result in zip(batch, results, strict=True):
                _tell(queued.done, result)

    def _retry_later(self, batch: list[_Queued]) -> None:
        """A batch the store refused: its waiters are answered now (the responses go out), and
        the records go back to the front of the queue, readable meanwhile, for the next try
        ``retry_interval`` later; on closing, they are given up (``unrecorded``)."""
        waiters = [queued.done for queued in batch]  # told after the requeue
        with self._cond:
            for queued in batch:
                queued.done = None
            closing = self._closing
            if not closing:
                self._queue.extendleft(reversed(batch))
                self.deferred += len(batch)
            else:
                self._release(batch)
                self.unrecorded += sum(1 for q in batch if isinstance(q.write, TurnRecord))
                self._cond.notify_all()
        for done in waiters:
            _tell(done, False)
        if not closing:
            with self._cond:
                self._cond.wait_for(lambda: self._closing, self.retry_interval)

    def _release(self, batch: list[_Queued]) -> None:
        """``batch`` leaves the queue's reads and its byte count (written, or given up); the
        caller holds the lock."""
        for queued in batch:
            write = queued.write
            if isinstance(write, TurnRecord):
                for key in write.keys:
                    _drop(self._turns, key)
            else:
                _drop(self._responses, (write.tenant, write.id))
                if isinstance(write, ResponseRecord):
                    for item in write.stored.items:
                        _drop(self._items, (write.tenant, item))
            self._queued_bytes -= queued.size

    def flush(self, timeout: float | None = None) -> bool:
        """Wait (blocking) until everything queued so far is written; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._queued_bytes, timeout)

    def close(self) -> None:
        """Write what is queued, stop the committer, close the backend (idempotent, blocking)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        self._readers.shutdown(wait=False, cancel_futures=True)
        self.backend.close()

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self.close)


def _hold(table: dict[K, tuple[V, int]], key: K, value: V) -> None:
    """``value`` readable under ``key`` while a write of it is queued (the latest wins; the
    count says how many queued writes still hold the key)."""
    _, held = table.get(key, (value, 0))
    table[key] = (value, held + 1)


def _drop(table: dict[K, tuple[V, int]], key: K) -> None:
    """One queued write under ``key`` is done with; the key goes when none is left."""
    value, held = table[key]
    if held > 1:
        table[key] = (value, held - 1)
    else:
        del table[key]


def _tell(done: Callable[[bool], None] | None, ok: bool) -> None:
    """Tell a record's waiter how it went (RuntimeError: its event loop has closed, nobody
    waits any more)."""
    if done is not None:
        with contextlib.suppress(RuntimeError):
            done(ok)


def _settle(future: asyncio.Future[bool], ok: bool) -> None:
    if not future.done():
        future.set_result(ok)


def _size(write: Write) -> int:
    if isinstance(write, TurnRecord):
        return len(write.encoded()) * max(len(write.keys), 1)
    if isinstance(write, ResponseRecord):
        return len(msgspec.json.encode(write.stored))
    return 64
