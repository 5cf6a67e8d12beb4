"""Anthropic content blocks <-> IR blocks, shared by requests, responses and streams.

Decoding keeps every block in place: ``text``, ``thinking``, ``redacted_thinking``,
``tool_use``, ``tool_result`` and ``image`` map onto IR blocks; every other type
(``document``, ``server_tool_use``, ``web_search_tool_result``, ``search_result``,
``mcp_tool_use``, ``container_upload``, ...) becomes an ``Opaque`` block holding the dict
verbatim. Fields the IR does not model (``cache_control``, ``citations``, ...) go to the
block's ``extra["anthropic"]``.

Odd values worth knowing:

* ``Thinking(text="", signature="...")`` is a ``display: "omitted"`` block; it is kept and
  written back like any other. ``Thinking(signature=None)`` is unsigned thinking (as some
  Anthropic-compatible servers send); a ``"signature": null`` reads the same way, and the
  null stays in ``extra`` so that it is written back.
* ``ToolResult(content=())`` means the wire block had no content: an empty ``content: []``
  or a ``content: null`` decodes the same way, with the wire value kept in ``extra`` (and
  written back from there); an absent field is simply left out again.
* An explicit ``"is_error": false`` (or ``null``) is not the IR default's absence, so it
  stays in ``extra`` to be written back exactly.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from thinkwire.dialects._reasoning import carries_signature, signature_format
from thinkwire.dialects._wire import describe, join, obj, opt, req
from thinkwire.errors import DecodeError
from thinkwire.ir.blocks import (
    Block,
    Extra,
    Image,
    Opaque,
    Origin,
    RedactedThinking,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
)
from thinkwire.ir.losses import LossLog

DIALECT: Final = "anthropic"

TEXT_KEYS: Final = frozenset({"type", "text"})
THINKING_KEYS: Final = frozenset({"type", "thinking", "signature"})
REDACTED_KEYS: Final = frozenset({"type", "data"})
TOOL_USE_KEYS: Final = frozenset({"type", "id", "name", "input"})
TOOL_RESULT_KEYS: Final = frozenset({"type", "tool_use_id", "content", "is_error"})
IMAGE_KEYS: Final = frozenset({"type", "source"})
_BASE64_SOURCE_KEYS: Final = frozenset({"type", "media_type", "data"})
_URL_SOURCE_KEYS: Final = frozenset({"type", "url"})

ToolResultPart = Text | Image | Opaque


def extra(d: dict[str, Any], known: frozenset[str]) -> Extra:
    """The fields of ``d`` outside ``known``, under the ``anthropic`` key (``{}`` when none)."""
    if d.keys() <= known:
        return {}
    return {DIALECT: {k: v for k, v in d.items() if k not in known}}


def with_nulls(d: dict[str, Any], known: frozenset[str], keys: tuple[str, ...]) -> frozenset[str]:
    """``known`` less those of ``keys`` that ``d`` holds as an explicit ``null``: an optional
    field sent as ``null`` reads like an absent one, so ``extra`` keeps the null to write back."""
    nulls = [key for key in keys if key in d and d[key] is None]
    return known.difference(nulls) if nulls else known


def write_back(out: dict[str, Any], own: dict[str, Any]) -> None:
    """Add this dialect's ``extra`` fields to ``out``. A kept ``null`` (see ``with_nulls``)
    never overwrites a value the IR supplies for the same field."""
    for key, value in own.items():
        if value is None:
            out.setdefault(key, None)
        else:
            out[key] = value


def dump_input(value: Any, path: str) -> str:
    """A ``tool_use`` input object as compact JSON text (the IR keeps arguments as text)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError as exc:  # e.g. an integer beyond 64 bits from a non-orjson parser
        raise DecodeError(path, f"cannot serialise tool input: {exc}") from None


# ---------------------------------------------------------------------------------------------
# decoding


def content_path(where: str | int, field: str) -> str:
    """A content array's path: ``where`` is a path, or the index of a message (whose path is
    then built only when needed: ``content_path(3, "content") == "messages[3].content"``)."""
    return f"messages[{where}].{field}" if isinstance(where, int) else where


