"""Decoding the typed ``response.*`` server-sent events into IR stream events.

Each event is turned into IR events as soon as it arrives; nothing is buffered beyond the
item being streamed (to check ``*.done`` texts against the deltas). The fold of the events
equals ``decode_response`` of the final response object:

* ``response.created`` (or the first shell event) -> ``MessageStart``.
* A ``function_call`` starts its ``ToolCall`` at ``output_item.added``; arguments stream as
  ``ArgumentsDelta``.
* A reasoning item starts its ``Thinking`` at its first summary / content event (that tells
  whether the text comes from ``summary`` or ``content``), or at ``output_item.done`` when it
  streamed nothing. A second or later summary part is preceded by ``ThinkingDelta("\\n\\n")``
  so the text equals the non-streamed join. ``encrypted_content`` of the finished item
  arrives as one ``SignatureDelta`` just before ``BlockStop``.
* Each ``output_text`` part of a message starts a ``Text`` at ``content_part.added``.
* ``*.done`` events and ``output_item.done`` are checked against what streamed; text they
  carry beyond the deltas is emitted, text that contradicts them is a ``DecodeError``.
* ``response.completed`` / ``response.incomplete`` / ``response.failed`` ->
  ``MessageDelta`` (stop reason, usage, the response's other fields) + ``MessageStop``;
  ``error`` -> ``StreamError``.

Facts the API settles only when an item is done (a status other than ``completed``, the
citations of a text part) start as known then (``in_progress`` as the ``completed`` it
normally ends with, the start part's ``annotations``); when the finished item differs, its
blocks stop with ``BlockStop.extra`` holding their final ``extra``, as in the non-streamed
decoding. Known differences, all rare: a reasoning item with several summary parts, or with
both ``summary`` and ``content``, whose parts are known only at the end (its text is exact,
the parts are not kept in ``Origin.extra``); a message item mixing text and refusal parts; a
terminal response whose copy of an item differs from its earlier ``output_item.done``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from thinkwire.dialects._wire import loads
from thinkwire.dialects.openai_responses._common import DIALECT, as_obj, fail, keep, req_str, tag
from thinkwire.dialects.openai_responses.items import (
    CALL_KEYS,
    CLIENT_CALLS,
    ITEM,
    MESSAGE_KEYS,
    decode_call,
    is_text_type,
    part_fields,
)
from thinkwire.dialects.openai_responses.reasoning import REASONING_KEYS, SOURCE, decode_reasoning
from thinkwire.dialects.openai_responses.response import RESPONSE_KEYS, decode_usage, stop_reason
from thinkwire.dialects.openai_responses.stream_items import Item, catch_up, predicted, source_of
from thinkwire.dialects.sse import SSEEvent
from thinkwire.errors import DecodeError
from thinkwire.ir.blocks import Block, Extra, Opaque, Origin, RedactedThinking, Text, Thinking, ToolCall
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

SHELL_EVENTS = frozenset({"response.created", "response.in_progress", "response.queued"})
TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ResponsesStreamDecoder:
    """SSE events of one Responses stream in, IR stream events out."""

    def __init__(self, provider: str | None = None) -> None:
        self._provider = provider
        self._model: str | None = None
        self._started = False
        self._ended = False
        self._next = 0
        self._last_text = False
        self._items: dict[int, Item] = {}
        self._ids: dict[str, Item] = {}
        self._current: Item | None = None
        self._calls = False
        self._extras: dict[int, Extra] = {}  # IR index -> the extra a Text / ToolCall started with

    # ------------------------------------------------------------ entry points

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        if event.data == "[DONE]" or not event.data:
            return []
        where = event.event or "event"
        d = as_obj(loads(event.data, path=where), where)
        kind = d.get("type", event.event)
        if type(kind) is not str:
            raise fail("event.type", "a string", kind)
        out: list[StreamEvent] = []
        if kind in SHELL_EVENTS:
            self._shell(d, kind, out)
        elif kind in TERMINAL_EVENTS:
            self._terminal(d, kind, out)
        elif kind == "error":
            self._ended = True
            out.append(
                StreamError(error={k: v for k, v in d.items() if k not in ("type", "sequence_number")})
            )
        else:
            handler = _HANDLERS.get(kind)
            if handler is not None:
                self._begin(out)
                handler(self, d, kind, out)
        return out

    def close(self) -> list[StreamEvent]:
        if not self._ended:
            raise DecodeError(
                "", "stream ended before response.completed, response.incomplete or response.failed"
            )
        return []

    # ------------------------------------------------------------ shell and end

    def _begin(self, out: list[StreamEvent]) -> None:
        if not self._started:
            self._started = True
            out.append(MessageStart())

    def _shell(self, d: dict[str, Any], kind: str, out: list[StreamEvent]) -> None:
        if self._started:
            return
        response = as_obj(d.get("response"), f"{kind}.response")
        self._started = True
        self._model = response.get("model") if type(response.get("model")) is str else None
        rid = response.get("id")
        fields = {k: v for k, v in response.items() if k not in RESPONSE_KEYS}
        out.append(MessageStart(id=rid if type(rid) is str else None, model=self._model, extra=tag(fields)))

    def _terminal(self, d: dict[str, Any], kind: str, out: list[StreamEvent]) -> None:
        self._begin(out)
        response = as_obj(d.get("response"), f"{kind}.response")
        output = response.get("output")
        if type(output) is list:
            for n, final in enumerate(output):
                if type(final) is not dict:
                    continue
                state = self._items.get(n)
                if state is None:
                    state = self._add(final, n)
                if not state.done:
                    self._finish(state, final, f"{kind}.response.output[{n}]", out)
                final_kind = final.get("type")
                self._calls = self._calls or (type(final_kind) is str and final_kind in CLIENT_CALLS)
        for state in self._items.values():
            if not state.done:
                self._stop_all(state, out)
        usage = response.get("usage")
        fields = keep(response, RESPONSE_KEYS)
        out.append(
            MessageDelta(
                stop_reason=stop_reason(response, self._calls),
                usage=decode_usage(as_obj(usage, f"{kind}.response.usage"), f"{kind}.response.usage")
                if usage is not None
                else None,
                extra=tag(fields),
            )
        )
        out.append(MessageStop())
        self._ended = True

    # ------------------------------------------------------------ items

    def _start(self, block: Block, out: list[StreamEvent]) -> int:
        index = self._next
        self._next += 1
        self._last_text = type(block) is Text
        if isinstance(block, Text | ToolCall):
            self._extras[index] = block.extra
        out.append(BlockStart(index=index, block=block))
        return index

    def _add(self, item: dict[str, Any], output_index: int) -> Item:
        state = Item(item)
        self._items[output_index] = state
        if type(item.get("id")) is str:
            self._ids[item["id"]] = state
        self._current = state
        return state

    def _find(self, d: dict[str, Any], kind: str, expected: str | None = None) -> Item:
        """The item an event is about: by ``output_index``, else ``item_id``, else the last
        one added (minimal servers send neither)."""
        index, item_id = d.get("output_index"), d.get("item_id")
        state = self._items.get(index) if type(index) is int else None
        if state is None and type(item_id) is str:
            state = self._ids.get(item_id)
        if state is None:
            state = self._current
        if state is None:
            raise DecodeError(kind, "event for an output item that was never added")
        if expected is not None and state.kind != expected:
            raise DecodeError(kind, f"event for a {state.kind} item, expected a {expected} item")
        return state

    def _item_added(self, d: dict[str, Any], kind: str, out: list[StreamEvent]) -> None:
        item = as_obj(d.get("item"), f"{kind}.item")
        if type(item.get("type")) is not str:
            req_str(item, "type", f"{kind}.item")  # raises: missing, or not a string
        index = d.get("output_index")
        state = self._add(item, index if type(index) is int else len(self._items))
        if state.kind == "function_call":
            path = f"{kind}.item"
            call = ToolCall(
                id=req_str(item, "call_id", path),
                name=req_str(item, "name", path),
                arguments="",
                extra=tag(predicted(keep(item, CALL_KEYS))),
            )
            state.index = self._start(call, out)
            arguments = item.get("arguments")
            if type(arguments) is str and arguments:
                state.pieces.append(arguments)
                out.append(BlockDelta(index=state.index, delta=ArgumentsDelta(arguments)))
        if state.kind in CLIENT_CALLS:
            self._calls = True

    def _item_done(self, d: dict[str, Any], kind: str, out: list[StreamEvent]) -> None:
        final = as_obj(d.get("item"), f"{kind}.item")
        state = self._find(d, kind)
        if not state.done:
            self._finish(state, final, f"{kind}.item", out)

    def _finish(self, state: Item, final: dict[str, Any], path: str, out: list[StreamEvent]) -> None:
        """Complete an item from its final form, then stop its blocks."""
        kind = final.get("type")
        if kind == "reasoning":
            self._finish_reasoning(state, final, path, out)
        elif kind == "function_call":
            call = decode_call(final, path, -1)
            if state.index is None:  # seen only now: start it whole
                state.index = self._start(msgspec.structs.replace(call, arguments=""), out)
            elif state.kind == "function_call":
                state.finals[state.index] = call.extra
            catch_up(state.pieces, call.arguments, state.index, ArgumentsDelta, f"{path}.arguments", out)
        elif kind == "message" and final.get("role") == "assistant":
            self._finish_message(state, final, path, out)
        elif state.index is None and not state.texts:
            state.index = self._start(Opaque(dialect=DIALECT, data=final), out)
        self._stop_all(state, out)

    def _stop_all(self, state: Item, out: list[StreamEvent]) -> None:
        """Stop an item's blocks; those whose final ``extra`` (citations, the status of an
        item cut short) differs from the one they started with stop with it."""
        state.done = True
        if state.index is not None:
            final = state.final_origin
            origin = final if final is not None and final != state.origin else None
            out.append(BlockStop(index=state.index, origin=origin, extra=self._settled(state, state.index)))
        for index, _ in state.texts.values():
            out.append(BlockStop(index=index, extra=self._settled(state, index)))

    def _settled(self, state: Item, index: int) -> Extra | None:
        final = state.finals.get(index)
        return final if final is not None and final != self._extras.get(index) else None

    # ------------------------------------------------------------ reasoning

    def _open(self, state: Item, source: str, k: int, out: list[StreamEvent]) -> int | None:
        """Start the reasoning block if needed and open part ``k``; the block's index, or
        ``None`` when the event is of the other source than the one the block streams (a
        summary beside raw content): such events are ignored, as the text comes from one."""
        if state.index is None:
            item = state.item
            store: dict[str, Any] = {}
            if "id" in item:
                store["id"] = item["id"]
            if "status" in item:
                store["status"] = "completed" if item["status"] == "in_progress" else item["status"]
            if source == "content":
                store[SOURCE] = "content"
            elif "content" in item:
                store["content"] = item["content"]
            origin = Origin(dialect=DIALECT, provider=self._provider, model=self._model, extra=store)
            state.origin = origin
            unknown = {key: v for key, v in item.items() if key not in REASONING_KEYS}
            state.index = self._start(Thinking(text="", origin=origin, extra=tag(unknown)), out)
            state.source = source
        if state.source != source:
            return None
        while state.parts <= k:
            if state.parts and source == "summary":
                state.pieces.append("\n\n")
                out.append(BlockDelta(index=state.index, delta=ThinkingDelta("\n\n")))
            state.parts += 1
            state.part = []
        return state.index

    def _reasoning_part(self, d: dict[str, Any], kind: str, out: list[StreamEvent]) -> None:
        """``*.added`` of a summary or reasoning-text part, and the text deltas."""
        state = self._find(d, kind, "reasoning")
        source = source_of(kind)
        k = d.get("content_index" if source == "content" else "summary_index", 0)
        index = self._open(state, source, k, out) if type(k) is int else None
        if index is None:
            return
        delta = d.get("delta")
        if delta is not None and k == state.parts - 1:
            if type(delta) is not str:
                raise fail(f"{kind}.delta", "a string", delta)
            if delta:
                state.pieces.append(delta)
                state.part.append(delta)
                out.append(BlockDelta(index=index, delta=ThinkingDelta(delta)))

    def _reasoning_part_done(self, d: dict[str, Any], kind: str, out: list[StreamEvent]) -> None:
        """``*.done`` of a summary or reasoning-text part: emit what its deltas missed."""
        state = self._find(d, kind, "reasoning")
        source = source_of(kind)
        k = d.get("content_index" if source == "content" else "summary_index", 0)
        text = d.get("text")
        if text is None and type(d.get("part")) is dict:
            text = d["part"].get("text")
        if type(k) is not int or type(text) is not str:
            return
        index = self._open(state, source, k, out)
        if index is not None and k == state.parts - 1:
            rest = catch_up(state.part, text, index, ThinkingDelta, kind, out)
            if rest:
                state.pieces.append(rest)

    def _finish_reasoning(
        self, state: Item, final: dict[str, Any], path: str, out: list[StreamEvent]
    ) -> None:
        block = decode_reasoning(final, path, -1, self._provider, self._model)
        state.final_origin = block.origin
        signature: str | None
        if isinstance(block, RedactedThinking):
            if state.index is None:  # encrypted only: the block is complete at its start
                state.origin = block.origin
                state.index = self._start(block, out)
                return
            text, signature = "", block.data  # parts were announced but none arrived
        else:
            text, signature = block.text, block.signature
            if state.index is None:
                state.origin = block.origin
                state.index = self._start(msgspec.structs.replace(block, text="", signature=None), out)
                if text:
                    state.pieces.append(text)
                    out.append(BlockDelta(index=state.index, delta=ThinkingDelta(text)))
        source = "content" if block.origin is not None and block.origin.extra.get(SOURCE) else "summary"
        if state.source in (None, source):
            catch_up(state.pieces, text, state.index, ThinkingDelta, path, out)
        if signature is None and type(state.item.get("encrypted_content")) is str:
            signature = state.item["encrypted_content"]
        if signature is not None:
            out.append(BlockDelta(index=state.index, delta=SignatureDelta(signature)))

    # ------------------------------------------------------------ messages and calls

    def _start_text(
        self,
        state: Item,
        k: int,
        part: dict[str, Any] | None,
        item_fields: dict[str, Any],
        out: list[StreamEvent],
    ) -> tuple[int, list[str]]:
        fields = part_fields(part, "output_text") if part is not None else {}
        if not state.texts and (item_fields or self._last_text):
            fields[ITEM] = item_fields
        entry: tuple[int, list[str]] = (self._start(Text(text="", extra=tag(fields)), out), [])
        state.texts[k] = entry
        return entry

    def _text_part(self, d: dict[str, Any], kind: str, out: list[StreamEvent]) -> None:
        """``content_part.added``: a text part starts its block."""
        state = self._find(d, kind)
        part = as_obj(d.get("part"), f"{kind}.part")
        k = _content_index(d, kind, len(state.texts))
        if state.kind == "reasoning":
            if part.get("type") == "reasoning_text" and type(k) is int:
                self._open(state, "content", k, out)
            return
        part_kind = part.get("type")
        if state.kind == "message" and is_text_type(part_kind) and k not in state.texts:
            self._start_text(state, k, part, predicted(keep(state.item, MESSAGE_KEYS)), out)

    def _text_delta(self, d: dict[str, Any], kind: str, out: list[StreamEvent]) -> None:
        state = self._find(d, kind, "message")
        k = _content_index(d, kind, 0)
        entry = state.texts.get(k)
        if entry is None:
            entry = self._start_text(state, k, None, predicted(keep(state.item, MESSAGE_KEYS)), out)
        delta = req_str(d, "delta", kind)
        if delta:
            entry[1].append(delta)
            out.append(BlockDelta(index=entry[0], delta=TextDelta(delta)))

    def _text_done(self, d: dict[str, Any], kind: str, out: list[StreamEvent]) -> None:
        """``output_text.done`` / ``content_part.done``: emit what the deltas missed."""
        state = self._find(d, kind)
        if state.kind == "reasoning":
            self._reasoning_part_done(d, kind, out)
            return
        entry = state.texts.get(_content_index(d, kind, 0))
        text = d.get("text")
        part = d.get("part")
        if text is None and type(part) is dict and is_text_type(part.get("type")):
            text = part.get("text")
        if entry is not None and type(text) is str:
            catch_up(entry[1], text, entry[0], TextDelta, kind, out)

    def _finish_message(self, state: Item, final: dict[str, Any], path: str, out: list[StreamEvent]) -> None:
        content = final.get("content")
        if type(content) is not list:
            content = []
        texts = [
            p
            for p in content
            if type(p) is dict and is_text_type(p.get("type")) and type(p.get("text")) is str
        ]
        if content and len(texts) == len(content):
            fields = keep(final, MESSAGE_KEYS)
            for k, part in enumerate(content):
                entry = state.texts.get(k)
                if entry is None:
                    entry = self._start_text(state, k, part, fields, out)
                else:  # started earlier: its part's and item's final fields
                    settled = part_fields(part, "output_text")
                    if ITEM in self._extras[entry[0]].get(DIALECT, ()):
                        settled[ITEM] = fields
                    state.finals[entry[0]] = tag(settled)
                catch_up(entry[1], part["text"], entry[0], TextDelta, f"{path}.content[{k}]", out)
        elif not state.texts:
            state.index = self._start(Opaque(dialect=DIALECT, data=final), out)
        else:  # text parts already streamed: keep them, add the other parts after them
            for part in content:
                if part not in texts:
                    state.texts[-len(state.texts) - 1] = (
                        self._start(Opaque(dialect=DIALECT, data=part), out),
                        [],
                    )

    def _arguments(self, d: dict[str, Any], kind: str, out: list[StreamEvent]) -> None:
        state = self._find(d, kind, "function_call")
        if state.index is None:
            return
        if kind.endswith(".delta"):
            delta = req_str(d, "delta", kind)
            if delta:
                state.pieces.append(delta)
                out.append(BlockDelta(index=state.index, delta=ArgumentsDelta(delta)))
        else:
            catch_up(state.pieces, req_str(d, "arguments", kind), state.index, ArgumentsDelta, kind, out)


_HANDLERS = {
    "response.output_item.added": ResponsesStreamDecoder._item_added,
    "response.output_item.done": ResponsesStreamDecoder._item_done,
    "response.content_part.added": ResponsesStreamDecoder._text_part,
    "response.content_part.done": ResponsesStreamDecoder._text_done,
    "response.output_text.delta": ResponsesStreamDecoder._text_delta,
    "response.output_text.done": ResponsesStreamDecoder._text_done,
    "response.reasoning_summary_part.added": ResponsesStreamDecoder._reasoning_part,
    "response.reasoning_summary_text.delta": ResponsesStreamDecoder._reasoning_part,
    "response.reasoning_summary_text.done": ResponsesStreamDecoder._reasoning_part_done,
    "response.reasoning_summary_part.done": ResponsesStreamDecoder._reasoning_part_done,
    "response.reasoning_part.added": ResponsesStreamDecoder._text_part,  # vLLM, for reasoning_text parts
    "response.reasoning_part.done": ResponsesStreamDecoder._text_done,
    "response.reasoning_text.delta": ResponsesStreamDecoder._reasoning_part,
    "response.reasoning_text.done": ResponsesStreamDecoder._reasoning_part_done,
    "response.function_call_arguments.delta": ResponsesStreamDecoder._arguments,
    "response.function_call_arguments.done": ResponsesStreamDecoder._arguments,
}


def _content_index(d: dict[str, Any], kind: str, default: int) -> int:
    """An event's ``content_index`` (``default`` when absent)."""
    k = d.get("content_index", default)
    if type(k) is not int:
        raise fail(f"{kind}.content_index", "an integer", k)
    return k
