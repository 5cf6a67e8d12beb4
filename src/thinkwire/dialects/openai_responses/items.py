"""Input / output items <-> IR blocks, shared by requests, responses and streams.

Assistant-side items (``reasoning``, ``function_call``, assistant ``message`` and the
built-in tool calls) of one turn become the ordered blocks of **one** IR assistant message.

Assistant text. Each ``output_text`` part is one ``Text``. Its ``extra["openai-responses"]``
holds the part's own fields (``annotations``, ``logprobs``, ``type`` when it is not
``output_text``) plus two bookkeeping keys, so the same items come back:

``item``
    on the first ``Text`` of a message item: the item's fields other than ``role`` and
    ``content`` (``type``, ``id``, ``status``, ...). Present whenever there are such fields
    or the previous block is a ``Text`` (it marks where the next item starts); absent on
    the short form ``{"role":"assistant","content":[..]}``.
``plain``
    the item's ``content`` was a bare string. (A turn that is exactly one such item uses
    ``Message.plain`` instead.)

A ``Text`` without this dialect's extra continues the open message item or starts a short-form
one (requests) / a ``{"type":"message","status":"completed"}`` one with ``annotations: []``
parts (responses, where the SDK types require them). A message item that holds anything
but text parts (a ``refusal``, nothing at all) is kept whole as one ``Opaque`` block.

Other messages (user, system, developer) map one to one onto IR messages; their item fields
go to ``Message.extra``; parts map to ``Text`` (``input_text``), ``Image`` (``input_image``
with an ``image_url``) and ``Opaque`` (anything else).

Paths are passed as pieces (``base`` and index) and joined only when an error or a loss is
reported: the success path of a large conversation builds no path strings.
"""

from __future__ import annotations

from typing import Any

from thinkwire.dialects.openai_responses._common import (
    DIALECT,
    EMPTY,
    fail,
    keep,
    missing,
    req_str,
    tag,
)
from thinkwire.dialects.openai_responses.reasoning import decode_reasoning, encode_reasoning, encode_redacted
from thinkwire.errors import DecodeError
from thinkwire.ir.blocks import Block, Image, Opaque, RedactedThinking, Text, Thinking, ToolCall, ToolResult
from thinkwire.ir.conversation import Message, Role
from thinkwire.ir.losses import LossLog

ITEM = "item"
PLAIN = "plain"

MESSAGE_KEYS = frozenset({"role", "content"})
CALL_KEYS = frozenset({"type", "call_id", "name", "arguments"})
OUTPUT_KEYS = frozenset({"type", "call_id", "output"})
TEXT_PART_KEYS = frozenset({"type", "text"})
IMAGE_KEYS = frozenset({"type", "image_url"})
TEXT_TYPES = frozenset({"input_text", "output_text"})
CLIENT_CALLS = frozenset(
    {
        "function_call",
        "custom_tool_call",
        "computer_call",
        "local_shell_call",
        "shell_call",
        "apply_patch_call",
    }
)
"""Output item types the client must answer (a response holding one stopped for ``tool_use``)."""
ROLES: frozenset[str] = frozenset({"user", "assistant", "system", "developer"})
USER_SIDE = frozenset({"item_reference", "mcp_approval_response"})
"""Client-side input item types besides ``*_output`` (each an ``Opaque`` user message)."""


def is_text_type(kind: Any) -> bool:
    """Whether a part ``type`` (of any JSON type) is a text part's."""
    return type(kind) is str and kind in TEXT_TYPES


def is_input_item(kind: str) -> bool:
    """Whether an ``Opaque`` of this ``type`` in a user message is an input item of its own
    (``item_reference``, ``*_output``, ...) rather than a content part."""
    return kind in USER_SIDE or kind.endswith("_output")


def at(base: str, index: int) -> str:
    """``input[3]`` from ``("input", 3)``; ``base`` itself for index -1."""
    return f"{base}[{index}]" if index >= 0 else base


def block_path(message: int, block: int) -> str:
    """The IR path of a block: ``messages[3].blocks[1]``, or ``blocks[1]`` in a response (-1)."""
    return f"messages[{message}].blocks[{block}]" if message >= 0 else f"blocks[{block}]"


