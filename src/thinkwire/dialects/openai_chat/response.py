"""OpenAI Chat responses (``object: "chat.completion"``) <-> IR responses.

Only ``choices[0]`` becomes blocks. What the IR does not model is kept in
``Response.extra["openai-chat"]``: top-level fields (``created``, ``system_fingerprint``,
``service_tier``, OpenRouter's ``provider``, vLLM's ``prompt_logprobs``, ...) as they are, and
``choices`` as a list whose first item holds what is left of choice 0 (``logprobs``, an
unmapped ``finish_reason``, vendor fields, and under ``message`` the message fields the blocks
do not regenerate) and whose further items are the other choices verbatim.

``finish_reason``: ``stop`` -> ``end_turn``, ``tool_calls`` -> ``tool_use``, ``length`` ->
``max_tokens``, ``content_filter`` -> ``refusal``; any other value (``function_call``,
DeepSeek's ``insufficient_system_resource``, ``null``) leaves ``stop_reason`` unset and stays
raw in ``extra``; an absent ``finish_reason`` stays absent (``extra[FORM]``). The message's
``role`` must be ``"assistant"``.

Usage: ``prompt_tokens`` -> ``input_tokens``, ``completion_tokens`` -> ``output_tokens``,
``completion_tokens_details.reasoning_tokens`` -> ``reasoning_tokens``,
``prompt_tokens_details.cached_tokens`` -> ``cache_read_tokens``. ``Usage.extra`` keeps the
rest of the dict (the details objects without the two mapped counts, vendor counters such as
DeepSeek's ``prompt_cache_hit_tokens``) and ``total_tokens`` when it is not the sum.
"""

from __future__ import annotations

from typing import Any, Final

from thinkwire.dialects._wire import obj, opt, put, req, unmodelled
from thinkwire.dialects.openai_chat.assistant import encode_assistant
from thinkwire.dialects.openai_chat.carriers import ABSENT, DIALECT, FORM, own_extra
from thinkwire.dialects.openai_chat.messages import Origins, decode_assistant
from thinkwire.errors import DecodeError
from thinkwire.ir.blocks import Block, Carrier
from thinkwire.ir.conversation import Response, StopReason, Usage
from thinkwire.ir.losses import Encoded, LossLog

OBJECT: Final = "chat.completion"
_RESPONSE_KEYS: Final = frozenset({"id", "object", "model", "choices", "usage"})
_CHOICE_KEYS: Final = frozenset({"index", "message", "finish_reason"})
_USAGE_KEYS: Final = frozenset(
    {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "completion_tokens_details",
        "prompt_tokens_details",
    }
)
STOP_REASONS: Final[dict[str, StopReason]] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}
_FINISH_REASONS: Final[dict[StopReason, str]] = {
    "end_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "refusal": "content_filter",
    "stop_sequence": "stop",
}


# ---------------------------------------------------------------------------------------------
# decoding


def decode_response(data: Any, *, provider: str | None = None) -> Response:
    d = obj(data, "")
    rest = unmodelled(d, _RESPONSE_KEYS)
    kind = d.get("object", ABSENT)
    if kind is ABSENT:
        rest[FORM] = {"object": "absent"}
    elif kind != OBJECT:
        rest["object"] = kind
    model = opt(d, "model", str, "")
    choices = d.get("choices")
    if not isinstance(choices, list):
        req(d, "choices", list, "")  # raises: missing or not an array
        choices = []
    blocks: list[Block] = []
    stop_reason: StopReason | None = None
    if choices:
        first = obj(choices[0], "choices[0]")
        choice_rest = unmodelled(first, _CHOICE_KEYS)
        form: dict[str, str] = {}
        index = first.get("index", ABSENT)
        if index is ABSENT:
            form["index"] = "absent"
        elif not (type(index) is int and index == 0):
            choice_rest["index"] = index
        if "finish_reason" not in first:
            form["finish_reason"] = "absent"
        if form:
            choice_rest[FORM] = form
        message = req(first, "message", dict, "choices[0]")
        role = message.get("role")
        if role != "assistant":
            req(message, "role", str, "choices[0].message")  # raises when missing or not a string
            raise DecodeError("choices[0].message.role", f"expected 'assistant', got {role!r}")
        blocks, _, message_rest = decode_assistant(message, "choices[0].message", Origins(provider, model))
        if message.get("content") == "":
            message_rest["content"] = ""
        if message_rest:
            choice_rest["message"] = message_rest
        stop_reason = stop_reason_of(first, choice_rest, "choices[0]")
        if choice_rest or len(choices) > 1:
            rest["choices"] = [choice_rest, *choices[1:]]
    else:
        rest["choices"] = []
    usage = d.get("usage")
    return Response(
        id=opt(d, "id", str, ""),
        model=model,
        blocks=tuple(blocks),
        stop_reason=stop_reason,
        usage=decode_usage(usage, "usage") if usage is not None else None,
        extra={DIALECT: rest} if rest else {},
    )


