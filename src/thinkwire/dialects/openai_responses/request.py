"""Requests: ``POST /v1/responses`` bodies <-> ``Request``.

Mapping (everything not listed stays in ``Request.extra["openai-responses"]`` verbatim:
``store``, ``include``, ``previous_response_id``, ``text``, ``truncation``, ``metadata``, ...):

* ``input``: a string is one plain user message; a list is decoded item by item. Runs of
  assistant-side items (``reasoning``, ``function_call``, assistant ``message``, built-in tool
  calls) form one assistant message; ``function_call_output`` is a ``tool`` message; other
  client-side items (``*_output``, ``item_reference``, ``mcp_approval_response``) are an
  ``Opaque`` block in a user message of their own. An empty list is kept in ``extra``.
* ``instructions`` (a string) -> ``system`` with ``system_plain``.
* ``tools``: ``function`` tools -> ``Tool`` (``strict`` in its extra, whose
  ``openai-responses`` entry is kept even when empty: it marks a tool to write back as it
  came, without the ``strict: false`` added to tools of other dialects); others -> ``Opaque``.
* ``tool_choice``: ``auto`` / ``none`` / ``required`` / ``{"type":"function","name"}`` ->
  ``ToolChoice`` (``parallel_tool_calls`` -> ``parallel``); other forms stay in ``extra``.
* ``reasoning`` -> ``ThinkingConfig(effort, summary)``; ``max_output_tokens``,
  ``temperature``, ``top_p`` -> ``Sampling``; ``stream``.

A ``function_call_output`` must follow its ``function_call`` in ``input``, unless the request
continues server-side state (``previous_response_id``, ``conversation`` or an earlier
``item_reference``), where the call lives in a stored response.

Writing back: a string ``input`` is noted as ``"$input": "string"`` in the request's extra
(a codec note, never a wire field), so a string comes back a string and a one-message list a
list. IR of other dialects is written as a list.

Writing IR of other dialects: messages use the short form ``{"role", "content"}``; tool
results inside any message become ``function_call_output`` items in place; reasoning blocks
follow the ``reasoning`` module (foreign signatures and redacted data are never sent, each a
loss); reasoning
that a conversion leaves last in a turn is kept and reported as an ``order`` loss, since the
API rejects a reasoning item with no item after it; function tools get ``strict: false``
(Responses would otherwise make them strict); ``is_error``, ``top_k``, stop sequences, token
budgets and several system blocks have no place and are reported.
"""

from __future__ import annotations

from typing import Any, cast

from thinkwire.dialects.openai_responses._common import (
    DIALECT,
    EMPTY,
    as_obj,
    fail,
    keep,
    missing,
    opt_int,
    opt_number,
    opt_str,
    req_str,
    tag,
)
from thinkwire.dialects.openai_responses.items import (
    ROLES,
    block_path,
    decode_assistant_message,
    decode_call,
    decode_message,
    decode_result,
    decode_turn_item,
    encode_message,
    encode_turn,
    is_input_item,
    plain_turn,
)
from thinkwire.dialects.openai_responses.reasoning import decode_reasoning
from thinkwire.errors import DecodeError
from thinkwire.ir.blocks import Block, Opaque, RedactedThinking, Text, Thinking
from thinkwire.ir.conversation import Message, Request, Role, Sampling, ThinkingConfig, Tool, ToolChoice
from thinkwire.ir.losses import Encoded, LossLog

REQUEST_KEYS = frozenset(
    {
        "model",
        "instructions",
        "input",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "reasoning",
        "max_output_tokens",
        "temperature",
        "top_p",
        "stream",
    }
)
TOOL_KEYS = frozenset({"type", "name", "description", "parameters"})
CHOICE_KEYS = frozenset({"type", "name"})
REASONING_KEYS = frozenset({"effort", "summary"})
MODES = ("auto", "none", "required")


INPUT_NOTE = "$input"  # request extra note: ``input`` was a bare string