# ---------------------------------------------------------------- decoding


def part_fields(part: dict[str, Any], default_type: str) -> dict[str, Any]:
    """A text part's fields besides its text (and its type, when it is the default one)."""
    fields = keep(part, TEXT_PART_KEYS)
    if part["type"] != default_type:
        fields["type"] = part["type"]
    return fields


def decode_image(part: dict[str, Any]) -> Image:
    """``input_image`` with an ``image_url``: a ``data:<type>;base64,`` URL becomes inline data."""
    url: str = part["image_url"]
    fields = tag(keep(part, IMAGE_KEYS))
    if url.startswith("data:"):
        head, comma, data = url.partition(",")
        if comma and head.endswith(";base64") and ";" not in head[5:-7]:
            return Image(media_type=head[5:-7], data=data, extra=fields)
    return Image(url=url, extra=fields)


def decode_parts(
    parts: list[Any], path: str, default_type: str, *, items: bool = False
) -> tuple[Text | Image | Opaque, ...]:
    """The parts of a non-assistant message's ``content`` or of a tool output (``path`` names
    the array). ``items``: the parts share a message with input items (a request's user /
    system / developer message), so a part of an input item's type (``item_reference``,
    ``*_output``) is refused: it would be written back as an item of its own."""
    out: list[Text | Image | Opaque] = []
    for n, part in enumerate(parts):
        if type(part) is not dict:
            raise fail(f"{path}[{n}]", "an object", part)
        kind = part.get("type")
        if is_text_type(kind):
            text = part.get("text")
            if type(text) is not str:
                raise _bad_text(part, f"{path}[{n}]")
            if len(part) == 2 and kind == default_type:
                out.append(Text(text=text))
            else:
                out.append(Text(text=text, extra=tag(part_fields(part, default_type))))
        elif kind == "input_image" and type(part.get("image_url")) is str:
            out.append(decode_image(part))
        elif type(kind) is str:
            if items and is_input_item(kind):
                raise DecodeError(f"{path}[{n}].type", f"{kind!r} is an input item type, not a content part")
            out.append(Opaque(dialect=DIALECT, data=part))
        else:
            raise _bad_type(part, f"{path}[{n}]")
    return tuple(out)


def _bad_text(part: dict[str, Any], path: str) -> DecodeError:
    if "text" not in part:
        return missing(f"{path}.text")
    return fail(f"{path}.text", "a string", part["text"])


def _bad_type(part: dict[str, Any], path: str) -> DecodeError:
    if "type" not in part:
        return missing(f"{path}.type")
    return fail(f"{path}.type", "a string", part["type"])


def _bad_content(item: dict[str, Any], path: str) -> DecodeError:
    if "content" not in item:
        return missing(f"{path}.content")
    return fail(f"{path}.content", "a string or an array", item["content"])


def decode_message(item: dict[str, Any], base: str, i: int, role: Role) -> Message:
    """A user / system / developer message item."""
    content = item.get("content")
    if type(content) is str:
        blocks: tuple[Text | Image | Opaque, ...] = (Text(text=content),)
    elif type(content) is not list:
        raise _bad_content(item, at(base, i))
    elif len(content) == 1 and type(part := content[0]) is dict and len(part) == 2:
        text = part.get("text")
        if part.get("type") == "input_text" and type(text) is str:  # the common single text part
            blocks = (Text(text=text),)
        else:
            blocks = decode_parts(content, f"{at(base, i)}.content", "input_text", items=True)
    else:
        blocks = decode_parts(content, f"{at(base, i)}.content", "input_text", items=True) if content else ()
    plain = type(content) is str
    if len(item) == 2:
        return Message(role=role, blocks=blocks, plain=plain)
    return Message(role=role, blocks=blocks, plain=plain, extra=tag(keep(item, MESSAGE_KEYS)))


