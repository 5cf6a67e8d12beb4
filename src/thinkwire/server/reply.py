"""One generated turn answered in the client's dialect, whole or as server-sent events.

Every endpoint decodes its request into the IR and then calls ``answer``: the engine's IR
stream events are rewritten for the client (``Reply.rewrite``: the dialect's message id and
top-level fields, usage in the dialect's terms, the engine's private layout notes removed) and
encoded by the dialect's codec — as SSE when the client asked for a stream, else folded into
one response. Both paths encode the same events, so a streamed turn and a whole one agree.

Errors before the first event (a refused signature, a full queue) are answered with the
dialect's error envelope and status; an error after the stream began becomes the dialect's
in-stream error event. A client that goes away cancels the generation: for streams Starlette
cancels the response and ``EventStreamResponse`` (``thinkwire.asgi.event_stream``) closes the
engine stream whatever the point it was cancelled at; for whole responses a watcher polls for
the disconnect.

Encoding the engine's own output should lose nothing; if a codec ever reports a loss, the
response carries a ``thinkwire-losses`` header with the count and the losses are logged.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import anyio
import msgspec
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response

from thinkwire.asgi.errors import envelope, incident, stream_error
from thinkwire.asgi.event_stream import EventStreamResponse
from thinkwire.asgi.http import credential
from thinkwire.backend import Backend, Caller, Generation, KeepResponse
from thinkwire.dialects.base import get_codec
from thinkwire.dialects.openai_chat.carriers import FORM
from thinkwire.dialects.openai_responses.reasoning import SOURCE
from thinkwire.errors import ApiError
from thinkwire.ir.blocks import (
    Block,
    Carrier,
    Dialect,
    Extra,
    Origin,
    RedactedThinking,
    Text,
    Thinking,
    ToolCall,
)
from thinkwire.ir.conversation import Request, Usage
from thinkwire.ir.losses import THINKING_LOSSES, Loss
from thinkwire.ir.stream import (
    BlockDelta,
    BlockStart,
    BlockStop,
    Folder,
    MessageDelta,
    MessageStart,
    SignatureDelta,
    StreamError,
    StreamEvent,
    ThinkingDelta,
)
from thinkwire.local.parse import LOCAL
from thinkwire.server.limits import check_request

log = logging.getLogger("thinkwire.server")

RESTORED_HEADER: Final = "thinkwire-restored"
REMOVED_HEADER: Final = "thinkwire-policy-removed"
LOSSES_HEADER: Final = "thinkwire-losses"
THINKING_LOSSES_HEADER: Final = "thinkwire-thinking-losses"
"""Of the losses, those that lose or reshape thinking itself: an alarm worth wiring up."""
ID_PREFIX: dict[Dialect, str] = {"anthropic": "msg_", "openai-chat": "chatcmpl-", "openai-responses": "resp_"}


def new_id(dialect: Dialect) -> str:
    """A fresh message / completion / response id in ``dialect``'s form."""
    return ID_PREFIX[dialect] + uuid.uuid4().hex