def decode_request(data: Any, provider: str | None = None) -> Request:
    d = as_obj(data, "")
    extra = keep(d, REQUEST_KEYS)
    model = opt_str(d, "model", "")

    system: tuple[Text, ...] | None = None
    instructions = d.get("instructions")
    if type(instructions) is str:
        system = (Text(text=instructions),)
    elif type(instructions) is list:
        extra["instructions"] = instructions  # the list form (only ever echoed by responses)
    elif instructions is not None:
        raise fail("instructions", "a string or an array", instructions)

    messages: tuple[Message, ...] = ()
    given = d.get("input")
    if type(given) is str:
        messages = (Message(role="user", blocks=(Text(text=given),), plain=True),)
        extra[INPUT_NOTE] = "string"
    elif type(given) is list:
        if given:
            stateful = d.get("previous_response_id") is not None or d.get("conversation") is not None
            messages = decode_input(given, provider, model, stateful)
        else:
            extra["input"] = given
    elif given is not None:
        raise fail("input", "a string or an array", given)

    tool_choice = _decode_choice(d, extra)
    return Request(
        model=model,
        system=system,
        system_plain=system is not None,
        messages=messages,
        tools=_decode_tools(d.get("tools")),
        tool_choice=tool_choice,
        thinking=_decode_reasoning(d.get("reasoning")),
        sampling=Sampling(
            max_tokens=opt_int(d, "max_output_tokens", ""),
            temperature=opt_number(d, "temperature", ""),
            top_p=opt_number(d, "top_p", ""),
        ),
        stream=_opt_bool(d, "stream"),
        extra=tag(extra),
    )


def decode_input(
    items: list[Any], provider: str | None, model: str | None, stateful: bool
) -> tuple[Message, ...]:
    """The ``input`` items as messages (see the module docstring for the grouping)."""
    messages: list[Message] = []
    turn: list[Block] = []  # the assistant-side blocks collected since the last other message
    calls: set[str] = set()
    for i, item in enumerate(items):
        if type(item) is not dict:
            raise fail(f"input[{i}]", "an object", item)
        kind = item.get("type")
        if kind == "reasoning":
            turn.append(decode_reasoning(item, "input", i, provider, model))
        elif kind == "function_call":
            call = decode_call(item, "input", i)
            calls.add(call.id)
            turn.append(call)
        elif kind is None or kind == "message":
            role = item.get("role")
            if role == "assistant":
                decode_assistant_message(item, "input", i, turn)
                continue
            if not isinstance(role, str) or role not in ROLES:
                raise _bad_role(item, i)
            if turn:
                messages.append(_turn(turn))
                turn = []
            messages.append(decode_message(item, "input", i, cast(Role, role)))
        elif kind == "function_call_output":
            if turn:
                messages.append(_turn(turn))
                turn = []
            result = decode_result(item, "input", i)
            if not stateful and result.call_id not in calls:
                raise DecodeError(
                    f"input[{i}].call_id", f"no tool call with id {result.call_id!r} precedes this result"
                )
            messages.append(Message(role="tool", blocks=(result,)))
        elif type(kind) is str:
            if is_input_item(kind):
                if turn:
                    messages.append(_turn(turn))
                    turn = []
                stateful = stateful or kind == "item_reference"
                messages.append(Message(role="user", blocks=(Opaque(dialect=DIALECT, data=item),)))
            else:
                decode_turn_item(item, kind, "input", i, turn, provider, model)
        else:
            raise fail(f"input[{i}].type", "a string", kind)
    if turn:
        messages.append(_turn(turn))
    return tuple(messages)


def _turn(blocks: list[Block]) -> Message:
    """The assistant message of the collected turn."""
    if len(blocks) > 1:  # only a single block can make a plain turn
        return Message(role="assistant", blocks=tuple(blocks))
    final, plain = plain_turn(blocks)
    return (
        Message(role="assistant", blocks=final, plain=plain)
        if plain
        else Message(role="assistant", blocks=final)
    )


def _bad_role(item: dict[str, Any], i: int) -> DecodeError:
    if "role" not in item:
        return missing(f"input[{i}].type" if "type" not in item else f"input[{i}].role")
    return DecodeError(
        f"input[{i}].role", f"expected one of assistant, developer, system, user, got {item['role']!r}"
    )


def _opt_bool(d: dict[str, Any], key: str) -> bool | None:
    value = d.get(key)
    if value is None or type(value) is bool:
        return value
    raise fail(key, "a boolean", value)


