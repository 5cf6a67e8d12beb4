"""Where an upstream's conventions differ from the engine's, on the way in and on the way out.

``with_thinking``: a request asks for thinking, with room for it, when its upstream thinks
only when asked and the client did not say (a Chat client has no way to).

``with_placeholders``: an assistant turn with no thinking gets what the vendor accepts in its
place (the profile's ``placeholder``: DeepSeek and Kimi take an empty ``reasoning_content``)
when another turn carries thinking, since those vendors then require it on every turn. Such a
turn is one nobody can restore: a harness's hard-coded greeting (tau2-bench opens every
conversation with one), a turn an app wrote, a turn the state no longer holds. Each is
reported as a ``missing`` loss. A request with no thinking at all is left alone, so a client
that drops every turn's thinking (and has no state to restore it) still sees the vendor refuse
rather than a conversation quietly stripped of its reasoning.

``with_total_input``: usage in the engine's convention (``input_tokens`` counts every prompt
token, cache reads included): an Anthropic upstream's ``input_tokens`` leaves cache reads out,
so they are added back; each client dialect then gets its own convention from the server.

The gateway applies all three; the agent's upstream models ask through ``with_thinking`` too, so a
vendor is asked for thinking the same way whoever calls it.
"""

from __future__ import annotations

import msgspec

from thinkwire.ir.blocks import RedactedThinking, Thinking
from thinkwire.ir.conversation import Message, Request, ThinkingConfig, Usage
from thinkwire.ir.losses import Loss
from thinkwire.ir.stream import MessageDelta, MessageStart, StreamEvent
from thinkwire.upstreams.config import Upstream


def with_thinking(request: Request, upstream: Upstream) -> Request:
    """``request`` asking for thinking when its upstream thinks only when asked and the client
    did not say (a Chat client has no way to): budget from the upstream's profile or config,
    ``max_tokens`` raised by that much when it would leave no room after the thinking (the
    vendor requires ``max_tokens`` above the budget). A request that set a budget, asked for
    adaptive thinking (Claude Code, Cline and Droid do) or turned thinking off is left as it
    is. A request without ``max_tokens`` gets the profile's, for a vendor that requires one."""
    default = upstream.profile.max_tokens
    if request.sampling.max_tokens is None and default is not None:
        request = msgspec.structs.replace(
            request, sampling=msgspec.structs.replace(request.sampling, max_tokens=default)
        )
    budget = upstream.default_thinking_budget
    asked = request.thinking
    if budget is None or (
        asked is not None and (asked.budget_tokens is not None or asked.mode in ("disabled", "adaptive"))
    ):
        return request
    extra = asked.extra if asked is not None else {}
    thinking = ThinkingConfig(mode="enabled", budget_tokens=budget, extra=extra)
    sampling = request.sampling
    if sampling.max_tokens is not None and sampling.max_tokens <= budget:
        sampling = msgspec.structs.replace(sampling, max_tokens=sampling.max_tokens + budget)
    return msgspec.structs.replace(request, thinking=thinking, sampling=sampling)


def with_placeholders(request: Request, upstream: Upstream) -> tuple[Request, tuple[Loss, ...]]:
    """``request`` with the profile's placeholder on each assistant turn that has no thinking,
    when another turn has some, and a ``missing`` loss for each (module docstring)."""
    placeholder = upstream.profile.placeholder
    if placeholder is None:
        return request, ()
    messages = request.messages
    if not any(_thinks(m) for m in messages if m.role == "assistant"):
        return request, ()
    out: list[Message] = []
    losses: list[Loss] = []
    for index, message in enumerate(messages):
        if message.role != "assistant" or _thinks(message):
            out.append(message)
            continue
        out.append(msgspec.structs.replace(message, blocks=(Thinking(text=placeholder), *message.blocks)))
        detail = f"no thinking to send for this turn; {upstream.name}'s placeholder {placeholder!r} sent"
        losses.append(Loss(path=f"messages[{index}]", kind="missing", detail=detail))
    if not losses:
        return request, ()
    return msgspec.structs.replace(request, messages=tuple(out)), tuple(losses)


def _thinks(message: Message) -> bool:
    return any(isinstance(b, Thinking | RedactedThinking) for b in message.blocks)


def with_total_input(event: StreamEvent, upstream: Upstream) -> StreamEvent:
    """``event`` with usage in the engine's convention (module docstring)."""
    if upstream.kind != "anthropic" or not isinstance(event, MessageStart | MessageDelta):
        return event
    usage = event.usage
    if usage is None or usage.input_tokens is None or not usage.cache_read_tokens:
        return event
    total: Usage = msgspec.structs.replace(usage, input_tokens=usage.input_tokens + usage.cache_read_tokens)
    return msgspec.structs.replace(event, usage=total)
