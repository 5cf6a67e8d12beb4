"""Structural probes: what the first turn looks like on the wire, whole and streamed.

- ``thinking-carrier``: thinking comes back, before the tool call, in a documented place;
- ``stream-agrees``: the streamed turn folds into the same blocks as the whole one (n/a when
  neither carried thinking);
- ``signatures``: signed thinking carries its signature (or opaque data) in every response
  observed, whole and streamed (the first turn and both tool loops). On Chat, where only a
  signed ``reasoning_details`` entry has a slot, the endpoint is known to sign when any response
  holds a signature anywhere in its raw JSON: responses with thinking and none are then a fail
  (lost), not n/a.
"""

from __future__ import annotations

from typing import Any, Final

from thinkwire.conformance.endpoint import Exchange
from thinkwire.conformance.leaks import leak, thinking_texts
from thinkwire.conformance.probes import Context, Probe, Result, failed, not_applicable, passed
from thinkwire.conformance.scenario import shape
from thinkwire.ir.blocks import CARRIERS, Block, RedactedThinking, Thinking, ToolCall

_PLACE = {
    "anthropic": "`thinking` / `redacted_thinking` content blocks",
    "openai-responses": "`reasoning` output items",
    "openai-chat": "one of " + ", ".join(f"`{c}`" for c in CARRIERS),
}


def _carriers(blocks: tuple[Block, ...]) -> list[str]:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Thinking | RedactedThinking):
            out.append((b.origin.carrier or "-") if b.origin is not None else "-")
    return out


async def thinking_carrier(ctx: Context) -> Result:
    first = await ctx.first()
    if first.response is None:
        return failed(f"the first turn was refused: {first.error}", first)
    blocks = first.response.blocks
    kinds = shape(blocks)
    details: dict[str, Any] = {"shape": kinds}
    reasoning = [b for b in blocks if isinstance(b, Thinking | RedactedThinking)]
    if not reasoning:
        shown = leak(blocks, thinking_texts(await ctx.observed()))
        if shown is not None:
            return failed(
                f"thinking leaked into visible text, none in a carrier: {shown!r}", first, **details
            )
        return failed(f"no thinking came back (turn: {', '.join(kinds) or 'empty'})", first, **details)
    call = next((i for i, b in enumerate(blocks) if isinstance(b, ToolCall)), None)
    if call is not None and not any(isinstance(b, Thinking | RedactedThinking) for b in blocks[:call]):
        return failed("thinking comes back only after the tool call", first, **details)
    if ctx.dialect == "openai-chat":
        carriers = sorted(set(_carriers(blocks)))
        details["carriers"] = carriers
        if ctx.carrier is not None and carriers != [ctx.carrier]:
            return failed(
                f"reasoning came in {', '.join(carriers)}, not --carrier {ctx.carrier}", first, **details
            )
        return passed(f"thinking in {', '.join(carriers)} ({', '.join(kinds)})", first, **details)
    return passed(f"thinking in {_PLACE[ctx.dialect]} ({', '.join(kinds)})", first, **details)


async def stream_agrees(ctx: Context) -> Result:
    whole, streamed = await ctx.first(), await ctx.first(stream=True)
    if whole.response is None or streamed.response is None:
        bad = whole if whole.response is None else streamed
        return failed(f"the {'streamed' if bad.stream else 'whole'} first turn failed: {bad.error}", bad)
    a, b = whole.response.blocks, streamed.response.blocks
    details: dict[str, Any] = {
        "whole": shape(a),
        "streamed": shape(b),
        "same_thinking_text": [x.text for x in a if isinstance(x, Thinking)]
        == [x.text for x in b if isinstance(x, Thinking)],
    }
    if shape(a) != shape(b):
        return failed(
            f"the stream folds into {', '.join(shape(b))}; the whole response is {', '.join(shape(a))}",
            whole,
            streamed,
            **details,
        )
    if not any(isinstance(x, Thinking | RedactedThinking) for x in (*a, *b)):
        return not_applicable(
            f"neither the whole nor the streamed first turn carried thinking (both {', '.join(shape(a))}), "
            "so no thinking was compared (see thinking-carrier)",
            whole,
            streamed,
            **details,
        )
    if _carriers(a) != _carriers(b):
        details.update(whole_carriers=_carriers(a), streamed_carriers=_carriers(b))
        return failed(
            "reasoning streams in another carrier than the whole response uses", whole, streamed, **details
        )
    return passed(f"both are {', '.join(shape(a))}", whole, streamed, **details)


def _signed(block: Block) -> bool:
    return bool(block.signature) if isinstance(block, Thinking) else bool(block.data)  # type: ignore[union-attr]


def _reasoning(exchange: Exchange) -> list[Thinking | RedactedThinking]:
    blocks = exchange.response.blocks if exchange.response is not None else ()
    return [b for b in blocks if isinstance(b, Thinking | RedactedThinking)]


def _name(exchange: Exchange, index: int) -> str:
    return f"{'streamed' if exchange.stream else 'whole'} response {index + 1}"


SIGNATURE_KEYS: Final = frozenset({"signature", "thought_signature", "encrypted_content"})
"""Keys whose non-empty string value is a signature, wherever they sit in the raw JSON."""


