"""What the state holds, the interface of its storage backends, and what they share.

Two kinds of record, both per tenant:

* **Turns** (``TurnRecord``): a whole assistant turn the server produced (ordered blocks,
  signatures), under the keys ``Keys.turn_keys`` gives it, so a client that sent it back
  without its thinking gets the thinking back.
* **Stored responses** (``ResponseRecord``): a Responses-API response kept for
  ``previous_response_id``, ``item_reference`` and ``GET`` / ``DELETE /v1/responses/{id}``:
  the response, the input its request added, and the response it continued (a chain, so a
  long conversation costs its length in bytes, not its square). Its output items' ids index
  it for ``item_reference``.

Backends: ``SQLiteStore`` (one file, one host) and ``RedisStore`` (replicas sharing state).
Every write goes through ``commit`` (many records in one transaction: group commit); reads
are plain lookups. Backends are synchronous and thread-safe; ``thinkwire.store.state`` calls
them from worker threads, never on the event loop.

Errors: a backend failure (disk full, Redis down) raises :class:`StoreError`, a
``ThinkwireError``; the state layer goes on without the store (it degrades, never stalls).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import msgspec

from thinkwire.errors import ThinkwireError
from thinkwire.ir.blocks import is_reasoning
from thinkwire.ir.conversation import Message, Response
from thinkwire.ir.serde import from_json, to_json
from thinkwire.store.fingerprint import has_visible

DEFAULT_TTL = 7 * 24 * 3600.0
"""Seconds a record is kept after its last use (written or read)."""
DEFAULT_MAX_ENTRIES = 100_000
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_VALUE_BYTES = 8 * 1024 * 1024
"""A longer record is not kept (counted in ``StoreStats.rejected``)."""


class StoreError(ThinkwireError):
    """The store's backend failed (I/O, connection, corrupt value)."""


class StoreStats(msgspec.Struct, frozen=True, kw_only=True):
    """What a store holds and how it has been used.

    ``entries`` and ``bytes`` describe the stored records now (turns under each of their
    keys, and stored responses). ``hits`` / ``misses`` count turn lookups, ``evictions``
    records dropped to honour a size bound, ``expired`` records dropped after their TTL,
    ``rejected`` records not kept because they exceed the per-value limit. Which of these are
    per process and which shared is documented per backend.
    """

    entries: int = 0
    bytes: int = 0
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    expired: int = 0
    rejected: int = 0


class StoredResponse(msgspec.Struct, frozen=True, kw_only=True):
    """A stored Responses-API response: the response as its client got it, the messages its
    request added to the conversation, and the id of the response it continued."""

    response: Response
    input: tuple[Message, ...] = ()
    previous: str | None = None
    items: tuple[str, ...] = ()
    """The ids of its output items, for ``item_reference``."""


class TurnRecord(msgspec.Struct, frozen=True, kw_only=True):
    tenant: str
    keys: tuple[str, ...]
    message: Message
    value: bytes = b""
    """The turn as stored (``encode_turn``), when the caller has it already."""

    def encoded(self) -> bytes:
        return self.value or encode_turn(self.message)


class ResponseRecord(msgspec.Struct, frozen=True, kw_only=True):
    tenant: str
    id: str
    stored: StoredResponse


class ResponseDeletion(msgspec.Struct, frozen=True, kw_only=True):
    tenant: str
    id: str


Write = TurnRecord | ResponseRecord | ResponseDeletion


@runtime_checkable
class StateBackend(Protocol):
    """Where the state is kept (module docstring). All methods may raise ``StoreError``."""

    def commit(self, writes: Sequence[Write]) -> list[bool]:
        """Apply ``writes`` in one transaction; for each, whether it took effect (a record over
        the value limit is not kept; a deletion of nothing deletes nothing)."""
        ...

    def turns(self, tenant: str, keys: Sequence[str]) -> list[Message | None]:
        """The turns recorded under ``keys`` (of ``tenant``), in the same order; a hit counts
        as a use (its TTL starts again)."""
        ...

    def response(self, tenant: str, id: str) -> StoredResponse | None:
        """The stored response ``id`` of ``tenant`` (``None``: none, another tenant's, or
        expired); a hit counts as a use."""
        ...

    def item(self, tenant: str, item: str) -> str | None:
        """The id of ``tenant``'s stored response that has an output item ``item``."""
        ...

    def stats(self) -> StoreStats: ...

    def close(self) -> None: ...


def recordable(message: Message) -> bool:
    """Whether a turn is worth recording: an assistant turn with reasoning and something
    visible (text or a tool call) to key it by."""
    return (
        message.role == "assistant" and any(is_reasoning(b) for b in message.blocks) and has_visible(message)
    )


def encode_turn(message: Message) -> bytes:
    """A turn as stored: the IR's JSON."""
    return to_json(message)


def decode_turn(data: bytes) -> Message:
    """A stored turn back to the IR; a value that does not decode is a ``StoreError``."""
    try:
        return from_json(data, Message)
    except msgspec.DecodeError as e:
        raise StoreError(f"stored turn does not decode: {e}") from e


def encode_response(stored: StoredResponse) -> bytes:
    return to_json(stored)


def decode_response(data: bytes) -> StoredResponse:
    try:
        return from_json(data, StoredResponse)
    except msgspec.DecodeError as e:
        raise StoreError(f"stored response does not decode: {e}") from e


def without_password(url: str) -> str:
    """The URL as it may appear in errors and logs: any password (and any query string, where
    some APIs take their key) replaced by ``***``."""
    if "?" in url:
        url = url.partition("?")[0] + "?***"
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    auth, _, host = rest.rpartition("@")
    user = auth.partition(":")[0]
    return f"{scheme}://{user}:***@{host}" if ":" in auth else f"{scheme}://***@{host}"