def decode_blocks(
    value: list[Any], where: str | int, origin: Origin, calls: set[str] | None
) -> tuple[Block, ...]:
    """Decode a ``content`` array (``where``: see ``content_path``). ``calls`` (requests
    only) collects ``tool_use`` ids and rejects a ``tool_result`` that answers no earlier call.

    Fast path: the common blocks with no extra fields (``text``, ``thinking``, ``tool_use``,
    ``tool_result`` with string content, ``redacted_thinking``) are checked inline, building
    no path strings; this carries almost all of a long conversation. Anything else, and
    every error, goes to ``decode_block``, which gives the same block or the error with its
    path (``tests/dialects/anthropic/test_anthropic_fast_paths.py`` checks the two agree).
    """
    out: list[Block] = []
    append = out.append
    for d in value:
        if type(d) is dict:
            kind = d.get("type")
            size = len(d)
            if kind == "text":
                text = d.get("text")
                if size == 2 and type(text) is str:
                    append(Text(text=text))
                    continue
            elif kind == "thinking":
                text, signature = d.get("thinking"), d.get("signature")
                if type(text) is str and ((size == 3 and type(signature) is str) or size == 2):
                    append(Thinking(text=text, signature=signature, origin=origin))
                    continue
            elif kind == "tool_use":
                call_id, name, args = d.get("id"), d.get("name"), d.get("input")
                if size == 4 and type(call_id) is str and type(name) is str and type(args) is dict:
                    try:
                        arguments = orjson.dumps(args).decode()
                    except TypeError:
                        pass  # decode_block reports it with its path
                    else:
                        if calls is not None:
                            calls.add(call_id)
                        append(ToolCall(id=call_id, name=name, arguments=arguments))
                        continue
            elif kind == "tool_result":
                call_id, content = d.get("tool_use_id"), d.get("content")
                if (
                    size == 3
                    and type(call_id) is str
                    and type(content) is str
                    and (calls is None or call_id in calls)
                ):
                    append(ToolResult(call_id=call_id, content=content))
                    continue
            elif kind == "redacted_thinking":
                data = d.get("data")
                if size == 2 and type(data) is str:
                    append(RedactedThinking(data=data, origin=origin))
                    continue
        index = len(out)  # one block is appended per item
        append(decode_block(d, f"{content_path(where, 'content')}[{index}]", origin, calls))
    return tuple(out)


def decode_block(value: Any, path: str, origin: Origin, calls: set[str] | None) -> Block:
    """One content block; unknown types become ``Opaque`` (the dict itself, not a copy)."""
    d = obj(value, path)
    kind = req(d, "type", str, path)
    if kind == "text":
        return Text(text=req(d, "text", str, path), extra=extra(d, TEXT_KEYS))
    if kind == "thinking":
        return Thinking(
            text=req(d, "thinking", str, path),
            signature=opt(d, "signature", str, path),
            origin=origin,
            extra=extra(d, with_nulls(d, THINKING_KEYS, ("signature",))),
        )
    if kind == "redacted_thinking":
        return RedactedThinking(data=req(d, "data", str, path), origin=origin, extra=extra(d, REDACTED_KEYS))
    if kind == "tool_use":
        call_id = req(d, "id", str, path)
        name = req(d, "name", str, path)
        arguments = dump_input(req(d, "input", dict, path), join(path, "input"))
        if calls is not None:
            calls.add(call_id)
        return ToolCall(id=call_id, name=name, arguments=arguments, extra=extra(d, TOOL_USE_KEYS))
    if kind == "tool_result":
        return _tool_result(d, path, origin, calls)
    if kind == "image":
        return _image(d, path)
    return Opaque(dialect=DIALECT, data=d)


def _tool_result(d: dict[str, Any], path: str, origin: Origin, calls: set[str] | None) -> ToolResult:
    call_id = req(d, "tool_use_id", str, path)
    if calls is not None and call_id not in calls:
        raise DecodeError(path, f"no tool call with id {call_id!r} precedes this result")
    raw = d.get("content")
    content: str | tuple[ToolResultPart, ...]
    known = TOOL_RESULT_KEYS
    if raw is None or raw == []:
        content = ()
        if "content" in d:  # ``null`` or ``[]``: kept in ``extra`` to be written back as it came
            known = known - {"content"}
    elif isinstance(raw, str):
        content = raw
    elif isinstance(raw, list):
        where = join(path, "content")
        content = tuple(_result_part(item, f"{where}[{i}]") for i, item in enumerate(raw))
    else:
        raise DecodeError(join(path, "content"), f"expected a string or an array, got {describe(raw)}")
    is_error = opt(d, "is_error", bool, path)
    if is_error is not True:  # ``false`` or ``null`` (when present) stays in ``extra``
        known = known - {"is_error"}
    return ToolResult(call_id=call_id, content=content, is_error=bool(is_error), extra=extra(d, known))


