"""Tool-call grammars: llama.cpp GBNF that makes a model think, then answer or call tools.

The engine pre-fills the assistant turn with ``<think>\\n``; the grammar then constrains
everything the model writes after it::

    THOUGHT "</think>\\n" (CALLS | ANSWER)

- ``THOUGHT``: any text that does not contain ``</think>`` (so the first ``</think>`` always
  closes the thinking), possibly empty. With ``prose`` (the template's ``prose_thinking``) it
  is ``PROSE`` instead: text without ``<``, ``>``, ``{`` or ``}`` that does not start with a
  space or a line break (nor is empty). A small
  model otherwise writes its call as markup or JSON inside the thinking (seen with the
  default model: ``<call function="calc" arguments='{..}'/>`` at every step); with it the
  thinking is a sentence or two of plan or reflection, and the call comes after ``</think>``.
  A ``ThoughtShape.decision`` opens the thought with one of its phrases, and the grammar holds
  the rest of the turn to it; with ``decide_last`` the phrase *closes* the thought instead:
  ``PARAGRAPH DECISION "</think>\\n" (CALLS | ANSWER)``, the paragraph one line of prose (no
  control character, so its first line break is where the decision's words begin), so the
  model reasons before it decides.
- ``ANSWER``: any non-empty text that does not contain ``<tool_call>`` (so an answer can
  never be mistaken for a call). When tools are offered (``auto``), it may also not start with
  ``{``, ``[``, ``<``, a backtick, ``"`` or whitespace, nor contain ``"arguments"``: without
  that the default model "answers" with a bare or fenced JSON call (seen here with llama.cpp),
  which the parser would read as text. With it, 3 of 3 runs of a real tool loop called the
  tool in the ``<tool_call>`` syntax and then answered.
- ``CALLS``: one ``CALL``, or with ``parallel`` one or more separated by ``"\\n"``.
- With ``bare_calls``, a ``CALL`` may also be a *bare call*: the same JSON object without the
  tags, ``{"name": NAME, "arguments": ARGS}`` (the template's ``bare_calls``, off by default; the
  output parser reads it as a call). Qwen2.5's ``<tool_call>`` is a special token, which the grammar can only
  match as four ordinary tokens the model rarely picks; after a tool result the default model
  puts its probability on ``{"`` instead (about 0.85 measured), wrote its next call in words or
  as fenced JSON, and stopped. Letting it write the JSON it wants, constrained to the tools and
  their schemas, makes it call again, but it then repeats calls it already has the result of
  (numbers in ``docs/local-engine.md``).

``thinking=False`` builds the grammar of what follows the thinking, ``CALLS | ANSWER``, for a
turn whose thinking is already in the prompt: pre-filled as an empty element when the request
turns thinking off, or closed by the engine when a thinking budget ran out (the second phase
of budget forcing, ``thinkwire.local.budget``).

A ``CALL`` in the Hermes / Qwen syntax is exactly these bytes (``hermes_call`` builds them;
the renderer and the output parser use the same constants)::

    <tool_call>\\n{"name": NAME, "arguments": ARGS}\\n</tool_call>

``NAME`` is the tool's name as a JSON string (``json.dumps(name, ensure_ascii=False)``), so
``get_weather`` is written ``"get_weather"``. The two keys come in that order, with exactly one
space after each colon and after the comma. ``ARGS`` is a JSON value in the *canonical layout*:
``", "`` between items, ``": "`` after keys, no other whitespace; strings hold any character
except ``"``, ``\\`` and control characters, which are escaped (every JSON escape is allowed).
That is the layout of Python's ``json.dumps(value, ensure_ascii=False)``, the one the model
sees in the ``# Tools`` section, and it keeps tokens from being spent on whitespace.

``tool_choice`` (IR ``ToolChoice``; ``None`` means ``auto``):

- ``auto``: an answer or calls (an answer only when there are no tools);
- ``none``: an answer only;
- ``required``: calls to any of the tools;
- ``tool``: calls to the named tool only.

Arguments follow each tool's JSON Schema (``Tool.parameters``):

- ``type`` ``object`` with ``properties``: members in the schema's order, every ``required``
  one present, optional ones may be omitted. ``additionalProperties`` defaults to ``false``
  when ``properties`` are given; when it is ``true`` or a schema, extra members (any key) may
  follow the declared ones. An object with neither ``properties`` nor ``additionalProperties``
  is any object; ``parameters=None`` is any object too.
- ``array`` (``items``; ``minItems >= 1`` makes it non-empty), ``string``, ``number``,
  ``integer``, ``boolean``, ``null``, a list of types, OpenAPI ``nullable: true``.
- ``enum`` / ``const``: exactly the canonical text of each value (``json.dumps``), so
  ``1.0`` must be written ``1.0`` and ``"é"`` raw, not ``"\\u00e9"``.
- ``anyOf`` / ``oneOf``: any branch (``oneOf`` exclusivity and sibling keywords are not
  enforced); ``allOf`` with one schema is that schema.
- ``$ref`` to ``#``, ``#/$defs/...`` or ``#/definitions/...`` of the same tool, recursion
  included.
- Anything else falls back to *any JSON value* (in the canonical layout): ``allOf`` of several
  schemas, ``not``, ``if``/``then``, ``patternProperties``, ``prefixItems``, tuple ``items``,
  external refs, ``false`` schemas, unknown types. Keywords that only narrow a type
  (``pattern``, ``format``, ``minLength``, ``minimum``, ``maxItems``, ``uniqueItems``...)
  are ignored: the grammar guarantees well-formed, well-typed calls; the tool still validates.

Rule names are GBNF identifiers (letters, digits, ``-``): tool ``get_weather`` owns the rules
``tool-get-weather``, ``tool-get-weather-args``, ``tool-get-weather-args-<property>``...
Shared rules (``string``, ``number``, ``value``...) come last.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, Literal

import msgspec

from thinkwire.errors import ThinkwireError
from thinkwire.ir.conversation import Tool, ToolChoice
from thinkwire.local.templates import ThoughtShape

Syntax = Literal["hermes"]

THINK_CLOSE: Final = "</think>\n"
"""What ends the thinking; the prompt pre-fills the opening ``<think>\\n``."""
HERMES_CALL_OPEN: Final = "<tool_call>\n"
HERMES_CALL_CLOSE: Final = "\n</tool_call>"
HERMES_CALL_SEPARATOR: Final = "\n"
"""Between two calls of a parallel turn."""
_CALL_TAG: Final = "<tool_call>"
# an answer beside tools may not write a call as JSON, nor hold one after some words ("Final
# answer: {..."); the keys are cut before their closing quote, since the default model, held
# off '"arguments"', wrote '{"name ": "calculate", "arguments ": {...}}' into its answers
_ARGUMENTS_KEY: Final = '"arguments'
_NAME_KEY: Final = '{"name'
_NOT_AN_ANSWER_START: Final = '({[<>`" \t\r\n'  # characters an answer beside tools may not start with
_PROSE_CHARS: Final = "[^<>{}]"  # a prose thought: no markup, no JSON (so no closing tag either)
_PROSE_START: Final = "[^<>{} \\x00-\\x1F]"  # and it does not start with a space or a line break
_PARAGRAPH: Final = "[^<>{}\\x00-\\x1F]"  # a thought the decision closes: one line


class GrammarError(ThinkwireError):
    """No grammar can be built for this request (a client error: answer 400).

    ``path`` points into the IR request: ``tool_choice.name`` for a named tool that does not
    exist, ``tool_choice`` for ``required`` with no tools, ``tools[2].name`` for a duplicate
    name, ``""`` for an unsupported syntax.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


