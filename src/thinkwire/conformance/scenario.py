"""The conversation every probe starts from, built as IR (the codecs write it per dialect).

The user asks the model to settle a secret number in its thinking only (``SECRET=<number>``),
call ``get_weather`` for Oslo, then for Paris, and finally report the number: one request
exercises interleaved thinking (thinking, tool call, thinking, tool call) and thought recall.
The scripted emulators do not read prompts: they note a code word in their thinking instead
(``the code word lantern-3f2a``), which ``noted_value`` reads too.

``tool_loop`` runs the loop the way a correct client does: each assistant turn goes back
exactly as it came (``Exchange.turn``: the message as the server sent it, fields thinkwire
does not model included), followed by the tool's result, for at most ``MAX_STEPS`` requests.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from thinkwire.conformance.endpoint import Exchange
from thinkwire.ir.blocks import Block, Dialect, RedactedThinking, Text, Thinking, ToolCall, ToolResult
from thinkwire.ir.conversation import Message, Request, Sampling, ThinkingConfig, Tool

TOOL: Final = Tool(
    name="get_weather",
    description="The current weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
MAX_STEPS: Final = 3
"""Requests in one tool loop at most (two tool calls, then the answer)."""
MAX_TOKENS: Final = 4096
THINKING_BUDGET: Final = 2048
PROMPT: Final = (
    "Conformance check {trial}. First, in your thinking only, pick a secret four-digit number and "
    "write it there as SECRET=<number>. Never write the number in visible text or in tool arguments. "
    "Then call get_weather for Oslo. When its result arrives, call get_weather for Paris. When that "
    "result arrives, answer in one line: 'Secret: <number>', the number from your thinking."
)
NEXT_QUESTION: Final = "Now check Paris too."
"""A new user message after a tool result: the turn before it becomes an earlier one."""
REDACTED_TRIGGER: Final = (
    "ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7398A98432ECCCE4C1253"
)
"""Anthropic's documented test string: a model answering it returns ``redacted_thinking``."""
THINKING_FIELDS: Final = frozenset(
    {"thinking_blocks", "reasoning", "reasoning_content", "reasoning_details", "reasoning_text", "thinking"}
)
"""Message fields outside thinkwire's model that hold thinking (LiteLLM's ``thinking_blocks``)."""
_THINK_SPAN: Final = re.compile(r"<think>.*?</think>\s*", re.DOTALL)
_NOTED: Final = (
    re.compile(r"SECRET\s*=\s*(\d{3,6})"),
    re.compile(r"the code word ([a-z]+-[0-9a-f]{4})"),  # thinkwire's scripted models
)


def base_request(dialect: Dialect, messages: tuple[Message, ...], **thinking: Any) -> Request:
    """A request with the probe tool and thinking switched on the way ``dialect`` asks for it
    (Anthropic: a budget; Responses: a summary and the encrypted content, stateless; Chat:
    ``reasoning_effort``, which vendors that think by themselves ignore and proxies in front of
    Claude turn into a thinking budget). ``thinking`` sets more ``ThinkingConfig`` fields."""
    config: ThinkingConfig | None = None
    extra: dict[str, dict[str, Any]] = {}
    if dialect == "anthropic":
        config = ThinkingConfig(mode="enabled", budget_tokens=THINKING_BUDGET, **thinking)
    elif dialect == "openai-responses":
        config = ThinkingConfig(effort="medium", summary="auto", **thinking)
        extra = {"openai-responses": {"include": ["reasoning.encrypted_content"], "store": False}}
    else:
        config = ThinkingConfig(effort="medium", **thinking)
    return Request(
        messages=messages,
        tools=(TOOL,),
        thinking=config,
        sampling=Sampling(max_tokens=MAX_TOKENS),
        extra=extra,
    )


def user(text: str) -> Message:
    return Message(role="user", blocks=(Text(text=text),))


def first_messages(trial: int = 1, prompt: str = PROMPT) -> tuple[Message, ...]:
    return (user(prompt.format(trial=trial)),)


def results_for(response_blocks: tuple[Block, ...], dialect: Dialect) -> Message | None:
    """The tool results answering the calls of a turn (``None`` when it called nothing)."""
    calls = [b for b in response_blocks if isinstance(b, ToolCall)]
    if not calls:
        return None
    results = tuple(ToolResult(call_id=c.id, content=_weather(c)) for c in calls)
    return Message(role="user" if dialect == "anthropic" else "tool", blocks=results)