@dataclass
class Reply:
    """How to answer one request: dialect, Chat carrier, id, top-level fields, options.

    ``extra``: the dialect's top-level response fields (``created``; the Responses object's
    fields), put on the ``MessageStart``. ``include_usage``: OpenAI Chat streams carry a usage
    chunk only when ``stream_options.include_usage`` is set. ``keep``: the Responses API's
    ``store``: the answer is kept as a stored response (``thinkwire.store``).
    """

    dialect: Dialect
    model: str | None
    carrier: Carrier | None = None
    id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    include_usage: bool = True
    seed: int | None = None
    keep: KeepResponse | None = None
    total_input_usage: bool = True
    """The backend counts cache reads inside ``input_tokens`` (the engine; the gateway
    normalises upstream usage to that too)."""
    summary: bool = False
    """Responses ``reasoning.summary`` was asked for: reasoning goes out as ``summary_text``."""
    omit_thinking: bool = False
    """Anthropic ``thinking.display: "omitted"``: thinking blocks carry only their signature
    (the engine restores the text when such a block comes back)."""

    def __post_init__(self) -> None:
        self.id = self.id or new_id(self.dialect)

    def rewrite(self, event: StreamEvent) -> StreamEvent | None:
        """``event`` as the client should see it (``None``: not sent).

        The engine signs every thinking block; a Chat carrier other than
        ``reasoning_details`` has no place for a signature, so none is sent (thinking that
        comes back unsigned is accepted as such), rather than reporting a loss every turn.
        """
        if (
            isinstance(event, BlockDelta)
            and isinstance(event.delta, SignatureDelta)
            and self.dialect == "openai-chat"
            and self.carrier != "reasoning_details"
        ):
            return None
        if self.omit_thinking and isinstance(event, BlockDelta) and isinstance(event.delta, ThinkingDelta):
            return None
        if isinstance(event, MessageStart):
            extra: Extra = {self.dialect: dict(self.extra)} if self.extra else {}
            return MessageStart(id=self.id, model=self.model or event.model, usage=event.usage, extra=extra)
        if isinstance(event, BlockStart):
            block = _public(event.block) if _has_local(event.block) else event.block
            if self.omit_thinking and isinstance(block, Thinking) and block.text:
                block = msgspec.structs.replace(block, text="")
            if self.dialect == "openai-responses":
                block = _with_item_id(block, summary=self.summary)
            return BlockStart(index=event.index, block=block) if block is not event.block else event
        if isinstance(event, BlockStop) and event.extra is not None and LOCAL in event.extra:
            return msgspec.structs.replace(event, extra=_without_local(event.extra))
        if isinstance(event, MessageDelta):
            # an upstream's response-level fields (its ids, timestamps, settings) describe its
            # own response, not this one: only the client dialect's own are kept
            extra = {k: v for k, v in event.extra.items() if k == self.dialect}
            usage = self.usage(event.usage) if event.usage is not None else None
            return msgspec.structs.replace(event, usage=usage, extra=extra)
        return event

    def usage(self, usage: Usage) -> Usage | None:
        """Usage in the dialect's terms. The engine counts every prompt token as input;
        Anthropic's ``input_tokens`` leaves out the tokens read from the cache."""
        if self.dialect == "openai-chat" and not self.include_usage:
            return None
        if self.dialect == "anthropic" and self.total_input_usage and usage.input_tokens is not None:
            cached = usage.cache_read_tokens or 0
            extra = {"anthropic": {"cache_creation_input_tokens": 0}}
            return msgspec.structs.replace(usage, input_tokens=usage.input_tokens - cached, extra=extra)
        return usage


def _has_local(block: Block) -> bool:
    extra = getattr(block, "extra", None)
    return isinstance(extra, dict) and LOCAL in extra


def _with_item_id(block: Block, *, summary: bool = False) -> Block:
    """A block with the Responses output item's own id and status, as the API sends them:
    every reasoning item has an id, whatever the backend (a Responses upstream's own id and
    shape are kept; other reasoning gets one, as raw ``content``: what open-weight models
    served through Responses send, or, when the request asked for a reasoning ``summary``, as
    ``summary_text``, where clients that read only summaries look); function calls and
    messages ``completed``.

    Reasoning from another dialect's upstream gets a Responses origin of the same issuer: the
    other dialect's re-emission details (a Chat carrier's fields) mean nothing to this client.
    The state records the backend's own blocks, before this rewrite."""
    item = uuid.uuid4().hex
    if isinstance(block, Thinking | RedactedThinking):
        origin = block.origin
        if origin is None or origin.dialect != "openai-responses":
            provider, model = (origin.provider, origin.model) if origin is not None else (None, None)
            origin = Origin(dialect="openai-responses", provider=provider, model=model)
        if "id" not in origin.extra:
            extra = {**origin.extra, "id": "rs_" + item}
            if isinstance(block, Thinking) and "summary" not in extra and not summary:
                extra.setdefault(SOURCE, "content")
            origin = msgspec.structs.replace(origin, extra=extra)
        return msgspec.structs.replace(block, origin=origin)
    if _has_item_id(block):
        return block  # a Responses upstream's item, with its id: as it came
    fields: dict[str, Any]
    if isinstance(block, ToolCall):
        fields = {"id": "fc_" + item, "status": "completed"}
        return msgspec.structs.replace(block, extra={**block.extra, "openai-responses": fields})
    if isinstance(block, Text):
        fields = {"annotations": [], "item": {"type": "message", "id": "msg_" + item, "status": "completed"}}
        return msgspec.structs.replace(block, extra={**block.extra, "openai-responses": fields})
    return block


def _has_item_id(block: Block) -> bool:
    """A function call or message text that came from a Responses upstream with its item id."""
    own = block.extra.get("openai-responses") if isinstance(block, ToolCall | Text) else None
    if not isinstance(own, dict):
        return False
    item = own.get("item")
    return bool(own.get("id") or (isinstance(item, dict) and item.get("id")))


def _without_local(extra: Extra) -> Extra:
    return {k: v for k, v in extra.items() if k != LOCAL}


def _public(block: Block) -> Block:
    return msgspec.structs.replace(block, extra=_without_local(block.extra))  # type: ignore[union-attr]


