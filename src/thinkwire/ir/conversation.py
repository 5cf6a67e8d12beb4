"""Messages, requests and responses."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from thinkwire.ir.blocks import Block, Extra, Opaque, Text

Role = Literal["system", "developer", "user", "assistant", "tool"]
StopReason = Literal["end_turn", "tool_use", "max_tokens", "stop_sequence", "refusal", "pause_turn", "error"]
"""Stop reasons, in Anthropic's vocabulary; codecs map their own onto these."""


class Message(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """One message: a role and ordered blocks.

    ``plain`` records that the wire content was a bare string rather than a list of parts,
    so the same dialect can write it back the same way. Role ``tool`` holds ``ToolResult``
    blocks (OpenAI ``tool`` messages, Responses ``function_call_output`` items).
    """

    role: Role
    blocks: tuple[Block, ...]
    plain: bool = False
    extra: Extra = {}


class Tool(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """A function tool: name, description and JSON Schema of its arguments."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    extra: Extra = {}


class ToolChoice(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """``auto``, ``none``, ``required`` (any tool) or ``tool`` (the one named)."""

    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None
    parallel: bool | None = None
    extra: Extra = {}


class ThinkingConfig(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """What the client asked of the model's reasoning.

    ``mode``: ``enabled`` (budgeted), ``adaptive`` or ``disabled``. ``effort`` is the
    OpenAI-style level (``low`` .. ``high``); ``display`` Anthropic's ``summarized`` /
    ``omitted``; ``summary`` the Responses summary setting.
    """

    mode: Literal["enabled", "adaptive", "disabled"] | None = None
    budget_tokens: int | None = None
    effort: str | None = None
    display: str | None = None
    summary: str | None = None
    extra: Extra = {}


class Sampling(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """Sampling parameters shared by the dialects."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: tuple[str, ...] | None = None
    stop_plain: bool = False
    """OpenAI accepts ``stop`` as one string; this records that form."""


class Request(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """A request to a model, in any dialect.

    ``system`` is the top-level instruction (Anthropic ``system``, Responses
    ``instructions``); OpenAI Chat keeps system and developer messages in ``messages`` where
    they stood. ``extra`` keeps every top-level field the IR does not model, per dialect.
    """

    model: str | None = None
    system: tuple[Text | Opaque, ...] | None = None
    system_plain: bool = False
    messages: tuple[Message, ...] = ()
    tools: tuple[Tool | Opaque, ...] | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None
    sampling: Sampling = Sampling()
    stream: bool | None = None
    extra: Extra = {}


class Usage(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """Token counts. ``extra`` keeps the dialect's detail fields as they arrived."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cache_read_tokens: int | None = None
    extra: Extra = {}


class Response(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """A model's reply: one assistant turn as ordered blocks."""

    id: str | None = None
    model: str | None = None
    blocks: tuple[Block, ...] = ()
    stop_reason: StopReason | None = None
    stop_sequence: str | None = None
    usage: Usage | None = None
    extra: Extra = {}

    def to_message(self) -> Message:
        """The assistant message this response adds to a conversation."""
        return Message(role="assistant", blocks=self.blocks)