def _decode_tools(tools: Any) -> tuple[Tool | Opaque, ...] | None:
    if tools is None:
        return None
    if type(tools) is not list:
        raise fail("tools", "an array", tools)
    out: list[Tool | Opaque] = []
    for n, tool in enumerate(tools):
        if type(tool) is not dict:
            raise fail(f"tools[{n}]", "an object", tool)
        if tool.get("type") != "function":
            out.append(Opaque(dialect=DIALECT, data=tool))
            continue
        path = f"tools[{n}]"
        parameters = tool.get("parameters")
        if parameters is not None and type(parameters) is not dict:
            raise fail(f"{path}.parameters", "an object", parameters)
        out.append(
            Tool(
                name=req_str(tool, "name", path),
                description=opt_str(tool, "description", path),
                parameters=parameters,
                # always this dialect's entry, even empty: it marks a tool of ours, written
                # back as it came (no ``strict: false`` added)
                extra={DIALECT: keep(tool, TOOL_KEYS)},
            )
        )
    return tuple(out)


def _decode_choice(d: dict[str, Any], extra: dict[str, Any]) -> ToolChoice | None:
    """``tool_choice`` and ``parallel_tool_calls``; forms the IR does not model go to ``extra``."""
    given = d.get("tool_choice")
    parallel = _opt_bool(d, "parallel_tool_calls")
    if given in MODES:
        return ToolChoice(mode=given, parallel=parallel)
    if type(given) is dict and given.get("type") == "function" and type(given.get("name")) is str:
        return ToolChoice(
            mode="tool", name=given["name"], parallel=parallel, extra=tag(keep(given, CHOICE_KEYS))
        )
    if type(given) is str or type(given) is dict:
        extra["tool_choice"] = given  # other modes and forms (allowed_tools, hosted tools, ...)
    elif given is not None:
        raise fail("tool_choice", "a string or an object", given)
    if parallel is not None:
        extra["parallel_tool_calls"] = parallel
    return None


def _decode_reasoning(reasoning: Any) -> ThinkingConfig | None:
    if reasoning is None:
        return None
    if type(reasoning) is not dict:
        raise fail("reasoning", "an object", reasoning)
    return ThinkingConfig(
        effort=opt_str(reasoning, "effort", "reasoning"),
        summary=opt_str(reasoning, "summary", "reasoning"),
        extra=tag(keep(reasoning, REASONING_KEYS)),
    )


# ---------------------------------------------------------------- encoding


def encode_request(request: Request) -> Encoded[dict[str, Any]]:
    log = LossLog()
    out: dict[str, Any] = dict(log.foreign_extra("", request.extra, DIALECT)) if request.extra else {}
    as_string = out.pop(INPUT_NOTE, None) == "string"
    if request.model is not None:
        out["model"] = request.model
    if request.system is not None:
        out["instructions"] = _instructions(request.system, log)
    if request.messages:
        out["input"] = encode_input(request.messages, log, as_string=as_string)
    if request.tools is not None:
        out["tools"] = _encode_tools(request.tools, log)
    _encode_choice(request.tool_choice, out, log)
    _encode_reasoning(request.thinking, out, log)
    sampling = request.sampling
    if sampling.max_tokens is not None:
        out["max_output_tokens"] = sampling.max_tokens
    if sampling.temperature is not None:
        out["temperature"] = sampling.temperature
    if sampling.top_p is not None:
        out["top_p"] = sampling.top_p
    if sampling.top_k is not None:
        log.add("sampling.top_k", "field", f"{DIALECT} has no top_k")
    if sampling.stop is not None:
        log.add("sampling.stop", "field", f"{DIALECT} has no stop sequences")
    if request.stream is not None:
        out["stream"] = request.stream
    return Encoded(out, tuple(log.items))


def encode_input(messages: tuple[Message, ...], log: LossLog, *, as_string: bool = False) -> str | list[Any]:
    """``input``: one bare string when it came as one (``as_string``) and still is a single
    plain user text, else items."""
    if as_string and len(messages) == 1:
        only = messages[0]
        if only.role == "user" and only.plain and not only.extra and len(only.blocks) == 1:
            block = only.blocks[0]
            if type(block) is Text and not block.extra:
                return block.text
    items: list[Any] = []
    for i, message in enumerate(messages):
        if message.role != "assistant":
            encode_message(message, i, log, items)
            continue
        if message.extra:  # a turn is items here: no message-level fields, codec notes aside
            own = log.foreign_extra(f"messages[{i}]", message.extra, DIALECT)
            for key, value in own.items():
                if not key.startswith("$") and value is not None:
                    detail = f"{DIALECT} message field has no place in a {DIALECT} turn"
                    log.add(f"messages[{i}].{key}", "field", detail)
        start = len(items)
        encode_turn(message.blocks, i, log, items, plain=message.plain, response=False)
        if len(items) > start and items[-1].get("type") == "reasoning":
            _trailing_reasoning(message.blocks, i, log)
    return items


