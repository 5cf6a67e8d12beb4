"""Acceptance probes: the endpoint takes its own earlier output back, unchanged.

- ``accept-loop``: the tool loop (thinking, tool call, result, thinking, tool call, ...) with
  every whole turn sent back as it came, then a follow-up question over the whole history;
- ``accept-streamed``: the same with each turn read from the stream (Chat
  ``reasoning_details`` pieces merged by ``index``, Anthropic signatures from their deltas);
- ``accept-omitted``: Anthropic ``display: "omitted"`` thinking (empty text, signature) sent
  back, whole and streamed;
- ``accept-redacted``: redacted / encrypted-only reasoning sent back (Anthropic is asked for it
  with its documented test string; elsewhere it is checked when the endpoint sent some);
- ``several-calls``: more than one tool call in one user turn, each turn sent back with its
  thinking (n/a, with the reason, when the endpoint never made more than one, or a refusal of
  the turn sent back stopped the loop before a second).

``accept-loop`` and ``accept-streamed`` are n/a, with the reason, when no turn carried thinking
or the model called no tool: sending such turns back tests nothing about thinking.
"""

from __future__ import annotations

from thinkwire.conformance.endpoint import Exchange
from thinkwire.conformance.probes import Context, Probe, Result, failed, not_applicable, passed
from thinkwire.conformance.scenario import (
    PROMPT,
    REDACTED_TRIGGER,
    Loop,
    base_request,
    first_messages,
    shape,
    tool_loop,
    user,
)
from thinkwire.ir.blocks import Block, RedactedThinking, Thinking, ToolCall
from thinkwire.ir.conversation import Request

FOLLOW_UP = "Thank you. Which of the two cities was warmer?"


def _sent_back(loop: Loop) -> str:
    return " | ".join(", ".join(shape(t)) for t in loop.turns)


async def _follow_up(ctx: Context, loop: Loop, *, stream: bool) -> Exchange | None:
    """The whole history (the answer included) plus a new question, or ``None`` when the loop
    did not end with an answer."""
    last = loop.exchanges[-1] if loop.exchanges else None
    if last is None or last.response is None or any(isinstance(b, ToolCall) for b in last.response.blocks):
        return None
    messages = (*loop.messages, *last.turn, user(FOLLOW_UP))
    return await ctx.send(base_request(ctx.dialect, messages), stream=stream)


async def _accepts(ctx: Context, *, stream: bool) -> Result:
    loop = await ctx.loop(stream=stream)
    kind = "streamed" if stream else "whole"
    details = {"turns": [shape(t) for t in loop.turns]}
    refused = loop.refused
    if refused is not None:
        step = loop.exchanges.index(refused) + 1
        if step == 1:
            return failed(f"the first request was refused: {refused.error}", refused, **details)
        return failed(
            f"request {step} (sending back {_sent_back(loop)}) was refused: {refused.error}",
            refused,
            loop.exchanges[step - 2],
            **details,
        )
    untested = _untested(loop)
    if untested is not None:
        return not_applicable(untested, *loop.exchanges[:1], **details)
    follow = await _follow_up(ctx, loop, stream=stream)
    if follow is not None and not follow.ok:
        return failed(f"the follow-up over the whole history was refused: {follow.error}", follow, **details)
    extra = " and a follow-up question" if follow is not None else ""
    evidence = [loop.exchanges[-1], *([follow] if follow is not None else [])]
    return passed(f"{kind} turns sent back ({_sent_back(loop)}){extra}: all accepted", *evidence, **details)


def _untested(loop: Loop) -> str | None:
    """Why sending ``loop``'s turns back tested nothing about thinking (``None``: it did)."""
    blocks = [b for t in loop.turns for b in t]
    if not any(isinstance(b, ToolCall) for b in blocks):
        return f"the model called no tool ({_sent_back(loop)}), so no tool turn went back with its thinking"
    if not any(isinstance(b, Thinking | RedactedThinking) for b in blocks):
        return f"no turn carried thinking ({_sent_back(loop)}), so no thinking was sent back"
    return None


async def accept_loop(ctx: Context) -> Result:
    return await _accepts(ctx, stream=False)


async def accept_streamed(ctx: Context) -> Result:
    return await _accepts(ctx, stream=True)


async def accept_omitted(ctx: Context) -> Result:
    loops = {}
    for stream in (False, True):

        async def send(request: Request, stream: bool = stream) -> Exchange:
            return await ctx.send(request, stream=stream)

        loops[stream] = await tool_loop(send, ctx.dialect, first_messages(), display="omitted")
    whole, streamed = loops[False], loops[True]
    for loop in (whole, streamed):
        if not loop.exchanges[0].ok:
            first = loop.exchanges[0]
            return failed(f"a request with display: omitted was refused: {first.error}", first)
    first_whole = whole.turns[0]
    thinking = [b for b in first_whole if isinstance(b, Thinking)]
    if not thinking:
        return not_applicable("no thinking came back with display: omitted", whole.exchanges[0])
    if any(b.text for b in thinking):
        return not_applicable(
            "the endpoint ignores display: omitted (thinking came back in full)", whole.exchanges[0]
        )
    details = {"whole": shape(first_whole), "streamed": shape(streamed.turns[0])}
    empty = [b for b in streamed.turns[0] if isinstance(b, Thinking) and not b.text]
    if len(empty) != len(thinking):
        return failed(
            f"the stream dropped omitted thinking: {len(empty)} empty block(s), "
            f"the whole response has {len(thinking)}",
            whole.exchanges[0],
            streamed.exchanges[0],
            **details,
        )
    if not all(b.signature for b in (*thinking, *empty)):
        return failed(
            "omitted thinking comes without its signature: the text can never be restored",
            whole.exchanges[0],
            streamed.exchanges[0],
            **details,
        )
    for loop in (whole, streamed):
        refused = loop.refused
        if refused is not None:
            kind = "streamed" if refused.stream else "whole"
            return failed(
                f"omitted thinking sent back ({kind}) was refused: {refused.error}", refused, **details
            )
    return passed(
        f"{len(thinking)} empty signed block(s), whole and streamed, sent back and accepted",
        whole.exchanges[-1],
        streamed.exchanges[-1],
        **details,
    )


