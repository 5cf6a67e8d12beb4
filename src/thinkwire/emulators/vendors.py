"""The vendors an emulator speaks: wire format, documented rules, and what the model sees.

Each ``Vendor`` turns a request body into a ``Turn``: it decodes the body with the dialect's
codec, enforces the vendor's rules on the history (raising ``ApiError``, answered in the
vendor's envelope), builds the model's *view* of the conversation (what the vendor renders
into the prompt, less what a ``--break`` case drops), asks the scripted model for the next
turn, and finishes it as the vendor would send it (ids, signatures, usage).

``anthropic`` (Messages, WIRE.md 1 "Anthropic Messages", 2.1-2.5):

- thinking signatures are the emulator's own (``signing``); a thinking block without one is
  ``thinking.signature: Field required``, one altered, blanked (unless issued omitted) or
  issued elsewhere is ``Invalid `signature` in `thinking` block``; redacted data likewise;
- with thinking on, the latest assistant message that calls a tool must start with its
  thinking: ``Expected `thinking` or `redacted_thinking`, but found `tool_use`...``;
- the thinking blocks of the latest assistant message must stand where they were issued:
  ``... cannot be modified``; with thinking on, ``tool_choice`` may not force a tool;
- the model sees the thinking of the current tool loop (earlier turns' thinking is stripped,
  as the docs say); ``display: "omitted"`` sends thinking as ``""`` plus its signature and
  restores the text from the signature when it comes back.

``deepseek`` (Chat with ``reasoning_content``, WIRE.md 1 "DeepSeek", 2.8): thinking mode unless
the model is ``deepseek-chat`` or ``thinking.type`` is ``disabled``; every assistant message of
the current turn that made tool calls must carry ``reasoning_content`` (``""`` passes), and once
one assistant message has it all must, else 400 ``The 'reasoning_content' in the thinking mode
must be passed back to the API.``; the model reads ``reasoning_content`` of the current turn
only.

``minimax`` (Chat, MiniMax-M2, WIRE.md 1 "MiniMax inline mode", 2.14): thinking inline as
``<think>...</think>`` in ``content`` (``reasoning_details`` with ``reasoning_split: true``); no
documented error, but the model reads thinking only from what was echoed back, in every turn.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import msgspec

from thinkwire.dialects.base import get_codec
from thinkwire.emulators import scripted
from thinkwire.emulators.breaks import DROP_THINKING, IGNORE_CARRIER, MERGE_STREAM_BLOCKS, BreakCase
from thinkwire.emulators.signing import Signer
from thinkwire.ir.blocks import Block, Carrier, Dialect, RedactedThinking, Text, Thinking, ToolCall
from thinkwire.ir.conversation import Message, Request, Response, Usage
from thinkwire.ir.stream import (
    ArgumentsDelta,
    BlockDelta,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    response_events,
)
from thinkwire.server.errors import ApiError

CREATED: Final = 1_767_225_600
"""The ``created`` time of every Chat completion (2026-01-01): emulators are deterministic."""

_PIECE: Final = re.compile(r".{1,12}", re.DOTALL)


@dataclass(frozen=True)
class Turn:
    """One answered request: the decoded request, the model's view, the finished response."""

    request: Request
    view: Request
    response: Response


