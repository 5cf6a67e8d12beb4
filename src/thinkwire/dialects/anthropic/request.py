"""Anthropic Messages requests (``POST /v1/messages``) <-> IR ``Request``.

Mapping:

* ``system``: a string becomes one ``Text`` with ``system_plain=True``; a list keeps its text
  blocks (``cache_control`` in their ``extra``), anything else in it stays ``Opaque``.
* ``messages``: roles ``user`` / ``assistant``, and ``system`` (a mid-conversation system
  message, as Claude Code sends; kept in place, noted ``$in_messages``); string content becomes one ``Text``
  with ``plain=True``. ``tool_result`` blocks stay in their user message, in place.
* ``tools``: custom tools (no ``type``, or ``type: "custom"``, kept in ``extra``) become
  ``Tool(parameters=input_schema)``; server and client tools with another ``type``
  (``web_search_20250305``, ``bash_20250124``, ...) stay ``Opaque``.
* ``tool_choice``: ``any`` is the IR's ``required``; ``disable_parallel_tool_use`` is the
  inverse of ``ToolChoice.parallel`` (``None`` when absent).
* ``thinking`` and ``output_config.effort`` make up ``ThinkingConfig``. An unknown thinking
  ``type`` leaves ``mode=None`` and keeps ``type`` in ``extra``. The other ``output_config``
  fields stay in ``Request.extra["anthropic"]["output_config"]``.
* Everything else (``metadata``, ``service_tier``, ``container``, ``mcp_servers``, ...) goes
  to ``Request.extra["anthropic"]``.
* An optional field sent as an explicit ``null`` (``"model": null``, ``"system": null``,
  ``tools[0].description: null``, ``thinking.budget_tokens: null``, ...) reads like an
  absent one; the null is kept in the ``extra`` of the record it belongs to and written back
  from there (never over a value the IR supplies).

Encoding IR from other dialects: ``system`` / ``developer`` messages are hoisted into the
top-level ``system`` (an ``order`` loss when one stood after the conversation began), and
runs of ``tool`` messages become one user message of ``tool_result`` blocks.
"""

from __future__ import annotations

from typing import Any, Final, Literal, cast

from thinkwire.dialects._wire import check, describe, items, join, obj, opt, put, req
from thinkwire.dialects.anthropic.blocks import (
    DIALECT,
    TEXT_KEYS,
    decode_blocks,
    encode_block,
    encode_blocks,
    extra,
    with_nulls,
    write_back,
)
from thinkwire.errors import DecodeError
from thinkwire.ir.blocks import Block, Opaque, Origin, Text, ToolResult
from thinkwire.ir.conversation import Message, Request, Sampling, ThinkingConfig, Tool, ToolChoice
from thinkwire.ir.losses import Encoded, LossLog

_KNOWN: Final = frozenset(
    {
        "model",
        "max_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "stream",
        "system",
        "messages",
        "tools",
        "tool_choice",
        "thinking",
        "output_config",
    }
)
_NULLABLE: Final = tuple(sorted(_KNOWN - {"messages"}))
_MESSAGE_KEYS: Final = frozenset({"role", "content"})
_TOOL_KEYS: Final = frozenset({"name", "description", "input_schema"})
_TOOL_CHOICE_KEYS: Final = frozenset({"type", "name", "disable_parallel_tool_use"})
_THINKING_KEYS: Final = frozenset({"type", "budget_tokens", "display"})
_THINKING_MODES: Final = frozenset({"enabled", "disabled", "adaptive"})

_CHOICE_MODE: Final[dict[str, Literal["auto", "none", "required", "tool"]]] = {
    "auto": "auto",
    "any": "required",
    "tool": "tool",
    "none": "none",
}
_ROLES: Final[dict[str, Literal["user", "assistant", "system"]]] = {
    "user": "user",
    "assistant": "assistant",
    "system": "system",
}
IN_PLACE: Final = "$in_messages"
"""Note on a ``system`` message that stood inside ``messages`` (a mid-conversation system
message, as Claude Code sends): written back in place, not hoisted to the top-level ``system``."""
_CHOICE_TYPE: Final = {mode: kind for kind, mode in _CHOICE_MODE.items()}