async def answer(
    service: Backend, http: HttpRequest, request: Request, reply: Reply, *, stream: bool
) -> Response:
    """Generate the next turn of ``request`` and answer it as ``reply`` says."""
    reply.total_input_usage = service.total_input_usage
    try:
        check_request(request, _limit_name(request, reply.dialect))
    except ApiError as exc:
        return envelope(exc, reply.dialect)
    caller = Caller(
        dialect=reply.dialect,
        carrier=reply.carrier,
        seed=reply.seed,
        credential=credential(http),
        present=reply.rewrite,
        keep=msgspec.structs.replace(reply.keep, id=reply.id) if reply.keep is not None else None,
    )
    try:
        generation = await service.generate(request, caller)
    except ApiError as exc:
        return envelope(exc, reply.dialect, _headers((), exc, reply))
    if stream:
        return EventStreamResponse(
            _sse(generation, reply), close=generation.aclose, headers=_headers((), generation, reply)
        )
    return await _whole(generation, reply, http)


def _limit_name(request: Request, dialect: Dialect) -> str:
    """The wire name of the output-token limit the client set."""
    if dialect == "openai-responses":
        return "max_output_tokens"
    form = request.extra.get("openai-chat", {}).get(FORM, {}) if dialect == "openai-chat" else {}
    return "max_completion_tokens" if form.get("max_tokens") == "max_completion_tokens" else "max_tokens"


async def _whole(generation: Generation, reply: Reply, http: HttpRequest) -> Response:
    folder = Folder()
    failure: ApiError | None = None
    complete = False
    async with anyio.create_task_group() as group:
        group.start_soon(_cancel_on_disconnect, http, group.cancel_scope)
        try:
            async for event in generation:
                folder.feed(event)
            complete = True
        except ApiError as exc:
            failure = exc
        finally:
            with anyio.CancelScope(shield=True):
                await generation.aclose()
            group.cancel_scope.cancel()
    if failure is not None:
        return envelope(failure, reply.dialect, _headers((), generation, reply))
    if not complete:  # the client went away; nobody reads this
        return Response(status_code=499)
    encoded = get_codec(reply.dialect).encode_response(folder.result(), carrier=reply.carrier)
    return JSONResponse(encoded.value, headers=_headers(encoded.losses, generation, reply))


async def _cancel_on_disconnect(http: HttpRequest, scope: anyio.CancelScope) -> None:
    while not await http.is_disconnected():
        await anyio.sleep(0.2)
    log.info("client went away; generation cancelled")
    scope.cancel()


async def _sse(generation: Generation, reply: Reply) -> AsyncIterator[bytes]:
    encoder = get_codec(reply.dialect).stream_encoder(carrier=reply.carrier)
    try:
        async for event in generation:
            for chunk in encoder.feed(event):
                yield chunk
    except Exception as exc:  # the stream has begun: the error can only go into it
        if not isinstance(exc, ApiError):
            exc = incident(log, f"the server failed while streaming {reply.id}", exc)
        else:
            log.warning("stream %s failed after it began: %s", reply.id, exc)
        for chunk in encoder.feed(StreamError(error=stream_error(exc, reply.dialect))):
            yield chunk
        return
    for chunk in encoder.close():
        yield chunk
    if encoder.losses:
        _log_losses(encoder.losses, reply)


class _Done(Protocol):
    """What the server did to a request before its answer or its error (``Generation``,
    ``ApiError``)."""

    losses: tuple[Loss, ...]
    restored: int
    removed: int


def _headers(losses: tuple[Loss, ...], generation: _Done, reply: Reply) -> dict[str, str] | None:
    """``thinkwire-losses``: what the backend's request and the client's response could not
    carry, counted (each loss is logged), and ``thinkwire-thinking-losses`` those of them that
    lost or reshaped thinking (signatures, redacted parts, order, merged blocks);
    ``thinkwire-restored``: turns whose dropped thinking the state put back;
    ``thinkwire-policy-removed``: thinking blocks the server's policy took out of earlier
    turns. A refused request gets them too: a relayed upstream 400 says what was restored."""
    headers: dict[str, str] = {}
    if generation.restored:
        headers[RESTORED_HEADER] = str(generation.restored)
    if generation.removed:
        headers[REMOVED_HEADER] = str(generation.removed)
    every = (*generation.losses, *losses)
    if every:
        _log_losses(every, reply)
        headers[LOSSES_HEADER] = str(len(every))
        thinking = sum(1 for loss in every if loss.kind in THINKING_LOSSES)
        if thinking:
            headers[THINKING_LOSSES_HEADER] = str(thinking)
    return headers or None


def _log_losses(losses: tuple[Loss, ...] | list[Loss], reply: Reply) -> None:
    """A lost or reshaped thought is a warning; a field the other side has no place for (usage
    details, a sampling knob) is logged at info: it happens on every request of such a route,
    and a warning per request would bury the ones that matter."""
    for loss in losses:
        level = logging.WARNING if loss.kind in THINKING_LOSSES else logging.INFO
        log.log(level, "%s %s: %s", reply.dialect, reply.id, loss)