class Vendor:
    """A vendor's wire format and rules (subclasses fill in the class attributes)."""

    name: ClassVar[str]
    dialect: ClassVar[Dialect]
    paths: ClassVar[tuple[str, ...]]
    models: ClassVar[tuple[str, ...]]
    id_prefix: ClassVar[str]
    call_prefix: ClassVar[str] = "call_"
    split_thinking: ClassVar[bool] = False

    def __init__(self, *, secret: bytes, break_case: BreakCase | None = None) -> None:
        self.signer = Signer(secret)
        self.break_case = break_case

    # -- the steps of a request ------------------------------------------------------------

    def handle(self, body: dict[str, Any]) -> Turn:
        """Decode, enforce, view, reply, finish (``ApiError`` / ``DecodeError`` on a bad request)."""
        # ``stream`` is how the answer is sent, not part of the conversation: a streamed request
        # and its whole twin get the same ids and the same reply.
        request = msgspec.structs.replace(self.decode(body), stream=None)
        self.check(request)
        view = self.view(request)
        reply = scripted.reply(view, call_prefix=self.call_prefix, split_thinking=self.split_thinking)
        return Turn(request, view, self.finish(request, view, reply))

    def decode(self, body: dict[str, Any]) -> Request:
        request = get_codec(self.dialect).decode_request(body, provider=self.name)
        if not request.messages:
            raise ApiError(400, "messages: at least one message is required", param="messages")
        return request

    def check(self, request: Request) -> None:
        """Raise ``ApiError`` where the history breaks the vendor's rules."""

    def view(self, request: Request) -> Request:
        """The request as the model sees it."""
        return request

    def finish(self, request: Request, view: Request, reply: Response) -> Response:
        """The reply as the vendor sends it: id, model, usage."""
        output, reasoning = scripted.output_tokens(reply.blocks)
        usage = Usage(
            input_tokens=scripted.prompt_tokens(view), output_tokens=output, reasoning_tokens=reasoning
        )
        return msgspec.structs.replace(
            reply,
            id=self.id_prefix + scripted.digest(request)[:24],
            model=request.model or self.models[0],
            usage=usage,
        )

    # -- answering -------------------------------------------------------------------------

    def carrier(self, request: Request) -> Carrier | None:
        """The Chat carrier replies are written in (``None`` for other dialects)."""
        return None

    def encode(self, turn: Turn) -> dict[str, Any]:
        encoded = get_codec(self.dialect).encode_response(turn.response, carrier=self.carrier(turn.request))
        return encoded.value

    def sse(self, turn: Turn) -> Iterator[bytes]:
        """The response as server-sent events, deltas cut into small pieces as a model streams."""
        encoder = get_codec(self.dialect).stream_encoder(carrier=self.carrier(turn.request))
        for event in self.stream_events(turn):
            yield from encoder.feed(event)
        yield from encoder.close()

    def stream_events(self, turn: Turn) -> Iterator[StreamEvent]:
        response = turn.response
        if self.break_case is MERGE_STREAM_BLOCKS:
            response = merge_thinking(response)
        for event in response_events(response):
            if not isinstance(event, BlockDelta):
                yield event
                continue
            delta = event.delta
            if isinstance(delta, TextDelta | ThinkingDelta | ArgumentsDelta):
                text = delta.json if isinstance(delta, ArgumentsDelta) else delta.text
                for piece in _PIECE.findall(text):
                    yield BlockDelta(index=event.index, delta=type(delta)(piece))
            else:
                yield event

    # -- helpers ---------------------------------------------------------------------------

    def drops_thinking(self) -> bool:
        return self.break_case is DROP_THINKING


def merge_thinking(response: Response) -> Response:
    """Consecutive thinking blocks merged into one with the last one's signature (the
    ``merge-stream-blocks`` break)."""
    blocks: list[Block] = []
    for block in response.blocks:
        last = blocks[-1] if blocks else None
        if isinstance(block, Thinking) and isinstance(last, Thinking):
            blocks[-1] = msgspec.structs.replace(last, text=last.text + block.text, signature=block.signature)
        else:
            blocks.append(block)
    return msgspec.structs.replace(response, blocks=tuple(blocks))


def _strip_reasoning(message: Message) -> Message:
    kept = tuple(b for b in message.blocks if not isinstance(b, Thinking | RedactedThinking))
    return msgspec.structs.replace(message, blocks=kept)


# ---------------------------------------------------------------------------------------------
# Anthropic

_WIRE_TYPE: Final = {
    Text: "text",
    ToolCall: "tool_use",
    Thinking: "thinking",
    RedactedThinking: "redacted_thinking",
}
MISSING_THINKING: Final = (
    "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{found}`. "
    "When `thinking` is enabled, a final `assistant` message must start with a thinking block "
    "(preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include "
    "thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please "
    "consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
)
INVALID_SIGNATURE: Final = "messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
MODIFIED: Final = (
    "messages.{i}.content.{j}: `thinking` or `redacted_thinking` blocks in the latest assistant "
    "message cannot be modified. These blocks must remain as they were in the original response."
)