# ---------------------------------------------------------------------------------------------
# decoding


def decode_request(data: Any, *, provider: str | None = None) -> Request:
    """Decode a Messages request. Thinking blocks in the history get an ``Origin`` naming
    ``provider`` (the model that issued them is not known from a request)."""
    d = obj(data, "")
    origin = Origin(dialect=DIALECT, provider=provider)
    calls: set[str] = set()
    messages = _messages(items(d, "messages", "", required=True), origin, calls)
    system, system_plain = _system(d.get("system"))
    rest = extra(d, with_nulls(d, _KNOWN, _NULLABLE))
    thinking, output_rest = _thinking(d)
    if output_rest is not None:
        rest = {DIALECT: {**rest.get(DIALECT, {}), "output_config": output_rest}}
    return Request(
        model=opt(d, "model", str, ""),
        system=system,
        system_plain=system_plain,
        messages=messages,
        tools=_tools(d),
        tool_choice=_tool_choice(d.get("tool_choice")),
        thinking=thinking,
        sampling=Sampling(
            max_tokens=opt(d, "max_tokens", int, ""),
            temperature=opt(d, "temperature", float, ""),
            top_p=opt(d, "top_p", float, ""),
            top_k=opt(d, "top_k", int, ""),
            stop=_stop_sequences(d),
        ),
        stream=opt(d, "stream", bool, ""),
        extra=rest,
    )


def _messages(value: list[Any], origin: Origin, calls: set[str]) -> tuple[Message, ...]:
    """The ``messages`` array.

    Fast path: a message that is exactly ``{"role": "user" | "assistant", "content": ...}``
    with string or array content is built inline, with no path strings; ``_message`` (the
    general path, with every check and error path) gives the same message for it.
    """
    out: list[Message] = []
    append = out.append
    for i, m in enumerate(value):
        if type(m) is dict and len(m) == 2:
            raw, content = m.get("role"), m.get("content")
            role: Literal["user", "assistant"] | None = (
                "user" if raw == "user" else "assistant" if raw == "assistant" else None
            )
            if role is not None:
                if type(content) is str:
                    append(Message(role=role, blocks=(Text(text=content),), plain=True))
                    continue
                if type(content) is list:
                    append(Message(role=role, blocks=decode_blocks(content, i, origin, calls)))
                    continue
        append(_message(m, i, origin, calls))
    return tuple(out)


def _message(value: Any, index: int, origin: Origin, calls: set[str]) -> Message:
    path = f"messages[{index}]"
    m = obj(value, path)
    raw = req(m, "role", str, path)
    role = _ROLES.get(raw)
    if role is None:
        raise DecodeError(join(path, "role"), f"expected 'user', 'assistant' or 'system', got {raw!r}")
    if "content" not in m:
        raise DecodeError(join(path, "content"), "required field is missing")
    content = m["content"]
    fields = extra(m, _MESSAGE_KEYS)
    if role == "system":  # kept where it stood
        fields = {**fields, DIALECT: {**fields.get(DIALECT, {}), IN_PLACE: True}}
    if isinstance(content, str):
        return Message(role=role, blocks=(Text(text=content),), plain=True, extra=fields)
    if not isinstance(content, list):
        raise DecodeError(join(path, "content"), f"expected a string or an array, got {describe(content)}")
    blocks = decode_blocks(content, join(path, "content"), origin, calls)
    return Message(role=role, blocks=blocks, extra=fields)


