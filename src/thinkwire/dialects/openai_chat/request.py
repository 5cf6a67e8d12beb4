"""OpenAI Chat requests (``POST /v1/chat/completions``) <-> IR requests.

Modelled top-level fields: ``model``, ``messages``, ``tools``, ``tool_choice`` (with
``parallel_tool_calls``), ``reasoning_effort``, ``max_tokens`` / ``max_completion_tokens``,
``temperature``, ``top_p``, ``top_k`` (vLLM, SGLang), ``stop`` and ``stream``. Everything else
(``stream_options``, ``n``, ``seed``, ``response_format``, and vendor switches such as DeepSeek's
``thinking``, MiniMax's ``reasoning_split``, OpenRouter's ``reasoning`` object or vLLM's
``chat_template_kwargs``) stays verbatim in ``Request.extra["openai-chat"]``, as does a modelled
field sent as ``null`` or in a form the IR has no place for (a ``tool_choice`` of type
``allowed_tools``, ``parallel_tool_calls`` without a ``tool_choice``).

System and developer messages stay in ``messages`` where they stood (``Request.system`` is
only set by other dialects; it is written as a leading ``system`` message).
``extra[FORM]["max_tokens"] == "max_completion_tokens"`` records which key carried the limit.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from thinkwire.dialects._wire import describe, items, join, obj, opt, put, req, unmodelled
from thinkwire.dialects.openai_chat.carriers import DIALECT, FORM, own_extra
from thinkwire.dialects.openai_chat.messages import Origins, decode_message, encode_messages, plain_content
from thinkwire.errors import DecodeError, EncodeError
from thinkwire.ir.blocks import Carrier, Opaque
from thinkwire.ir.conversation import Request, Sampling, ThinkingConfig, Tool, ToolChoice
from thinkwire.ir.losses import Encoded, LossLog

_REQUEST_KEYS: Final = frozenset(
    {
        "model",
        "messages",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "reasoning_effort",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "stream",
    }
)
_FUNCTION_KEYS: Final = frozenset({"name", "description", "parameters"})
_TOOL_CHOICE_MODES: Final[dict[str, Literal["auto", "none", "required"]]] = {
    "auto": "auto",
    "none": "none",
    "required": "required",
}
_UNMAPPED_THINKING: Final = ("mode", "budget_tokens", "display", "summary")


# ---------------------------------------------------------------------------------------------
# decoding


def decode_request(data: Any, *, provider: str | None = None) -> Request:
    d = obj(data, "")
    rest = unmodelled(d, _REQUEST_KEYS)
    calls: set[str] = set()
    origins = Origins(provider, None)
    messages = tuple(
        [decode_message(m, i, origins, calls) for i, m in enumerate(items(d, "messages", "", required=True))]
    )
    effort = opt(d, "reasoning_effort", str, "")
    return Request(
        model=opt(d, "model", str, ""),
        messages=messages,
        tools=_decode_tools(d.get("tools")),
        tool_choice=_decode_tool_choice(d, rest),
        thinking=ThinkingConfig(effort=effort) if effort is not None else None,
        sampling=_decode_sampling(d, rest),
        stream=opt(d, "stream", bool, ""),
        extra={DIALECT: rest} if rest else {},
    )


def _decode_tools(value: Any) -> tuple[Tool | Opaque, ...] | None:
    """``function`` tools as ``Tool`` (``strict`` and unknown function fields in ``extra``);
    any other tool type, or a tool with unknown top-level fields, stays ``Opaque``."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise DecodeError("tools", f"expected an array, got {describe(value)}")
    tools: list[Tool | Opaque] = []
    for i, item in enumerate(value):
        path = f"tools[{i}]"
        d = obj(item, path)
        if d.get("type") != "function" or d.keys() != {"type", "function"}:
            tools.append(Opaque(dialect=DIALECT, data=d))
            continue
        where = join(path, "function")
        function = obj(d["function"], where)
        rest = unmodelled(function, _FUNCTION_KEYS)
        tools.append(
            Tool(
                name=req(function, "name", str, where),
                description=opt(function, "description", str, where),
                parameters=opt(function, "parameters", dict, where),
                extra={DIALECT: rest} if rest else {},
            )
        )
    return tuple(tools)


def _decode_tool_choice(d: dict[str, Any], rest: dict[str, Any]) -> ToolChoice | None:
    """``auto`` / ``none`` / ``required`` / ``{"type": "function", "function": {"name"}}``; any
    other form stays verbatim in ``rest`` (and so does ``parallel_tool_calls`` then)."""
    value = d.get("tool_choice")
    parallel = opt(d, "parallel_tool_calls", bool, "")
    choice: ToolChoice | None = None
    mode = _TOOL_CHOICE_MODES.get(value) if isinstance(value, str) else None
    if mode is not None:
        choice = ToolChoice(mode=mode, parallel=parallel)
    elif isinstance(value, dict) and value.get("type") == "function" and value.keys() == {"type", "function"}:
        function = value["function"]
        if isinstance(function, dict) and function.keys() == {"name"} and isinstance(function["name"], str):
            choice = ToolChoice(mode="tool", name=function["name"], parallel=parallel)
    if choice is None:
        if value is not None:
            rest["tool_choice"] = value
        if parallel is not None:
            rest["parallel_tool_calls"] = parallel
    return choice


