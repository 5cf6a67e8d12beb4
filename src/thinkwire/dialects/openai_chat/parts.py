"""Content parts and tool calls of OpenAI Chat messages <-> IR blocks.

Parts: ``text`` -> ``Text`` (unknown part fields such as OpenRouter's ``cache_control`` in
``extra``), ``image_url`` -> ``Image`` (a ``data:`` URL split into media type and base64 data;
``detail`` and other ``image_url`` fields in ``extra``); any other part (``input_audio``,
``file``, ``refusal``, ...) stays ``Opaque`` in place. Tool calls: ``function`` ->
``ToolCall`` with ``arguments`` as the exact JSON text; other types (``custom``) stay
``Opaque`` among the tool calls (they need an ``id`` and a field named by their type, as
``custom``, which is how they are told apart from content parts on the way back). Paths are
built only for errors: these run once per part of long conversations.
"""

from __future__ import annotations

from typing import Any, Final

from thinkwire.dialects._wire import join, obj, req, unmodelled
from thinkwire.dialects.openai_chat.carriers import ABSENT, DIALECT, FORM, own_extra
from thinkwire.errors import DecodeError
from thinkwire.ir.blocks import Block, Extra, Image, Opaque, Text, ToolCall
from thinkwire.ir.losses import LossLog

_TEXT_PART_KEYS: Final = frozenset({"type", "text"})
_IMAGE_PART_KEYS: Final = frozenset({"type", "image_url"})
_TOOL_CALL_KEYS: Final = frozenset({"id", "type", "function"})
_FUNCTION_KEYS: Final = frozenset({"name", "arguments"})
_DATA_URL_MARK: Final = ";base64,"

Part = Text | Image | Opaque


def extra_of(rest: dict[str, Any]) -> Extra:
    """``rest`` under this dialect's key (``{}`` when empty)."""
    return {DIALECT: rest} if rest else {}


def block_path(path: str, index: int) -> str:
    """IR path of a block: ``messages[2].blocks[0]``, or ``blocks[0]`` for a response."""
    return f"{path}.blocks[{index}]" if path else f"blocks[{index}]"


# ---------------------------------------------------------------------------------------------
# decoding


def decode_part(value: Any, path: str, index: int) -> Part:
    """Part ``index`` of the content at ``path``; anything but a ``text`` or plain
    ``image_url`` part stays ``Opaque``."""
    if type(value) is not dict:
        obj(value, f"{path}[{index}]")
    kind = value.get("type")
    if kind == "text":
        text = value.get("text")
        if type(text) is not str:
            req(value, "text", str, f"{path}[{index}]")
        if len(value) == 2:
            return Text(text=text)
        return Text(text=text, extra=extra_of({k: v for k, v in value.items() if k not in _TEXT_PART_KEYS}))
    if kind == "image_url" and value.keys() <= _IMAGE_PART_KEYS:
        where = f"{path}[{index}].image_url"
        image_url = obj(value.get("image_url"), where)
        url = req(image_url, "url", str, where)
        extra = extra_of({k: v for k, v in image_url.items() if k != "url"})
        if url.startswith("data:") and _DATA_URL_MARK in url:
            media_type, _, data = url[5:].partition(_DATA_URL_MARK)
            return Image(media_type=media_type, data=data, extra=extra)
        return Image(url=url, extra=extra)
    if type(kind) is not str:
        req(value, "type", str, f"{path}[{index}]")
    return Opaque(dialect=DIALECT, data=value)


def decode_tool_call(value: Any, path: str, index: int) -> ToolCall | Opaque:
    """Tool call ``index`` of the message at ``path``: a ``function`` call, with ``arguments``
    kept as the exact JSON text; other types (``custom``) stay ``Opaque``."""
    if type(value) is not dict:
        obj(value, f"{path}.tool_calls[{index}]")
    kind = value.get("type", ABSENT)
    if kind != "function" and kind is not ABSENT and kind is not None:
        where = f"{path}.tool_calls[{index}]"
        req(value, "type", str, where)
        req(value, "id", str, where)
        if kind not in value:  # {"type": "custom", "custom": {...}}: the payload is named by the type
            raise DecodeError(join(where, "type"), f"a tool call of type {kind!r} needs a {kind!r} field")
        return Opaque(dialect=DIALECT, data=value)
    function = value.get("function")
    call_id = value.get("id")
    name = arguments = None
    if type(function) is dict:
        name, arguments = function.get("name"), function.get("arguments")
    if type(call_id) is not str or type(name) is not str or type(arguments) is not str:
        where = f"{path}.tool_calls[{index}]"
        call_id = req(value, "id", str, where)
        function = req(value, "function", dict, where)
        name = req(function, "name", str, f"{where}.function")
        arguments = req(function, "arguments", str, f"{where}.function")
    rest = unmodelled(value, _TOOL_CALL_KEYS)
    function_rest = unmodelled(function, _FUNCTION_KEYS)
    if function_rest:
        rest["function"] = function_rest
    if kind is ABSENT:
        rest[FORM] = {"type": "absent"}
    return ToolCall(id=call_id, name=name, arguments=arguments, extra=extra_of(rest))


def is_tool_call_item(data: dict[str, Any]) -> bool:
    """An ``Opaque`` holding a tool call of a non-``function`` type (``{"id", "type":
    "custom", "custom": {...}}``): it goes back among the tool calls, not the content."""
    kind = data.get("type")
    return "id" in data and isinstance(kind, str) and kind in data


# ---------------------------------------------------------------------------------------------
# encoding


def encode_part(block: Block, where: str, log: LossLog) -> str | dict[str, Any] | None:
    """A content part: a bare string for a ``Text`` without wire extras, else a part dict;
    ``None`` (with a loss) for a block that has no part form."""
    if isinstance(block, Text):
        same = own_extra(log, where, block.extra)
        return {"type": "text", "text": block.text, **same} if same else block.text
    if isinstance(block, Image):
        return encode_image(block, where, log)
    if isinstance(block, Opaque):
        if block.dialect == DIALECT:
            return block.data
        log.add(where, "block", f"{block.dialect} item has no place in openai-chat")
        return None
    log.add(where, "block", f"openai-chat content cannot hold a {type(block).__name__} block")
    return None


def encode_image(block: Image, where: str, log: LossLog) -> dict[str, Any] | None:
    if block.data is not None:
        if block.media_type is None:
            log.add(where, "value", "inline image without a media type; sent as application/octet-stream")
        url = f"data:{block.media_type or 'application/octet-stream'}{_DATA_URL_MARK}{block.data}"
    elif block.url is not None:
        url = block.url
    else:
        log.add(where, "block", "image with neither data nor url")
        return None
    image_url: dict[str, Any] = {"url": url}
    image_url.update(own_extra(log, where, block.extra))
    return {"type": "image_url", "image_url": image_url}


def encode_tool_call(block: ToolCall, where: str, log: LossLog) -> dict[str, Any]:
    extras = own_extra(log, where, block.extra)
    function: dict[str, Any] = {"name": block.name, "arguments": block.arguments}
    out: dict[str, Any] = {"id": block.id, "type": "function", "function": function}
    for key, value in extras.items():
        if key == "function":
            function.update(value)
        elif key != FORM:
            out[key] = value
    if extras.get(FORM, {}).get("type") == "absent":
        del out["type"]
    return out
