"""The scripted model: one deterministic model over the IR, for tests, demos and CI.

The emulators answer with it (``thinkwire emulate``), the local engine's scripted runtime too
(``thinkwire serve --model scripted``, through ``thinkwire.local.scripted``, which reads the
rendered prompt back into a view), and the agent's ``--model scripted``. Given the request
*as the server renders it for the model* (its "view": the vendor's rules and any ``--break``
case have already removed what the model does not see), it answers:

- tools offered, at the first step of a user turn: it thinks ("Step 1: I will call
  get_weather.") and notes a **code word** in that thinking only, then calls the first tool
  with arguments that satisfy its JSON Schema (``schema_example``), a required string taking
  the subject of the user's question where there is one (``Oslo`` in "What is the weather in
  Oslo?");
- after a tool result, while it has calls left (``calls`` per user turn, 1 by default, or
  always when ``tool_choice`` is ``required`` or names a tool): it thinks, saying whether it
  still finds its note, and calls the next tool (round the list);
- after the last tool result (or with ``tool_choice: none``): it thinks and answers, quoting
  the code word *if it can find it in the thinking its view holds* ("The code word I noted
  was lantern-3f2a."), else saying it has no note of one. A server that drops earlier
  thinking from the prompt is caught by that line, after as many tool steps as were asked;
- without tools: it thinks and answers with the user's last words.

Everything is a function of the view: the code word is derived from the conversation up to
the last user message, the tool-call id from a hash of the whole view. The same request gets
the same reply, streamed or not.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Final

import msgspec

from thinkwire.ir.blocks import Block, Text, Thinking, ToolCall, ToolResult
from thinkwire.ir.conversation import Message, Request, Response, Tool
from thinkwire.ir.serde import to_json
from thinkwire.policy import current_turn_start

_WORDS: Final = ("lantern", "harbor", "quartz", "meadow", "falcon", "cobalt", "juniper", "saffron")
CODE_WORD: Final = re.compile(r"the code word ([a-z]+-[0-9a-f]{4})")
"""How the model finds its note in earlier thinking."""


def schema_example(schema: Any) -> Any:
    """A value satisfying ``schema`` (the subset tools use): the first ``enum`` value or the
    ``const``; objects with every required property (recursively); strings ``"example"``,
    integers and numbers ``1``, booleans ``true``, arrays of one item, ``null`` for ``null``."""
    if not isinstance(schema, dict):
        return "example"
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return schema_example(options[0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = schema.get("required")  # a list of names; draft 3's ``true`` marks no property
        names = [name for name in required if isinstance(name, str)] if isinstance(required, list) else []
        return {name: schema_example(properties.get(name, {})) for name in names}
    if kind == "array":
        return [schema_example(schema.get("items", {}))]
    if kind in ("integer", "number"):
        minimum = schema.get("minimum", schema.get("exclusiveMinimum"))
        return max(1, int(minimum) + 1) if isinstance(minimum, int | float) else 1
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "example"


def subject(said: str) -> str | None:
    """The subject of a question, for string arguments: its last capitalised word but the first
    ("What is the weather in Oslo?" -> ``Oslo``); ``None`` when there is none."""
    words = [w.strip("?.!,;:'\"()") for w in said.split()[1:]]
    names = [w for w in words if w[:1].isupper() and w.isalpha()]
    return names[-1] if names else None


def _arguments(tool: Tool, said: str) -> Any:
    """``schema_example`` of the tool's parameters, its required plain strings set to the
    subject of what the user said (when there is one)."""
    schema = tool.parameters or {"type": "object"}
    value = schema_example(schema)
    name = subject(said)
    if name is None or not isinstance(value, dict):
        return value
    properties = schema.get("properties") or {}
    for key in value:
        spec = properties.get(key)
        if isinstance(spec, dict) and spec.get("type") == "string" and not ({"enum", "const"} & set(spec)):
            value[key] = name
    return value


def digest(value: Any) -> str:
    """A stable hex digest of an IR value (or anything ``to_json`` takes)."""
    return hashlib.sha256(to_json(value)).hexdigest()


def code_word(messages: tuple[Message, ...]) -> str:
    """The code word the model notes in this turn: a function of the conversation up to its
    last user message, so each step of one tool loop notes the same word."""
    start = current_turn_start(messages)
    hexed = digest(messages[:start])
    return f"{_WORDS[int(hexed[:2], 16) % len(_WORDS)]}-{hexed[2:6]}"


def reply(
    view: Request, *, call_prefix: str = "call_", split_thinking: bool = False, calls: int = 1
) -> Response:
    """The scripted model's next assistant turn for ``view`` (see the module docstring).

    ``calls``: tool calls it makes per user turn before it answers (``tool_choice`` overrides
    it: ``none`` answers at once, ``required`` or a named tool always calls). The tools are
    called in the order they are offered, round the list. ``split_thinking`` writes the
    thinking as two blocks (the step, then the note), as a model with interleaved thinking
    can; otherwise as one. ``call_prefix`` starts tool-call ids (``toolu_`` for Anthropic,
    ``call_`` for OpenAI). The response has no id or usage: the vendor adds those.
    """
    messages = view.messages
    start = current_turn_start(messages)
    step = 1 + sum(1 for m in messages[start:] if m.role == "assistant")
    tools = [t for t in view.tools or () if isinstance(t, Tool)]
    choice = view.tool_choice.mode if view.tool_choice is not None else "auto"
    last = messages[-1] if messages else None
    result = next((b for b in last.blocks if isinstance(b, ToolResult)), None) if last else None
    forced = choice in ("required", "tool")
    if tools and choice != "none" and (forced or step <= calls):
        tool = tools[(step - 1) % len(tools)]
        if view.tool_choice is not None and view.tool_choice.name:
            tool = next((t for t in tools if t.name == view.tool_choice.name), tool)
        if result is None:
            thoughts = [
                f"Step {step}: I will call {tool.name}.",
                f"I note the code word {code_word(messages)} for later.",
            ]
        else:
            done = _call_name(messages, result.call_id)
            recalled = _recall(messages[start:])
            thoughts = [
                f"Step {step}: {done} returned a result; I will call {tool.name}.",
                _recall_thought(recalled),
            ]
        arguments = msgspec.json.encode(_arguments(tool, _last_user_text(messages))).decode()
        call = ToolCall(id=call_prefix + digest(view)[:24], name=tool.name, arguments=arguments)
        return Response(blocks=(*_thinking(thoughts, split_thinking), call), stop_reason="tool_use")

    if result is not None:
        name = _call_name(messages, result.call_id)
        recalled = _recall(messages[start:])
        thoughts = [f"Step {step}: {name} returned a result; I will answer.", _recall_thought(recalled)]
        note = f"The code word I noted was {recalled}." if recalled else "I have no note of a code word."
        answer = f"{name} returned: {result.content_text()[:200]}. {note}"
        return Response(
            blocks=(*_thinking(thoughts, split_thinking), Text(text=answer)), stop_reason="end_turn"
        )

    said = _last_user_text(messages)
    thoughts = [f"Step {step}: I will answer the user.", "No tool is needed."]
    answer = f"You said: {said}" if said else "Hello."
    return Response(blocks=(*_thinking(thoughts, split_thinking), Text(text=answer)), stop_reason="end_turn")


def _thinking(thoughts: list[str], split: bool) -> tuple[Block, ...]:
    if split:
        return tuple(Thinking(text=t) for t in thoughts)
    return (Thinking(text=" ".join(thoughts)),)


def _recall(turn: tuple[Message, ...]) -> str | None:
    """The code word in the view's thinking of the current turn, if any is there."""
    for message in turn:
        for block in message.blocks:
            if isinstance(block, Thinking) and (found := CODE_WORD.search(block.text)):
                return found.group(1)
    return None