def hermes_call(name: str, arguments: str) -> str:
    """The exact text of one Hermes call; ``arguments`` is JSON text, ``""`` meaning ``{}``."""
    return f'{HERMES_CALL_OPEN}{{"name": {_dump(name)}, "arguments": {arguments or "{}"}}}{HERMES_CALL_CLOSE}'


def build_grammar(
    tools: Sequence[Tool],
    tool_choice: ToolChoice | None,
    *,
    parallel: bool,
    syntax: Syntax = "hermes",
    think_close: str = THINK_CLOSE,
    thinking: bool = True,
    bare_calls: bool = False,
    thought: ThoughtShape | None = None,
    only: Literal["answer", "calls"] | None = None,
) -> str:
    """The GBNF grammar for one request, root rule ``root`` (see the module docstring).

    ``bare_calls``: a call may also be written as its bare JSON object, without the
    ``<tool_call>`` tags (``BARE CALL`` in the module docstring). ``thought``: the thought is
    ``PROSE`` of that shape (see the module docstring). ``only``: of what ``tool_choice``
    allows, keep only the answer or only the calls (after a thought that decided which).

    ``think_close`` is the template's closing think tag (the thinking may not contain it without
    its final newline). ``thinking=False``: the grammar starts after the thinking (no thought,
    no closing tag; ``think_close`` is not used). Raises ``GrammarError`` for a named tool that
    does not exist, ``required`` with no tools, duplicate or empty tool names (paths index
    ``tools`` as given), or a syntax other than ``hermes``.
    """
    if syntax != "hermes":
        raise GrammarError("", f"unsupported tool-call syntax {syntax!r}; expected 'hermes'")
    if thinking and not think_close.removesuffix("\n"):
        raise ValueError("think_close must be a closing tag such as '</think>\\n'")
    _check_names(tools)
    mode = tool_choice.mode if tool_choice is not None else "auto"
    if mode == "tool":
        name = tool_choice.name if tool_choice is not None else None
        chosen = [t for t in tools if t.name == name]
        if not chosen:
            known = ", ".join(repr(t.name) for t in tools) or "none"
            raise GrammarError(
                "tool_choice.name", f"tool_choice names tool {name!r}, which is not among the tools ({known})"
            )
        tools = chosen
    elif mode == "required" and not tools:
        raise GrammarError("tool_choice", "tool_choice requires a tool call but the request has no tools")

    g = _Grammar()
    g.reserve("root")
    prose: _Expr | None = None
    if thinking and thought is not None:
        size = "*" if thought.max_chars is None else f"{{0,{thought.max_chars}}}"
        last = thought.decide_last and thought.decision is not None
        body = _Rep(_Class(_PARAGRAPH if last else _PROSE_CHARS), size)
        opened = thought.decision is not None and not last  # the decision's words open it
        # after a lead ("The user asks") the thought goes on with its next word: a space first
        start = _Class(_PARAGRAPH if thought.lead else _PROSE_START)
        prose = g.rule("thought", body if opened else _seq(start, body))
    thinks = g.excluding("thought", think_close.removesuffix("\n")) if thinking and not prose else prose
    # the shape whose decision holds the turn: a thought is written, and it has decision words
    decides = thought if thinks is not None and thought is not None and thought.decision else None
    callable_tools = tools if mode != "none" and only != "answer" else ()
    per_tool = decides is not None and decides.per_tool
    calls: _Expr | None = None
    answers: _Expr | None = None
    if callable_tools and not per_tool:
        calls = g.calls(callable_tools, parallel=parallel, bare=bare_calls)
    answering = only != "calls" or not callable_tools
    if answering and mode == "auto" and tools:
        # small models otherwise "answer" with a bare JSON call instead of the <tool_call>
        # syntax (seen with the default model), so an answer beside tools may not open like one
        answer = g.reserve("answer")
        first = _Class("[^" + "".join(_class_char(c) for c in _NOT_AN_ANSWER_START) + "]")
        rest = g.excluding("answer-rest", (_CALL_TAG, _ARGUMENTS_KEY, _NAME_KEY))
        answers = g.define(answer, _seq(first, rest))
    elif answering and mode in ("auto", "none"):
        answers = g.excluding("answer", _CALL_TAG, nonempty=True)
    if decides is not None and decides.decision is not None and thinks is not None:
        # the thought's first (or last) words say which: (answer words) ... answer | (call words) ... calls
        # (one branch per tool, its calls to that tool only, when the call words name it)
        answer_words, call_words = decides.decision
        branches: list[tuple[str, _Expr | None]] = [(answer_words, answers)]
        if per_tool:
            branches += [
                (decides.call_words(t.name), g.calls([t], parallel=parallel, bare=bare_calls))
                for t in callable_tools
            ]
        else:
            branches.append((call_words, calls))
        close = _Lit(think_close)
        if decides.decide_last:  # one thought, then the branches (one stack)
            root = _seq(thinks, _alt(*(_seq(_Lit(w), close, a) for w, a in branches if a is not None)))
        else:
            root = _alt(*(_seq(_Lit(w), thinks, close, a) for w, a in branches if a is not None))
    else:
        after = _alt(*(part for part in (calls, answers) if part is not None))
        root = _seq(thinks, _Lit(think_close), after) if thinks is not None else after
    g.define("root", root)
    return g.render()