def _system(value: Any) -> tuple[tuple[Text | Opaque, ...] | None, bool]:
    if value is None:
        return None, False
    if isinstance(value, str):
        return (Text(text=value),), True
    if not isinstance(value, list):
        raise DecodeError("system", f"expected a string or an array, got {describe(value)}")
    parts: list[Text | Opaque] = []
    for i, item in enumerate(value):
        path = f"system[{i}]"
        d = obj(item, path)
        if req(d, "type", str, path) == "text":
            parts.append(Text(text=req(d, "text", str, path), extra=extra(d, TEXT_KEYS)))
        else:
            parts.append(Opaque(dialect=DIALECT, data=d))
    return tuple(parts), False


def _tools(d: dict[str, Any]) -> tuple[Tool | Opaque, ...] | None:
    if d.get("tools") is None:
        return None
    out: list[Tool | Opaque] = []
    for i, item in enumerate(items(d, "tools", "")):
        path = f"tools[{i}]"
        t = obj(item, path)
        kind = opt(t, "type", str, path)
        if kind is not None and kind != "custom":
            out.append(Opaque(dialect=DIALECT, data=t))
            continue
        out.append(
            Tool(
                name=req(t, "name", str, path),
                description=opt(t, "description", str, path),
                parameters=opt(t, "input_schema", dict, path),
                extra=extra(t, with_nulls(t, _TOOL_KEYS, ("description", "input_schema"))),
            )
        )
    return tuple(out)


def _tool_choice(value: Any) -> ToolChoice | None:
    if value is None:
        return None
    path = "tool_choice"
    c = obj(value, path)
    kind = req(c, "type", str, path)
    mode = _CHOICE_MODE.get(kind)
    if mode is None:
        raise DecodeError(join(path, "type"), f"expected one of auto, any, tool, none, got {kind!r}")
    name = req(c, "name", str, path) if mode == "tool" else opt(c, "name", str, path)
    disable = opt(c, "disable_parallel_tool_use", bool, path)
    return ToolChoice(
        mode=mode,
        name=name,
        parallel=None if disable is None else not disable,
        extra=extra(c, with_nulls(c, _TOOL_CHOICE_KEYS, ("name", "disable_parallel_tool_use"))),
    )


def _thinking(d: dict[str, Any]) -> tuple[ThinkingConfig | None, dict[str, Any] | None]:
    """The thinking config, and the ``output_config`` fields other than ``effort`` (``None``
    when there is nothing to keep: no ``output_config``, or only ``effort`` in it)."""
    thinking = d.get("thinking")
    output = d.get("output_config")
    effort: str | None = None
    output_rest: dict[str, Any] | None = None
    if output is not None:
        o = obj(output, "output_config")
        effort = opt(o, "effort", str, "output_config")
        if effort is None or len(o) > 1:  # ``"effort": null`` is kept with the rest
            output_rest = {k: v for k, v in o.items() if k != "effort" or v is None}
    if thinking is None:
        return (ThinkingConfig(effort=effort) if effort is not None else None), output_rest
    t = obj(thinking, "thinking")
    kind = req(t, "type", str, "thinking")
    known = with_nulls(t, _THINKING_KEYS, ("budget_tokens", "display"))
    if kind not in _THINKING_MODES:
        known = known - {"type"}
    config = ThinkingConfig(
        mode=kind if kind in _THINKING_MODES else None,  # type: ignore[arg-type]
        budget_tokens=opt(t, "budget_tokens", int, "thinking"),
        effort=effort,
        display=opt(t, "display", str, "thinking"),
        extra=extra(t, known),
    )
    return config, output_rest


def _stop_sequences(d: dict[str, Any]) -> tuple[str, ...] | None:
    if d.get("stop_sequences") is None:
        return None
    return tuple(check(s, str, f"stop_sequences[{i}]") for i, s in enumerate(items(d, "stop_sequences", "")))


# ---------------------------------------------------------------------------------------------
# encoding