def _recall_thought(recalled: str | None) -> str:
    if recalled is None:
        return "I find no earlier note in my thinking."
    return f"My earlier thinking noted a code word: {recalled}."


def _call_name(messages: tuple[Message, ...], call_id: str) -> str:
    for message in reversed(messages):
        for block in message.blocks:
            if isinstance(block, ToolCall) and block.id == call_id:
                return block.name
    return "the tool"


def _last_user_text(messages: tuple[Message, ...]) -> str:
    for message in reversed(messages):
        if message.role == "user":
            return " ".join(b.text for b in message.blocks if isinstance(b, Text)).strip()
    return ""


_TOKEN: Final = re.compile(r"\w+|[^\w\s]")


def prompt_tokens(view: Request) -> int:
    """How many tokens the model reads for ``view`` (a crude count of words and marks over a
    plain rendering): what ``usage`` reports as input, so a server that leaves thinking out
    of the prompt shows fewer tokens."""
    parts: list[str] = [b.text for b in view.system or () if isinstance(b, Text)]
    parts += [to_json(t).decode() for t in view.tools or ()]
    for message in view.messages:
        parts.append(message.role)
        parts += [_render(b) for b in message.blocks]
    return sum(len(_TOKEN.findall(p)) for p in parts)


def output_tokens(blocks: tuple[Block, ...]) -> tuple[int, int]:
    """(all output tokens, reasoning tokens) of a reply."""
    reasoning = sum(len(_TOKEN.findall(b.text)) for b in blocks if isinstance(b, Thinking))
    return sum(len(_TOKEN.findall(_render(b))) for b in blocks), reasoning


def _render(block: Block) -> str:
    if isinstance(block, Text | Thinking):
        return block.text
    if isinstance(block, ToolCall):
        return f"{block.name} {block.arguments}"
    if isinstance(block, ToolResult):
        return block.content_text()
    return ""