def decode_assistant_message(item: dict[str, Any], base: str, i: int, out: list[Block]) -> None:
    """Append the blocks of an assistant message item to the turn ``out``."""
    content = item.get("content")
    fields = keep(item, MESSAGE_KEYS) if len(item) != 2 else {}
    if type(content) is str:
        extra: dict[str, Any] = {PLAIN: True, ITEM: fields} if fields else {PLAIN: True}
        out.append(Text(text=content, extra=tag(extra)))
        return
    if type(content) is not list:
        raise _bad_content(item, at(base, i))
    if len(content) == 1 and not fields and type(part := content[0]) is dict and len(part) == 2:
        text = part.get("text")
        if part.get("type") == "output_text" and type(text) is str and not (out and type(out[-1]) is Text):
            out.append(Text(text=text))  # the common short form with one text part
            return
    texts = bool(content)
    for n, part in enumerate(content):
        if type(part) is not dict:
            raise fail(f"{at(base, i)}.content[{n}]", "an object", part)
        kind = part.get("type")
        if is_text_type(kind):
            if type(part.get("text")) is not str:
                raise _bad_text(part, f"{at(base, i)}.content[{n}]")
        else:
            texts = False
    if not texts:
        out.append(Opaque(dialect=DIALECT, data=item))
        return
    boundary = bool(fields) or (bool(out) and type(out[-1]) is Text)
    for n, part in enumerate(content):
        if n == 0 and boundary:
            extra = part_fields(part, "output_text")
            extra[ITEM] = fields
            out.append(Text(text=part["text"], extra={DIALECT: extra}))
        elif len(part) == 2 and part["type"] == "output_text":
            out.append(Text(text=part["text"]))
        else:
            out.append(Text(text=part["text"], extra=tag(part_fields(part, "output_text"))))


def decode_call(item: dict[str, Any], base: str, i: int) -> ToolCall:
    """A ``function_call`` item; its ``id`` (``fc_..``) and ``status`` go to ``extra``."""
    call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
    if type(call_id) is not str:
        call_id = req_str(item, "call_id", at(base, i))
    if type(name) is not str:
        name = req_str(item, "name", at(base, i))
    if type(arguments) is not str:
        arguments = req_str(item, "arguments", at(base, i))
    if len(item) == 4:
        return ToolCall(id=call_id, name=name, arguments=arguments)
    return ToolCall(id=call_id, name=name, arguments=arguments, extra=tag(keep(item, CALL_KEYS)))


def decode_result(item: dict[str, Any], base: str, i: int) -> ToolResult:
    """A ``function_call_output`` item; ``output`` is a string or a list of parts."""
    call_id = item.get("call_id")
    if type(call_id) is not str:
        call_id = req_str(item, "call_id", at(base, i))
    output = item.get("output")
    content: str | tuple[Text | Image | Opaque, ...]
    if type(output) is str:
        content = output
    elif type(output) is list:
        content = decode_parts(output, f"{at(base, i)}.output", "input_text")
    elif "output" not in item:
        raise missing(f"{at(base, i)}.output")
    else:
        raise fail(f"{at(base, i)}.output", "a string or an array", output)
    if len(item) == 3:
        return ToolResult(call_id=call_id, content=content)
    return ToolResult(call_id=call_id, content=content, extra=tag(keep(item, OUTPUT_KEYS)))


def decode_turn_item(
    item: dict[str, Any],
    kind: str,
    base: str,
    i: int,
    out: list[Block],
    provider: str | None,
    model: str | None,
) -> None:
    """Append the blocks of one assistant-side item (any type but a non-assistant message)."""
    if kind == "reasoning":
        out.append(decode_reasoning(item, base, i, provider, model))
    elif kind == "function_call":
        out.append(decode_call(item, base, i))
    elif kind == "message":
        decode_assistant_message(item, base, i, out)
    else:
        out.append(Opaque(dialect=DIALECT, data=item))


def plain_turn(blocks: list[Block]) -> tuple[tuple[Block, ...], bool]:
    """A turn that is exactly one string-content message item uses ``Message.plain``."""
    if len(blocks) == 1 and type(blocks[0]) is Text and blocks[0].extra:
        fields = blocks[0].extra.get(DIALECT)
        if fields is not None and fields.get(PLAIN):
            rest = {k: v for k, v in fields.items() if k != PLAIN}
            return (Text(text=blocks[0].text, extra=tag(rest)),), True
    return tuple(blocks), False


# ---------------------------------------------------------------- encoding