def encode_request(request: Request) -> Encoded[dict[str, Any]]:
    """Write a Messages request. Losses name IR paths (``messages[2].blocks[0]``)."""
    log = LossLog()
    own = log.foreign_extra("", request.extra, DIALECT)
    out: dict[str, Any] = {}
    put(out, "model", request.model)
    sampling = request.sampling
    put(out, "max_tokens", sampling.max_tokens)
    system, messages = _encode_messages(request, log)
    put(out, "system", system)
    out["messages"] = messages
    if request.tools is not None:
        out["tools"] = _encode_tools(request.tools, log)
    if request.tool_choice is not None:
        out["tool_choice"] = _encode_tool_choice(request.tool_choice, log)
    output_config: Any = own.get("output_config")
    if request.thinking is not None:
        thinking, effort = _encode_thinking(request.thinking, log)
        put(out, "thinking", thinking)
        if effort is not None:
            kept = output_config or {}  # a kept ``"effort": null`` yields to the IR's effort
            output_config = {"effort": effort, **{k: v for k, v in kept.items() if k != "effort"}}
    put(out, "temperature", sampling.temperature)
    put(out, "top_p", sampling.top_p)
    put(out, "top_k", sampling.top_k)
    if sampling.stop is not None:
        out["stop_sequences"] = list(sampling.stop)
    put(out, "stream", request.stream)
    write_back(out, own)
    put(out, "output_config", output_config)
    return Encoded(out, tuple(log.items))