def _decode_sampling(d: dict[str, Any], rest: dict[str, Any]) -> Sampling:
    max_tokens = opt(d, "max_tokens", int, "")
    max_completion = opt(d, "max_completion_tokens", int, "")
    if max_completion is not None:
        rest[FORM] = {"max_tokens": "max_completion_tokens"}
        if max_tokens is not None:  # both sent: the newer key is the limit, the older kept as is
            rest["max_tokens"] = max_tokens
        max_tokens = max_completion
    stop = d.get("stop")
    stops: tuple[str, ...] | None = None
    if isinstance(stop, str):
        stops = (stop,)
    elif isinstance(stop, list):
        stops = tuple(s if isinstance(s, str) else _bad_stop(i, s) for i, s in enumerate(stop))
    elif stop is not None:
        raise DecodeError("stop", f"expected a string or an array, got {describe(stop)}")
    return Sampling(
        max_tokens=max_tokens,
        temperature=opt(d, "temperature", float, ""),
        top_p=opt(d, "top_p", float, ""),
        top_k=opt(d, "top_k", int, ""),
        stop=stops,
        stop_plain=isinstance(stop, str),
    )


def _bad_stop(index: int, value: Any) -> str:
    raise DecodeError(f"stop[{index}]", f"expected a string, got {describe(value)}")


# ---------------------------------------------------------------------------------------------
# encoding


def encode_request(request: Request, *, carrier: Carrier | None = None) -> Encoded[dict[str, Any]]:
    """``carrier`` forces one reasoning carrier for every thinking block; ``None`` writes each
    block back in the carrier it came in (blocks of other dialects in ``reasoning_content``)."""
    log = LossLog()
    out: dict[str, Any] = {}
    put(out, "model", request.model)
    messages = [_system_message(request, log)] if request.system is not None else []
    out["messages"] = messages + encode_messages(request.messages, log, carrier)
    extras = own_extra(log, "", request.extra)
    out.update((k, v) for k, v in extras.items() if k != FORM)
    if request.tools is not None:
        tools = (_encode_tool(tool, f"tools[{i}]", log) for i, tool in enumerate(request.tools))
        out["tools"] = [t for t in tools if t is not None]
    if request.tool_choice is not None:
        _encode_tool_choice(request.tool_choice, out, log)
    if request.thinking is not None:
        _encode_thinking(request.thinking, out, log)
    _encode_sampling(request.sampling, out, extras.get(FORM, {}))
    put(out, "stream", request.stream)
    return Encoded(out, tuple(log.items))


def _system_message(request: Request, log: LossLog) -> dict[str, Any]:
    system = request.system or ()
    plain = request.system_plain or len(system) == 1
    content = plain_content([(f"system[{i}]", block) for i, block in enumerate(system)], plain, log)
    return {"role": "system", "content": content}


def _encode_tool(tool: Tool | Opaque, path: str, log: LossLog) -> dict[str, Any] | None:
    if isinstance(tool, Opaque):
        if tool.dialect == DIALECT:
            return tool.data
        log.add(path, "block", f"{tool.dialect} tool has no place in openai-chat")
        return None
    function: dict[str, Any] = {"name": tool.name}
    put(function, "description", tool.description)
    put(function, "parameters", tool.parameters)
    function.update(own_extra(log, path, tool.extra))
    return {"type": "function", "function": function}


def _encode_tool_choice(choice: ToolChoice, out: dict[str, Any], log: LossLog) -> None:
    if choice.mode == "tool":
        if choice.name is None:
            raise EncodeError("tool_choice.name", "a tool choice of mode 'tool' needs a name")
        out["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
    else:
        out["tool_choice"] = choice.mode
    put(out, "parallel_tool_calls", choice.parallel)
    out.update(own_extra(log, "tool_choice", choice.extra))


def _encode_thinking(config: ThinkingConfig, out: dict[str, Any], log: LossLog) -> None:
    put(out, "reasoning_effort", config.effort)
    for name in _UNMAPPED_THINKING:
        if getattr(config, name) is not None:
            log.add(
                f"thinking.{name}",
                "field",
                "openai-chat has only reasoning_effort (vendor switches live in extra)",
            )
    out.update(own_extra(log, "thinking", config.extra))


def _encode_sampling(sampling: Sampling, out: dict[str, Any], form: dict[str, Any]) -> None:
    if sampling.max_tokens is not None:
        key = "max_completion_tokens" if form.get("max_tokens") == "max_completion_tokens" else "max_tokens"
        out[key] = sampling.max_tokens
    put(out, "temperature", sampling.temperature)
    put(out, "top_p", sampling.top_p)
    put(out, "top_k", sampling.top_k)
    if sampling.stop is not None:
        plain = sampling.stop_plain and len(sampling.stop) == 1
        out["stop"] = sampling.stop[0] if plain else list(sampling.stop)