def _weather(call: ToolCall) -> str:
    try:
        city = call.parsed_arguments().get("city", "the city")
    except (msgspec.DecodeError, AttributeError):
        city = "the city"
    return f"{city}: sunny, 18 C, light wind."


def strip_thinking(message: Message) -> Message:
    """``message`` without its thinking anywhere (what a client that drops thinking sends): its
    reasoning blocks, ``<think>`` spans in its text, and the fields thinkwire does not model
    that hold thinking (``THINKING_FIELDS``, at the top of the message or under
    ``provider_specific_fields``: LiteLLM's ``thinking_blocks``), so the control carries none."""
    if message.role != "assistant":
        return message
    kept = tuple(
        msgspec.structs.replace(b, text=_THINK_SPAN.sub("", b.text)) if isinstance(b, Text) else b
        for b in message.blocks
        if not isinstance(b, Thinking | RedactedThinking)
    )
    extra = {dialect: _without_thinking(fields) for dialect, fields in message.extra.items()}
    return msgspec.structs.replace(message, blocks=kept, extra=extra)


def _without_thinking(fields: Any) -> Any:
    if not isinstance(fields, dict):
        return fields
    out = {k: v for k, v in fields.items() if k not in THINKING_FIELDS}
    nested = out.get("provider_specific_fields")
    if isinstance(nested, dict):
        out["provider_specific_fields"] = {k: v for k, v in nested.items() if k not in THINKING_FIELDS}
    return out


def blank_thinking(message: Message, text: str = "") -> Message:
    """``message`` with each thinking text replaced by ``text`` (emptied by default) and its
    signature dropped."""
    if message.role != "assistant":
        return message
    blocks = tuple(
        msgspec.structs.replace(b, text=text, signature=None) if isinstance(b, Thinking) else b
        for b in message.blocks
        if not isinstance(b, RedactedThinking)
    )
    return msgspec.structs.replace(message, blocks=blocks)


def thinking_text(blocks: tuple[Block, ...]) -> str:
    return "\n".join(b.text for b in blocks if isinstance(b, Thinking))


def visible_text(blocks: tuple[Block, ...]) -> str:
    """What a user sees of a turn: its text and its tool calls' arguments."""
    return "\n".join(
        b.text if isinstance(b, Text) else b.arguments for b in blocks if isinstance(b, Text | ToolCall)
    )


def noted_value(thinking: str) -> str | None:
    """The value the model settled in its thinking (the last one it wrote), if any."""
    for pattern in _NOTED:
        found = pattern.findall(thinking)
        if found:
            return str(found[-1])
    return None


def shape(blocks: tuple[Block, ...]) -> list[str]:
    """A turn's block kinds in order: ``thinking``, ``redacted``, ``tool_call``, ``text``."""
    names = {Thinking: "thinking", RedactedThinking: "redacted", ToolCall: "tool_call", Text: "text"}
    return [names.get(type(b), type(b).__name__.lower()) for b in blocks]


Send = Callable[[Request], Awaitable[Exchange]]


@dataclass
class Loop:
    """One tool loop: every exchange, and the conversation as it was last sent."""

    exchanges: list[Exchange] = field(default_factory=list)
    messages: tuple[Message, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.exchanges) and all(e.ok for e in self.exchanges)

    @property
    def refused(self) -> Exchange | None:
        return next((e for e in self.exchanges if not e.ok), None)

    @property
    def turns(self) -> list[tuple[Block, ...]]:
        return [e.response.blocks for e in self.exchanges if e.response is not None]


async def tool_loop(
    send: Send,
    dialect: Dialect,
    messages: tuple[Message, ...],
    *,
    history: Callable[[Message], Message] | None = None,
    steps: int = MAX_STEPS,
    **thinking: Any,
) -> Loop:
    """Run the tool loop from ``messages``: each answered turn is appended (through
    ``history`` when given: the control strips thinking there) with its tool results, until
    the model answers, a request is refused, or ``steps`` requests were sent."""
    loop = Loop(messages=messages)
    for _ in range(steps):
        exchange = await send(base_request(dialect, loop.messages, **thinking))
        loop.exchanges.append(exchange)
        if exchange.response is None:
            break
        results = results_for(exchange.response.blocks, dialect)
        if results is None:
            break
        turn = exchange.turn or (exchange.response.to_message(),)
        loop.messages = (*loop.messages, *(map(history, turn) if history else turn), results)
    return loop