class Anthropic(Vendor):
    name = "anthropic"
    dialect = "anthropic"
    paths = ("/v1/messages",)
    models = ("claude-emulated",)
    id_prefix = "msg_"
    call_prefix = "toolu_"
    split_thinking = True

    def decode(self, body: dict[str, Any]) -> Request:
        if "max_tokens" not in body:
            raise ApiError(400, "max_tokens: Field required", param="max_tokens")
        return super().decode(body)

    @staticmethod
    def thinking_on(request: Request) -> bool:
        return request.thinking is not None and request.thinking.mode in ("enabled", "adaptive")

    def check(self, request: Request) -> None:
        choice = request.tool_choice
        if self.thinking_on(request) and choice is not None and choice.mode in ("required", "tool"):
            raise ApiError(400, "Thinking may not be enabled when tool_choice forces tool use.")
        assistant = [i for i, m in enumerate(request.messages) if m.role == "assistant"]
        for i in assistant:
            for j, block in enumerate(request.messages[i].blocks):
                self._check_signed(block, i, j)
        if not assistant:
            return
        latest = assistant[-1]
        blocks = request.messages[latest].blocks
        calls = any(isinstance(b, ToolCall) for b in blocks)
        if self.thinking_on(request) and calls and not isinstance(blocks[0], Thinking | RedactedThinking):
            found = _WIRE_TYPE.get(type(blocks[0]), "text")
            raise ApiError(400, MISSING_THINKING.format(i=latest, found=found))
        for j, block in enumerate(blocks):
            signature = _signature(block)
            signed = self.signer.verify(signature) if signature else None
            if signed is not None and signed.i != j:
                raise ApiError(400, MODIFIED.format(i=latest, j=j))

    def _check_signed(self, block: Block, i: int, j: int) -> None:
        if isinstance(block, RedactedThinking):
            if self.signer.verify(block.data) is None:
                raise ApiError(400, f"messages.{i}.content.{j}: Invalid `data` in `redacted_thinking` block")
        elif isinstance(block, Thinking):
            if block.signature is None:
                raise ApiError(400, f"messages.{i}.content.{j}.thinking.signature: Field required")
            signed = self.signer.verify(block.signature)
            if signed is None or not (block.text == signed.t or (block.text == "" and signed.o)):
                raise ApiError(400, INVALID_SIGNATURE.format(i=i, j=j))

    def view(self, request: Request) -> Request:
        start = scripted.current_turn_start(request.messages)
        messages: list[Message] = []
        for index, message in enumerate(request.messages):
            if message.role != "assistant":
                messages.append(message)
            elif index < start or self.drops_thinking():
                messages.append(_strip_reasoning(message))
            else:
                messages.append(msgspec.structs.replace(message, blocks=self._restored(message.blocks)))
        return msgspec.structs.replace(request, messages=tuple(messages))

    def _restored(self, blocks: tuple[Block, ...]) -> tuple[Block, ...]:
        """Omitted thinking with its text put back from the signature."""
        out: list[Block] = []
        for block in blocks:
            if isinstance(block, Thinking) and block.text == "" and block.signature:
                signed = self.signer.verify(block.signature)
                block = msgspec.structs.replace(block, text=signed.t) if signed else block
            out.append(block)
        return tuple(out)

    def finish(self, request: Request, view: Request, reply: Response) -> Response:
        finished = super().finish(request, view, reply)
        if not self.thinking_on(request):
            blocks = tuple(b for b in finished.blocks if not isinstance(b, Thinking))
            return msgspec.structs.replace(finished, blocks=blocks)
        omitted = request.thinking is not None and request.thinking.display == "omitted"
        signed: list[Block] = []
        for index, block in enumerate(finished.blocks):
            if isinstance(block, Thinking):
                signature = self.signer.sign(block.text, index, omitted=omitted)
                block = Thinking(text="" if omitted else block.text, signature=signature)
            signed.append(block)
        return msgspec.structs.replace(finished, blocks=tuple(signed))


def _signature(block: Block) -> str | None:
    if isinstance(block, Thinking):
        return block.signature
    return block.data if isinstance(block, RedactedThinking) else None


# ---------------------------------------------------------------------------------------------
# OpenAI Chat vendors