async def accept_redacted(ctx: Context) -> Result:
    if ctx.dialect == "anthropic":

        async def send(request: Request) -> Exchange:
            return await ctx.send(request)

        loop = await tool_loop(send, ctx.dialect, first_messages(prompt=REDACTED_TRIGGER + "\n\n" + PROMPT))
    else:
        loop = await ctx.loop()
    redacted = sum(1 for t in loop.turns for b in t if isinstance(b, RedactedThinking))
    if not redacted:
        asked = " for Anthropic's redacted-thinking test string" if ctx.dialect == "anthropic" else ""
        return not_applicable(
            f"the endpoint returned no redacted or encrypted-only reasoning{asked}, so none could be "
            "sent back (thinkwire's emulators and local engine never issue it)",
            *loop.exchanges[:1],
        )
    refused = loop.refused
    if refused is not None:
        return failed(
            f"a turn holding redacted reasoning was refused when sent back: {refused.error}", refused
        )
    return passed(f"{redacted} redacted block(s) sent back and accepted", loop.exchanges[-1])


async def several_calls(ctx: Context) -> Result:
    loops = {stream: await ctx.loop(stream=stream) for stream in (False, True)}
    calls = {s: sum(isinstance(b, ToolCall) for t in loop.turns for b in t) for s, loop in loops.items()}
    details = {
        "turns": {("streamed" if s else "whole"): [shape(t) for t in loop.turns] for s, loop in loops.items()}
    }
    tested = [loop for s, loop in loops.items() if calls[s] > 1]
    if not tested:
        made = ", ".join(
            f"{calls[s]} {'streamed' if s else 'whole'}"
            + (" before the turn sent back was refused" if loops[s].refused is not None else "")
            for s in (False, True)
        )
        cut = any(loop.refused is not None for loop in loops.values())
        lead = "no second tool call came" if cut else "the endpoint never made more than one tool call"
        return not_applicable(
            f"{lead} in the user turn (the scenario asks for two; it made {made}), so thinking across "
            "several tool calls was not tested",
            *loops[False].exchanges[:1],
            **details,
        )
    for loop in tested:
        seen = 0
        for n, exchange in enumerate(loop.exchanges):
            if seen > 1 and not exchange.ok:
                kind = "streamed" if exchange.stream else "whole"
                return failed(
                    f"after {seen} tool calls in one user turn ({kind}), the turn sent back with the thinking"
                    f" of every step was refused: {exchange.error}",
                    exchange,
                    loop.exchanges[n - 1],
                    **details,
                )
            if exchange.response is not None:
                seen += sum(isinstance(b, ToolCall) for b in exchange.response.blocks)
    thought = [
        sum(1 for t in loop.turns if any(isinstance(b, ToolCall) for b in t) and _thinks(t))
        for loop in tested
    ]
    if not any(thought):
        return not_applicable(
            "several tool calls came, but no tool-call turn carried thinking, so no thinking went back",
            *tested[0].exchanges[-1:],
            **details,
        )
    return passed(
        f"{max(calls.values())} tool calls in one user turn, {max(thought)} of their turns with thinking, "
        "each turn sent back and accepted",
        *tested[0].exchanges[-1:],
        **details,
    )


def _thinks(blocks: tuple[Block, ...]) -> bool:
    return any(isinstance(b, Thinking | RedactedThinking) for b in blocks)


PROBES = (
    Probe(
        "accept-loop",
        "acceptance",
        "The endpoint accepts its own output sent back",
        "Every turn of the tool loop (thinking, tool call, result, thinking, tool call, ...) goes back "
        "unchanged and is accepted, and so is a follow-up over the whole history.",
        "1, 2.1-2.3, 2.8, 2.11",
        accept_loop,
    ),
    Probe(
        "accept-streamed",
        "acceptance",
        "The endpoint accepts its own streamed output sent back",
        "Each streamed turn, folded as the dialect says (Chat reasoning_details merged by index, "
        "signature deltas joined), goes back unchanged and is accepted.",
        "1 reasoning_details, 2.7, 2.10",
        accept_streamed,
    ),
    Probe(
        "accept-omitted",
        "acceptance",
        "Omitted thinking survives streaming and is accepted back",
        'With display: "omitted" thinking comes as "" plus its signature, in the stream too, and the '
        "turn sent back with it is accepted.",
        "1 Anthropic Messages, 2.6",
        accept_omitted,
        frozenset({"anthropic"}),
    ),
    Probe(
        "accept-redacted",
        "acceptance",
        "Redacted thinking is accepted back",
        "Redacted or encrypted-only reasoning the endpoint issued goes back unchanged and is accepted.",
        "1 Anthropic Messages",
        accept_redacted,
    ),
    Probe(
        "several-calls",
        "acceptance",
        "Thinking survives several tool calls in one user turn",
        "When the model makes more than one tool call in one user turn (the scenario asks for two), "
        "each turn goes back with its thinking and the request holding all of them is accepted.",
        "1, 2.1, 2.2",
        several_calls,
    ),
)
