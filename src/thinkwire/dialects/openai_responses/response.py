"""Responses: the ``response`` object <-> ``Response``.

``output`` items become the blocks of one assistant turn (see ``items``); ``usage`` maps onto
``Usage``; every other field (``object``, ``created_at``, ``status``, ``incomplete_details``,
``error`` and the echoed request settings) stays in ``Response.extra`` verbatim, so the same
response is written back exactly.

Stop reason: ``completed`` -> ``tool_use`` when the output holds a call the client must
answer (``function_call``, ``custom_tool_call``, ...), else ``end_turn``; ``incomplete`` ->
``max_tokens`` (``max_output_tokens``) or ``refusal`` (``content_filter``); ``failed`` ->
``error``; any other status -> none.

A response of another dialect gets the fields an SDK needs to parse it: ``object``,
``status`` and ``incomplete_details`` from the stop reason, ``error: null``,
``created_at: 0`` (unknown; a gateway stamps the real time through ``extra``), and the API's
defaults for the echoed ``parallel_tool_calls`` (true), ``tool_choice`` ("auto") and
``tools`` ([]). Ids it does not know are omitted, never invented.
"""

from __future__ import annotations

from typing import Any, Final

from thinkwire.dialects.openai_responses._common import (
    DIALECT,
    EMPTY,
    as_obj,
    fail,
    keep,
    missing,
    opt_int,
    opt_str,
    tag,
)
from thinkwire.dialects.openai_responses.items import CLIENT_CALLS, decode_turn_item, encode_turn
from thinkwire.ir.blocks import Block, Extra, Opaque
from thinkwire.ir.conversation import Response, StopReason, Usage
from thinkwire.ir.losses import Encoded, LossLog

RESPONSE_KEYS = frozenset({"id", "model", "output", "usage"})
"""Fields the IR models; all others are kept in ``extra``."""


def decode_output(output: list[Any], provider: str | None, model: str | None) -> tuple[list[Block], bool]:
    """The output items as blocks, and whether one is a call the client must answer. Item and
    part fields (a text part's ``annotations``, an item's ``status``) stay on the blocks'
    ``extra`` (see ``items``)."""
    blocks: list[Block] = []
    calls = False
    for i, item in enumerate(output):
        if type(item) is not dict:
            raise fail(f"output[{i}]", "an object", item)
        kind = item.get("type")
        if type(kind) is not str:
            if "type" not in item:
                raise missing(f"output[{i}].type")
            raise fail(f"output[{i}].type", "a string", kind)
        if kind == "message" and item.get("role") != "assistant":
            blocks.append(Opaque(dialect=DIALECT, data=item))
            continue
        calls = calls or kind in CLIENT_CALLS
        decode_turn_item(item, kind, "output", i, blocks, provider, model)
    return blocks, calls


def stop_reason(response: dict[str, Any], calls: bool) -> StopReason | None:
    status = response.get("status")
    if status == "completed":
        return "tool_use" if calls else "end_turn"
    if status == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if type(details) is dict else None
        if reason == "max_output_tokens":
            return "max_tokens"
        if reason == "content_filter":
            return "refusal"
        return None
    if status == "failed":
        return "error"
    return None


def decode_usage(usage: dict[str, Any], path: str) -> Usage:
    """``usage``. The common full shape is modelled; any other shape also keeps its fields
    besides the token counts (and counts sent as ``null``) in ``extra`` (an empty entry when
    there are none)."""
    inputs = usage.get("input_tokens_details")
    outputs = usage.get("output_tokens_details")
    decoded = Usage(
        input_tokens=opt_int(usage, "input_tokens", path),
        output_tokens=opt_int(usage, "output_tokens", path),
        reasoning_tokens=opt_int(outputs, "reasoning_tokens", f"{path}.output_tokens_details")
        if type(outputs) is dict
        else None,
        cache_read_tokens=opt_int(inputs, "cached_tokens", f"{path}.input_tokens_details")
        if type(inputs) is dict
        else None,
    )
    if usage == _canonical_usage(decoded):
        return decoded
    # the counts are modelled, except an explicit ``null``, which stays here to come back
    rest = {k: v for k, v in usage.items() if (k != "input_tokens" and k != "output_tokens") or v is None}
    return Usage(
        input_tokens=decoded.input_tokens,
        output_tokens=decoded.output_tokens,
        reasoning_tokens=decoded.reasoning_tokens,
        cache_read_tokens=decoded.cache_read_tokens,
        extra={DIALECT: rest},  # kept even when empty: it marks a shape to write back as it came
    )


def _canonical_usage(usage: Usage) -> dict[str, Any]:
    """The shape the API sends, with unknown counts as 0 (the SDK types require them)."""
    inputs = usage.input_tokens or 0
    outputs = usage.output_tokens or 0
    return {
        "input_tokens": inputs,
        "input_tokens_details": {"cached_tokens": usage.cache_read_tokens or 0},
        "output_tokens": outputs,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens or 0},
        "total_tokens": inputs + outputs,
    }