def signed_at(value: Any, path: str = "") -> list[str]:
    """JSON paths in ``value`` that hold a non-empty signature (``SIGNATURE_KEYS``)."""
    if isinstance(value, dict):
        found = [
            f"{path}.{k}".lstrip(".")
            for k, v in value.items()
            if k in SIGNATURE_KEYS and isinstance(v, str) and v
        ]
        return found + [p for k, v in value.items() for p in signed_at(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for n, v in enumerate(value) for p in signed_at(v, f"{path}.{n}")]
    return []


def _raw_signed(exchange: Exchange) -> list[str]:
    if not exchange.stream:
        return signed_at(exchange.data)
    return [p for _, data in exchange.events for p in signed_at(data)]


def _unsigned_where(exchange: Exchange, index: int) -> str:
    """The response's name, and for a stream whose events hold the signature where the folded
    turn does not take it (LiteLLM's Responses streams: ``encrypted_content`` only on
    ``response.completed``, not on the item events), where it does sit."""
    paths = _raw_signed(exchange) if exchange.stream else []
    return _name(exchange, index) + (f": signed only at {paths[0]}" if paths else "")


def _lost_signatures(observed: list[Exchange]) -> Result | None:
    """A Chat fail when the endpoint is seen to sign (some response holds a signature anywhere in
    its raw JSON, ``provider_specific_fields`` included) but other responses that carried thinking
    hold none: the signatures were lost in that form (LiteLLM over OpenRouter signs whole
    answers under ``provider_specific_fields`` and streams none). ``None`` otherwise."""
    carrying = [(n, e) for n, e in enumerate(observed) if _reasoning(e)]
    signed = {n: _raw_signed(e) for n, e in carrying}
    witness = next(((n, e) for n, e in carrying if signed[n]), None)
    unsigned = [(n, e) for n, e in carrying if not signed[n]]
    if witness is None or not unsigned:
        return None
    n, e = witness
    where = ", ".join(_name(x, m) for m, x in unsigned[:4])
    return failed(
        f"the endpoint signs ({_name(e, n)} has {signed[n][0]}), but {len(unsigned)} of {len(carrying)} "
        f"responses with thinking carry no signature anywhere ({where})",
        e,
        unsigned[0][1],
        signed_at={_name(x, m): signed[m][:4] for m, x in carrying},
    )


async def signatures(ctx: Context) -> Result:
    observed = [e for e in await ctx.observed() if e.ok]
    judged = [(n, e, b) for n, e in enumerate(observed) for b in _reasoning(e)]
    details: dict[str, Any] = {
        "signed": {_name(e, n): [_signed(b) for b in _reasoning(e)] for n, e in enumerate(observed)}
    }
    if not judged:
        return not_applicable(
            f"none of the {len(observed)} responses observed (whole and streamed) carried thinking "
            "(see thinking-carrier)",
            *observed[:1],
        )
    if ctx.dialect == "openai-chat":
        lost = _lost_signatures(observed)
        if lost is not None:
            return lost
        carriers = sorted({(b.origin.carrier or "-") if b.origin else "-" for _, _, b in judged})
        judged = [j for j in judged if j[2].origin is not None and j[2].origin.carrier == "reasoning_details"]
        if not judged:
            return not_applicable(
                f"reasoning came in {', '.join(carriers)}: no place for a signature", *observed[:1]
            )
        if not any(_signed(b) for _, _, b in judged):
            return not_applicable("the endpoint signs none of its reasoning_details entries", *observed[:1])
    unsigned = list({n: e for n, e, b in judged if not _signed(b)}.items())
    if unsigned:
        where = ", ".join(_unsigned_where(e, n) for n, e in unsigned[:4])
        return failed(
            f"thinking without its signature in {len(unsigned)} of {len(observed)} responses ({where})",
            *[e for _, e in unsigned[:2]],
            **details,
        )
    whole, streamed = await ctx.first(), await ctx.first(stream=True)
    same = [
        x.signature == y.signature
        for x, y in zip(_reasoning(whole), _reasoning(streamed), strict=False)
        if isinstance(x, Thinking) and isinstance(y, Thinking) and x.text == y.text
    ]
    details["equal_where_text_equal"] = same
    if not all(same):
        return failed(
            "the same thinking streams with another signature than it has whole", whole, streamed, **details
        )
    return passed(
        f"{len(judged)} thinking block(s) signed in {len(observed)} responses, whole and streamed",
        whole,
        streamed,
        **details,
    )


PROBES = (
    Probe(
        "thinking-carrier",
        "structural",
        "Thinking comes back in a documented carrier",
        "The first turn (thinking, then a tool call) carries its thinking before the call, where the "
        "dialect documents it (Chat: --carrier when given).",
        "1",
        thinking_carrier,
    ),
    Probe(
        "stream-agrees",
        "structural",
        "Streamed and whole responses agree",
        "The streamed first turn folds into the same blocks, in the same order and carriers, as the "
        "whole one (no thinking blocks merged, dropped or moved).",
        "2.6, 2.7",
        stream_agrees,
    ),
    Probe(
        "signatures",
        "structural",
        "Signatures and opaque data are present and stable",
        "Every thinking block of every response observed carries its signature (Anthropic `signature`, "
        "Responses `encrypted_content`, signed `reasoning_details`) whole and streamed, the same for "
        "the same text.",
        "1, 2.3-2.5",
        signatures,
    ),
)
