"""Recording turns off the request path: a ``StateStore`` whose puts one thread writes later.

``WriteBehind(store)`` wraps any backend. ``put`` checks that the turn is recordable, files it
under its fingerprint in memory and queues it; it never blocks and never touches the backend,
so the gateway can call it on the event loop as a response ends. One daemon thread drains the
queue in order into the backend. Woken by the first put after it went idle, it waits
``GATHER`` seconds for more before writing, so a busy gateway wakes it (a thread switch, which
costs more than a SQLite write on a loaded machine) once per batch, not once per turn.

* **Reads see every put at once.** A turn stays in the in-memory map until the backend has
  it, and ``get`` / ``get_many`` look there first, so a client that sends a turn back the
  moment it received it gets it restored, however far behind the writer is (no waiting,
  nothing timed). Later puts of the same fingerprint replace the queued turn, as the backend
  would.
* **Bounded.** At most ``capacity`` puts wait; a put beyond is dropped (``put`` returns
  False), counted in ``dropped`` and logged (once a second at most): the request never waits
  for a slow or failing backend.
* **Failures** of the backend are counted in ``errors`` and logged; the turn is gone.
* ``flush(timeout)`` waits until everything queued before it is written (``GATHER`` more at
  most); ``stats()`` flushes
  first, so what it reports includes every put that came before (bounded by
  ``STATS_FLUSH_TIMEOUT``). ``close()`` writes everything queued, then closes the backend.
* ``recorded`` counts the turns the backend recorded (its ``put`` returned True).

A turn the backend would refuse for its size may be served from the map until it is written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Final

from thinkwire.ir.conversation import Message
from thinkwire.store.base import StateStore, StoreError, StoreStats, recordable

DEFAULT_CAPACITY: Final = 4096
"""Puts that may wait for the writer; one more is dropped."""
STATS_FLUSH_TIMEOUT: Final = 0.5
"""Seconds ``stats()`` waits for the writer to catch up."""
GATHER: Final = 0.005
"""Seconds the writer waits after its first put for more to write with it."""

log = logging.getLogger("thinkwire.store")


class WriteBehind:
    """``store`` with its puts queued for one writer thread (module docstring)."""

    def __init__(
        self, store: StateStore, *, capacity: int = DEFAULT_CAPACITY, gather: float = GATHER
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.backend = store
        self.keys = store.keys
        self.capacity = capacity
        self.gather = gather
        self.recorded = 0
        self.dropped = 0
        self.errors = 0
        self._queue: deque[tuple[str, str, Message]] = deque()
        self._pending: dict[str, tuple[Message, int]] = {}  # fingerprint -> latest turn, puts queued
        self._cond = threading.Condition()
        self._queued = 0  # puts queued since the start
        self._written = 0  # of those, how many the writer is done with
        self._closing = False
        self._idle = False  # the writer waits for a first put
        self._thread: threading.Thread | None = None
        self._last_drop_log = 0.0

    def __repr__(self) -> str:
        return f"WriteBehind({self.backend!r})"

    def put(self, tenant: str, message: Message) -> bool:
        """Queue ``message`` for the backend; False when it is not recordable or was dropped."""
        if not recordable(message):
            return False
        fingerprint = self.keys.fingerprint(tenant, message)
        with self._cond:
            if self._closing:
                raise StoreError("the state store is closed")
            if len(self._queue) >= self.capacity:
                self.dropped += 1
                now = time.monotonic()
                if now - self._last_drop_log >= 1.0:
                    self._last_drop_log = now
                    log.warning(
                        "state store writer is %d turns behind: turn dropped (%d so far)",
                        len(self._queue),
                        self.dropped,
                    )
                return False
            _, waiting = self._pending.get(fingerprint, (message, 0))
            self._pending[fingerprint] = (message, waiting + 1)
            self._queue.append((tenant, fingerprint, message))
            self._queued += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="thinkwire-store-writer", daemon=True)
                self._thread.start()
            elif self._idle:
                self._idle = False
                self._cond.notify_all()
        return True

    def get(self, tenant: str, fingerprint: str) -> Message | None:
        return self.get_many(tenant, [fingerprint])[0]

    def get_many(self, tenant: str, fingerprints: Sequence[str]) -> list[Message | None]:
        with self._cond:
            found: list[Message | None] = [
                entry[0] if (entry := self._pending.get(f)) is not None else None for f in fingerprints
            ]
        missing = [i for i, turn in enumerate(found) if turn is None]
        if missing:
            # a turn written after the look-up above left the map only once the backend had it
            for i, turn in zip(
                missing, self.backend.get_many(tenant, [fingerprints[i] for i in missing]), strict=True
            ):
                found[i] = turn
        return found

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every put made before this call is written; False if ``timeout`` passed."""
        with self._cond:
            target = self._queued
            return self._cond.wait_for(lambda: self._written >= target, timeout)

    def stats(self) -> StoreStats:
        self.flush(STATS_FLUSH_TIMEOUT)
        return self.backend.stats()

    def close(self) -> None:
        """Write what is queued, stop the writer, close the backend (idempotent)."""
        with self._cond:
            self._closing = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None:
            thread.join()
        self.backend.close()

    @property
    def queued(self) -> int:
        """Puts waiting for the writer now."""
        return len(self._queue)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._queue and not self._closing:
                    self._idle = True
                    self._cond.wait_for(lambda: bool(self._queue) or self._closing)
                    self._idle = False
                    gather = not self._closing
                else:
                    gather = False  # behind already: write at once
            if gather and self.gather > 0:
                time.sleep(self.gather)
            with self._cond:
                if not self._queue:
                    return
                batch = list(self._queue)
                self._queue.clear()
            recorded = errors = 0
            for tenant, _, message in batch:
                try:
                    recorded += self.backend.put(tenant, message)
                except StoreError as exc:
                    errors += 1
                    log.warning("state store unavailable, turn not recorded: %s", exc)
                except Exception:  # a bug must not stop the writer for good
                    errors += 1
                    log.exception("state store writer failed on a turn")
            with self._cond:
                for _, fingerprint, _ in batch:
                    message, waiting = self._pending[fingerprint]
                    if waiting > 1:
                        self._pending[fingerprint] = (message, waiting - 1)
                    else:
                        del self._pending[fingerprint]
                self.recorded += recorded
                self.errors += errors
                self._written += len(batch)
                self._cond.notify_all()