class ChatVendor(Vendor):
    """A vendor speaking OpenAI Chat with its own reasoning carrier."""

    dialect = "openai-chat"
    paths = ("/v1/chat/completions", "/chat/completions")
    id_prefix = "chatcmpl-"
    reads: ClassVar[frozenset[Carrier]]
    """The carriers whose reasoning the server renders into the prompt."""
    ignored_by_break: ClassVar[Carrier]
    """The carrier ``ignore-carrier`` stops reading; ``read_instead`` is read in its place."""
    read_instead: ClassVar[Carrier | None] = None
    current_turn_only: ClassVar[bool] = False

    def thinking_on(self, request: Request) -> bool:
        return True

    def reads_now(self) -> frozenset[Carrier]:
        if self.break_case is IGNORE_CARRIER:
            instead = {self.read_instead} if self.read_instead else set()
            return (self.reads - {self.ignored_by_break}) | instead
        return self.reads

    def view(self, request: Request) -> Request:
        start = scripted.current_turn_start(request.messages) if self.current_turn_only else 0
        reads = frozenset() if self.drops_thinking() or not self.thinking_on(request) else self.reads_now()
        messages: list[Message] = []
        for index, message in enumerate(request.messages):
            if message.role == "assistant":
                kept = tuple(
                    b
                    for b in message.blocks
                    if not isinstance(b, Thinking | RedactedThinking)
                    or (index >= start and _carrier(b) in reads)
                )
                message = msgspec.structs.replace(message, blocks=kept)
            messages.append(message)
        return msgspec.structs.replace(request, messages=tuple(messages))

    def finish(self, request: Request, view: Request, reply: Response) -> Response:
        finished = super().finish(request, view, reply)
        blocks = finished.blocks
        if not self.thinking_on(request):
            blocks = tuple(b for b in blocks if not isinstance(b, Thinking))
        return msgspec.structs.replace(finished, blocks=blocks, extra={"openai-chat": {"created": CREATED}})


def _carrier(block: Block) -> Carrier | None:
    origin = getattr(block, "origin", None)
    return origin.carrier if origin is not None else None


def _has_carrier(message: Message, carrier: Carrier) -> bool:
    return any(isinstance(b, Thinking | RedactedThinking) and _carrier(b) == carrier for b in message.blocks)


DEEPSEEK_MISSING: Final = "The 'reasoning_content' in the thinking mode must be passed back to the API."


class DeepSeek(ChatVendor):
    name = "deepseek"
    models = ("deepseek-reasoner", "deepseek-chat")
    reads = frozenset({"reasoning_content"})
    ignored_by_break = "reasoning_content"
    read_instead = "reasoning"
    current_turn_only = True

    def thinking_on(self, request: Request) -> bool:
        switch = request.extra.get("openai-chat", {}).get("thinking")
        disabled = isinstance(switch, dict) and switch.get("type") == "disabled"
        return request.model != "deepseek-chat" and not disabled

    def carrier(self, request: Request) -> Carrier | None:
        return "reasoning_content"

    def check(self, request: Request) -> None:
        if not self.thinking_on(request):
            return
        messages = request.messages
        start = scripted.current_turn_start(messages)
        assistant = [(i, m) for i, m in enumerate(messages) if m.role == "assistant"]
        any_carried = any(_has_carrier(m, "reasoning_content") for _, m in assistant)
        for i, message in assistant:
            calls = any(isinstance(b, ToolCall) for b in message.blocks)
            needed = (calls and i >= start) or any_carried
            if needed and not _has_carrier(message, "reasoning_content"):
                raise ApiError(400, DEEPSEEK_MISSING, code="invalid_request_error")


class MiniMax(ChatVendor):
    name = "minimax"
    models = ("MiniMax-M2",)
    reads = frozenset({"think-tags", "reasoning_details"})
    ignored_by_break = "think-tags"

    def carrier(self, request: Request) -> Carrier | None:
        split = request.extra.get("openai-chat", {}).get("reasoning_split") is True
        return "reasoning_details" if split else "think-tags"


VENDORS: Final[dict[str, type[Vendor]]] = {v.name: v for v in (Anthropic, DeepSeek, MiniMax)}
"""Every emulated vendor by name."""