def _result_part(value: Any, path: str) -> ToolResultPart:
    d = obj(value, path)
    kind = req(d, "type", str, path)
    if kind == "text":
        return Text(text=req(d, "text", str, path), extra=extra(d, TEXT_KEYS))
    if kind == "image":
        return _image(d, path)
    return Opaque(dialect=DIALECT, data=d)


def _image(d: dict[str, Any], path: str) -> Image | Opaque:
    """``base64`` and ``url`` sources map onto ``Image``; other sources (``file``) stay opaque."""
    source = obj(d.get("source"), join(path, "source"))
    where = join(path, "source")
    kind = req(source, "type", str, where)
    if kind == "base64" and source.keys() <= _BASE64_SOURCE_KEYS:
        return Image(
            media_type=req(source, "media_type", str, where),
            data=req(source, "data", str, where),
            extra=extra(d, IMAGE_KEYS),
        )
    if kind == "url" and source.keys() <= _URL_SOURCE_KEYS:
        return Image(url=req(source, "url", str, where), extra=extra(d, IMAGE_KEYS))
    return Opaque(dialect=DIALECT, data=d)


# ---------------------------------------------------------------------------------------------
# encoding


def encode_blocks(
    blocks: tuple[Block, ...], where: str | int, log: LossLog, *, assistant: bool
) -> list[dict[str, Any]]:
    """IR blocks as an Anthropic ``content`` array, in order (``where``: see
    ``content_path``). Blocks that cannot be written are left out with a loss; ``assistant``
    turns cannot hold images or tool results.

    Fast path: the common blocks that encode with nothing to report are written inline,
    without building paths or asking ``carries_signature`` (a block of Anthropic or unknown
    origin always carries; one without a signature has nothing to carry). Anything else goes
    to ``encode_block``, which writes the same item (``test_anthropic_fast_paths.py``).
    """
    out: list[dict[str, Any]] = []
    append = out.append
    for i, block in enumerate(blocks):
        if type(block) is Text:
            if not block.extra:
                append({"type": "text", "text": block.text})
                continue
        elif type(block) is Thinking:
            origin, signature = block.origin, block.signature
            if not block.extra and (
                origin is None or (not origin.extra and (signature is None or origin.dialect == DIALECT))
            ):
                if signature is None:
                    append({"type": "thinking", "thinking": block.text})
                else:
                    append({"type": "thinking", "thinking": block.text, "signature": signature})
                continue
        elif type(block) is ToolCall:
            if not block.extra:
                try:
                    args = orjson.loads(block.arguments) if block.arguments else {}
                except orjson.JSONDecodeError:
                    args = None  # encode_block reports it
                if type(args) is dict:
                    append({"type": "tool_use", "id": block.id, "name": block.name, "input": args})
                    continue
        elif type(block) is ToolResult:
            if not assistant and not block.extra and type(block.content) is str:
                if block.is_error:
                    append(
                        {
                            "type": "tool_result",
                            "tool_use_id": block.call_id,
                            "content": block.content,
                            "is_error": True,
                        }
                    )
                else:
                    append({"type": "tool_result", "tool_use_id": block.call_id, "content": block.content})
                continue
        elif type(block) is RedactedThinking:
            origin = block.origin
            if not block.extra and (origin is None or (origin.dialect == DIALECT and not origin.extra)):
                append({"type": "redacted_thinking", "data": block.data})
                continue
        item = encode_block(block, content_path(where, "blocks"), i, log, assistant=assistant)
        if item is not None:
            append(item)
    return out


