"""The vendors an emulator speaks: wire format, documented rules, and what the model sees.

Each ``Vendor`` turns a request body into an ``Answered``: it decodes the body with the dialect's
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

``openrouter`` (Chat with signed ``reasoning_details``, WIRE.md 2.10) and ``openai-responses``
(reasoning items with ``encrypted_content``, ``store`` / ``previous_response_id``, WIRE.md
2.11): see their classes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import msgspec
from starlette.responses import JSONResponse

from thinkwire import scripted
from thinkwire.asgi.errors import envelope
from thinkwire.dialects._reasoning import ANTHROPIC_FORMAT, UNKNOWN_FORMAT
from thinkwire.dialects.base import get_codec
from thinkwire.dialects.openai_responses.response import DERIVE_STATUS
from thinkwire.emulators.breaks import DROP_THINKING, IGNORE_CARRIER, MERGE_STREAM_BLOCKS, BreakCase
from thinkwire.emulators.signing import Signer
from thinkwire.errors import ApiError
from thinkwire.ir.blocks import Block, Carrier, Dialect, Origin, RedactedThinking, Text, Thinking, ToolCall
from thinkwire.ir.conversation import Message, Request, Response, Usage
from thinkwire.ir.stream import (
    ArgumentsDelta,
    BlockDelta,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    response_events,
)
from thinkwire.policy import current_turn_start

CREATED: Final = 1_767_225_600
"""The ``created`` time of every Chat completion (2026-01-01): emulators are deterministic."""

_PIECE: Final = re.compile(r".{1,12}", re.DOTALL)


@dataclass(frozen=True)
class Answered:
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

    def __init__(self, *, secret: bytes, break_case: BreakCase | None = None, calls: int = 1) -> None:
        self.secret = secret
        self.signer = Signer(secret)
        self.break_case = break_case
        self.calls = calls
        """Tool calls the scripted model makes per user turn before it answers."""

    def routes(self) -> tuple[Vendor, ...]:
        """What the emulator serves, each vendor on its own ``paths``: this one, and the other
        APIs its server has beside it (OpenRouter's Responses beta), signing with one key."""
        return (self,)

    def _beside(self, *kinds: type[Vendor]) -> tuple[Vendor, ...]:
        """``routes``: this vendor and one of each of ``kinds``, with its key, break and calls."""
        made = (kind(secret=self.secret, break_case=self.break_case, calls=self.calls) for kind in kinds)
        return (self, *made)

    # -- the steps of a request ------------------------------------------------------------

    def handle(self, body: dict[str, Any]) -> Answered:
        """Decode, enforce, view, reply with the scripted model, finish (``ApiError`` /
        ``DecodeError`` on a bad request)."""
        request, view = self.prepare(body)
        reply = scripted.reply(
            view, call_prefix=self.call_prefix, split_thinking=self.splits(request), calls=self.calls
        )
        return self.complete(request, view, reply)

    def prepare(self, body: dict[str, Any]) -> tuple[Request, Request]:
        """Decode and enforce: the request and the model's view of it (``ApiError`` /
        ``DecodeError`` on a bad request). Any model answers the view; ``complete`` finishes."""
        # ``stream`` is how the answer is sent, not part of the conversation: a streamed request
        # and its whole twin get the same ids and the same reply.
        request = msgspec.structs.replace(self.decode(body), stream=None)
        self.check(request)
        return request, self.view(request)

    def complete(self, request: Request, view: Request, reply: Response) -> Answered:
        """The turn once the model has replied to ``view`` (vendors that keep state record it)."""
        return Answered(request, view, self.finish(request, view, reply))

    def splits(self, request: Request) -> bool:
        """Whether the model writes its thinking as two blocks (interleaved thinking)."""
        return self.split_thinking

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
        """The reply as the vendor sends it: id, model, usage.

        Usage is counted over the view and the reply (``scripted.prompt_tokens``), unless the
        reply has its own (a real model's token counts; reasoning tokens are then counted as
        the scripted model counts them, the engine not splitting its output count)."""
        output, reasoning = scripted.output_tokens(reply.blocks)
        if reply.usage is not None:
            usage = msgspec.structs.replace(reply.usage, reasoning_tokens=reasoning)
        else:
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

    def encode(self, turn: Answered) -> dict[str, Any]:
        encoded = get_codec(self.dialect).encode_response(turn.response, carrier=self.carrier(turn.request))
        return encoded.value

    def sse(self, turn: Answered) -> Iterator[bytes]:
        """The response as server-sent events, deltas cut into small pieces as a model streams."""
        encoder = get_codec(self.dialect).stream_encoder(carrier=self.carrier(turn.request))
        for event in self.stream_events(turn):
            yield from encoder.feed(event)
        yield from encoder.close()

    def stream_events(self, turn: Answered) -> Iterator[StreamEvent]:
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

    def error_response(self, error: ApiError) -> JSONResponse:
        """``error`` in the vendor's envelope."""
        return envelope(error, self.dialect)

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
    paths: ClassVar[tuple[str, ...]] = ("/v1/messages",)
    models: ClassVar[tuple[str, ...]] = ("claude-emulated",)
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
        start = current_turn_start(request.messages)
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
        usage = finished.usage
        if reply.usage is not None and usage is not None and usage.input_tokens is not None:
            # a real model counts every prompt token as input; Anthropic leaves out cache reads
            uncached = usage.input_tokens - (usage.cache_read_tokens or 0)
            finished = msgspec.structs.replace(
                finished, usage=msgspec.structs.replace(usage, input_tokens=uncached)
            )
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
        start = current_turn_start(request.messages) if self.current_turn_only else 0
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


class DeepSeekAnthropic(Anthropic):
    """DeepSeek's Anthropic-compatible API (``https://api.deepseek.com/anthropic``, WIRE.md 1
    "Anthropic Messages": a signature is valid only where it was issued).

    Anthropic Messages with Anthropic's rules, answered by DeepSeek: ``deepseek-reasoner``
    thinks unless ``thinking`` is disabled (``deepseek-chat`` only when enabled), and its
    thinking blocks carry DeepSeek's own signatures, which this emulator (and DeepSeek) verify
    and Claude refuses. Proxies that put Claude Code in front of DeepSeek use this route.
    """

    name = "deepseek-anthropic"
    paths: ClassVar[tuple[str, ...]] = ("/anthropic/v1/messages", "/v1/messages")
    models = ("deepseek-reasoner", "deepseek-chat")

    @staticmethod
    def thinking_on(request: Request) -> bool:
        mode = request.thinking.mode if request.thinking is not None else None
        if mode == "disabled":
            return False
        return request.model != "deepseek-chat" or mode in ("enabled", "adaptive")


class DeepSeekAnthropicBeside(DeepSeekAnthropic):
    """``DeepSeekAnthropic`` on the ``deepseek`` emulator, beside its Chat API: only on
    DeepSeek's own path (base URL ``<host>/anthropic``)."""

    paths = ("/anthropic/v1/messages",)


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

    def routes(self) -> tuple[Vendor, ...]:
        """Chat, and the Anthropic-compatible API on ``/anthropic/v1/messages`` of the same
        server, as ``api.deepseek.com`` serves both (LiteLLM sends ``deepseek/`` models there)."""
        return self._beside(DeepSeekAnthropicBeside)

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
        start = current_turn_start(messages)
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


# ---------------------------------------------------------------------------------------------
# OpenRouter

OPENROUTER_FORMATS: Final = {"anthropic/": ANTHROPIC_FORMAT, "google/": "google-gemini-v1"}
"""The ``reasoning_details`` ``format`` by model-name prefix (others: ``unknown``)."""
OPENROUTER_PROVIDERS: Final = {"anthropic": "Anthropic", "google": "Google AI Studio"}
GEMINI_MISSING: Final = (
    "Function call is missing a thought_signature in functionCall parts. This is required for "
    "tools to work correctly, and missing thought_signature may lead to degraded model "
    "performance. Additional data, function call `default_api:{name}` , position {position}. "
    "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)
GEMINI_CORRUPTED: Final = "Corrupted thought signature."
PROVIDER_RETURNED_ERROR: Final = "Provider returned error"


class ProviderError(ApiError):
    """An upstream provider's 400 relayed by OpenRouter: ``message`` is the provider's,
    ``raw`` its error body (sent as the JSON string ``error.metadata.raw``)."""

    def __init__(self, provider: str, message: str, raw: dict[str, Any]) -> None:
        super().__init__(400, message)
        self.provider = provider
        self.raw = raw


def provider_error(family: str, kind: str, i: int, j: int, block: Block | None = None) -> ProviderError:
    """The 400 OpenRouter relays from the provider of model ``family`` (``anthropic`` or
    ``google``): ``kind`` ``missing`` (no signed thinking before the call ``block`` at ``j`` of
    message ``i``) or ``corrupted`` (the signature of block ``j`` does not match)."""
    provider = OPENROUTER_PROVIDERS[family]
    if family == "google":
        name = block.name if isinstance(block, ToolCall) else "tool"
        message = GEMINI_MISSING.format(name=name, position=j) if kind == "missing" else GEMINI_CORRUPTED
        raw: dict[str, Any] = {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
        return ProviderError(provider, message, raw)
    if kind == "missing":
        message = MISSING_THINKING.format(i=i, found="text" if j else "tool_use")
    else:
        message = INVALID_SIGNATURE.format(i=i, j=j)
    raw = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    return ProviderError(provider, message, raw)


def openrouter_envelope(error: ApiError) -> JSONResponse:
    """``error`` in OpenRouter's envelope (a provider's relayed with its body in ``metadata.raw``)."""
    inner: dict[str, Any] = {"message": error.message, "code": error.status}
    if isinstance(error, ProviderError):
        raw = msgspec.json.encode(error.raw).decode()
        inner = {
            "message": PROVIDER_RETURNED_ERROR,
            "code": error.status,
            "metadata": {"raw": raw, "provider_name": error.provider, "is_byok": False},
        }
    return JSONResponse({"error": inner, "user_id": "user_emulated"}, status_code=error.status)


class OpenRouter(ChatVendor):
    """OpenRouter (Chat with ``reasoning_details``), WIRE.md 1 "reasoning_details", 2.10.

    The model-name prefix picks the upstream family: ``google/`` is Gemini, anything else
    behaves as Claude (``anthropic/`` names the format ``anthropic-claude-v1``; Claude thinks
    in two blocks, so a turn has two ``reasoning.text`` entries). Reasoning is on unless the
    request's ``reasoning`` says ``enabled: false`` or ``effort: "none"``. Every entry is
    signed (streamed: text pieces, then the signature, under one ``index``). Beside the array
    the message carries the plain ``reasoning`` string (the entries' text), as OpenRouter does.

    Rules (answered as OpenRouter relays a provider's 400, ``Provider returned error`` with the
    provider's body in ``metadata.raw``): an assistant message of the current turn that made
    tool calls must carry signed ``reasoning_details`` (Claude's ``Expected `thinking` ...``,
    Gemini's ``missing a thought_signature``); a signature that does not match its text is
    Claude's ``Invalid `signature` in `thinking` block`` / Gemini's ``Corrupted thought
    signature.``. The model reads the reasoning in ``reasoning_details`` only.
    """

    name = "openrouter"
    models = ("anthropic/claude-emulated", "google/gemini-emulated")
    id_prefix = "gen-"
    reads = frozenset({"reasoning_details"})
    ignored_by_break = "reasoning_details"

    @staticmethod
    def family(request: Request) -> str:
        return "google" if (request.model or "").startswith("google/") else "anthropic"

    @staticmethod
    def format(request: Request) -> str:
        model = request.model or ""
        return next((f for p, f in OPENROUTER_FORMATS.items() if model.startswith(p)), UNKNOWN_FORMAT)

    def thinking_on(self, request: Request) -> bool:
        switch = request.extra.get("openai-chat", {}).get("reasoning")
        if isinstance(switch, dict):
            return switch.get("enabled") is not False and switch.get("effort") != "none"
        return True

    def routes(self) -> tuple[Vendor, ...]:
        return self._beside(OpenRouterResponses)

    def splits(self, request: Request) -> bool:
        return self.family(request) == "anthropic"

    def carrier(self, request: Request) -> Carrier | None:
        return None  # the blocks' own (reasoning_details), so their ``reasoning`` mirror is written

    def check(self, request: Request) -> None:
        if not self.thinking_on(request):
            return
        messages = request.messages
        start = current_turn_start(messages)
        skipped = 0  # Anthropic counts messages without the system ones
        for i, message in enumerate(messages):
            if message.role in ("system", "developer"):
                skipped += 1
                continue
            if message.role != "assistant":
                continue
            signed = False
            for j, block in enumerate(message.blocks):
                if isinstance(block, Thinking) and block.signature and _carrier(block) == "reasoning_details":
                    facts = self.signer.verify(block.signature)
                    if facts is None or facts.t != block.text:
                        raise provider_error(self.family(request), "corrupted", i - skipped, j)
                    signed = True
            call = next((j for j, b in enumerate(message.blocks) if isinstance(b, ToolCall)), None)
            if i >= start and call is not None and not signed:
                raise provider_error(self.family(request), "missing", i - skipped, call, message.blocks[call])

    def error_response(self, error: ApiError) -> JSONResponse:
        return openrouter_envelope(error)

    def finish(self, request: Request, view: Request, reply: Response) -> Response:
        finished = super().finish(request, view, reply)
        fmt, model = self.format(request), finished.model
        blocks: list[Block] = []
        for block in finished.blocks:
            if isinstance(block, Thinking):
                k = sum(1 for b in blocks if isinstance(b, Thinking))
                extra: dict[str, Any] = {"format": fmt, "index": k}
                if k == 0:  # the plain ``reasoning`` string OpenRouter sends beside the details
                    extra["mirror"] = ["reasoning"]
                origin = Origin(
                    dialect="openai-chat",
                    carrier="reasoning_details",
                    provider=self.name,
                    model=model,
                    extra=extra,
                )
                block = Thinking(text=block.text, signature=self.signer.sign(block.text, k), origin=origin)
            blocks.append(block)
        top = {"created": CREATED, "provider": OPENROUTER_PROVIDERS[self.family(request)]}
        return msgspec.structs.replace(finished, blocks=tuple(blocks), extra={"openai-chat": top})


# ---------------------------------------------------------------------------------------------
# OpenAI Responses

RESPONSES: Final = "openai-responses"
NO_FOLLOWING_ITEM: Final = "Item '{id}' of type 'reasoning' was provided without its required following item."
UNVERIFIED: Final = "The encrypted content {short} could not be verified."
ITEM_NOT_FOUND: Final = (
    "Item with id '{id}' not found. Items are not persisted when `store` is set to false. Try "
    "again with `store` set to true, or remove this item from your input."
)
NO_PREVIOUS: Final = "Previous response with id '{id}' not found."
_ITEM_PREFIX: Final = {Thinking: "rs_", ToolCall: "fc_", Text: "msg_"}


class OpenAIResponses(Vendor):
    """OpenAI Responses (``POST /v1/responses``), WIRE.md 1 "OpenAI Responses", 2.11.

    Output items carry ids (``rs_`` / ``fc_`` / ``msg_``); a reasoning item has a
    ``summary`` (the thinking as one ``summary_text``) and, when ``include`` asks for
    ``reasoning.encrypted_content``, that content: the emulator's signature of the thinking.
    Unless ``store`` is ``false`` the response is kept in memory: the conversation for
    ``previous_response_id``, the reasoning items by id.

    Rules: a reasoning item sent back must be followed by an item of its turn, the one it
    preceded when that one carries its id (``Item 'rs_..' of type 'reasoning' was provided
    without its required following item.``); ``encrypted_content`` not issued here is
    ``invalid_encrypted_content``; a reasoning item without it must be a stored one (404
    ``Item with id .. not found``); an unknown ``previous_response_id`` is a 400.

    The model reads a reasoning item's thinking from its encrypted content or from the store,
    never from the summary the client sends; earlier turns come from ``previous_response_id``.
    """

    name = "openai-responses"
    dialect = RESPONSES
    paths = ("/v1/responses", "/responses")
    models: ClassVar[tuple[str, ...]] = ("gpt-emulated",)
    id_prefix = "resp_"

    def __init__(self, *, secret: bytes, break_case: BreakCase | None = None, calls: int = 1) -> None:
        super().__init__(secret=secret, break_case=break_case, calls=calls)
        self.conversations: dict[str, tuple[Message, ...]] = {}
        """Stored responses: the conversation they end, by response id."""
        self.reasoning: dict[str, str] = {}
        """Stored reasoning items: their thinking, by item id."""
        self.following: dict[str, str] = {}
        """Each issued reasoning item's id -> the id of the item it preceded."""

    @staticmethod
    def options(request: Request) -> dict[str, Any]:
        return request.extra.get(RESPONSES, {})

    def complete(self, request: Request, view: Request, reply: Response) -> Answered:
        turn = super().complete(request, view, reply)
        blocks = turn.response.blocks
        for k, block in enumerate(blocks[:-1]):
            if isinstance(block, Thinking) and (rs := _item_id(block)) and (nxt := _item_id(blocks[k + 1])):
                self.following[rs] = nxt
        if self.stores(turn.request) and turn.response.id is not None:
            self.conversations[turn.response.id] = (*self.context(turn.request), turn.response.to_message())
            for block in blocks:
                if isinstance(block, Thinking) and (rs := _item_id(block)):
                    self.reasoning[rs] = block.text
        return turn

    def stores(self, request: Request) -> bool:
        """Whether the response is kept (``store`` is not ``false``)."""
        return self.options(request).get("store") is not False

    def decode(self, body: dict[str, Any]) -> Request:
        request = get_codec(self.dialect).decode_request(body, provider=self.name)
        if not request.messages:
            raise ApiError(400, "Missing required parameter: 'input'.", param="input")
        return request

    def check(self, request: Request) -> None:
        previous = self.options(request).get("previous_response_id")
        if previous is not None and previous not in self.conversations:
            raise ApiError(400, NO_PREVIOUS.format(id=previous), param="previous_response_id")
        for message in request.messages:
            if message.role != "assistant":
                continue
            blocks = message.blocks
            for j, block in enumerate(blocks):
                if not isinstance(block, Thinking | RedactedThinking):
                    continue
                rs = _item_id(block) or "rs_"
                nxt = blocks[j + 1] if j + 1 < len(blocks) else None
                expected, given = self.following.get(rs), _item_id(nxt) if nxt is not None else None
                if (
                    nxt is None
                    or isinstance(nxt, Thinking | RedactedThinking)
                    or (expected is not None and given is not None and given != expected)
                ):
                    raise ApiError(400, NO_FOLLOWING_ITEM.format(id=rs), param="input")
                encrypted = _encrypted(block)
                if encrypted is not None:
                    if self.signer.verify(encrypted) is None:
                        short = f"{encrypted[:4]}...{encrypted[-4:]}"
                        raise ApiError(400, UNVERIFIED.format(short=short), code="invalid_encrypted_content")
                elif _item_id(block) is not None and rs not in self.reasoning:
                    raise ApiError(404, ITEM_NOT_FOUND.format(id=rs), param="input")

    def context(self, request: Request) -> tuple[Message, ...]:
        """The whole conversation as the server holds it: the stored one the request continues,
        then its input with each reasoning item's thinking as issued (items the server cannot
        read are left out)."""
        previous = self.options(request).get("previous_response_id")
        history = self.conversations.get(previous, ()) if isinstance(previous, str) else ()
        return (*history, *(self._restored(m) for m in request.messages))

    def _restored(self, message: Message) -> Message:
        if message.role != "assistant":
            return message
        blocks: list[Block] = []
        for block in message.blocks:
            if isinstance(block, Thinking | RedactedThinking):
                encrypted = _encrypted(block)
                signed = self.signer.verify(encrypted) if encrypted is not None else None
                rs = _item_id(block)
                text = signed.t if signed is not None else self.reasoning.get(rs) if rs else None
                if text is None:
                    continue
                block = Thinking(text=text, signature=encrypted, origin=block.origin)
            blocks.append(block)
        return msgspec.structs.replace(message, blocks=tuple(blocks))

    def view(self, request: Request) -> Request:
        messages = self.context(request)
        if self.drops_thinking():
            messages = tuple(_strip_reasoning(m) if m.role == "assistant" else m for m in messages)
        return msgspec.structs.replace(request, messages=messages)

    def finish(self, request: Request, view: Request, reply: Response) -> Response:
        finished = super().finish(request, view, reply)
        base = (finished.id or "")[len(self.id_prefix) :]
        include = self.options(request).get("include")
        encrypt = isinstance(include, list) and "reasoning.encrypted_content" in include
        blocks: list[Block] = []
        for k, block in enumerate(finished.blocks):
            item_id = f"{_ITEM_PREFIX.get(type(block), 'item_')}{base}{k:02d}"
            if isinstance(block, Thinking):
                origin = Origin(
                    dialect=RESPONSES, provider=self.name, model=finished.model, extra={"id": item_id}
                )
                signature = self.signer.sign(block.text, k) if encrypt else None
                block = Thinking(text=block.text, signature=signature, origin=origin)
            elif isinstance(block, ToolCall):
                block = msgspec.structs.replace(
                    block, extra={RESPONSES: {"id": item_id, "status": "completed"}}
                )
            elif isinstance(block, Text):
                item = {"type": "message", "id": item_id, "status": "completed"}
                block = msgspec.structs.replace(block, extra={RESPONSES: {"item": item, "annotations": []}})
            blocks.append(block)
        return msgspec.structs.replace(
            finished, blocks=tuple(blocks), extra={RESPONSES: self._fields(request)}
        )

    def _fields(self, request: Request) -> dict[str, Any]:
        """The response object's own fields (its status is derived from the stop reason)."""
        options = self.options(request)
        thinking = request.thinking
        tools = get_codec(self.dialect).encode_request(Request(tools=request.tools)).value.get("tools", [])
        return {
            "object": "response",
            "created_at": CREATED,
            "status": "completed",
            "error": None,
            "incomplete_details": None,
            "instructions": request.system[0].text
            if request.system and isinstance(request.system[0], Text)
            else None,
            "metadata": options.get("metadata") or {},
            "parallel_tool_calls": True,
            "previous_response_id": options.get("previous_response_id"),
            "reasoning": {
                "effort": thinking.effort if thinking else "medium",
                "summary": thinking.summary if thinking else None,
            },
            "store": options.get("store") is not False,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": tools,
            "top_p": 1.0,
            "truncation": "disabled",
            DERIVE_STATUS: True,
        }


STATELESS: Final = "previous_response_id: this API is stateless; send the whole conversation in input."


class OpenRouterResponses(OpenAIResponses):
    """OpenRouter's Responses API beta (``POST /v1/responses`` beside its Chat API, on the
    ``openrouter`` emulator): OpenAI Responses, stateless, in front of the provider the model
    name picks (``OpenRouter.family``: Claude thinks in two reasoning items).

    Nothing is stored, so ``previous_response_id`` is a 400 and reasoning comes back only in
    the items a client sends: each reasoning item has an id and a ``summary`` (its thinking
    as one ``summary_text``) and, when ``include`` asks for it, ``encrypted_content`` (the
    provider's signature, which binds the text). Rules, relayed as OpenRouter relays a
    provider's 400 (``provider_error``): a reasoning item whose ``encrypted_content`` was not
    issued here, or whose text differs from what it signed, is Claude's ``Invalid `signature`
    in `thinking` block`` (Gemini's ``Corrupted thought signature.``); an assistant turn of
    the current tool loop that calls a tool with no signed reasoning item before it is Claude's
    ``Expected `thinking` ...`` (Gemini's ``missing a thought_signature``). OpenAI's own rules
    (the following item, stored items) are not OpenRouter's: Claude's two thinking blocks come
    as two reasoning items in a row, and a reasoning item without ``encrypted_content`` is left
    out. The model reads a reasoning item's thinking from its ``encrypted_content`` only.
    """

    name = "openrouter"
    models = OpenRouter.models
    id_prefix = "gen-"

    def stores(self, request: Request) -> bool:
        return False

    def splits(self, request: Request) -> bool:
        return OpenRouter.family(request) == "anthropic"

    def error_response(self, error: ApiError) -> JSONResponse:
        return openrouter_envelope(error)

    def check(self, request: Request) -> None:
        if self.options(request).get("previous_response_id") is not None:
            raise ApiError(400, STATELESS, param="previous_response_id")
        family, start = OpenRouter.family(request), current_turn_start(request.messages)
        turns = [(i, m) for i, m in enumerate(request.messages) if m.role not in ("system", "developer")]
        for i, (index, message) in enumerate(turns):
            if message.role != "assistant":
                continue
            signed = False
            for j, block in enumerate(message.blocks):
                encrypted = _encrypted(block) if isinstance(block, Thinking | RedactedThinking) else None
                if encrypted is None:
                    continue
                facts = self.signer.verify(encrypted)
                text = block.text if isinstance(block, Thinking) else ""
                if facts is None or (text and text != facts.t):
                    raise provider_error(family, "corrupted", i, j)
                signed = True
            shown = [b for b in message.blocks if not isinstance(b, Thinking | RedactedThinking)]
            call = next((j for j, b in enumerate(shown) if isinstance(b, ToolCall)), None)
            if index >= start and call is not None and not signed:  # unsigned reasoning is left out
                raise provider_error(family, "missing", i, call, shown[call])


def _item_id(block: Block) -> str | None:
    """The Responses item id a block carries (reasoning, function call or message)."""
    if isinstance(block, Thinking | RedactedThinking):
        found = block.origin.extra.get("id") if block.origin is not None else None
    elif isinstance(block, Text):
        found = block.extra.get(RESPONSES, {}).get("item", {}).get("id")
    else:
        found = getattr(block, "extra", {}).get(RESPONSES, {}).get("id")
    return found if isinstance(found, str) else None


def _encrypted(block: Thinking | RedactedThinking) -> str | None:
    return block.signature if isinstance(block, Thinking) else block.data


VENDORS: Final[dict[str, type[Vendor]]] = {
    v.name: v for v in (Anthropic, DeepSeek, DeepSeekAnthropic, MiniMax, OpenAIResponses, OpenRouter)
}
"""Every emulated vendor by name."""