def own_fields(extra: dict[str, dict[str, Any]], log: LossLog, message: int, block: int) -> dict[str, Any]:
    """This dialect's fields of a block's ``extra``; other dialects' are reported as losses."""
    if not extra:
        return EMPTY
    if len(extra) == 1 and DIALECT in extra:
        return extra[DIALECT]
    return log.foreign_extra(block_path(message, block), extra, DIALECT)


def output_text(text: str, fields: dict[str, Any], defaults: bool) -> dict[str, Any]:
    """One assistant text part. ``defaults`` adds ``annotations: []`` to a part of another dialect."""
    if fields:
        part = {"type": "output_text"}
        part.update((k, v) for k, v in fields.items() if k != ITEM and k != PLAIN)
        part["text"] = text
        return part
    if defaults:
        return {"type": "output_text", "annotations": [], "text": text}
    return {"type": "output_text", "text": text}


def message_head(block: Text, fields: dict[str, Any], response: bool) -> dict[str, Any]:
    """The fields of the message item a ``Text`` starts (before ``role`` and ``content``)."""
    head = fields.get(ITEM)
    if head is not None:
        return dict(head)
    if response and DIALECT not in block.extra:
        return {"type": "message", "status": "completed"}
    return {}


def encode_image(block: Image, path: str, log: LossLog) -> dict[str, Any] | None:
    fields = log.foreign_extra(path, block.extra, DIALECT) if block.extra else EMPTY
    if block.data is not None:
        media_type = block.media_type
        if media_type is None:
            log.add(path, "value", "inline image without a media type sent as application/octet-stream")
            media_type = "application/octet-stream"
        url = f"data:{media_type};base64,{block.data}"
    elif block.url is not None:
        url = block.url
    else:
        log.add(path, "block", "image with neither data nor url; omitted")
        return None
    part: dict[str, Any] = {"type": "input_image"}  # ``detail`` is optional: the API defaults to auto
    part.update(fields)
    part["image_url"] = url
    return part


def encode_part(block: Block, path: str, log: LossLog) -> dict[str, Any] | None:
    """One ``input_*`` content part (``None`` when it has no place; a loss is reported)."""
    if type(block) is Text:
        if not block.extra:
            return {"type": "input_text", "text": block.text}
        part: dict[str, Any] = {"type": "input_text"}
        part.update(log.foreign_extra(path, block.extra, DIALECT))
        part["text"] = block.text
        return part
    if type(block) is Image:
        return encode_image(block, path, log)
    if type(block) is Opaque and block.dialect == DIALECT:
        return block.data
    kind = block.dialect if type(block) is Opaque else type(block).__name__
    log.add(path, "block", f"{kind} block has no place in a {DIALECT} content part; omitted")
    return None


def encode_call(block: ToolCall, log: LossLog, message: int, index: int) -> dict[str, Any]:
    if not block.extra:  # fast path: the same item, built in one go
        return {
            "type": "function_call",
            "call_id": block.id,
            "name": block.name,
            "arguments": block.arguments,
        }
    item: dict[str, Any] = {"type": "function_call"}
    item.update(own_fields(block.extra, log, message, index))
    item["call_id"] = block.id
    item["name"] = block.name
    item["arguments"] = block.arguments
    return item


def encode_result(block: ToolResult, log: LossLog, message: int, index: int) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "function_call_output"}
    if block.extra:
        item.update(own_fields(block.extra, log, message, index))
    item["call_id"] = block.call_id
    content = block.content
    if isinstance(content, str):
        item["output"] = content
    else:
        path = block_path(message, index)
        parts = (encode_part(b, f"{path}.content[{n}]", log) for n, b in enumerate(content))
        item["output"] = [p for p in parts if p is not None]
    if block.is_error:
        log.add(
            f"{block_path(message, index)}.is_error", "field", f"{DIALECT} has no error flag on tool output"
        )
    return item


