"""OpenAI Chat messages <-> IR messages, shared by requests and responses.

Roles ``system``, ``developer``, ``user``, ``assistant`` and ``tool`` map onto the IR roles of
the same name. A ``tool`` message becomes ``Message(role="tool", blocks=(ToolResult,))`` with
the message's other fields in the result's ``extra``. The legacy ``function`` role (results of
the deprecated ``function_call``) has no IR form: it is kept whole as
``Message(role="tool", blocks=(Opaque(data=<the message>),))`` and written back verbatim.

An assistant message decodes into ``[reasoning] [content] [tool calls]`` -- the order of the
wire's slots -- except that ``<think>`` tags keep their place inside ``content``. Content parts
``text`` -> ``Text``, ``image_url`` -> ``Image`` (``data:`` URLs split into media type and
base64 data, ``detail`` kept in ``extra``); other parts (``input_audio``, ``file``,
``refusal``, ...) stay ``Opaque`` in place -- in an assistant message, not a part that reads
as a tool call or a ``reasoning.*`` item (``DecodeError``: it would be written back in that
slot). Tool calls of a type other than ``function`` (``custom``) stay ``Opaque`` among the
tool calls.

``assistant`` writes assistant messages back; ``parts`` maps content parts and tool calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import msgspec

from thinkwire.dialects._wire import describe, obj, opt, req, unmodelled
from thinkwire.dialects.openai_chat.assistant import encode_assistant
from thinkwire.dialects.openai_chat.carriers import (
    ABSENT,
    DIALECT,
    FORM,
    OPEN_TAG,
    decode_details,
    is_details_item,
    own_extra,
    reasoning_text,
    split_think_tags,
)
from thinkwire.dialects.openai_chat.parts import (
    Part,
    block_path,
    decode_part,
    decode_tool_call,
    encode_part,
    extra_of,
    is_tool_call_item,
)
from thinkwire.errors import DecodeError
from thinkwire.ir.blocks import (
    Block,
    Carrier,
    Image,
    Opaque,
    Origin,
    RedactedThinking,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
)
from thinkwire.ir.conversation import Message, Role
from thinkwire.ir.losses import LossLog

ASSISTANT_KEYS: Final = frozenset(
    {"role", "content", "tool_calls", "reasoning_details", "reasoning_content", "reasoning"}
)
"""The assistant-message fields this codec models; every other is kept in ``extra``."""
_CONTENT_KEYS: Final = frozenset({"role", "content"})
_TOOL_KEYS: Final = frozenset({"role", "tool_call_id", "content"})
_PLAIN_ROLES: Final[dict[str, Role]] = {"system": "system", "developer": "developer", "user": "user"}
_STRING_CARRIERS: Final[tuple[Carrier, ...]] = ("reasoning_content", "reasoning")


class Origins:
    """The ``Origin`` of each carrier for one decode call, made once and shared by its blocks
    (origins are immutable)."""

    def __init__(self, provider: str | None, model: str | None) -> None:
        self.provider, self.model = provider, model
        self._made: dict[Carrier, Origin] = {}

    def get(self, carrier: Carrier) -> Origin:
        origin = self._made.get(carrier)
        if origin is None:
            origin = self._made[carrier] = self.with_extra(carrier, {})
        return origin

    def with_extra(self, carrier: Carrier, extra: dict[str, Any]) -> Origin:
        return Origin(dialect=DIALECT, carrier=carrier, provider=self.provider, model=self.model, extra=extra)


def decode_message(value: Any, index: int, origins: Origins, calls: set[str]) -> Message:
    """Request message ``index``. ``calls`` collects tool-call ids so that a ``tool`` message
    answering no earlier call is a ``DecodeError``. (This runs once per message of long
    conversations: the common shapes take a shortcut, and paths are only built off it.)"""
    if type(value) is dict:
        message = _decode_common(value, origins, calls)
        if message is not None:
            return message
    return _decode_message(value, f"messages[{index}]", origins, calls)


def _decode_common(d: dict[str, Any], origins: Origins, calls: set[str]) -> Message | None:
    """The shapes nearly every message has, decoded directly: ``{"role", "content"}`` of a
    system, developer or user message with a string or only plain text parts;
    ``{"role": "tool", "tool_call_id", "content": str}`` answering an earlier call; and the
    assistant shapes of ``_decode_common_assistant``. Each checks that the fields it reads are
    all there are, so nothing can go to ``extra``. ``None`` for anything else: the general
    path decodes it (the tests check both give the same message)."""
    role = d.get("role")
    if type(role) is not str:
        return None
    content = d.get("content")
    if role == "assistant":
        return _decode_common_assistant(d, content, origins, calls)
    plain_role = _PLAIN_ROLES.get(role)
    if plain_role is not None and len(d) == 2:
        if type(content) is str:
            return Message(role=plain_role, blocks=(Text(text=content),), plain=True)
        if type(content) is list:
            texts = []
            for part in content:  # [{"type": "text", "text": str}, ...]
                if type(part) is not dict or len(part) != 2 or part.get("type") != "text":
                    return None
                text = part.get("text")
                if type(text) is not str:
                    return None
                texts.append(Text(text=text))
            return Message(role=plain_role, blocks=tuple(texts))
    elif role == "tool" and len(d) == 3 and type(content) is str:
        call_id = d.get("tool_call_id")
        if type(call_id) is str and call_id in calls:
            return Message(role="tool", blocks=(ToolResult(call_id=call_id, content=content),))
    return None


def _decode_common_assistant(
    d: dict[str, Any], content: Any, origins: Origins, calls: set[str]
) -> Message | None:
    """An assistant message of ``content`` (a string without ``<think>``, or null), at most
    one of ``reasoning_content`` / ``reasoning`` (a string) and plain ``function`` tool calls,
    decoded directly (see ``_decode_common``)."""
    if content is None and "content" not in d:
        return None
    carrier: Carrier = "reasoning_content"
    thought = d.get(carrier)
    if thought is None:
        carrier = "reasoning"
        thought = d.get(carrier)
    tool_calls = d.get("tool_calls")
    if len(d) != 2 + (thought is not None) + (tool_calls is not None):  # another field, or a null
        return None
    blocks: list[Block] = []
    if thought is not None:
        if type(thought) is not str:
            return None
        blocks.append(Thinking(text=thought, origin=origins.get(carrier)))
    if type(content) is str:
        if thought is None and OPEN_TAG in content:
            return None
        if content:
            blocks.append(Text(text=content))
    elif content is not None:
        return None
    if tool_calls is not None:
        if type(tool_calls) is not list or not tool_calls:
            return None
        for call in tool_calls:  # {"id": str, "type": "function", "function": {"name", "arguments"}}
            if type(call) is not dict or len(call) != 3 or call.get("type") != "function":
                return None
            call_id, function = call.get("id"), call.get("function")
            if type(call_id) is not str or type(function) is not dict or len(function) != 2:
                return None
            name, arguments = function.get("name"), function.get("arguments")
            if type(name) is not str or type(arguments) is not str:
                return None
            blocks.append(ToolCall(id=call_id, name=name, arguments=arguments))
            calls.add(call_id)  # harmless if the general path ends up decoding this message
    return Message(role="assistant", blocks=tuple(blocks), plain=type(content) is str)


def _decode_message(value: Any, path: str, origins: Origins, calls: set[str]) -> Message:
    """Any request message (the general path)."""
    if type(value) is not dict:
        obj(value, path)
    role = value.get("role")
    if role == "assistant":
        blocks, plain, rest = decode_assistant(value, path, origins)
        for block in blocks:
            if type(block) is ToolCall:
                calls.add(block.id)
        return Message(role="assistant", blocks=tuple(blocks), plain=plain, extra=extra_of(rest))
    plain_role = _PLAIN_ROLES.get(role) if type(role) is str else None
    if plain_role is not None:
        content = value.get("content")
        extra = extra_of(unmodelled(value, _CONTENT_KEYS))
        if type(content) is str:
            return Message(role=plain_role, blocks=(Text(text=content),), plain=True, extra=extra)
        return Message(role=plain_role, blocks=_parts(content, f"{path}.content"), extra=extra)
    if role == "tool":
        return Message(role="tool", blocks=(_decode_tool_result(value, path, calls),))
    if role == "function":
        return Message(role="tool", blocks=(Opaque(dialect=DIALECT, data=value),))
    req(value, "role", str, path)
    raise DecodeError(f"{path}.role", f"unknown role {role!r}")


def _parts(content: Any, path: str) -> tuple[Part, ...]:
    if type(content) is not list:
        raise DecodeError(path, f"expected a string or an array, got {describe(content)}")
    return tuple(decode_part(p, path, i) for i, p in enumerate(content))


def _decode_tool_result(d: dict[str, Any], path: str, calls: set[str]) -> ToolResult:
    call_id = d.get("tool_call_id")
    if type(call_id) is not str:
        call_id = req(d, "tool_call_id", str, path)
    if call_id not in calls:
        raise DecodeError(f"{path}.tool_call_id", f"no tool call with id {call_id!r} precedes this result")
    content = d.get("content")
    result = content if type(content) is str else _parts(content, f"{path}.content")
    return ToolResult(call_id=call_id, content=result, extra=extra_of(unmodelled(d, _TOOL_KEYS)))


def decode_assistant(
    d: dict[str, Any], path: str, origins: Origins
) -> tuple[list[Block], bool, dict[str, Any]]:
    """An assistant message as ``(blocks, plain, rest)``; ``rest`` holds the fields to keep
    verbatim (unknown ones, ``null`` carriers, an empty ``tool_calls``).

    Carrier priority: ``reasoning_details`` > ``reasoning_content`` > ``reasoning`` >
    think-tags. ``reasoning_content: ""`` is a ``Thinking(text="")`` (DeepSeek wants ``""``
    back on older turns); ``null`` or absent is no block.
    """
    rest = unmodelled(d, ASSISTANT_KEYS)
    if rest:
        rest.pop("content", None)  # null content is the default for a message without text
    blocks: list[Block] = []
    primary: Carrier | None = None
    details = d.get("reasoning_details")
    if details is not None:
        if type(details) is not list:
            raise DecodeError(f"{path}.reasoning_details", f"expected an array, got {describe(details)}")
        if details:
            primary = "reasoning_details"
            blocks = decode_details(details, f"{path}.reasoning_details", origins)
        else:
            rest["reasoning_details"] = details
    content_text: str | None = d.get("reasoning_content")  # checked below
    reasoning: str | None = d.get("reasoning")
    if content_text is not None or reasoning is not None:
        if content_text is not None and type(content_text) is not str:
            opt(d, "reasoning_content", str, path)
        if reasoning is not None and type(reasoning) is not str:
            opt(d, "reasoning", str, path)
        if primary is None and content_text is not None:
            primary = "reasoning_content"
            blocks.append(Thinking(text=content_text, origin=origins.get(primary)))
        elif primary is None and reasoning is not None:
            primary = "reasoning"
            blocks.append(Thinking(text=reasoning, origin=origins.get(primary)))
        if primary is not None and (content_text is not None) + (reasoning is not None) + bool(details) > 1:
            _mirrors(
                blocks, {"reasoning_content": content_text, "reasoning": reasoning}, primary, rest, origins
            )

    plain = False
    content = d.get("content", ABSENT)
    if type(content) is str:
        plain = True
        if primary is None and OPEN_TAG in content:
            blocks += split_think_tags(content, origins.get("think-tags"))
        elif content:
            blocks.append(Text(text=content))
    elif content is ABSENT:
        rest[FORM] = {"content": "absent"}
    elif type(content) is list:
        parts = _parts(content, f"{path}.content")
        for i, part in enumerate(parts):
            if type(part) is Opaque and (is_tool_call_item(part.data) or is_details_item(part.data)):
                # written back by its type: it would leave ``content`` for another slot
                kind = part.data["type"]
                raise DecodeError(f"{path}.content[{i}].type", f"{kind!r} is not a content part type")
        if len(parts) <= 1 and all(type(p) is Text and not p.extra for p in parts):
            rest[FORM] = {"content": "parts"}
        blocks += parts
    elif content is not None:
        raise DecodeError(f"{path}.content", f"expected a string, an array or null, got {describe(content)}")

    tool_calls = d.get("tool_calls")
    if type(tool_calls) is list:
        if tool_calls:
            blocks += [decode_tool_call(c, path, i) for i, c in enumerate(tool_calls)]
        else:
            rest["tool_calls"] = tool_calls
    elif tool_calls is not None:
        raise DecodeError(f"{path}.tool_calls", f"expected an array, got {describe(tool_calls)}")
    return blocks, plain, rest


def _mirrors(
    blocks: list[Block],
    strings: dict[Carrier, str | None],
    primary: Carrier,
    rest: dict[str, Any],
    origins: Origins,
) -> None:
    """Lower-priority reasoning fields that repeat the primary carrier's text become a
    ``mirror`` note on the first reasoning block; ones that differ are reasoning of their own
    and become further thinking blocks, each recording its carrier."""
    reasoning = [b for b in blocks if isinstance(b, Thinking | RedactedThinking)]
    text = reasoning_text(reasoning)
    mirrors = [k for k, v in strings.items() if v is not None and k != primary and v == text]
    for key, value in strings.items():
        if value is not None and key != primary and key not in mirrors:
            blocks.append(Thinking(text=value, origin=origins.get(key)))
    if not mirrors:
        return
    first = reasoning[0] if reasoning else None
    if first is None or first.origin is None:  # only opaque items: nowhere to note it
        rest.update((k, strings[k]) for k in mirrors)
        return
    origin = Origin(
        dialect=DIALECT,
        carrier=first.origin.carrier,
        provider=first.origin.provider,
        model=first.origin.model,
        extra={**first.origin.extra, "mirror": mirrors},
    )
    blocks[blocks.index(first)] = msgspec.structs.replace(first, origin=origin)


# ---------------------------------------------------------------------------------------------
# encoding


def encode_messages(
    messages: Iterable[Message], log: LossLog, carrier: Carrier | None
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        wire = _encode_common(message)
        if wire is not None:
            out.append(wire)
        else:
            out += encode_message(message, f"messages[{i}]", carrier, log)
    return out


def _encode_common(message: Message) -> dict[str, Any] | None:
    """The single-block messages nearly every conversation is made of, built directly: a text
    of a system, developer or user message, and a tool result holding a string. ``None`` for
    anything else, assistant messages included: ``encode_message`` writes it (the tests check
    both give the same message). Nothing here has a field to lose."""
    blocks = message.blocks
    if message.extra or len(blocks) != 1 or message.role == "assistant":
        return None
    block = blocks[0]
    if type(block) is Text and not block.extra and message.role != "tool":
        text = block.text
        return {"role": message.role, "content": text if message.plain else [{"type": "text", "text": text}]}
    if type(block) is ToolResult and not block.extra and not block.is_error and type(block.content) is str:
        return {"role": "tool", "tool_call_id": block.call_id, "content": block.content}
    return None


def encode_message(
    message: Message, path: str, carrier: Carrier | None, log: LossLog
) -> list[dict[str, Any]]:
    """One IR message as one or more wire messages: tool results become ``tool`` messages,
    written before the rest of their message (an Anthropic user turn holds both)."""
    extras = own_extra(log, path, message.extra)
    role = message.role
    if role == "assistant":
        return [encode_assistant(message.blocks, path, carrier, log, extras=extras, plain=message.plain)]
    blocks = message.blocks
    if (
        message.plain
        and len(blocks) == 1
        and type(blocks[0]) is Text
        and not blocks[0].extra
        and role != "tool"
    ):
        return [{"role": role, **extras, "content": blocks[0].text}]  # the common case, built directly
    out: list[dict[str, Any]] = []
    others: list[tuple[str, Block]] = []
    result_extras = extras if role == "tool" else {}
    for i, block in enumerate(blocks):
        if isinstance(block, ToolResult):
            if others:
                log.add(block_path(path, i), "order", "tool result moved before the message's other content")
            out.append(_encode_tool_result(block, path, i, log, result_extras))
        elif isinstance(block, Opaque) and block.dialect == DIALECT and block.data.get("role") == "function":
            out.append(block.data)
        else:
            others.append((block_path(path, i), block))
    if role == "tool":
        for where, block in others:
            log.add(where, "block", f"a tool message cannot hold a {type(block).__name__} block")
        return out
    if others or not out:
        wire: dict[str, Any] = {"role": role}
        wire.update((k, v) for k, v in extras.items() if k != FORM)
        wire["content"] = plain_content(others, message.plain, log)
        out.append(wire)
    return out


def plain_content(blocks: list[tuple[str, Block]], plain: bool, log: LossLog) -> str | list[Any]:
    """``content`` of a system, developer or user message from ``(IR path, block)`` pairs: a
    string when it was one (and holds only text), else a parts array."""
    parts: list[Any] = []
    for where, block in blocks:
        part = encode_part(block, where, log)
        if part is not None:
            parts.append(part)
    if plain and all(isinstance(p, str) for p in parts):
        return "".join(parts)
    return [{"type": "text", "text": p} if isinstance(p, str) else p for p in parts]


def _encode_tool_result(
    block: ToolResult, path: str, index: int, log: LossLog, extras: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "tool", "tool_call_id": block.call_id}
    if extras:
        out.update((k, v) for k, v in extras.items() if k != FORM)
    if block.extra:
        out.update(own_extra(log, block_path(path, index), block.extra))
    if isinstance(block.content, str):
        out["content"] = block.content
    else:
        parts: list[Any] = []
        for i, item in enumerate(block.content):
            item_path = f"{block_path(path, index)}.content[{i}]"
            if isinstance(item, Image):
                log.add(item_path, "block", "an openai-chat tool message cannot hold an image")
                continue
            part = encode_part(item, item_path, log)
            if part is not None:
                parts.append({"type": "text", "text": part} if isinstance(part, str) else part)
        out["content"] = parts
    if block.is_error:
        log.add(block_path(path, index), "field", "is_error has no place in an openai-chat tool message")
    return out