def _check_names(tools: Sequence[Tool]) -> None:
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        if not tool.name:
            raise GrammarError(f"tools[{i}].name", "a tool needs a name")
        if tool.name in seen:
            raise GrammarError(f"tools[{i}].name", f"duplicate tool name {tool.name!r}")
        seen.add(tool.name)


def _dump(value: Any) -> str:
    """``value`` in the canonical layout (``json.dumps`` separators, characters unescaped)."""
    return json.dumps(value, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# expressions: a tiny AST, so sequences merge their literals and groups get parenthesised once


class _Lit(msgspec.Struct, frozen=True):
    text: str


class _Class(msgspec.Struct, frozen=True):
    """A character class, already in GBNF (``[^"\\\\]``)."""

    text: str


class _Ref(msgspec.Struct, frozen=True):
    name: str


class _Seq(msgspec.Struct, frozen=True):
    items: tuple[_Expr, ...]


class _Alt(msgspec.Struct, frozen=True):
    items: tuple[_Expr, ...]


class _Rep(msgspec.Struct, frozen=True):
    item: _Expr
    op: str
    """``*``, ``+``, ``?`` or ``{m,n}``."""


_Expr = _Lit | _Class | _Ref | _Seq | _Alt | _Rep
_EMPTY: Final = _Lit("")


def _seq(*items: _Expr) -> _Expr:
    out: list[_Expr] = []
    for item in items:
        for part in item.items if isinstance(item, _Seq) else (item,):
            if isinstance(part, _Lit) and out and isinstance(out[-1], _Lit):
                out[-1] = _Lit(out[-1].text + part.text)
            elif part != _EMPTY:
                out.append(part)
    return out[0] if len(out) == 1 else _Seq(tuple(out)) if out else _EMPTY


def _alt(*items: _Expr) -> _Expr:
    out: list[_Expr] = []
    for item in items:
        for part in item.items if isinstance(item, _Alt) else (item,):
            if part not in out:
                out.append(part)
    if len(out) == 2 and out[1] == _EMPTY:
        return _opt(out[0])
    return out[0] if len(out) == 1 else _Alt(tuple(out))


def _opt(item: _Expr) -> _Expr:
    return _EMPTY if item == _EMPTY else _Rep(item, "?")


def _render(expr: _Expr, *, top: bool = False) -> str:
    if isinstance(expr, _Lit):
        return '"' + "".join(_LIT_ESCAPES.get(c) or _escape_control(c) for c in expr.text) + '"'
    if isinstance(expr, _Class):
        return expr.text
    if isinstance(expr, _Ref):
        return expr.name
    if isinstance(expr, _Seq):
        body = " ".join(_render(i) for i in expr.items)
        return body if top else f"({body})"
    if isinstance(expr, _Alt):
        body = " | ".join(_render(i, top=True) for i in expr.items)
        return body if top else f"({body})"
    return _render(expr.item) + expr.op


_LIT_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_control(char: str) -> str:
    return f"\\x{ord(char):02X}" if ord(char) < 0x20 or ord(char) == 0x7F else char


def _class_char(char: str) -> str:
    """One character inside ``[...]``: llama.cpp knows only ``\\\\ \\" \\[ \\]`` and the
    ``\\x`` / ``\\u`` forms, so ``^`` and ``-`` are written as hex."""
    if char in '\\"[]':
        return "\\" + char
    if char in "^-" or ord(char) < 0x20 or ord(char) == 0x7F:
        return f"\\x{ord(char):02X}"
    return char


# ---------------------------------------------------------------------------------------------
# the grammar under construction

_SHARED: Final[dict[str, str]] = {
    "value": "object | array | string | number | boolean | null",
    "object": '"{" (string ": " value (", " string ": " value)*)? "}"',
    "array": '"[" (value (", " value)*)? "]"',
    "string": '"\\"" string-char* "\\""',
    "string-char": '[^"\\\\\\x00-\\x1F] | "\\\\" (["\\\\/bfnrt] | "u" hex hex hex hex)',
    "hex": "[0-9a-fA-F]",
    "number": 'integer ("." [0-9]+)? ([eE] [-+]? [0-9]+)?',
    "integer": '"-"? ("0" | [1-9] [0-9]*)',
    "boolean": '"true" | "false"',
    "null": '"null"',
}
"""Shared rules in the canonical layout, and the rules each one uses."""
_SHARED_USES: Final = {
    "value": ("object", "array", "string", "number", "boolean", "null"),
    "object": ("string", "value"),
    "array": ("value",),
    "string": ("string-char",),
    "string-char": ("hex",),
    "number": ("integer",),
}
_ANNOTATIONS: Final = frozenset(
    {"title", "description", "default", "examples", "$comment", "$schema", "$id", "deprecated", "readOnly"}
)


def _ident(text: str) -> str:
    """A GBNF identifier made from ``text``: runs of other characters become ``-``."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "x"


class _Grammar:
    """Rules in definition order; shared rules are added on first use and written last."""

    def __init__(self) -> None:
        self._rules: dict[str, _Expr | None] = {}
        self._shared: set[str] = set()
        self._root: Mapping[str, Any] = {}
        self._refs: dict[str, str] = {}
        self._unconsumed: set[str] = set()
        self._prefix = ""
        self._pending: set[str] = set()

    # -- naming and output

    def reserve(self, name: str) -> str:
        """A fresh rule name based on ``name`` (``name``, ``name-2``, ...)."""
        base = _ident(name)
        candidate, n = base, 1
        while candidate in self._rules or candidate in _SHARED:
            n += 1
            candidate = f"{base}-{n}"
        self._rules[candidate] = None
        return candidate

    def define(self, name: str, body: _Expr) -> _Ref:
        self._rules[name] = body
        return _Ref(name)

    def rule(self, name: str, body: _Expr) -> _Ref:
        return self.define(self.reserve(name), body)

    def claim(self, name: str) -> str:
        """The name for the rule of a schema: a ``$ref``'s own name while it waits for its
        body (so a definition is one rule), else a fresh one."""
        if name in self._pending:
            self._pending.discard(name)
            return name
        return self.reserve(name)

    def shared(self, name: str) -> _Ref:
        self._shared.add(name)
        for used in _SHARED_USES.get(name, ()):
            if used not in self._shared:
                self.shared(used)
        return _Ref(name)

    def render(self) -> str:
        lines = [f"{name} ::= {_render(body or _EMPTY, top=True)}" for name, body in self._rules.items()]
        lines += [f"{name} ::= {body}" for name, body in _SHARED.items() if name in self._shared]
        return "\n".join(lines) + "\n"

    # -- text that never contains a string

    def excluding(self, name: str, forbidden: str | Sequence[str], *, nonempty: bool = False) -> _Ref:
        """A rule for any text that contains none of ``forbidden`` (non-empty on request).

        One rule per state of the string-matching automaton (Aho-Corasick): a state is the
        longest proper prefix of a forbidden string that the text ends with; a step that would
        complete a forbidden string is missing, every other character moves to the state the
        automaton says. With one string, state ``i`` is its first ``i`` characters.
        """
        patterns = (forbidden,) if isinstance(forbidden, str) else tuple(forbidden)
        prefixes = sorted({p[:i] for p in patterns for i in range(1, len(p))}, key=lambda t: (len(t), t))
        start = self.reserve(name)
        states = {"": self.reserve(f"{start}-rest") if nonempty else start}
        for k, prefix in enumerate(prefixes, 1):
            states[prefix] = self.reserve(f"{start}-{k}")
        for prefix, state in states.items():
            self.define(state, _alt(*_steps(patterns, prefix, states), _EMPTY))
        if nonempty:
            self.define(start, _alt(*_steps(patterns, "", states)))
        return _Ref(start)

    # -- tool calls

    def calls(self, tools: Sequence[Tool], *, parallel: bool, bare: bool = False) -> _Expr:
        call_name = self.reserve("call")
        calls_name = self.reserve("calls") if parallel else ""
        body_name = self.reserve("call-body") if bare else ""
        names = [self.reserve(f"tool-{tool.name}") for tool in tools]
        per_tool: list[_Expr] = []
        for tool, name in zip(tools, names, strict=True):
            params = tool.parameters or {}
            self._root, self._refs, self._unconsumed, self._prefix = params, {}, set(), name
            args = (
                self.schema(params, f"{name}-args") if params.keys() - _ANNOTATIONS else self.shared("object")
            )
            per_tool.append(self.define(name, _seq(_Lit(f'{_dump(tool.name)}, "arguments": '), args)))
        if bare:
            body = self.define(body_name, _seq(_Lit('{"name": '), _alt(*per_tool), _Lit("}")))
            tagged = _seq(_Lit(HERMES_CALL_OPEN), body, _Lit(HERMES_CALL_CLOSE))
            call = self.define(call_name, _alt(tagged, body))
        else:
            call = self.define(
                call_name,
                _seq(_Lit(HERMES_CALL_OPEN + '{"name": '), _alt(*per_tool), _Lit("}" + HERMES_CALL_CLOSE)),
            )
        if not parallel:
            return call
        return self.define(calls_name, _seq(call, _Rep(_seq(_Lit(HERMES_CALL_SEPARATOR), call), "*")))

    def schema(self, schema: Any, name: str) -> _Expr:
        """The expression for values matching ``schema``; ``name`` names any rule it needs."""
        if not isinstance(schema, dict) or not (schema.keys() - _ANNOTATIONS):
            return self.shared("value")
        if "$ref" in schema:
            return self._ref(schema["$ref"])
        if "const" in schema:
            return self._literals([schema["const"]], name)
        if "enum" in schema:
            return self._literals(schema["enum"], name)
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                own = self.claim(name)
                branches = [self.schema(s, f"{own}-{i + 1}") for i, s in enumerate(schema[key])]
                return self.define(own, _alt(*branches))
        if "allOf" in schema:
            parts = schema["allOf"]
            return (
                self.schema(parts[0], name)
                if isinstance(parts, list) and len(parts) == 1
                else self.shared("value")
            )
        kind = schema.get("type")
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else None
        kinds = kind if isinstance(kind, list) else [kind]
        if schema.get("nullable") is True and "null" not in kinds:
            kinds = [*kinds, "null"]
        if len(kinds) == 1:
            return self._typed(kinds[0], schema, name)
        own = self.claim(name)
        return self.define(own, _alt(*(self._typed(k, schema, f"{own}-{k}") for k in kinds)))

    def _typed(self, kind: Any, schema: dict[str, Any], name: str) -> _Expr:
        if kind in ("string", "number", "integer", "boolean", "null"):
            return self.shared(kind)
        if kind == "object":
            return self._consuming(lambda: self._object(schema, name))
        if kind == "array":
            return self._consuming(lambda: self._array(schema, name))
        return self.shared("value")

    def _literals(self, values: Any, name: str) -> _Expr:
        if not isinstance(values, list) or not values:
            return self.shared("value")
        texts = [_Lit(_dump(v)) for v in values if not (isinstance(v, float) and not math.isfinite(v))]
        if len(texts) == 1:
            return texts[0]
        return self.define(self.claim(name), _alt(*texts)) if texts else self.shared("value")

    def _array(self, schema: dict[str, Any], name: str) -> _Expr:
        items = schema.get("items", True)
        if isinstance(items, list) or "prefixItems" in schema:
            return self.shared("array")
        own = self.claim(name)
        item = self.schema(items, f"{own}-item")
        some = _seq(item, _Rep(_seq(_Lit(", "), item), "*"))
        min_items = schema.get("minItems")
        body = some if isinstance(min_items, int) and min_items >= 1 else _opt(some)
        return self.define(own, _seq(_Lit("["), body, _Lit("]")))

    def _object(self, schema: dict[str, Any], name: str) -> _Expr:
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if not isinstance(props, dict) or not props:
            if extra is None or extra is True:
                return self.shared("object")
            if extra is False:
                return _Lit("{}")
        own = self.claim(name)
        required = schema.get("required")
        required = set(required) if isinstance(required, list) else set()
        members = [
            (_seq(_Lit(_dump(key) + ": "), self.schema(sub, f"{own}-{key}")), key in required)
            for key, sub in (props or {}).items()
        ]
        # after the declared members: nothing, or extra members with any key
        first_tail: _Expr = _EMPTY
        rest_tail: _Expr = _EMPTY
        if extra is True or isinstance(extra, dict):
            value = self.schema(extra, f"{own}-extra")
            member = _seq(self.shared("string"), _Lit(": "), value)
            rest_tail = _Rep(_seq(_Lit(", "), member), "*")
            first_tail = _opt(_seq(member, rest_tail))
        return self.define(
            own, _seq(_Lit("{"), self._members(own, members, first_tail, rest_tail), _Lit("}"))
        )

    def _members(self, name: str, members: list[tuple[_Expr, bool]], first: _Expr, rest: _Expr) -> _Expr:
        """The declared members in order, required ones present, separated by ``", "``.

        Built from the last member backwards: ``first`` matches members ``i..`` when none was
        written before them, ``rest`` when one was (so each of its members starts with
        ``", "``): ``rest(i) = (", " kv)? rest(i + 1)`` for an optional member, and
        ``first(i) = kv rest(i + 1) | first(i + 1)``.
        """
        for i in range(len(members) - 1, -1, -1):
            kv, required = members[i]
            if i > 0 and not members[i - 1][1] and isinstance(rest, _Seq):
                # the optional member before this one copies rest(i + 1) into two places
                rest = self.rule(f"{name}-rest{i + 1}", rest)
            if required:
                first, rest = _seq(kv, rest), _seq(_Lit(", "), kv, rest)
            else:
                first, rest = _alt(_seq(kv, rest), first), _seq(_opt(_seq(_Lit(", "), kv)), rest)
        return first

    # -- references

    def _ref(self, ref: Any) -> _Expr:
        target = self._resolve(ref)
        if target is None or (ref in self._unconsumed):
            # unknown target, or a cycle that consumes nothing (left recursion): any value
            return self.shared("value")
        if ref in self._refs:
            return _Ref(self._refs[ref])
        last = ref.rsplit("/", 1)[-1] if ref != "#" else "root"
        name = self.reserve(f"{self._prefix}-def-{last}")
        self._refs[ref] = name
        self._unconsumed.add(ref)
        self._pending.add(name)
        try:
            body = self.schema(target, name)
        finally:
            self._unconsumed.discard(ref)
        if name in self._pending:  # the schema needed no rule of its own (a primitive, a literal)
            self._pending.discard(name)
            self.define(name, body)
        return _Ref(name)

    def _resolve(self, ref: Any) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            return None
        node: Any = self._root
        for part in filter(None, ref[1:].split("/")):
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    def _consuming(self, build: Any) -> _Expr:
        """Build an object or array: it consumes a bracket, so refs inside may recurse."""
        saved, self._unconsumed = self._unconsumed, set()
        try:
            result: _Expr = build()
        finally:
            self._unconsumed = saved
        return result


def _steps(patterns: Sequence[str], state: str, states: dict[str, str]) -> Iterator[_Expr]:
    """The moves out of ``state`` of the automaton for text avoiding every one of ``patterns``."""
    special = dict.fromkeys(c for p in patterns for c in p)  # characters that may leave state ""
    moves: dict[str, str | None] = {}
    for char in special:
        text = state + char
        if any(text.endswith(p) for p in patterns):
            moves[char] = None  # would complete a forbidden string: no move
        else:
            moves[char] = next(text[i:] for i in range(len(text) + 1) if text[i:] in states)
    others = "".join(_class_char(c) for c, t in moves.items() if t != "")
    yield _seq(_Class(f"[^{others}]"), _Ref(states[""]))
    for char, target in moves.items():
        if target:
            yield _seq(_Lit(char), _Ref(states[target]))