def encode_turn(
    blocks: tuple[Block, ...],
    message: int,
    log: LossLog,
    out: list[Any],
    *,
    plain: bool,
    response: bool,
) -> None:
    """Append the items of one assistant turn. ``message`` is its index in the request (-1 for
    a response); ``response`` selects the output-item defaults."""
    parts: list[dict[str, Any]] | None = None  # content of the open message item
    short = not response and not (plain and len(blocks) == 1)  # a Text with no extra is a bare part
    for j, block in enumerate(blocks):
        if type(block) is Text:
            if short and not block.extra:
                part = {"type": "output_text", "text": block.text}  # the common case, inline
                if parts is None:
                    parts = [part]
                    out.append({"role": "assistant", "content": parts})
                else:
                    parts.append(part)
                continue
            fields = own_fields(block.extra, log, message, j)
            defaults = response and DIALECT not in block.extra
            if parts is not None and not fields:
                parts.append(output_text(block.text, fields, defaults))
                continue
            if PLAIN in fields or (plain and len(blocks) == 1):
                item = message_head(block, fields, response)
                item["role"] = "assistant"
                item["content"] = block.text
                out.append(item)
                parts = None
                continue
            if parts is None or ITEM in fields:
                parts = []
                item = message_head(block, fields, response)
                item["role"] = "assistant"
                item["content"] = parts
                out.append(item)
            parts.append(output_text(block.text, fields, defaults))
            continue
        parts = None
        if type(block) is Thinking:
            out.append(encode_reasoning(block, log, message, j))
        elif type(block) is ToolCall:
            out.append(encode_call(block, log, message, j))
        elif type(block) is RedactedThinking:
            redacted = encode_redacted(block, log, message, j)
            if redacted is not None:
                out.append(redacted)
        elif type(block) is ToolResult:
            out.append(encode_result(block, log, message, j))
        elif type(block) is Opaque and block.dialect == DIALECT:
            out.append(block.data)
        else:
            name = block.dialect if isinstance(block, Opaque) else type(block).__name__
            detail = f"{name} block has no place in a {DIALECT} turn; omitted"
            log.add(block_path(message, j), "block", detail)


def _item_opaque(block: Opaque) -> bool:
    """Whether an ``Opaque`` of this dialect in a user message is an input item of its own
    (else it is a content part; ``decode_parts`` refuses parts of input item types)."""
    kind = block.data.get("type")
    return type(kind) is str and is_input_item(kind)


def encode_message(message: Message, i: int, log: LossLog, out: list[Any]) -> None:
    """Append the items of a non-assistant message: tool results become
    ``function_call_output`` items in place, the rest one message item per run."""
    fields = log.foreign_extra(f"messages[{i}]", message.extra, DIALECT) if message.extra else EMPTY
    role: str = message.role
    blocks = message.blocks
    if len(blocks) == 1 and not fields:
        only = blocks[0]
        if type(only) is Text and not only.extra and role != "tool":  # the common single-text message
            text = only.text
            out.append(
                {"role": role, "content": text if message.plain else [{"type": "input_text", "text": text}]}
            )
            return
        if type(only) is ToolResult and not only.extra and not only.is_error and type(only.content) is str:
            out.append({"type": "function_call_output", "call_id": only.call_id, "output": only.content})
            return
    if message.plain and len(blocks) == 1 and type(blocks[0]) is Text and not blocks[0].extra:
        if not fields and role != "tool":
            out.append({"role": role, "content": blocks[0].text})
        else:
            out.append({**fields, "role": "user" if role == "tool" else role, "content": blocks[0].text})
        return
    if not blocks:  # ``content: []``
        if role != "tool":
            out.append({**fields, "role": role, "content": []})
        return
    parts: list[dict[str, Any]] | None = None
    first = True
    for j, block in enumerate(blocks):
        part: dict[str, Any] | None
        if type(block) is Text and not block.extra:
            part = {"type": "input_text", "text": block.text}
        elif type(block) is ToolResult:
            parts = None
            out.append(encode_result(block, log, i, j))
            continue
        elif type(block) is Opaque and block.dialect == DIALECT and _item_opaque(block):
            parts = None
            out.append(block.data)
            continue
        else:
            part = encode_part(block, block_path(i, j), log)
            if part is None:
                continue
        if parts is None:
            if role == "tool":
                log.add(
                    block_path(i, j), "value", "non-result content of a tool message sent as a user message"
                )
            parts = []
            head = fields if first else EMPTY
            out.append({**head, "role": "user" if role == "tool" else role, "content": parts})
            first = False
        parts.append(part)