def _trailing_reasoning(blocks: tuple[Block, ...], message: int, log: LossLog) -> None:
    """A reasoning item must be followed by another item of its turn (vercel/ai#7099).
    Reported for reasoning placed last by conversion; our own input is written back as it came."""
    for j in range(len(blocks) - 1, -1, -1):
        block = blocks[j]
        if isinstance(block, Thinking | RedactedThinking):
            if block.origin is None or block.origin.dialect != DIALECT:
                log.add(
                    block_path(message, j),
                    "order",
                    "reasoning ends the turn; the API rejects a reasoning item with no item after it",
                )
            return


def _instructions(system: tuple[Text | Opaque, ...], log: LossLog) -> str:
    texts: list[str] = []
    for n, block in enumerate(system):
        if type(block) is Text:
            if block.extra:
                log.foreign_extra(f"system[{n}]", block.extra, DIALECT)
            texts.append(block.text)
        else:
            name = block.dialect if isinstance(block, Opaque) else type(block).__name__
            log.add(f"system[{n}]", "block", f"{name} system block has no place in instructions")
    if len(texts) > 1:
        log.add("system", "shape", f"{len(texts)} system blocks joined into one instructions string")
    return "\n\n".join(texts)


def _encode_tools(tools: tuple[Tool | Opaque, ...], log: LossLog) -> list[Any]:
    out: list[Any] = []
    for n, tool in enumerate(tools):
        if type(tool) is Opaque:
            if tool.dialect == DIALECT:
                out.append(tool.data)
            else:
                log.add(f"tools[{n}]", "block", f"{tool.dialect} tool has no place in {DIALECT}")
            continue
        assert type(tool) is Tool
        item: dict[str, Any] = {"type": "function", "name": tool.name}
        if tool.description is not None:
            item["description"] = tool.description
        if DIALECT in tool.extra:
            if tool.parameters is not None:
                item["parameters"] = tool.parameters
        else:
            # Responses makes function tools strict by default; tools of other dialects are not.
            item["parameters"] = tool.parameters
            item["strict"] = False
        if tool.extra:
            item.update(log.foreign_extra(f"tools[{n}]", tool.extra, DIALECT))
        out.append(item)
    return out


def _encode_choice(choice: ToolChoice | None, out: dict[str, Any], log: LossLog) -> None:
    if choice is None:
        return
    fields = log.foreign_extra("tool_choice", choice.extra, DIALECT) if choice.extra else EMPTY
    if choice.mode != "tool":
        out["tool_choice"] = choice.mode
    elif choice.name is None:
        log.add("tool_choice.name", "value", "a forced tool without a name is sent as 'required'")
        out["tool_choice"] = "required"
    else:
        out["tool_choice"] = {"type": "function", "name": choice.name, **fields}
    if choice.parallel is not None:
        out["parallel_tool_calls"] = choice.parallel


def _encode_reasoning(config: ThinkingConfig | None, out: dict[str, Any], log: LossLog) -> None:
    if config is None:
        return
    reasoning: dict[str, Any] = {}
    if config.effort is not None:
        reasoning["effort"] = config.effort
    if config.summary is not None:
        reasoning["summary"] = config.summary
    if config.extra:
        reasoning.update(log.foreign_extra("thinking", config.extra, DIALECT))
    if config.budget_tokens is not None:
        log.add("thinking.budget_tokens", "value", f"{DIALECT} takes an effort level, not a token budget")
    if config.display is not None:
        log.add("thinking.display", "field", f"{DIALECT} has no display setting (see reasoning.summary)")
    if config.mode == "disabled" and not reasoning:
        log.add("thinking.mode", "value", f"{DIALECT} has no switch to turn reasoning off; omitted")
        return
    out["reasoning"] = reasoning
