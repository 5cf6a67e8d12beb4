"""Stored responses for the Responses API: ``store`` and ``previous_response_id``.

With ``store`` (the API's default) a response is kept with the whole conversation that led to
it — every input message and the response's own turn, thinking included — so a later request
that names it in ``previous_response_id`` continues with the earlier thinking in place, as the
hosted API does with its reasoning items. The store lives in memory, bounded by count (oldest
dropped first); a server restart forgets it, and ``GET /v1/responses/{id}`` then answers 404.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Final

import msgspec

from thinkwire.ir.conversation import Message, Response

DEFAULT_CAPACITY: Final = 1024


class StoredResponse(msgspec.Struct, frozen=True, kw_only=True):
    """A response and the conversation up to and including it."""

    response: Response
    messages: tuple[Message, ...]


class ResponseStore:
    """At most ``capacity`` responses by id, least recently used dropped first."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._items: OrderedDict[str, StoredResponse] = OrderedDict()
        self._lock = threading.Lock()
        self.evicted = 0

    def put(self, id: str, stored: StoredResponse) -> None:
        with self._lock:
            self._items[id] = stored
            self._items.move_to_end(id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
                self.evicted += 1

    def get(self, id: str) -> StoredResponse | None:
        with self._lock:
            stored = self._items.get(id)
            if stored is not None:
                self._items.move_to_end(id)
            return stored

    def delete(self, id: str) -> bool:
        with self._lock:
            return self._items.pop(id, None) is not None

    def __len__(self) -> int:
        return len(self._items)
