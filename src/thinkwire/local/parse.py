"""Output parser: generated text -> IR blocks, whole or as stream events.

The parser reads the assistant turn as the model wrote it, *including the prefill*
(``"<think>\\n"`` is fed first, so the thinking the model continues is one block; the
template's ``prefill`` unless the engine used another one, e.g. ``thinking_prefill`` for a
thinking budget), and splits it into elements. A turn with thinking off (``think=False``)
starts after the template's ``no_think_prefill``, which is not fed (see ``no_think`` below).
The elements are:

- ``<think>..</think>`` -> ``Thinking`` (origin: ``Origin(dialect="openai-chat",
  carrier="think-tags")`` by default, since that is how the text carried it; the engine sets
  provider and model and signs it);
- a tool-call element (Hermes ``<tool_call>{json}</tool_call>`` or MiniMax
  ``<minimax:tool_call><invoke ..>..</minimax:tool_call>``) -> one ``ToolCall`` per call, each
  with a fresh id from ``new_id``;
- with the template's ``bare_calls`` (``ChatTemplate.bare_calls``), a *bare call*: a JSON
  object ``{"name": NAME, "arguments": {...}}`` naming one of the offered tools, standing where
  an element may start (not inside text) -> one ``ToolCall``, its exact text recorded as
  ``raw`` (see below). The grammar lets the default model write a call that way;
- anything else -> ``Text``.

Exact write-back. The renderer writes a parsed turn back byte for byte (the KV cache depends on
it). The blocks hold clean values: ``Thinking.text`` without the framing newlines, ``Text``
without the whitespace that separates it from a neighbouring think/call element, Hermes
``arguments`` as the exact JSON text the model wrote. Whatever differs from the template's
usual layout is recorded in the block's ``extra["local"]``:

- ``gap``: the whitespace before this element, when not ``template.gap(prev, kind)``;
- ``tail``: whitespace after the last think/call element at the end of the turn;
- ``lead`` / ``trail`` (``Thinking``): whitespace just inside the tags, when not the usual;
- ``raw`` and ``calls`` (first ``ToolCall`` of an element): the element's exact text and the
  number of calls it holds, when the canonical form of those calls is not that text (other
  key order or spacing, MiniMax values whose JSON re-encodes differently, a bare call);
- ``new_element`` (MiniMax, whose element holds several calls): this call starts a second
  element right after another one, instead of continuing it;
- ``no_think`` (first block of a turn generated with thinking off): the turn began with the
  template's empty think element (``ChatTemplate.no_think_prefill``), which the engine
  pre-filled. That element is not a block (the response holds no empty ``Thinking``); the
  renderer writes it back in front of the turn. A turn with thinking off that produced no
  block at all has nothing to carry the mark and is written back without it.

A client that drops ``extra`` gets the canonical layout back, which is what the grammar makes
the default model write; only an unusual layout then costs a cache miss from that point.
Text at the very start or end of a turn keeps its own whitespace.

Malformed output never raises. An element that does not parse (invalid JSON, no name, a call
never closed) stays in the turn as ``Text`` holding its exact bytes, with
``extra["local"]["malformed"]`` naming the reasons, and a ``Problem`` in the result; a
``<think>`` never closed (output cut short) is a ``Thinking`` whose origin has
``extra={"unclosed": True}`` (the same mark the Chat codec uses), written back without the
closing tag. The engine decides whether a problem is an error or a retry.

Streaming: ``StreamParser.feed(piece)`` returns ``BlockStart`` / ``BlockDelta`` / ``BlockStop``
events as pieces arrive; tags cut across pieces are held back until they are complete.
Thinking and text stream as deltas (whitespace is held back until it is known to belong to
the block rather than to a gap). A tool call is emitted whole when its element closes
(``BlockStart`` with id and name, one ``ArgumentsDelta``, ``BlockStop``), because a call is
only known to be valid once closed; so is a JSON object that may be a bare call (a ``{`` where
an element may start), as a call or, when it is not one, as text. A think or call block's
``BlockStop`` waits until what follows it is known (its ``tail``). Folding the events
(``thinkwire.ir.fold``) gives exactly ``parse_completion``'s blocks, for any split of the text.
No message-level events are emitted: the engine wraps the block events in ``MessageStart`` ..
``MessageStop``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

import msgspec

from thinkwire.errors import ThinkwireError
from thinkwire.ir.blocks import Block, Origin, Text, Thinking, ToolCall
from thinkwire.ir.conversation import Tool
from thinkwire.ir.stream import (
    ArgumentsDelta,
    BlockDelta,
    BlockStart,
    BlockStop,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    fold,
)
from thinkwire.local.templates import ChatTemplate, Kind

LOCAL: Final = "local"
"""The ``extra`` key of the layout records (see the module docstring)."""
WS: Final = " \t\r\n"
"""What counts as whitespace in gaps."""
DEFAULT_ORIGIN: Final = Origin(dialect="openai-chat", carrier="think-tags")

IdFactory = Callable[[], str]


def new_call_id() -> str:
    """A fresh tool-call id, ``call_`` + 24 hex digits."""
    return "call_" + uuid.uuid4().hex[:24]


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """Something wrong with the output. ``block`` is the index of the block concerned.

    ``kind``: ``malformed-call`` (an element that did not parse, kept as text),
    ``unclosed-call`` (a call element cut short, kept as text), ``unclosed-thinking``
    (``<think>`` with no ``</think>``), ``unknown-tool`` (a well-formed call to a tool that was
    not offered; the call is kept).
    """

    kind: Literal["malformed-call", "unclosed-call", "unclosed-thinking", "unknown-tool"]
    detail: str
    block: int


class ParsedCompletion(msgspec.Struct, frozen=True, kw_only=True):
    """The blocks of one generated assistant turn and what was wrong with it."""

    blocks: tuple[Block, ...]
    problems: tuple[Problem, ...] = ()

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return tuple(b for b in self.blocks if isinstance(b, ToolCall))


class CallSpec(msgspec.Struct, frozen=True):
    """One call as written in an element: name and arguments JSON text."""

    name: str
    arguments: str


# --- tool-call elements: canonical form and parsing (the renderer uses both) -------------------


def _canonical_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), ensure_ascii=False)
    except ValueError:
        return text


def format_calls(template: ChatTemplate, calls: Sequence[CallSpec]) -> str:
    """The canonical text of one call element holding ``calls`` (Hermes: exactly one call).

    Arguments ``""`` are written ``{}``; Hermes arguments are written in the grammar's
    canonical layout (``json.dumps(value, ensure_ascii=False)``), so a call that comes back
    re-serialised (Anthropic's ``input`` object, compact JSON from another client) is written
    exactly as the model generated it; text that is not JSON is written as it is. This is the
    text the grammar of ``thinkwire.local.grammar`` makes the default model write.
    """
    syntax = template.tool_calls
    if syntax.kind == "hermes":
        (call,) = calls
        name = json.dumps(call.name, ensure_ascii=False)
        arguments = _canonical_json(call.arguments or "{}")
        return f'{syntax.open}\n{{"name": {name}, "arguments": {arguments}}}\n{syntax.close}'
    parts = [syntax.open, "\n"]
    for call in calls:
        parts.append(f'<invoke name="{call.name}">\n')
        try:
            args = msgspec.json.decode(call.arguments) if call.arguments else {}
        except msgspec.DecodeError:
            args = None
        if isinstance(args, dict):
            for key, value in args.items():
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                parts.append(f'<parameter name="{key}">{text}</parameter>\n')
        else:  # not an object (a call from elsewhere): written as it is
            parts.append(call.arguments + "\n")
        parts.append("</invoke>\n")
    parts.append(syntax.close)
    return "".join(parts)


_HERMES_SPAN = re.compile(
    r'\{\s*"name"\s*:\s*"(?:[^"\\]|\\.)*"\s*,\s*"(?:arguments|parameters)"\s*:\s*(.*?)\s*\}', re.DOTALL
)
_INVOKE = re.compile(r'<invoke name="([^"]*)">(.*?)</invoke>', re.DOTALL)
_PARAMETER = re.compile(r'<parameter name="([^"]*)">(.*?)</parameter>', re.DOTALL)


def parse_calls(template: ChatTemplate, raw: str, tools: Sequence[Tool] = ()) -> tuple[CallSpec, ...] | str:
    """The calls in one element ``raw`` (open tag to close tag, or a bare call), or why it is
    malformed."""
    syntax = template.tool_calls
    if template.bare_calls and raw.startswith("{"):
        call = parse_bare_call(raw, tools)
        return (call,) if call is not None else "not a bare tool call"
    inner = raw[len(syntax.open) : len(raw) - len(syntax.close)]
    if syntax.kind == "hermes":
        return _parse_hermes(inner.strip(WS))
    return _parse_minimax(inner, tools)


def parse_bare_call(text: str, tools: Sequence[Tool]) -> CallSpec | None:
    """The call ``text`` is as a bare call, else ``None``.

    A bare call is a JSON object with exactly the members ``name`` (one of ``tools``' names)
    and ``arguments`` (an object), in that order; ``arguments`` is kept as the exact JSON text
    written.
    """
    ok, obj = _decode(text)
    if not ok or not isinstance(obj, dict) or list(obj) != ["name", "arguments"]:
        return None
    if not isinstance(obj["arguments"], dict) or obj["name"] not in {t.name for t in tools}:
        return None
    calls = _parse_hermes(text)
    return calls[0] if not isinstance(calls, str) else None


def _json_object_end(text: str, start: int, state: list[int]) -> int:
    """Where the JSON object at the start of ``text`` ends (the index after its closing
    brace), or ``-1`` when it has not ended yet; scanning resumes at ``start``.

    ``state`` is ``[depth, in_string, escaped]``, updated in place, so a growing text is
    scanned once. Only braces and strings are tracked: the result is where the object would
    end, not a check that it is valid JSON.
    """
    depth, in_string, escaped = state
    for i in range(start, len(text)):
        char = text[i]
        if in_string:
            if escaped:
                escaped = 0
            elif char == "\\":
                escaped = 1
            elif char == '"':
                in_string = 0
        elif char == '"':
            in_string = 1
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                state[:] = [depth, in_string, escaped]
                return i + 1
    state[:] = [depth, in_string, escaped]
    return -1


def _decode(text: str) -> tuple[bool, Any]:
    try:
        return True, msgspec.json.decode(text)
    except msgspec.DecodeError:
        return False, None


def _parse_hermes(body: str) -> tuple[CallSpec, ...] | str:
    ok, obj = _decode(body)
    if not ok:
        return "tool call is not valid JSON"
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return "tool call has no string name"
    value = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(value, str):  # arguments given as a JSON string
        ok, inner = _decode(value)
        if not ok or not isinstance(inner, dict):
            return "tool call arguments are not a JSON object"
        return (CallSpec(obj["name"], value),)
    if not isinstance(value, dict):
        return "tool call arguments are not a JSON object"
    match = _HERMES_SPAN.fullmatch(body)
    if match is not None and _decode(match.group(1)) == (True, value):
        return (CallSpec(obj["name"], match.group(1)),)  # exactly as the model wrote it
    return (CallSpec(obj["name"], json.dumps(value, ensure_ascii=False)),)


def _string_properties(tools: Sequence[Tool], name: str) -> set[str]:
    for tool in tools:
        if tool.name == name and tool.parameters:
            props = tool.parameters.get("properties") or {}
            return {k for k, v in props.items() if isinstance(v, dict) and v.get("type") == "string"}
    return set()


def _parse_minimax(inner: str, tools: Sequence[Tool]) -> tuple[CallSpec, ...] | str:
    calls: list[CallSpec] = []
    if _INVOKE.sub("", inner).strip(WS):
        return "text outside <invoke> in a tool-call element"
    for invoke in _INVOKE.finditer(inner):
        name, body = invoke.group(1), invoke.group(2)
        if _PARAMETER.sub("", body).strip(WS):
            return f"text outside <parameter> in the call to {name!r}"
        strings = _string_properties(tools, name)
        args: dict[str, Any] = {}
        for param in _PARAMETER.finditer(body):
            key, text = param.group(1), param.group(2)
            ok, value = (False, None) if key in strings else _decode(text)
            args[key] = value if ok else text
        calls.append(CallSpec(name, json.dumps(args, ensure_ascii=False)))
    if not calls:
        return "tool-call element without <invoke>"
    return tuple(calls)


# --- the streaming parser ----------------------------------------------------------------------


def _partial_suffix(text: str, tags: Sequence[str]) -> int:
    """Length of the longest end of ``text`` that could be the start of one of ``tags``."""
    best = 0
    for tag in tags:
        for size in range(min(len(tag) - 1, len(text)), best, -1):
            if tag.startswith(text[len(text) - size :]):
                best = size
                break
    return best


class StreamParser:
    """Parses a completion piece by piece into block events (see the module docstring).

    ``tools`` are the tools offered (for ``unknown-tool`` problems and MiniMax value types);
    ``new_id`` makes tool-call ids; ``origin`` is given to every ``Thinking``. ``prefill``:
    what the turn was pre-filled with (default: the template's); ``think=False``: the turn was
    pre-filled with ``template.no_think_prefill`` instead (``prefill`` is then not used), so
    its first block gets the ``no_think`` record. ``bare_calls``: read bare calls (default:
    the template's ``bare_calls``; the engine turns it off for ``tool_choice`` ``none``).
    ``problems`` lists what went wrong so far.
    """

    def __init__(
        self,
        template: ChatTemplate,
        *,
        tools: Sequence[Tool] = (),
        new_id: IdFactory = new_call_id,
        origin: Origin = DEFAULT_ORIGIN,
        prefill: str | None = None,
        think: bool = True,
        bare_calls: bool | None = None,
    ) -> None:
        self.template = template
        self.problems: list[Problem] = []
        self._tools = tuple(tools)
        self._new_id = new_id
        self._origin = origin
        self._events: list[StreamEvent] = []
        self._mode: Literal["out", "think", "call", "bare"] = "out"
        self._closed = False
        self._index = 0
        self._last: Kind | None = None  # kind of the last element, None at the start
        self._records: dict[int, dict[str, Any]] = {}
        # out mode
        self._pending = ""  # whitespace not yet known to be text or gap
        self._text: int | None = None  # index of the open Text block
        self._held_stop: int | None = None  # think/call block whose BlockStop waits for its tail
        self._held_origin: Origin | None = None
        # think mode
        self._think = 0
        self._think_started = False
        self._think_lead = ""
        self._think_pending = ""
        # call mode
        self._call_gap = ""
        self._call_search = 0
        # bare mode (a JSON object that may be a bare call)
        self._bare = bool(tools) and (template.bare_calls if bare_calls is None else bare_calls)
        self._bare_scan = [0, 0, 0]
        self._no_think = not think  # the first block started gets the no_think record
        self._buf = "" if not think else template.prefill if prefill is None else prefill
        self._run()  # the prefill's events go out with the first feed

    # public API

    def feed(self, piece: str) -> list[StreamEvent]:
        """Events for the text of ``piece`` that can be decided now."""
        if self._closed:
            raise ThinkwireError("StreamParser.feed after close")
        self._buf += piece
        self._run()
        return self._take()

    def close(self) -> list[StreamEvent]:
        """Events for the rest of the text, ending every open block."""
        if self._closed:
            return []
        self._closed = True
        if self._mode == "think":
            self._think_text(self._buf)
            self._end_think(unclosed=True)
        elif self._mode == "call":
            raw, self._buf = self.template.tool_calls.open + self._buf, ""
            self._demote(raw, "unclosed-call", "tool-call element not closed")
        elif self._mode == "bare":
            raw, self._buf = self._buf, ""
            if _looks_like_call(raw):
                self._demote(raw, "unclosed-call", "bare tool call not closed")
            else:
                self._pending = self._call_gap
                self._out_text(raw)
        else:
            self._out_text(self._buf)
        self._buf = ""
        if self._pending:
            if self._text is not None:
                self._delta(self._text, TextDelta(self._pending))
            elif self._held_stop is not None:
                self._records.setdefault(self._held_stop, {})["tail"] = self._pending
            else:  # a turn of whitespace only
                self._open_text(None)
                self._delta(self._text_index(), TextDelta(self._pending))
            self._pending = ""
        self._close_text()
        self._release_stop()
        return self._take()

    # the loop

    def _run(self) -> None:
        template = self.template
        while self._buf:
            if self._mode == "out":
                if self._bare and self._text is None:
                    rest = self._buf.lstrip(WS)
                    if not rest:  # whitespace: a gap or text, not known yet
                        self._out_text(self._buf)
                        self._buf = ""
                        return
                    if rest[0] == "{":
                        self._call_gap = self._pending + self._buf[: len(self._buf) - len(rest)]
                        self._pending, self._buf = "", rest
                        self._mode, self._call_search, self._bare_scan = "bare", 0, [0, 0, 0]
                        continue
                opens = (template.think.open, template.tool_calls.open)
                found = [(self._buf.find(tag), tag) for tag in opens]
                hits = [(pos, tag) for pos, tag in found if pos >= 0]
                if not hits:
                    keep = _partial_suffix(self._buf, opens)
                    self._out_text(self._buf[: len(self._buf) - keep])
                    self._buf = self._buf[len(self._buf) - keep :]
                    return
                pos, tag = min(hits)
                self._out_text(self._buf[:pos])
                self._buf = self._buf[pos + len(tag) :]
                if tag == template.think.open:
                    self._start_think()
                else:
                    self._call_gap, self._pending = self._pending, ""
                    self._mode, self._call_search = "call", 0
            elif self._mode == "think":
                close = template.think.close
                pos = self._buf.find(close)
                if pos < 0:
                    keep = _partial_suffix(self._buf, (close,))
                    self._think_text(self._buf[: len(self._buf) - keep])
                    self._buf = self._buf[len(self._buf) - keep :]
                    return
                self._think_text(self._buf[:pos])
                self._buf = self._buf[pos + len(close) :]
                self._end_think(unclosed=False)
            elif self._mode == "bare":
                end = _json_object_end(self._buf, self._call_search, self._bare_scan)
                if end < 0:
                    self._call_search = len(self._buf)
                    return
                raw, self._buf = self._buf[:end], self._buf[end:]
                self._mode = "out"
                self._end_bare(raw)
            else:
                close = template.tool_calls.close
                pos = self._buf.find(close, self._call_search)
                if pos < 0:
                    self._call_search = max(0, len(self._buf) - len(close) + 1)
                    return
                raw = template.tool_calls.open + self._buf[: pos + len(close)]
                self._buf = self._buf[pos + len(close) :]
                self._mode = "out"
                self._end_call(raw)

    # events

    def _take(self) -> list[StreamEvent]:
        events, self._events = self._events, []
        return events

    def _delta(self, index: int, delta: TextDelta | ThinkingDelta) -> None:
        if delta.text:
            self._events.append(BlockDelta(index=index, delta=delta))

    def _stop(self, index: int, origin: Origin | None = None) -> None:
        record = self._records.pop(index, None)
        extra = {LOCAL: record} if record else None
        self._events.append(BlockStop(index=index, origin=origin, extra=extra))

    def _release_stop(self) -> None:
        if self._held_stop is not None:
            self._stop(self._held_stop, self._held_origin)
            self._held_stop, self._held_origin = None, None

    def _start(self, block: Block) -> int:
        index, self._index = self._index, self._index + 1
        self._events.append(BlockStart(index=index, block=block))
        if self._no_think:
            self._records.setdefault(index, {})["no_think"] = True
            self._no_think = False
        return index

    def _record_gap(self, index: int, gap: str, kind: Kind) -> None:
        if gap != self.template.gap(self._last, kind):
            self._records.setdefault(index, {})["gap"] = gap

    # text outside think and call elements

    def _text_index(self) -> int:
        assert self._text is not None
        return self._text

    def _open_text(self, gap: str | None) -> None:
        self._release_stop()
        self._text = self._start(Text(text=""))
        if gap is not None:
            self._record_gap(self._text, gap, "text")
        self._last = "text"

    def _close_text(self) -> None:
        if self._text is not None:
            self._stop(self._text)
            self._text = None

    def _out_text(self, segment: str) -> None:
        text = self._pending + segment
        body = text.rstrip(WS)
        self._pending = text[len(body) :]
        if not body:
            return
        if self._text is None:
            if self._last is None:  # text at the start of the turn keeps its whitespace
                self._open_text(None)
            else:
                stripped = body.lstrip(WS)
                self._open_text(body[: len(body) - len(stripped)])
                body = stripped
        self._delta(self._text_index(), TextDelta(body))

    # thinking

    def _start_think(self) -> None:
        gap, self._pending = self._pending, ""
        self._close_text()
        self._release_stop()
        self._think = self._start(Thinking(text="", origin=self._origin))
        self._record_gap(self._think, gap, "think")
        self._last = "think"
        self._mode = "think"
        self._think_started, self._think_lead, self._think_pending = False, "", ""

    def _think_text(self, segment: str) -> None:
        text = self._think_pending + segment
        if not self._think_started:
            stripped = text.lstrip(WS)
            if not stripped:
                self._think_pending = text
                return
            self._think_lead, self._think_started = text[: len(text) - len(stripped)], True
            text = stripped
        body = text.rstrip(WS)
        self._think_pending = text[len(body) :]
        self._delta(self._think, ThinkingDelta(body))

    def _end_think(self, *, unclosed: bool) -> None:
        think = self.template.think
        usual_trail = "" if unclosed else think.trail  # nothing is written before a missing close
        if self._think_started:
            lead, trail = self._think_lead, self._think_pending
        elif self._think_pending == think.lead + usual_trail:
            lead, trail = think.lead, usual_trail
        else:
            lead, trail = self._think_pending, ""
        record = self._records.setdefault(self._think, {})
        if lead != think.lead:
            record["lead"] = lead
        if trail != usual_trail:
            record["trail"] = trail
        self._held_stop, self._held_origin = self._think, None
        if unclosed:
            self._held_origin = msgspec.structs.replace(
                self._origin, extra={**self._origin.extra, "unclosed": True}
            )
            self.problems.append(
                Problem(kind="unclosed-thinking", detail="<think> not closed", block=self._think)
            )
        self._mode = "out"

    # tool calls

    def _end_call(self, raw: str) -> None:
        calls = parse_calls(self.template, raw, self._tools)
        if isinstance(calls, str):
            self._demote(raw, "malformed-call", calls)
            return
        gap = self._call_gap
        self._close_text()
        self._release_stop()
        names = {t.name for t in self._tools}
        for n, call in enumerate(calls):
            index = self._start(ToolCall(id=self._new_id(), name=call.name, arguments=""))
            if call.arguments:
                self._events.append(BlockDelta(index=index, delta=ArgumentsDelta(call.arguments)))
            if n == 0:
                self._record_gap(index, gap, "call")
                if self.template.tool_calls.kind == "minimax-xml" and self._last == "call":
                    self._records.setdefault(index, {})["new_element"] = True
                if format_calls(self.template, calls) != raw:
                    self._records.setdefault(index, {}).update(raw=raw, calls=len(calls))
            if self._tools and call.name not in names:
                self.problems.append(Problem(kind="unknown-tool", detail=call.name, block=index))
            self._last = "call"
            if n < len(calls) - 1:
                self._stop(index)
            else:
                self._held_stop = index

    def _end_bare(self, raw: str) -> None:
        """A JSON object where an element may start: a bare call, or text."""
        call = parse_bare_call(raw, self._tools)
        if call is None:
            if _looks_like_call(raw):
                self._demote(raw, "malformed-call", "not a bare call to an offered tool")
            else:
                self._pending = self._call_gap
                self._out_text(raw)
            return
        self._close_text()
        self._release_stop()
        index = self._start(ToolCall(id=self._new_id(), name=call.name, arguments=""))
        self._events.append(BlockDelta(index=index, delta=ArgumentsDelta(call.arguments)))
        self._record_gap(index, self._call_gap, "call")
        self._records.setdefault(index, {}).update(raw=raw, calls=1)
        self._last = "call"
        self._held_stop = index

    def _demote(self, raw: str, kind: Literal["malformed-call", "unclosed-call"], detail: str) -> None:
        """An element that is not a valid call stays in the turn as text, byte for byte."""
        self._pending = self._call_gap
        self._out_text(raw)
        index = self._text_index()
        self._records.setdefault(index, {}).setdefault("malformed", []).append(detail)
        self.problems.append(Problem(kind=kind, detail=detail, block=index))


_CALL_START = re.compile(r'\{\s*"name"\s*:')


def _looks_like_call(text: str) -> bool:
    """``text`` starts like a JSON call (``{"name":``): one that does not parse is a problem."""
    return _CALL_START.match(text) is not None


def parse_completion(
    text: str,
    template: ChatTemplate,
    *,
    tools: Sequence[Tool] = (),
    new_id: IdFactory = new_call_id,
    origin: Origin = DEFAULT_ORIGIN,
    prefill: str | None = None,
    think: bool = True,
    bare_calls: bool | None = None,
) -> ParsedCompletion:
    """The blocks of a whole completion (the text generated after the prefill; ``prefill``,
    ``think`` and ``bare_calls`` as for ``StreamParser``)."""
    parser = StreamParser(
        template,
        tools=tools,
        new_id=new_id,
        origin=origin,
        prefill=prefill,
        think=think,
        bare_calls=bare_calls,
    )
    events = parser.feed(text) + parser.close()
    return ParsedCompletion(blocks=fold(events).blocks, problems=tuple(parser.problems))