def encode_block(
    block: Block, path: str, index: int, log: LossLog, *, assistant: bool
) -> dict[str, Any] | None:
    """One IR block as an Anthropic block, or ``None`` (with a loss) when it has no form here.

    ``path`` and ``index`` name the block in the IR (``messages[2].blocks`` and ``0``); the
    path string is only built when something is reported.
    """
    if isinstance(block, Text):
        d: dict[str, Any] = {"type": "text", "text": block.text}
        if block.extra:
            write_back(d, log.foreign_extra(f"{path}[{index}]", block.extra, DIALECT))
        return d
    if isinstance(block, Thinking):
        d = {"type": "thinking", "thinking": block.text}
        if block.signature is not None:
            if carries_signature(block, DIALECT):
                d["signature"] = block.signature
            else:
                log.add(
                    f"{path}[{index}]",
                    "signature",
                    f"signature from {signature_format(block)} is not valid for anthropic; sent unsigned",
                )
        _origin_loss(block.origin, path, index, log)
        if block.extra:
            write_back(d, log.foreign_extra(f"{path}[{index}]", block.extra, DIALECT))
        return d
    if isinstance(block, RedactedThinking):
        if not carries_signature(block, DIALECT):
            log.add(
                f"{path}[{index}]",
                "redacted",
                f"encrypted reasoning from {signature_format(block)} is not valid for anthropic; omitted",
            )
            return None
        _origin_loss(block.origin, path, index, log)
        d = {"type": "redacted_thinking", "data": block.data}
        if block.extra:
            write_back(d, log.foreign_extra(f"{path}[{index}]", block.extra, DIALECT))
        return d
    if isinstance(block, ToolCall):
        d = {
            "type": "tool_use",
            "id": block.id,
            "name": block.name,
            "input": tool_input(block, path, index, log),
        }
        if block.extra:
            write_back(d, log.foreign_extra(f"{path}[{index}]", block.extra, DIALECT))
        return d
    if isinstance(block, Opaque):
        if block.dialect == DIALECT:
            return block.data
        log.add(f"{path}[{index}]", "block", f"{block.dialect} item has no place in anthropic")
        return None
    if assistant:
        log.add(
            f"{path}[{index}]",
            "block",
            f"an anthropic assistant turn cannot hold a {type(block).__name__} block",
        )
        return None
    if isinstance(block, ToolResult):
        return _encode_tool_result(block, f"{path}[{index}]", log)
    return _encode_image(block, f"{path}[{index}]", log)


def tool_input(block: ToolCall, path: str, index: int, log: LossLog) -> dict[str, Any]:
    """The arguments as the object ``tool_use.input`` must be; ``{}`` with a loss otherwise."""
    if not block.arguments:
        return {}
    try:
        value = orjson.loads(block.arguments)
    except orjson.JSONDecodeError:
        log.add(f"{path}[{index}]", "value", "tool-call arguments are not valid JSON; sent as {}")
        return {}
    if not isinstance(value, dict):
        log.add(
            f"{path}[{index}]",
            "value",
            f"tool-call arguments are {describe(value)}, not an object; sent as {{}}",
        )
        return {}
    return value


def _origin_loss(origin: Origin | None, path: str, index: int, log: LossLog) -> None:
    if origin is not None and origin.dialect != DIALECT and origin.extra:
        keys = ", ".join(sorted(origin.extra))
        log.add(
            f"{path}[{index}]",
            "origin",
            f"{origin.dialect} re-emission details ({keys}) have no place in anthropic",
        )


def _encode_tool_result(block: ToolResult, path: str, log: LossLog) -> dict[str, Any]:
    d: dict[str, Any] = {"type": "tool_result", "tool_use_id": block.call_id}
    if isinstance(block.content, str):
        d["content"] = block.content
    elif block.content:
        parts = [
            part
            for i, item in enumerate(block.content)
            if (part := encode_block(item, f"{path}.content", i, log, assistant=False)) is not None
        ]
        d["content"] = parts
    if block.is_error:
        d["is_error"] = True
    if block.extra:
        write_back(d, log.foreign_extra(path, block.extra, DIALECT))
    return d


def _encode_image(block: Image, path: str, log: LossLog) -> dict[str, Any] | None:
    source: dict[str, Any]
    if block.data is not None:
        source = {"type": "base64"}
        if block.media_type is None:
            log.add(path, "value", "inline image without a media type; anthropic requires one")
        else:
            source["media_type"] = block.media_type
        source["data"] = block.data
    elif block.url is not None:
        source = {"type": "url", "url": block.url}
    else:
        log.add(path, "block", "image with neither data nor url")
        return None
    d: dict[str, Any] = {"type": "image", "source": source}
    if block.extra:
        write_back(d, log.foreign_extra(path, block.extra, DIALECT))
    return d
