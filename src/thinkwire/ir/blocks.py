"""Content blocks: the ordered parts of a message.

Order is data. One assistant turn may be ``thinking, tool_call, thinking, tool_call, text``;
no block type is ever moved into a side field.

``extra`` on every record holds wire fields the IR does not model, namespaced by the dialect
that carried them (``{"anthropic": {"cache_control": {...}}}``). An encoder writes back the
fields of its own dialect and reports the others as losses; nothing is dropped silently.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Dialect = Literal["anthropic", "openai-chat", "openai-responses"]
DIALECTS: tuple[Dialect, ...] = ("anthropic", "openai-chat", "openai-responses")

Carrier = Literal["reasoning_content", "reasoning", "reasoning_details", "think-tags"]
CARRIERS: tuple[Carrier, ...] = ("reasoning_content", "reasoning", "reasoning_details", "think-tags")

Extra = dict[str, dict[str, Any]]
"""Unmodelled wire fields per dialect: ``{dialect: {field: value}}``."""


class Origin(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """Where a thinking block came from, and what is needed to re-emit it exactly.

    ``dialect`` and ``carrier`` say how it arrived; ``provider`` and ``model`` who issued it
    (so a signature goes back only to its issuer). ``extra`` keeps per-dialect re-emission
    data: the ``reasoning_details`` item ``id`` / ``format`` / ``index`` / ``type``, a
    Responses item ``id`` and its ``summary`` / ``content`` parts, an unclosed ``<think>``.
    """

    dialect: Dialect
    carrier: Carrier | None = None
    provider: str | None = None
    model: str | None = None
    extra: dict[str, Any] = {}


class Text(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True, tag="text"):
    """Visible text."""

    text: str
    extra: Extra = {}


class Thinking(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True, tag="thinking"):
    """Reasoning in clear text.

    ``signature`` is the issuer's opaque proof (Anthropic ``signature``, a Claude signature in
    ``reasoning_details``, a Responses ``encrypted_content``). ``text == ""`` with a signature
    is Anthropic's ``display: "omitted"`` form and must still be sent back.
    """

    text: str
    signature: str | None = None
    origin: Origin | None = None
    extra: Extra = {}


class RedactedThinking(
    msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True, tag="redacted_thinking"
):
    """Encrypted reasoning with no clear text (Anthropic ``redacted_thinking``,
    ``reasoning.encrypted`` details, a Responses reasoning item with only
    ``encrypted_content``). Never filtered, never shown."""

    data: str
    origin: Origin | None = None
    extra: Extra = {}


class ToolCall(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True, tag="tool_call"):
    """A call the model makes. ``arguments`` is the exact JSON text as it arrived."""

    id: str
    name: str
    arguments: str
    extra: Extra = {}

    def parsed_arguments(self) -> Any:
        """The arguments as a Python value (raises ``msgspec.DecodeError`` when invalid)."""
        return msgspec.json.decode(self.arguments) if self.arguments else {}


class Image(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True, tag="image"):
    """An image, inline (``data`` in base64 with ``media_type``) or by ``url``."""

    media_type: str | None = None
    data: str | None = None
    url: str | None = None
    extra: Extra = {}


class Opaque(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True, tag="opaque"):
    """A wire item the IR does not model, kept verbatim for the dialect that sent it."""

    dialect: Dialect
    data: dict[str, Any]


class ToolResult(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True, tag="tool_result"):
    """The result of a tool call. ``content`` is a plain string or a list of blocks."""

    call_id: str
    content: str | tuple[Text | Image | Opaque, ...]
    is_error: bool = False
    extra: Extra = {}

    def content_text(self) -> str:
        """The textual part of the content, concatenated."""
        if isinstance(self.content, str):
            return self.content
        return "".join(b.text for b in self.content if isinstance(b, Text))


Block = Text | Thinking | RedactedThinking | ToolCall | ToolResult | Image | Opaque
REASONING_TYPES = (Thinking, RedactedThinking)


def is_reasoning(block: Block) -> bool:
    """True for the blocks that carry reasoning (clear or redacted)."""
    return isinstance(block, REASONING_TYPES)
