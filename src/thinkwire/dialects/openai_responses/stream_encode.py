"""Encoding IR stream events as the typed ``response.*`` server-sent events.

The sequence follows the API: ``response.created`` and ``response.in_progress`` (the shell,
``status: in_progress``, ``output: []``), then per output item ``output_item.added``, its
part events (``reasoning_summary_part.added`` / ``content_part.added``), the deltas, the
``*.done`` events with the full text, ``output_item.done`` with the full item, and finally
``response.completed`` / ``response.incomplete`` / ``response.failed`` with the whole
response. ``sequence_number`` counts from 0.

Items are written with the same functions as the non-streamed encoder, so a stream and the
whole response agree. Consecutive ``Text`` blocks share one message item as they would
there; the item is finished when a block that does not continue it starts, or at the end.
A reasoning block whose origin keeps several summary parts is sent when it stops (its parts
are only known then); every other block streams as its deltas arrive. A ``BlockStop`` with
``extra`` settles the block's fields (citations, an item's final ``status``) for its final
part and item; citations its start part lacked are announced with
``response.output_text.annotation.added`` first.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from thinkwire.dialects.openai_responses._common import DIALECT, EMPTY, mine
from thinkwire.dialects.openai_responses.items import (
    ITEM,
    PLAIN,
    encode_call,
    message_head,
    output_text,
)
from thinkwire.dialects.openai_responses.reasoning import SOURCE, encode_reasoning, encode_redacted
from thinkwire.dialects.openai_responses.response import response_object, status_of
from thinkwire.dialects.sse import format_event
from thinkwire.ir.blocks import Block, Extra, Opaque, Origin, RedactedThinking, Text, Thinking, ToolCall
from thinkwire.ir.conversation import StopReason, Usage
from thinkwire.ir.losses import Loss, LossLog
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
    merge_usage,
)

TERMINAL = {
    "completed": "response.completed",
    "incomplete": "response.incomplete",
    "failed": "response.failed",
}


def _merge(old: Extra, new: Extra) -> Extra:
    if not new:
        return old
    return {d: {**old.get(d, {}), **new.get(d, {})} for d in {*old, *new}}


class _Message:
    """An open message item: its head fields and the parts written so far."""

    def __init__(self, output_index: int, head: dict[str, Any]) -> None:
        self.output_index = output_index
        self.head = head
        self.id = head.get("id") if isinstance(head.get("id"), str) else None
        self.parts: list[dict[str, Any]] = []
        self.open = 0  # parts not stopped yet
        self.closed = False  # no further Text may join it


class _Block:
    """An IR block being written."""

    def __init__(self, block: Block, output_index: int, item_id: str | None) -> None:
        self.block = block
        self.output_index = output_index
        self.id = item_id
        self.pieces: list[str] = []
        self.signature: list[str] = []
        self.mode = ""  # reasoning: "summary", "content" or "buffer"
        self.part_open = False
        self.message: _Message | None = None
        self.content_index = 0
        self.defaults = False  # text of another dialect: its part gets ``annotations: []``
        self.fields: dict[str, Any] = EMPTY


class ResponsesStreamEncoder:
    """IR stream events in, Responses SSE bytes out."""

    def __init__(self) -> None:
        self._log = LossLog()
        self.losses: list[Loss] = self._log.items
        self._seq = 0
        self._started = False
        self._ended = False
        self._id: str | None = None
        self._model: str | None = None
        self._extra: Extra = {}
        self._usage: Usage | None = None
        self._stop: StopReason | None = None
        self._stop_sequence: str | None = None
        self._outputs: dict[int, Any] = {}
        self._next_output = 0
        self._blocks: dict[int, _Block] = {}
        self._message: _Message | None = None

    # ------------------------------------------------------------ entry points

    def feed(self, event: StreamEvent) -> list[bytes]:
        out: list[bytes] = []
        if self._ended:
            return out
        if isinstance(event, MessageStart):
            self._start(event, out)
        elif isinstance(event, StreamError):
            self._ended = True
            self._emit(out, "error", dict(event.error))
            return out
        else:
            if not self._started:
                self._start(MessageStart(), out)
            if isinstance(event, BlockStart):
                self._block_start(event.index, event.block, out)
            elif isinstance(event, BlockDelta):
                self._block_delta(event, out)
            elif isinstance(event, BlockStop):
                self._block_stop(event.index, event.origin, event.extra, out)
            elif isinstance(event, MessageDelta):
                self._message_delta(event, out)
            elif isinstance(event, MessageStop):
                self._finish(out)
        return out

    def close(self) -> list[bytes]:
        return []

    # ------------------------------------------------------------ helpers

    def _emit(self, out: list[bytes], kind: str, fields: dict[str, Any]) -> None:
        payload = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        out.append(format_event(orjson.dumps(payload).decode(), kind))

    def _ids(self, item_id: str | None, output_index: int) -> dict[str, Any]:
        return (
            {"item_id": item_id, "output_index": output_index}
            if item_id is not None
            else {"output_index": output_index}
        )

    def _new_output(self) -> int:
        index = self._next_output
        self._next_output += 1
        return index

    def _shell(self, status: str) -> dict[str, Any]:
        return response_object(
            id=self._id,
            model=self._model,
            extra=self._extra,
            output=[],
            usage=None,
            stop=None,
            stop_sequence=None,
            log=LossLog(),  # losses are reported once, with the final response
            status=status,
        )

    # ------------------------------------------------------------ message level

    def _start(self, event: MessageStart, out: list[bytes]) -> None:
        if self._started:
            self._extra = _merge(self._extra, event.extra)
            self._usage = merge_usage(self._usage, event.usage)
            return
        self._started = True
        self._id, self._model = event.id, event.model
        self._extra = event.extra
        self._usage = event.usage
        self._emit(out, "response.created", {"response": self._shell("in_progress")})
        self._emit(out, "response.in_progress", {"response": self._shell("in_progress")})

    def _message_delta(self, event: MessageDelta, out: list[bytes]) -> None:
        if event.stop_reason is not None:
            self._stop = event.stop_reason
        if event.stop_sequence is not None:
            self._stop_sequence = event.stop_sequence
        self._usage = merge_usage(self._usage, event.usage)
        self._extra = _merge(self._extra, event.extra)
        self._close_message(out)

    def _finish(self, out: list[bytes]) -> None:
        for index in list(self._blocks):
            self._block_stop(index, None, None, out)
        self._close_message(out)
        response = response_object(
            id=self._id,
            model=self._model,
            extra=self._extra,
            output=[self._outputs[k] for k in sorted(self._outputs)],
            usage=self._usage,
            stop=self._stop,
            stop_sequence=self._stop_sequence,
            log=self._log,
        )
        status = mine(self._extra).get("status") if DIALECT in self._extra else status_of(self._stop)[0]
        self._emit(out, TERMINAL.get(str(status), "response.completed"), {"response": response})
        self._ended = True

    # ------------------------------------------------------------ blocks

    def _block_start(self, index: int, block: Block, out: list[bytes]) -> None:
        self._open_block(index, block, out)
        # A start may already hold a prefix of the content (the fold keeps it): stream it.
        if type(block) is Text and block.text:
            self._block_delta(BlockDelta(index=index, delta=TextDelta(block.text)), out)
        elif type(block) is Thinking and block.text:
            self._block_delta(BlockDelta(index=index, delta=ThinkingDelta(block.text)), out)
        elif type(block) is ToolCall and block.arguments:
            self._block_delta(BlockDelta(index=index, delta=ArgumentsDelta(block.arguments)), out)

    def _open_block(self, index: int, block: Block, out: list[bytes]) -> None:
        path = f"blocks[{index}]"
        if type(block) is Text:
            self._text_start(index, block, path, out)
            return
        self._close_message(out)
        if type(block) is Thinking:
            self._reasoning_start(index, block, out)
        elif type(block) is ToolCall:
            fields = self._fields(block, path)
            state = _Block(
                block, self._new_output(), fields.get("id") if isinstance(fields.get("id"), str) else None
            )
            state.fields = fields
            item = {
                "type": "function_call",
                **fields,
                "call_id": block.id,
                "name": block.name,
                "arguments": "",
            }
            if "status" in fields:
                item["status"] = "in_progress"
            self._blocks[index] = state
            self._emit(out, "response.output_item.added", {"output_index": state.output_index, "item": item})
        elif type(block) is RedactedThinking:
            redacted = encode_redacted(block, self._log, -1, index)
            if redacted is not None:
                self._whole_item(index, block, redacted, out)
        elif type(block) is Opaque and block.dialect == DIALECT:
            self._whole_item(index, block, block.data, out)
        else:
            name = block.dialect if isinstance(block, Opaque) else type(block).__name__
            self._log.add(path, "block", f"{name} block has no place in a {DIALECT} response; omitted")

    def _fields(self, block: Text | ToolCall, path: str) -> dict[str, Any]:
        extra = block.extra
        if not extra:
            return EMPTY
        if len(extra) == 1 and DIALECT in extra:
            return extra[DIALECT]
        return self._log.foreign_extra(path, extra, DIALECT)

    def _whole_item(self, index: int, block: Block, item: dict[str, Any], out: list[bytes]) -> None:
        state = _Block(block, self._new_output(), None)
        state.fields = item
        self._blocks[index] = state
        self._emit(out, "response.output_item.added", {"output_index": state.output_index, "item": item})

    def _text_start(self, index: int, block: Text, path: str, out: list[bytes]) -> None:
        fields = self._fields(block, path)
        message = self._message
        if message is None or message.closed or ITEM in fields or PLAIN in fields:
            self._close_message(out)
            head = message_head(block, fields, response=True)
            message = self._message = _Message(self._new_output(), head)
            added = {**head, "content": [], "role": "assistant"}
            if "status" in head:
                added["status"] = "in_progress"
            self._emit(
                out, "response.output_item.added", {"output_index": message.output_index, "item": added}
            )
        state = _Block(block, message.output_index, message.id)
        state.message = message
        state.fields = fields
        state.content_index = len(message.parts)
        state.defaults = DIALECT not in block.extra
        part = output_text("", fields, state.defaults)
        message.parts.append(part)
        message.open += 1
        self._blocks[index] = state
        self._emit(
            out,
            "response.content_part.added",
            {
                **self._ids(message.id, message.output_index),
                "content_index": state.content_index,
                "part": part,
            },
        )

    def _reasoning_start(self, index: int, block: Thinking, out: list[bytes]) -> None:
        ours = block.origin is not None and block.origin.dialect == DIALECT
        store = block.origin.extra if ours and block.origin is not None else EMPTY
        head = encode_reasoning(msgspec.structs.replace(block, text="", signature=None), LossLog(), -1, index)
        head.pop("encrypted_content", None)
        item_id = head.get("id") if isinstance(head.get("id"), str) else None
        state = _Block(block, self._new_output(), item_id)
        if "summary" in store or (store.get(SOURCE) == "content" and "content" in store):
            state.mode = "buffer"
        else:
            state.mode = "content" if store.get(SOURCE) == "content" else "summary"
        if state.mode != "summary":
            head.pop("content", None)
        if "status" in head:
            head["status"] = "in_progress"
        self._blocks[index] = state
        self._emit(out, "response.output_item.added", {"output_index": state.output_index, "item": head})

    def _block_delta(self, event: BlockDelta, out: list[bytes]) -> None:
        state = self._blocks.get(event.index)
        if state is None:
            return
        delta = event.delta
        if isinstance(delta, SignatureDelta):
            state.signature.append(delta.signature)
            return
        text = delta.json if isinstance(delta, ArgumentsDelta) else delta.text
        if not text:
            return
        state.pieces.append(text)
        ids = self._ids(state.id, state.output_index)
        if isinstance(delta, TextDelta) and state.message is not None:
            fields = {**ids, "content_index": state.content_index, "delta": text, "logprobs": []}
            self._emit(out, "response.output_text.delta", fields)
        elif isinstance(delta, ThinkingDelta) and type(state.block) is Thinking:
            if state.mode == "summary":
                if not state.part_open:
                    state.part_open = True
                    part = {"type": "summary_text", "text": ""}
                    self._emit(
                        out,
                        "response.reasoning_summary_part.added",
                        {**ids, "summary_index": 0, "part": part},
                    )
                self._emit(
                    out, "response.reasoning_summary_text.delta", {**ids, "summary_index": 0, "delta": text}
                )
            elif state.mode == "content":
                self._emit(out, "response.reasoning_text.delta", {**ids, "content_index": 0, "delta": text})
        elif isinstance(delta, ArgumentsDelta) and type(state.block) is ToolCall:
            self._emit(out, "response.function_call_arguments.delta", {**ids, "delta": text})

    def _settle(self, state: _Block, index: int, extra: Extra) -> None:
        """Take a block's final ``extra`` (``BlockStop.extra``); other dialects' fields it adds
        or changes are reported as lost (a reasoning item reports its own when it stops)."""
        block = state.block
        if isinstance(block, Opaque):
            return
        state.block = msgspec.structs.replace(block, extra=extra)
        if type(block) is Thinking:
            return
        changed = {
            d: {k: v for k, v in fields.items() if block.extra.get(d, EMPTY).get(k) != v}
            for d, fields in extra.items()
            if d != DIALECT
        }
        own: dict[str, Any] = self._log.foreign_extra(
            f"blocks[{index}]", {**changed, DIALECT: mine(extra)}, DIALECT
        )
        if state.message is not None:
            state.fields = own
            state.defaults = DIALECT not in extra
            if state.content_index == 0 and ITEM in own:
                state.message.head = dict(own[ITEM])
        elif isinstance(state.block, RedactedThinking):
            state.fields = encode_redacted(state.block, LossLog(), -1, index) or state.fields

    def _block_stop(self, index: int, origin: Origin | None, extra: Extra | None, out: list[bytes]) -> None:
        state = self._blocks.pop(index, None)
        if state is None:
            return
        if extra is not None:
            self._settle(state, index, extra)
        block = state.block
        if origin is not None and isinstance(block, Thinking):
            block = msgspec.structs.replace(block, origin=origin)
        text = "".join(state.pieces)
        ids = self._ids(state.id, state.output_index)
        if state.message is not None:
            message = state.message
            fields = {**ids, "content_index": state.content_index}
            self._annotations(state, message, fields, out)
            self._emit(out, "response.output_text.done", {**fields, "text": text, "logprobs": []})
            part = output_text(text, state.fields, state.defaults)
            message.parts[state.content_index] = part
            self._emit(out, "response.content_part.done", {**fields, "part": part})
            message.open -= 1
            if message.closed and not message.open:
                self._message_done(message, out)
            return
        if type(block) is Thinking:
            signature = (
                (block.signature or "") + "".join(state.signature) if state.signature else block.signature
            )
            final = msgspec.structs.replace(block, text=text, signature=signature)
            item = encode_reasoning(final, self._log, -1, index)
            self._reasoning_parts(state, item, text, ids, out)
        elif type(block) is ToolCall:
            self._emit(out, "response.function_call_arguments.done", {**ids, "arguments": text})
            item = encode_call(msgspec.structs.replace(block, arguments=text), LossLog(), -1, index)
        else:
            item = state.fields
        self._outputs[state.output_index] = item
        self._emit(out, "response.output_item.done", {"output_index": state.output_index, "item": item})

    def _annotations(
        self, state: _Block, message: _Message, fields: dict[str, Any], out: list[bytes]
    ) -> None:
        """``output_text.annotation.added`` for the final citations its start part lacked."""
        final = state.fields.get("annotations")
        if type(final) is not list or not final:
            return
        started = message.parts[state.content_index].get("annotations")
        known = started if type(started) is list else []
        for k, annotation in enumerate(final):
            if k >= len(known) or known[k] != annotation:
                added = {**fields, "annotation_index": k, "annotation": annotation}
                self._emit(out, "response.output_text.annotation.added", added)

    def _reasoning_parts(
        self, state: _Block, item: dict[str, Any], text: str, ids: dict[str, Any], out: list[bytes]
    ) -> None:
        """The closing part events of a reasoning item (all of them, when it was buffered)."""
        if state.mode == "summary" and state.part_open:
            part = {"type": "summary_text", "text": text}
            self._emit(out, "response.reasoning_summary_text.done", {**ids, "summary_index": 0, "text": text})
            self._emit(out, "response.reasoning_summary_part.done", {**ids, "summary_index": 0, "part": part})
        elif state.mode == "content" and text:
            self._emit(out, "response.reasoning_text.done", {**ids, "content_index": 0, "text": text})
        elif state.mode == "buffer":
            for k, part in enumerate(item.get("content") or ()):
                if part.get("text"):
                    fields = {**ids, "content_index": k}
                    self._emit(out, "response.reasoning_text.delta", {**fields, "delta": part["text"]})
                    self._emit(out, "response.reasoning_text.done", {**fields, "text": part["text"]})
            for k, part in enumerate(item.get("summary") or ()):
                fields = {**ids, "summary_index": k}
                self._emit(
                    out, "response.reasoning_summary_part.added", {**fields, "part": {**part, "text": ""}}
                )
                if part.get("text"):
                    self._emit(
                        out, "response.reasoning_summary_text.delta", {**fields, "delta": part["text"]}
                    )
                self._emit(
                    out, "response.reasoning_summary_text.done", {**fields, "text": part.get("text", "")}
                )
                self._emit(out, "response.reasoning_summary_part.done", {**fields, "part": part})

    def _close_message(self, out: list[bytes]) -> None:
        message = self._message
        if message is None:
            return
        self._message = None
        message.closed = True
        if not message.open:
            self._message_done(message, out)

    def _message_done(self, message: _Message, out: list[bytes]) -> None:
        item = {**message.head, "content": message.parts, "role": "assistant"}
        self._outputs[message.output_index] = item
        self._emit(out, "response.output_item.done", {"output_index": message.output_index, "item": item})
