"""Anthropic Messages responses <-> IR ``Response``, and the ``usage`` object.

``stop_reason`` maps one to one onto the IR's (which uses Anthropic's vocabulary). A value
the IR does not know (a newer one such as ``model_context_window_exceeded``) leaves
``Response.stop_reason`` as ``None`` and keeps the raw string in
``Response.extra["anthropic"]["stop_reason"]``, so it is written back unchanged.

``usage``: ``input_tokens``, ``output_tokens`` and ``cache_read_input_tokens`` (as
``cache_read_tokens``) are typed; every other key (``cache_creation_input_tokens``,
``cache_creation``, ``server_tool_use``, ``service_tier``, a ``null`` count, ...) stays in
``Usage.extra["anthropic"]`` as it arrived.

``type`` must be ``"message"`` and ``role`` ``"assistant"`` (anything else is a
``DecodeError``): the encoder writes both. An explicit ``"id": null`` or ``"model": null`` is
kept in ``Response.extra["anthropic"]`` and written back. ``stop_reason`` and
``stop_sequence`` are always sent by the API; should one be missing, the private note
``Response.extra["anthropic"]["$absent"]`` (a list of their names) keeps the encoder from
adding it as ``null``.
"""

from __future__ import annotations

from typing import Any, Final

from thinkwire.dialects._wire import obj, opt, req
from thinkwire.dialects.anthropic.blocks import DIALECT, decode_blocks, encode_blocks, write_back
from thinkwire.errors import DecodeError
from thinkwire.ir.blocks import Origin
from thinkwire.ir.conversation import Response, StopReason, Usage
from thinkwire.ir.losses import Encoded, LossLog

RESPONSE_KEYS: Final = frozenset(
    {"id", "type", "role", "content", "model", "stop_reason", "stop_sequence", "usage"}
)
STOP_REASONS: Final[dict[str, StopReason]] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_use",
    "pause_turn": "pause_turn",
    "refusal": "refusal",
}
ABSENT: Final = "$absent"  # response extra note: the always-sent fields the wire left out
_ALWAYS_SENT: Final = ("stop_reason", "stop_sequence")
_USAGE_TYPED: Final = ("input_tokens", "output_tokens", "cache_read_input_tokens")
_USAGE_ORDER: Final = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "cache_creation",
    "output_tokens",
)


def decode_response(data: Any, *, provider: str | None = None) -> Response:
    """Decode a Messages response (``type: "message"``)."""
    d = obj(data, "")
    kind = d.get("type")
    if kind == "error":
        raise DecodeError("", f"an error response, not a message: {d.get('error')}")
    if req(d, "type", str, "") != "message":
        raise DecodeError("type", f"expected 'message', got {kind!r}")
    role = req(d, "role", str, "")
    if role != "assistant":
        raise DecodeError("role", f"expected 'assistant', got {role!r}")
    model = opt(d, "model", str, "")
    origin = Origin(dialect=DIALECT, provider=provider, model=model)
    blocks = decode_blocks(req(d, "content", list, ""), "content", origin, None)
    rest = {k: v for k, v in d.items() if k not in RESPONSE_KEYS}
    if d.get("id", 0) is None:
        rest["id"] = None
    if d.get("model", 0) is None:
        rest["model"] = None
    if "stop_reason" not in d or "stop_sequence" not in d:
        rest[ABSENT] = [key for key in _ALWAYS_SENT if key not in d]
    stop_reason = stop_reason_of(opt(d, "stop_reason", str, ""), rest)
    usage = d.get("usage")
    return Response(
        id=opt(d, "id", str, ""),
        model=model,
        blocks=blocks,
        stop_reason=stop_reason,
        stop_sequence=opt(d, "stop_sequence", str, ""),
        usage=None if usage is None else decode_usage(usage, "usage"),
        extra={DIALECT: rest} if rest else {},
    )


def stop_reason_of(raw: str | None, rest: dict[str, Any]) -> StopReason | None:
    """The IR stop reason for ``raw``; an unknown value is stored in ``rest`` instead."""
    if raw is None:
        return None
    reason = STOP_REASONS.get(raw)
    if reason is None:
        rest["stop_reason"] = raw
    return reason


def decode_usage(value: Any, path: str) -> Usage:
    u = obj(value, path)
    counts = [opt(u, key, int, path) for key in _USAGE_TYPED]
    rest = {k: v for k, v in u.items() if v is None or k not in _USAGE_TYPED}
    return Usage(
        input_tokens=counts[0],
        output_tokens=counts[1],
        cache_read_tokens=counts[2],
        extra={DIALECT: rest} if rest else {},
    )


def encode_response(response: Response) -> Encoded[dict[str, Any]]:
    """Write a Messages response. ``stop_sequence`` and ``stop_reason`` are always present
    (``null`` when unknown), as the API sends them."""
    log = LossLog()
    own = dict(log.foreign_extra("", response.extra, DIALECT))
    out: dict[str, Any] = {}
    if response.id is not None:
        out["id"] = response.id
    out["type"] = "message"
    out["role"] = "assistant"
    if response.model is not None:
        out["model"] = response.model
    out["content"] = encode_blocks(response.blocks, "blocks", log, assistant=True)
    raw = own.pop("stop_reason", None)
    out["stop_reason"] = encode_stop_reason(response.stop_reason, raw, log, "stop_reason")
    out["stop_sequence"] = response.stop_sequence
    absent = own.pop(ABSENT, None)
    if isinstance(absent, list):
        for key in _ALWAYS_SENT:
            if key in absent and out[key] is None:  # left out on the wire, and still unknown
                del out[key]
    out["usage"] = encode_usage(response.usage, "usage", log)
    write_back(out, own)
    return Encoded(out, tuple(log.items))


def encode_stop_reason(reason: StopReason | None, raw: Any, log: LossLog, path: str) -> Any:
    """The wire stop reason: the IR's, else the raw value kept from the wire, else ``null``."""
    if reason is None:
        return raw
    if reason not in STOP_REASONS:
        log.add(path, "value", f"stop reason {reason!r} has no anthropic equivalent; sent null")
        return None
    return reason


def encode_usage(usage: Usage | None, path: str, log: LossLog) -> dict[str, Any]:
    """The ``usage`` object. Anthropic clients require ``input_tokens`` and ``output_tokens``:
    an unknown count is written as 0 and reported as a ``value`` loss."""
    u: dict[str, Any] = {}
    if usage is None:
        usage = Usage()
    for key, count in (
        ("input_tokens", usage.input_tokens),
        ("cache_read_input_tokens", usage.cache_read_tokens),
        ("output_tokens", usage.output_tokens),
    ):
        if count is not None:
            u[key] = count
    if usage.reasoning_tokens is not None:
        log.add(f"{path}.reasoning_tokens", "field", "anthropic usage has no reasoning token count")
    if usage.extra:
        write_back(u, log.foreign_extra(path, usage.extra, DIALECT))
    for key in ("input_tokens", "output_tokens"):
        if key not in u:
            log.add(f"{path}.{key}", "value", f"{key} unknown; anthropic requires it, sent 0")
            u[key] = 0
    ordered: dict[str, Any] = {
        key: u.pop(key) for key in _USAGE_ORDER if key in u
    }  # the API's order, for reading
    ordered.update(u)
    return ordered