def stop_reason_of(choice: dict[str, Any], choice_rest: dict[str, Any], path: str) -> StopReason | None:
    """The mapped ``finish_reason``; an unmapped one is kept raw in ``choice_rest``."""
    finish = opt(choice, "finish_reason", str, path)
    if finish is None:
        return None
    mapped = STOP_REASONS.get(finish)
    if mapped is None:
        choice_rest["finish_reason"] = finish
    return mapped


def decode_usage(value: Any, path: str) -> Usage:
    u = obj(value, path)
    prompt = opt(u, "prompt_tokens", int, path)
    completion = opt(u, "completion_tokens", int, path)
    rest = unmodelled(u, _USAGE_KEYS)
    total = u.get("total_tokens", ABSENT)
    if total is ABSENT:
        rest[FORM] = {"total_tokens": "absent"}
    elif total is not None and not (
        prompt is not None and completion is not None and type(total) is int and total == prompt + completion
    ):
        rest["total_tokens"] = total
    return Usage(
        input_tokens=prompt,
        output_tokens=completion,
        reasoning_tokens=_detail(u, "completion_tokens_details", "reasoning_tokens", rest),
        cache_read_tokens=_detail(u, "prompt_tokens_details", "cached_tokens", rest),
        extra={DIALECT: rest} if rest else {},
    )


def _detail(usage: dict[str, Any], key: str, inner: str, rest: dict[str, Any]) -> int | None:
    """``usage[key][inner]`` when it is a count; the rest of ``usage[key]`` goes to ``rest``."""
    details = usage.get(key)
    if details is None:
        return None
    value = details.get(inner) if isinstance(details, dict) else None
    if type(value) is not int:
        rest[key] = details
        return None
    rest[key] = {k: v for k, v in details.items() if k != inner}
    return value


# ---------------------------------------------------------------------------------------------
# encoding


def encode_response(response: Response, *, carrier: Carrier | None = None) -> Encoded[dict[str, Any]]:
    log = LossLog()
    extras = own_extra(log, "", response.extra)
    form = extras.get(FORM, {})
    out: dict[str, Any] = {}
    put(out, "id", response.id)
    if form.get("object") != "absent":
        out["object"] = OBJECT
    put(out, "model", response.model)
    out.update((k, v) for k, v in extras.items() if k not in (FORM, "choices"))
    kept = extras.get("choices")
    if kept == [] and not response.blocks and response.stop_reason is None:
        out["choices"] = []
    else:
        out["choices"] = [_choice(response, dict(kept[0]) if kept else {}, carrier, log), *(kept or [])[1:]]
    if response.stop_sequence is not None:
        log.add("stop_sequence", "field", "openai-chat does not say which stop sequence matched")
    if response.usage is not None:
        out["usage"] = encode_usage(response.usage, "usage", log)
    return Encoded(out, tuple(log.items))


def _choice(
    response: Response, kept: dict[str, Any], carrier: Carrier | None, log: LossLog
) -> dict[str, Any]:
    message_extras = kept.pop("message", {})
    form = kept.pop(FORM, {})
    choice: dict[str, Any] = {} if form.get("index") == "absent" else {"index": 0}
    choice.update(kept)
    choice["message"] = encode_assistant(
        response.blocks, "", carrier, log, extras=message_extras, plain=False, string_default=True
    )
    if response.stop_reason is not None:
        choice["finish_reason"] = finish_reason(response.stop_reason, log)
    elif "finish_reason" not in choice and form.get("finish_reason") != "absent":
        choice["finish_reason"] = None
    return choice


def finish_reason(stop_reason: StopReason, log: LossLog) -> str:
    """The ``finish_reason`` for an IR stop reason (``pause_turn`` and ``error`` have none)."""
    mapped = _FINISH_REASONS.get(stop_reason)
    if mapped is None:
        log.add(
            "stop_reason", "value", f"stop reason {stop_reason!r} has no openai-chat equivalent; sent 'stop'"
        )
        return "stop"
    return mapped


def encode_usage(usage: Usage, path: str, log: LossLog) -> dict[str, Any]:
    extras = own_extra(log, path, usage.extra)
    out: dict[str, Any] = {}
    put(out, "prompt_tokens", usage.input_tokens)
    put(out, "completion_tokens", usage.output_tokens)
    if (
        usage.input_tokens is not None
        and usage.output_tokens is not None
        and extras.get(FORM, {}).get("total_tokens") != "absent"
    ):
        out["total_tokens"] = usage.input_tokens + usage.output_tokens
    out.update((k, v) for k, v in extras.items() if k != FORM)
    _put_detail(out, "completion_tokens_details", "reasoning_tokens", usage.reasoning_tokens)
    _put_detail(out, "prompt_tokens_details", "cached_tokens", usage.cache_read_tokens)
    return out


def _put_detail(out: dict[str, Any], key: str, inner: str, value: int | None) -> None:
    if value is not None:
        details = out.get(key)
        out[key] = {**details, inner: value} if isinstance(details, dict) else {inner: value}