def encode_usage(usage: Usage, log: LossLog) -> dict[str, Any]:
    """The common shape, unless the usage was decoded from another shape of this dialect
    (its other fields are in ``extra``, possibly none)."""
    if not usage.extra:
        return _canonical_usage(usage)
    fields = log.foreign_extra("usage", usage.extra, DIALECT)
    if DIALECT not in usage.extra:
        return _canonical_usage(usage)
    out: dict[str, Any] = {}
    if usage.input_tokens is not None:
        out["input_tokens"] = usage.input_tokens
    out.update(fields)
    if usage.output_tokens is not None:
        out["output_tokens"] = usage.output_tokens
    if usage.cache_read_tokens is not None:
        details = fields.get("input_tokens_details")
        out["input_tokens_details"] = {
            **(details if type(details) is dict else {}),
            "cached_tokens": usage.cache_read_tokens,
        }
    if usage.reasoning_tokens is not None:
        details = fields.get("output_tokens_details")
        out["output_tokens_details"] = {
            **(details if type(details) is dict else {}),
            "reasoning_tokens": usage.reasoning_tokens,
        }
    return out


def decode_response(data: Any, provider: str | None = None) -> Response:
    d = as_obj(data, "")
    model = opt_str(d, "model", "")
    output = d.get("output")
    if type(output) is not list:
        if "output" not in d:
            raise missing("output")
        raise fail("output", "an array", output)
    blocks, calls = decode_output(output, provider, model)
    usage = d.get("usage")
    return Response(
        id=opt_str(d, "id", ""),
        model=model,
        blocks=tuple(blocks),
        stop_reason=stop_reason(d, calls),
        usage=decode_usage(as_obj(usage, "usage"), "usage") if usage is not None else None,
        extra=tag(keep(d, RESPONSE_KEYS)),
    )


def status_of(stop: StopReason | None) -> tuple[str, dict[str, Any] | None]:
    """``status`` and ``incomplete_details`` for a stop reason of another dialect."""
    if stop == "max_tokens":
        return "incomplete", {"reason": "max_output_tokens"}
    if stop == "refusal":
        return "incomplete", {"reason": "content_filter"}
    if stop == "error":
        return "failed", None
    return "completed", None


DERIVE_STATUS: Final = "$status"
"""A codec note in ``Response.extra["openai-responses"]``: the extra holds a server's own
response fields (``created_at``, ``store``, ...), and ``status`` / ``incomplete_details`` are
still to be derived from the stop reason."""


def response_object(
    *,
    id: str | None,
    model: str | None,
    extra: Extra,
    output: list[Any],
    usage: Usage | None,
    stop: StopReason | None,
    stop_sequence: str | None,
    log: LossLog,
    status: str | None = None,
) -> dict[str, Any]:
    """The response object around ``output``. ``status`` overrides the status (``in_progress``
    in the shells of ``response.created`` / ``response.in_progress``)."""
    fields = log.foreign_extra("", extra, DIALECT) if extra else EMPTY
    derive = DERIVE_STATUS in fields
    if derive:
        fields = {k: v for k, v in fields.items() if k != DERIVE_STATUS}
    out: dict[str, Any] = {}
    if id is not None:
        out["id"] = id
    if fields:
        out.update(fields)
        if status is not None:
            out["status"] = status
        elif derive:  # a server's own fields, with the status this response ended in
            out["status"], out["incomplete_details"] = status_of(stop)
    else:
        derived, details = status_of(stop)
        out["object"] = "response"
        out["created_at"] = 0
        out["status"] = status or derived
        out["error"] = None
        out["incomplete_details"] = None if status else details
        if stop == "pause_turn":
            log.add("stop_reason", "value", f"pause_turn has no {DIALECT} status; sent as completed")
        if stop_sequence is not None:
            log.add("stop_sequence", "field", f"{DIALECT} has no stop sequences")
    if model is not None:
        out["model"] = model
    out["output"] = output
    if not fields:
        out["parallel_tool_calls"] = True
        out["tool_choice"] = "auto"
        out["tools"] = []
    if usage is not None and status is None:
        out["usage"] = encode_usage(usage, log)
    elif not fields:
        out["usage"] = None
    return out


def encode_response(response: Response) -> Encoded[dict[str, Any]]:
    log = LossLog()
    output: list[Any] = []
    encode_turn(response.blocks, -1, log, output, plain=False, response=True)
    value = response_object(
        id=response.id,
        model=response.model,
        extra=response.extra,
        output=output,
        usage=response.usage,
        stop=response.stop_reason,
        stop_sequence=response.stop_sequence,
        log=log,
    )
    return Encoded(value, tuple(log.items))
