"""OpenAI Chat streams (``chat.completion.chunk`` SSE events) -> IR stream events.

``stream_encoder`` writes the other way.

Decoding is incremental, one chunk at a time. Within a chunk's ``delta`` the fields are read
in the order of the non-streamed message: reasoning fields, ``content``, ``tool_calls``.

* ``reasoning_content`` / ``reasoning`` strings continue the open thinking block of the same
  carrier, else start one (``""`` starts one too, as ``reasoning_content: ""`` is a block in a
  whole response). A second block of the same carrier in one message (thinking after a tool
  call) starts after the blank line the encoder wrote between the two (``carriers.SEPARATOR``),
  so a client that accumulates the string reads the same text as the whole response, and this
  decoder gets the blocks back as they were. When several fields carry the same reasoning (OpenRouter sends
  ``reasoning`` beside ``reasoning_details``) the highest-priority one is read and the others
  noted as mirrors on the message's first reasoning block, as in a whole response.
* ``reasoning_details`` pieces are merged by ``index``: a later piece with the index of an
  earlier one extends that block (text, or a Claude signature as a ``SignatureDelta``). The
  first piece fixes the block's origin (``id``, ``format``, ...). A ``reasoning.encrypted``
  piece is a whole ``RedactedThinking``.
* ``content`` goes through a ``ThinkSplitter`` (``<think>`` may be cut across chunks) unless
  a reasoning field was seen, in which case it is plain text.
* ``tool_calls`` fragments are keyed by ``index``; the first carries ``id`` and the name, the
  ``arguments`` arrive in pieces (``ArgumentsDelta``).

A block stops when another starts. ``finish_reason`` closes the last block; the end (``data:
[DONE]`` or, after a ``finish_reason``, the end of input) gives one ``MessageDelta`` with the
stop reason, the usage (from the final ``choices: []`` chunk, or -- Moonshot/Kimi -- from
``usage`` inside the last chunk's choice) and the fields kept in
``extra`` exactly as ``decode_response`` keeps them, then ``MessageStop``. Input that ends with
neither is a ``DecodeError``. ``{"error": {...}}`` gives a ``StreamError``. Only choice 0
can be streamed (``n > 1`` is a ``DecodeError``). Error paths name the SSE event by position:
``events[4].choices[0].delta.tool_calls[0].id``.

Known limits: an unclosed ``<think>`` cannot be marked ``unclosed`` (that is known only at
the end); MiniMax may send ``reasoning_details[].text`` cumulatively rather than as deltas
(unverified) and is read as deltas.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from thinkwire.dialects._wire import describe, items, join, loads, obj, opt, req, unmodelled
from thinkwire.dialects.openai_chat.carriers import (
    ABSENT,
    DIALECT,
    SEPARATOR,
    ThinkSplitter,
    details_origin_extra,
)
from thinkwire.dialects.openai_chat.response import (
    STOP_REASONS,
    decode_usage,
)
from thinkwire.dialects.sse import SSEEvent
from thinkwire.errors import DecodeError
from thinkwire.ir.blocks import (
    Block,
    Carrier,
    Opaque,
    Origin,
    RedactedThinking,
    Text,
    Thinking,
    ToolCall,
)
from thinkwire.ir.conversation import StopReason, Usage
from thinkwire.ir.stream import (
    ArgumentsDelta,
    BlockDelta,
    BlockStart,
    BlockStop,
    MessageDelta,
    MessageStart,
    MessageStop,
    SignatureDelta,
    StreamError,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
)

CHUNK: Final = "chat.completion.chunk"
DONE: Final = "[DONE]"
_CHUNK_KEYS: Final = frozenset({"id", "object", "model", "choices", "usage"})
_CHOICE_KEYS: Final = frozenset({"index", "delta", "finish_reason"})
_DELTA_KEYS: Final = frozenset(
    {"role", "content", "reasoning_content", "reasoning", "reasoning_details", "tool_calls"}
)
_STRING_CARRIERS: Final[tuple[Carrier, ...]] = ("reasoning_content", "reasoning")
_FRAGMENT_KEYS: Final = frozenset({"index", "id", "type", "function"})
_PAYLOADS: Final = {"reasoning.text": "text", "reasoning.summary": "summary"}


class _Fields:
    """Fields kept verbatim across chunks: the last non-null value wins; ``null`` is kept only
    for a field that never had another value; ``refusal`` text is concatenated, and so are the
    ``arguments`` pieces of a legacy ``function_call`` (whose other keys merge)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.nulls: set[str] = set()

    def add(self, key: str, value: Any) -> None:
        if value is None:
            self.nulls.add(key)
        elif key == "refusal" and isinstance(self.values.get(key), str) and isinstance(value, str):
            self.values[key] += value
        elif key == "function_call" and isinstance(self.values.get(key), dict) and isinstance(value, dict):
            merged = dict(self.values[key])
            for k, v in value.items():
                before = merged.get(k)
                joined = k == "arguments" and isinstance(before, str) and isinstance(v, str)
                merged[k] = before + v if joined else v
            self.values[key] = merged
        else:
            self.values[key] = value

    def result(self, *, skip: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
        """The kept fields, leaving out ``skip`` (fields that turned out to carry content)."""
        out = {k: None for k in self.nulls if k not in self.values and k not in skip}
        out.update((k, v) for k, v in self.values.items() if k not in skip)
        return out


class ChatStreamDecoder:
    """SSE events of one chat completion in, IR stream events out."""

    def __init__(self, provider: str | None = None) -> None:
        self._provider = provider
        self._model: str | None = None
        self._count = -1
        self._started = self._finished = self._done = self._failed = False
        self._out: list[StreamEvent] = []
        self._next = 0
        self._current: Any = None  # key of the open block
        self._current_index = -1
        self._keyed: dict[Any, int] = {}  # ("details"|"tool", wire index) -> IR index
        self._details_kind: dict[int, str] = {}
        self._origins: dict[int, Origin] = {}  # details blocks: their start origin
        self._stop_origins: dict[int, Origin] = {}  # details blocks: origin to apply at their stop
        self._splitter = ThinkSplitter()
        self._fielded = False  # a reasoning field was seen: content is plain text
        self._reasoned = False  # a reasoning block exists (mirrors go on the first only)
        self._joined: set[Carrier] = set()  # string carriers that opened a block already
        self._stop_reason: StopReason | None = None
        self._usage: Usage | None = None
        self._choice_usage: tuple[dict[str, Any], Usage] | None = None  # (wire, decoded)
        self._top = _Fields()
        self._top_first: dict[str, Any] = {}
        self._choice = _Fields()
        self._message = _Fields()
        self._seen: set[str] = set()  # delta fields that produced content

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        self._count += 1
        if self._done or self._failed:
            return []
        self._out = []
        if event.data.strip() == DONE:
            self._done = True
            self._end()
            return self._out
        path = f"events[{self._count}]"
        chunk = obj(loads(event.data, path=path), path)
        error = chunk.get("error")
        if isinstance(error, dict):
            self._failed = True
            return [StreamError(error=error)]
        self._chunk(chunk, path)
        return self._out

    def close(self) -> list[StreamEvent]:
        if self._done or self._failed:
            return []
        if not self._finished:
            raise DecodeError("", "stream ended before a finish_reason or [DONE]: the response is incomplete")
        self._done = True
        self._out = []
        self._end()
        return self._out

    # -- chunks ------------------------------------------------------------------------------

    def _chunk(self, chunk: dict[str, Any], path: str) -> None:
        rest = unmodelled(chunk, _CHUNK_KEYS)
        kind = chunk.get("object")
        if kind is not None and kind != CHUNK:
            rest["object"] = kind
        rest.pop("choices", None)
        if "usage" in rest:  # "usage": null rides on every chunk until the last
            del rest["usage"]
            self._top.add("usage", None)
        if not self._started:
            self._started = True
            self._model = opt(chunk, "model", str, path)
            self._top_first = rest
            extra = {DIALECT: rest} if rest else {}
            self._out.append(MessageStart(id=opt(chunk, "id", str, path), model=self._model, extra=extra))
        else:
            for key, value in rest.items():
                if self._top_first.get(key, ABSENT) != value:
                    self._top.add(key, value)
        usage = chunk.get("usage")
        if usage is not None:
            self._usage = decode_usage(usage, join(path, "usage"))
        for i, value in enumerate(items(chunk, "choices", path)):
            self._choice_chunk(obj(value, f"{path}.choices[{i}]"), f"{path}.choices[{i}]")

    def _choice_chunk(self, choice: dict[str, Any], path: str) -> None:
        index = choice.get("index", 0)
        if index != 0:
            raise DecodeError(
                join(path, "index"), f"only choice 0 can be streamed (n > 1), got {describe(index)}"
            )
        for key, value in choice.items():
            if key == "usage" and isinstance(value, dict):
                # Moonshot/Kimi put the usage in the last chunk's choice, not at the top level
                self._choice_usage = (value, decode_usage(value, join(path, "usage")))
            elif key not in _CHOICE_KEYS:
                self._choice.add(key, value)
        delta = choice.get("delta")
        if delta is not None:
            self._delta(obj(delta, join(path, "delta")), join(path, "delta"))
        finish = opt(choice, "finish_reason", str, path)
        if finish is None:
            if not self._finished:
                self._choice.nulls.add("finish_reason")
            return
        self._finished = True
        self._choice.nulls.discard("finish_reason")
        self._stop_reason = STOP_REASONS.get(finish)
        if self._stop_reason is None:
            self._choice.add("finish_reason", finish)
        self._flush_content()
        self._stop()

    def _delta(self, delta: dict[str, Any], path: str) -> None:
        role = opt(delta, "role", str, path)
        if role is not None and role != "assistant":
            raise DecodeError(join(path, "role"), f"expected 'assistant', got {role!r}")
        for key, value in delta.items():
            if key not in _DELTA_KEYS or (value is None and key not in ("content", "role")):
                self._message.add(key, value)
        strings = {key: opt(delta, key, str, path) for key in _STRING_CARRIERS}
        details = delta.get("reasoning_details")
        if details is not None and not isinstance(details, list):
            raise DecodeError(join(path, "reasoning_details"), f"expected an array, got {describe(details)}")
        present = [key for key in _STRING_CARRIERS if strings[key] is not None]
        if details:
            self._fielded = True
            self._seen.update(("reasoning_details", *present))
            where = join(path, "reasoning_details")
            mirrors: list[str] = list(present)
            for i, piece in enumerate(details):
                self._detail(obj(piece, join(where, i)), join(where, i), mirrors)
                mirrors = []
        else:
            if details == []:
                self._message.add("reasoning_details", [])
            if present:
                self._fielded = True
                self._seen.update(present)
                self._reasoning_string(present[0], strings[present[0]] or "", list(present[1:]))
        content = delta.get("content")
        if isinstance(content, str):
            self._content(content)
        elif content is not None:
            raise DecodeError(join(path, "content"), f"expected a string or null, got {describe(content)}")
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            if not calls:
                self._message.add("tool_calls", [])
            where = join(path, "tool_calls")
            for i, fragment in enumerate(calls):
                self._fragment(obj(fragment, join(where, i)), join(where, i), i)
        elif calls is not None:
            raise DecodeError(join(path, "tool_calls"), f"expected an array, got {describe(calls)}")

    # -- blocks ------------------------------------------------------------------------------

    def _open(self, key: Any, block: Block) -> int:
        self._stop()
        index = self._next
        self._next += 1
        self._current, self._current_index = key, index
        self._out.append(BlockStart(index=index, block=block))
        return index

    def _stop(self) -> None:
        if self._current is not None:
            origin = self._stop_origins.pop(self._current_index, None)
            self._out.append(BlockStop(index=self._current_index, origin=origin))
            self._current = None

    def _origin(self, carrier: Carrier, extra: dict[str, Any]) -> Origin:
        return Origin(
            dialect=DIALECT, carrier=carrier, provider=self._provider, model=self._model, extra=extra
        )

    def _reasoning_string(self, carrier: Carrier, text: str, mirrors: list[str]) -> None:
        self._flush_content()
        key = ("string", carrier)
        if self._current != key:
            extra: dict[str, Any] = {"mirror": mirrors} if mirrors and not self._reasoned else {}
            self._reasoned = True
            self._open(key, Thinking(text="", origin=self._origin(carrier, extra)))
            if carrier in self._joined and text.startswith(SEPARATOR):
                text = text[len(SEPARATOR) :]  # the separator the encoder put between two blocks
            self._joined.add(carrier)
        if text:
            self._out.append(BlockDelta(index=self._current_index, delta=ThinkingDelta(text)))

    def _detail(self, piece: dict[str, Any], path: str, mirrors: list[str]) -> None:
        self._flush_content()
        kind = req(piece, "type", str, path)
        key = ("details", opt(piece, "index", int, path))
        index = self._keyed.get(key)
        if index is None or self._details_kind[index] != kind or kind not in _PAYLOADS:
            index = self._start_detail(piece, path, kind, key, mirrors)
            if index is None:
                return
        payload = _PAYLOADS[kind]
        text = opt(piece, payload, str, path)
        if text:
            self._out.append(BlockDelta(index=index, delta=ThinkingDelta(text)))
        signature = opt(piece, "signature", str, path)
        if signature is not None:
            self._out.append(BlockDelta(index=index, delta=SignatureDelta(signature)))
            origin = self._origins.get(index)
            if origin is not None and "signature" in origin.extra:  # the null placeholder is moot now
                extra = {k: v for k, v in origin.extra.items() if k != "signature"}
                self._stop_origins[index] = msgspec.structs.replace(origin, extra=extra)

    def _start_detail(
        self, piece: dict[str, Any], path: str, kind: str, key: Any, mirrors: list[str]
    ) -> int | None:
        """Open the block a new piece starts; ``None`` when the piece is whole already."""
        if kind not in _PAYLOADS and kind != "reasoning.encrypted":
            if not kind.startswith("reasoning.") or ("id" in piece and kind in piece):  # as decode_details
                raise DecodeError(join(path, "type"), f"expected a 'reasoning.*' item type, got {kind!r}")
            self._open(key, Opaque(dialect=DIALECT, data=piece))
            return None
        payload = _PAYLOADS.get(kind, "data")
        extra = details_origin_extra(piece, payload)
        if mirrors and not self._reasoned:
            extra["mirror"] = mirrors
        self._reasoned = True
        origin = self._origin("reasoning_details", extra)
        if kind == "reasoning.encrypted":
            self._open(key, RedactedThinking(data=req(piece, "data", str, path), origin=origin))
            return None
        index = self._open(key, Thinking(text="", origin=origin))
        self._origins[index] = origin
        self._keyed[key] = index
        self._details_kind[index] = kind
        return index

    def _content(self, content: str) -> None:
        if not content:
            self._message.add("content", "")
            return
        self._seen.add("content")
        if self._fielded:
            self._flush_content()
            self._text(content)
            return
        for kind, text in self._splitter.feed(content):
            self._piece(kind, text)

    def _flush_content(self) -> None:
        for kind, text in self._splitter.flush():
            self._piece(kind, text)

    def _piece(self, kind: str, text: str) -> None:
        if kind == "text":
            self._text(text)
        elif kind == "close":
            self._stop()
        else:
            # a tag opens a block; so does thinking that resumes after a tool call cut it off
            if kind == "open" or self._current is None or self._current[0] != "tags":
                self._reasoned = True
                self._open(("tags", self._next), Thinking(text="", origin=self._origin("think-tags", {})))
            if text:
                self._out.append(BlockDelta(index=self._current_index, delta=ThinkingDelta(text)))

    def _text(self, text: str) -> None:
        if self._current is None or self._current[0] != "text":
            self._open(("text", self._next), Text(text=""))
        self._out.append(BlockDelta(index=self._current_index, delta=TextDelta(text)))

    def _fragment(self, fragment: dict[str, Any], path: str, position: int) -> None:
        self._flush_content()
        key = ("tool", opt(fragment, "index", int, path) if "index" in fragment else position)
        function = fragment.get("function")
        where = join(path, "function")
        if function is not None:
            function = obj(function, where)
        index = self._keyed.get(key)
        if index is None:
            kind = fragment.get("type")
            if kind is not None and kind != "function":
                raise DecodeError(
                    join(path, "type"), f"only function tool calls can be streamed, got {kind!r}"
                )
            if function is None:
                raise DecodeError(where, "the first fragment of a tool call must carry its function name")
            rest = {k: v for k, v in fragment.items() if k not in _FRAGMENT_KEYS}
            function_rest = {k: v for k, v in function.items() if k not in ("name", "arguments")}
            if function_rest:
                rest["function"] = function_rest
            call = ToolCall(
                id=req(fragment, "id", str, path),
                name=req(function, "name", str, where),
                arguments="",
                extra={DIALECT: rest} if rest else {},
            )
            index = self._keyed[key] = self._open(key, call)
        self._seen.add("tool_calls")
        arguments = opt(function, "arguments", str, where) if function is not None else None
        if arguments:
            self._out.append(BlockDelta(index=index, delta=ArgumentsDelta(arguments)))

    # -- the end -----------------------------------------------------------------------------

    def _end(self) -> None:
        if not self._started:
            self._started = True
            self._out.append(MessageStart())
        self._flush_content()
        self._stop()
        message = self._message.result(skip=self._seen)
        choice = self._choice.result()
        if self._choice_usage is not None:
            raw, decoded = self._choice_usage
            if self._usage is None:
                self._usage = decoded
            elif decoded != self._usage:  # both, and they disagree: keep the choice's verbatim
                choice["usage"] = raw
        if message:
            choice["message"] = message
        rest = self._top.result(skip={"usage"} if self._usage is not None else frozenset())
        if choice:
            rest["choices"] = [choice]
        if self._stop_reason is not None or self._usage is not None or rest:
            extra = {DIALECT: rest} if rest else {}
            self._out.append(MessageDelta(stop_reason=self._stop_reason, usage=self._usage, extra=extra))
        self._out.append(MessageStop())