def _encode_messages(
    request: Request, log: LossLog
) -> tuple[str | list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """The top-level ``system`` and the ``messages`` array."""
    system: list[dict[str, Any]] = []
    plain = True  # every system source was a bare string
    if request.system is not None:
        plain = request.system_plain
        system += _encode_system(request.system, "system", log)
    began = False  # a user, assistant or tool message has been seen
    out: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []  # the run of role-"tool" messages being merged
    trailing: list[dict[str, Any]] = []
    for i, message in enumerate(request.messages):
        role = message.role
        if role != "tool" and (results or trailing):
            out.append({"role": "user", "content": results + trailing})
            results, trailing = [], []
        if role == "user" or role == "assistant":
            began = True
            blocks = message.blocks
            content: str | list[dict[str, Any]]
            # a plain message of one bare text is a content string
            if message.plain and len(blocks) == 1 and isinstance(blocks[0], Text) and not blocks[0].extra:
                content = blocks[0].text
            else:
                content = encode_blocks(blocks, i, log, assistant=role == "assistant")
            item: dict[str, Any] = {"role": role, "content": content}
            if message.extra:
                write_back(item, log.foreign_extra(f"messages[{i}]", message.extra, DIALECT))
            out.append(item)
            continue
        path = f"messages[{i}]"
        if role == "system" and message.extra.get(DIALECT, {}).get(IN_PLACE):
            out.append(_in_place_system(message, i, log))
            continue
        if role == "system" or role == "developer":
            if began:
                log.add(path, "order", f"{role} message moved to the top-level system prompt")
            system += _encode_system(message.blocks, f"{path}.blocks", log)
            plain = plain and message.plain
            for dialect, fields in message.extra.items():
                for key in fields:
                    log.add(
                        f"{path}.{key}",
                        "field",
                        f"{dialect} field of a {role} message has no place in anthropic",
                    )
            continue
        began = True
        _merge_tool_message(message, i, results, trailing, log)
    if results or trailing:
        out.append({"role": "user", "content": results + trailing})
    return _system_value(system, plain, request), out


def _in_place_system(message: Message, index: int, log: LossLog) -> dict[str, Any]:
    """A ``system`` message written where it stood in ``messages`` (``IN_PLACE``)."""
    blocks = message.blocks
    content: str | list[dict[str, Any]]
    if message.plain and len(blocks) == 1 and isinstance(blocks[0], Text) and not blocks[0].extra:
        content = blocks[0].text
    else:
        content = _encode_system(blocks, f"messages[{index}].blocks", log)
    item: dict[str, Any] = {"role": "system", "content": content}
    fields = log.foreign_extra(f"messages[{index}]", message.extra, DIALECT)
    write_back(item, {k: v for k, v in fields.items() if k != IN_PLACE})
    return item


def _system_value(
    system: list[dict[str, Any]], plain: bool, request: Request
) -> str | list[dict[str, Any]] | None:
    """The ``system`` field: absent when there is none (an empty hoisted message adds
    nothing), a string when every source was plain and there is one bare text."""
    if not system and request.system is None:
        return None
    if plain and len(system) == 1 and system[0].keys() == {"type", "text"} and system[0]["type"] == "text":
        return cast(str, system[0]["text"])
    return system


def _encode_system(blocks: tuple[Block, ...], path: str, log: LossLog) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, block in enumerate(blocks):
        if isinstance(block, Text | Opaque):
            item = encode_block(block, path, i, log, assistant=False)
            if item is not None:
                out.append(item)
        else:
            log.add(
                f"{path}[{i}]",
                "block",
                f"the anthropic system prompt cannot hold a {type(block).__name__} block",
            )
    return out


def _merge_tool_message(
    message: Message, index: int, results: list[dict[str, Any]], trailing: list[dict[str, Any]], log: LossLog
) -> None:
    """Add a role-``tool`` message to the user message being built: its ``tool_result``
    blocks join ``results``; anything else goes after them (Anthropic wants results first)."""
    for i, block in enumerate(message.blocks):
        item: dict[str, Any] | None
        if type(block) is ToolResult and type(block.content) is str and not block.extra:
            # fast path: what ``encode_block`` writes for it, without building its path
            item = {"type": "tool_result", "tool_use_id": block.call_id, "content": block.content}
            if block.is_error:
                item["is_error"] = True
        else:
            item = encode_block(block, f"messages[{index}].blocks", i, log, assistant=False)
            if item is None:
                continue
        if isinstance(block, ToolResult):
            if trailing:
                log.add(
                    f"messages[{index}].blocks[{i}]",
                    "order",
                    "tool result moved before other content of the user turn",
                )
            results.append(item)
        else:
            trailing.append(item)
    if message.extra:
        log.foreign_extra(f"messages[{index}]", message.extra, DIALECT)


def _encode_tools(tools: tuple[Tool | Opaque, ...], log: LossLog) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        path = f"tools[{i}]"
        if isinstance(tool, Opaque):
            if tool.dialect == DIALECT:
                out.append(tool.data)
            else:
                log.add(path, "block", f"{tool.dialect} tool has no place in anthropic")
            continue
        d: dict[str, Any] = {"name": tool.name}
        put(d, "description", tool.description)
        put(d, "input_schema", tool.parameters)
        if tool.extra:
            write_back(d, log.foreign_extra(path, tool.extra, DIALECT))
        out.append(d)
    return out


def _encode_tool_choice(choice: ToolChoice, log: LossLog) -> dict[str, Any]:
    d: dict[str, Any] = {"type": _CHOICE_TYPE[choice.mode]}
    put(d, "name", choice.name)
    if choice.parallel is not None:
        d["disable_parallel_tool_use"] = not choice.parallel
    if choice.extra:
        write_back(d, log.foreign_extra("tool_choice", choice.extra, DIALECT))
    return d


def _encode_thinking(config: ThinkingConfig, log: LossLog) -> tuple[dict[str, Any] | None, str | None]:
    """The ``thinking`` object (``None`` when the IR says nothing it could hold) and the effort.

    Without a ``mode``, a budget implies ``enabled`` and a bare ``display`` ``adaptive``.
    """
    own = log.foreign_extra("thinking", config.extra, DIALECT) if config.extra else {}
    if config.summary is not None:
        log.add("thinking.summary", "field", "the reasoning summary setting has no place in anthropic")
    if config.mode is None and config.budget_tokens is None and config.display is None and not own:
        return None, config.effort
    d: dict[str, Any] = {}
    if config.mode is not None or "type" not in own:
        d["type"] = config.mode or ("enabled" if config.budget_tokens is not None else "adaptive")
    put(d, "budget_tokens", config.budget_tokens)
    put(d, "display", config.display)
    write_back(d, own)
    return d, config.effort
