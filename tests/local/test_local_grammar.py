"""Tool-call grammars: golden text for small cases, and a GBNF recognizer that checks which
completions each grammar accepts (valid calls from the schema) and refuses (wrong tool, missing
required property, wrong enum value, bad JSON).

The recognizer parses GBNF exactly as llama.cpp's parser does for the subset the grammar module
emits (literals, character classes, rule references, groups, alternation, ``*`` ``+`` ``?``) and
decides membership by computing, for each rule and start position, every position where a match
can end.
"""

from __future__ import annotations

import json
import string
import sys
from functools import cache
from typing import Any, Final

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thinkwire.ir import Tool, ToolChoice
from thinkwire.local.grammar import (
    HERMES_CALL_SEPARATOR,
    THINK_CLOSE,
    GrammarError,
    build_grammar,
    hermes_call,
)
from thinkwire.local.templates import ThoughtShape

# ---------------------------------------------------------------------------------------------
# a GBNF recognizer for the subset the grammar module emits


class Lit(msgspec.Struct, frozen=True):
    text: str


class Class(msgspec.Struct, frozen=True):
    negated: bool
    ranges: tuple[tuple[int, int], ...]

    def matches(self, char: str) -> bool:
        inside = any(lo <= ord(char) <= hi for lo, hi in self.ranges)
        return inside != self.negated


class Ref(msgspec.Struct, frozen=True):
    name: str


class Seq(msgspec.Struct, frozen=True):
    items: tuple[Node, ...]


class Alt(msgspec.Struct, frozen=True):
    items: tuple[Node, ...]


class Rep(msgspec.Struct, frozen=True):
    item: Node
    op: str


Node = Lit | Class | Ref | Seq | Alt | Rep


class GbnfSyntaxError(Exception):
    pass


class _Parser:
    """llama.cpp's grammar parser (``parse_rule`` / ``parse_alternates`` / ``parse_sequence``)."""

    WORD: Final = frozenset(string.ascii_letters + string.digits + "-")

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0
        self.rules: dict[str, Node] = {}

    def peek(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.text[i] if i < len(self.text) else ""

    def space(self, newline_ok: bool) -> None:
        while self.peek() and (self.peek() in " \t#" or (newline_ok and self.peek() in "\r\n")):
            if self.peek() == "#":
                while self.peek() and self.peek() not in "\r\n":
                    self.pos += 1
            else:
                self.pos += 1

    def name(self) -> str:
        start = self.pos
        while self.peek() and self.peek() in self.WORD:
            self.pos += 1
        if start == self.pos:
            raise GbnfSyntaxError(f"expecting name at {self.text[start : start + 20]!r}")
        return self.text[start : self.pos]

    def char(self) -> int:
        c = self.peek()
        if not c:
            raise GbnfSyntaxError("unexpected end of input")
        if c != "\\":
            self.pos += 1
            return ord(c)
        e = self.peek(1)
        simple = {"t": "\t", "r": "\r", "n": "\n", "\\": "\\", '"': '"', "[": "[", "]": "]"}
        if e in simple:
            self.pos += 2
            return ord(simple[e])
        width = {"x": 2, "u": 4, "U": 8}.get(e)
        if width is None:
            raise GbnfSyntaxError(f"unknown escape \\{e}")
        digits = self.text[self.pos + 2 : self.pos + 2 + width]
        if len(digits) != width or any(d not in string.hexdigits for d in digits):
            raise GbnfSyntaxError(f"expecting {width} hex chars")
        self.pos += 2 + width
        return int(digits, 16)

    def parse(self) -> dict[str, Node]:
        self.space(True)
        while self.peek():
            name = self.name()
            self.space(False)
            if self.text[self.pos : self.pos + 3] != "::=":
                raise GbnfSyntaxError(f"expecting ::= after {name}")
            self.pos += 3
            self.space(True)
            if name in self.rules:
                raise GbnfSyntaxError(f"rule {name} defined twice")
            self.rules[name] = self.alternates(nested=False)
            if self.peek() == "\r":
                self.pos += 1
            if self.peek() == "\n":
                self.pos += 1
            elif self.peek():
                raise GbnfSyntaxError(f"expecting newline or end at {self.text[self.pos : self.pos + 20]!r}")
            self.space(True)
        return self.rules

    def alternates(self, nested: bool) -> Node:
        alts = [self.sequence(nested)]
        while self.peek() == "|":
            self.pos += 1
            self.space(True)
            alts.append(self.sequence(nested))
        return alts[0] if len(alts) == 1 else Alt(tuple(alts))

    def sequence(self, nested: bool) -> Node:
        items: list[Node] = []
        while self.peek():
            c = self.peek()
            if c == '"':
                self.pos += 1
                chars = []
                while self.peek() != '"':
                    chars.append(chr(self.char()))
                self.pos += 1
                items.append(Lit("".join(chars)))
            elif c == "[":
                self.pos += 1
                negated = self.peek() == "^"
                if negated:
                    self.pos += 1
                ranges = []
                while self.peek() != "]":
                    lo = self.char()
                    hi = lo
                    if self.peek() == "-" and self.peek(1) != "]":
                        self.pos += 1
                        hi = self.char()
                    ranges.append((lo, hi))
                self.pos += 1
                items.append(Class(negated, tuple(ranges)))
            elif c in self.WORD:
                items.append(Ref(self.name()))
            elif c == "(":
                self.pos += 1
                self.space(True)
                items.append(self.alternates(nested=True))
                if self.peek() != ")":
                    raise GbnfSyntaxError("expecting )")
                self.pos += 1
            elif c in "*+?":
                if not items:
                    raise GbnfSyntaxError(f"{c} without a preceding item")
                self.pos += 1
                items[-1] = Rep(items[-1], c)
            elif c == "{":
                end = self.text.index("}", self.pos)
                low, _, high = self.text[self.pos + 1 : end].partition(",")
                if not items or not low.isdigit() or not high.isdigit():
                    raise GbnfSyntaxError(
                        f"only x{{m,n}} is understood here, not {self.text[self.pos : end + 1]}"
                    )
                self.pos = end + 1
                items[-1] = Rep(items[-1], f"{{{low},{high}}}")
            else:
                break
            self.space(nested)
        return items[0] if len(items) == 1 else Seq(tuple(items))


class Recognizer:
    """Membership in the language of one rule of a GBNF grammar."""

    def __init__(self, grammar: str) -> None:
        self.rules = _Parser(grammar).parse()
        missing = {r.name for r in self._refs() if r.name not in self.rules}
        assert not missing, f"undefined rules: {missing}"
        assert "root" in self.rules

    def _refs(self) -> list[Ref]:
        found: list[Ref] = []

        def walk(node: Node) -> None:
            if isinstance(node, Ref):
                found.append(node)
            elif isinstance(node, Seq | Alt):
                for item in node.items:
                    walk(item)
            elif isinstance(node, Rep):
                walk(node.item)

        for node in self.rules.values():
            walk(node)
        return found

    def accepts(self, text: str, rule: str = "root") -> bool:
        memo: dict[tuple[str, int], frozenset[int]] = {}
        active: set[tuple[str, int]] = set()

        def ends(node: Node, pos: int) -> frozenset[int]:
            if isinstance(node, Lit):
                return frozenset({pos + len(node.text)}) if text.startswith(node.text, pos) else frozenset()
            if isinstance(node, Class):
                return frozenset({pos + 1}) if pos < len(text) and node.matches(text[pos]) else frozenset()
            if isinstance(node, Ref):
                key = (node.name, pos)
                if key not in memo:
                    assert key not in active, f"left recursion through {node.name}"
                    active.add(key)
                    memo[key] = ends(self.rules[node.name], pos)
                    active.discard(key)
                return memo[key]
            if isinstance(node, Seq):
                positions = frozenset({pos})
                for item in node.items:
                    positions = frozenset(e for p in positions for e in ends(item, p))
                return positions
            if isinstance(node, Alt):
                return frozenset(e for item in node.items for e in ends(item, pos))
            if node.op == "?":
                return frozenset({pos}) | ends(node.item, pos)
            if node.op.startswith("{"):  # {m,n}
                low, high = map(int, node.op[1:-1].split(","))
                found, frontier = set(), {pos}
                for count in range(high + 1):
                    if count >= low:
                        found |= frontier
                    frontier = {e for p in frontier for e in ends(node.item, p)}
                return frozenset(found)
            start = ends(node.item, pos) if node.op == "+" else frozenset({pos})
            found, frontier = set(start), set(start)
            while frontier:
                frontier = {e for p in frontier for e in ends(node.item, p)} - found
                found |= frontier
            return frozenset(found)

        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 20 * len(text) + 2000))
        try:
            return len(text) in ends(Ref(rule), 0)
        finally:
            sys.setrecursionlimit(limit)


@cache
def recognizer(grammar: str) -> Recognizer:
    return Recognizer(grammar)


def test_recognizer_follows_gbnf() -> None:
    r = Recognizer('root ::= ("a" | [b-d])+ x?\nx ::= [^\\x2D"] "\\n" # comment\n')
    assert r.accepts("abd")
    assert r.accepts("ab!\n")
    assert not r.accepts("ab-\n")
    assert not r.accepts("")
    with pytest.raises(GbnfSyntaxError):
        Recognizer('root ::= "\\q"\n')
    with pytest.raises(AssertionError, match="undefined"):
        Recognizer("root ::= nowhere\n")


# ---------------------------------------------------------------------------------------------
# schemas and tools

WEATHER = Tool(
    name="get_weather",
    parameters={
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "a city"},
            "unit": {"enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
)
SEARCH = Tool(
    name="search.web",
    parameters={
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1},
            "limit": {"type": "integer"},
            "filters": {
                "type": "object",
                "properties": {"site": {"type": "string"}, "after": {"type": ["string", "null"]}},
                "required": ["site"],
            },
            "tags": {"type": "array", "items": {"type": "string"}},
            "exact": {"type": "boolean"},
            "score": {"type": "number"},
            "mode": {"anyOf": [{"type": "integer"}, {"const": "auto"}]},
            "level": {"enum": [1, 2.5, True, None]},
        },
        "required": ["query", "filters"],
    },
)
TREE = Tool(
    name="plant",
    parameters={
        "type": "object",
        "properties": {"root": {"$ref": "#/$defs/Node"}},
        "required": ["root"],
        "additionalProperties": {"type": "integer"},
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}, "minItems": 1},
                },
                "required": ["label"],
            }
        },
    },
)
LOOSE = Tool(
    name="run",
    description="schema features the grammar does not model fall back to any JSON value",
    parameters={
        "type": "object",
        "properties": {
            "anything": {},
            "negated": {"not": {"type": "string"}},
            "both": {"allOf": [{"type": "string"}, {"maxLength": 3}]},
            "loop": {"$ref": "#/$defs/Loop"},
        },
        "required": ["anything", "negated", "both", "loop"],
        "$defs": {"Loop": {"anyOf": [{"$ref": "#/$defs/Loop"}, {"type": "string"}]}},
    },
)
ALL_TOOLS = (WEATHER, SEARCH, TREE, LOOSE)


def completion(calls: list[tuple[str, Any]], thought: str = "Let me check.") -> str:
    body = HERMES_CALL_SEPARATOR.join(
        hermes_call(name, json.dumps(args, ensure_ascii=False)) for name, args in calls
    )
    return thought + THINK_CLOSE + body


def with_value(tool: Tool, args: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """``args`` with ``key`` set to ``value``, keys in the schema's order."""
    merged = {**args, key: value}
    order = list((tool.parameters or {}).get("properties", {}))
    return dict(sorted(merged.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


def auto(tools: tuple[Tool, ...] = ALL_TOOLS, *, parallel: bool = False) -> Recognizer:
    return recognizer(build_grammar(tools, None, parallel=parallel))


# ---------------------------------------------------------------------------------------------
# golden text

GOLDEN_WEATHER = r"""root ::= thought "</think>\n" call
thought ::= [^<] thought | "<" thought-1 | ""
thought-1 ::= [^</] thought | "<" thought-1 | "/" thought-2 | ""
thought-2 ::= [^<t] thought | "<" thought-1 | "t" thought-3 | ""
thought-3 ::= [^<h] thought | "<" thought-1 | "h" thought-4 | ""
thought-4 ::= [^<i] thought | "<" thought-1 | "i" thought-5 | ""
thought-5 ::= [^<n] thought | "<" thought-1 | "n" thought-6 | ""
thought-6 ::= [^<k] thought | "<" thought-1 | "k" thought-7 | ""
thought-7 ::= [^<>] thought | "<" thought-1 | ""
call ::= "<tool_call>\n{\"name\": " tool-get-weather "}\n</tool_call>"
tool-get-weather ::= "\"get_weather\", \"arguments\": " tool-get-weather-args
tool-get-weather-args ::= "{\"city\": " string (", \"unit\": " tool-get-weather-args-unit)? "}"
tool-get-weather-args-unit ::= "\"celsius\"" | "\"fahrenheit\""
string ::= "\"" string-char* "\""
string-char ::= [^"\\\x00-\x1F] | "\\" (["\\/bfnrt] | "u" hex hex hex hex)
hex ::= [0-9a-fA-F]
"""

GOLDEN_ANSWER_ONLY = r"""root ::= thought "</think>\n" answer
thought ::= [^<] thought | "<" thought-1 | ""
thought-1 ::= [^</] thought | "<" thought-1 | "/" thought-2 | ""
thought-2 ::= [^<t] thought | "<" thought-1 | "t" thought-3 | ""
thought-3 ::= [^<h] thought | "<" thought-1 | "h" thought-4 | ""
thought-4 ::= [^<i] thought | "<" thought-1 | "i" thought-5 | ""
thought-5 ::= [^<n] thought | "<" thought-1 | "n" thought-6 | ""
thought-6 ::= [^<k] thought | "<" thought-1 | "k" thought-7 | ""
thought-7 ::= [^<>] thought | "<" thought-1 | ""
answer ::= [^<] answer-rest | "<" answer-1
answer-rest ::= [^<] answer-rest | "<" answer-1 | ""
answer-1 ::= [^<t] answer-rest | "<" answer-1 | "t" answer-2 | ""
answer-2 ::= [^<o] answer-rest | "<" answer-1 | "o" answer-3 | ""
answer-3 ::= [^<o] answer-rest | "<" answer-1 | "o" answer-4 | ""
answer-4 ::= [^<l] answer-rest | "<" answer-1 | "l" answer-5 | ""
answer-5 ::= [^<_] answer-rest | "<" answer-1 | "_" answer-6 | ""
answer-6 ::= [^<c] answer-rest | "<" answer-1 | "c" answer-7 | ""
answer-7 ::= [^<a] answer-rest | "<" answer-1 | "a" answer-8 | ""
answer-8 ::= [^<l] answer-rest | "<" answer-1 | "l" answer-9 | ""
answer-9 ::= [^<l] answer-rest | "<" answer-1 | "l" answer-10 | ""
answer-10 ::= [^<>] answer-rest | "<" answer-1 | ""
"""


def test_golden_one_tool_required() -> None:
    assert build_grammar([WEATHER], ToolChoice(mode="required"), parallel=False) == GOLDEN_WEATHER


def test_golden_answer_only() -> None:
    assert build_grammar([WEATHER], ToolChoice(mode="none"), parallel=True) == GOLDEN_ANSWER_ONLY
    assert build_grammar([], None, parallel=False) == GOLDEN_ANSWER_ONLY


def test_golden_object_rules_keep_schema_order_and_name_shared_tails() -> None:
    lines = build_grammar([SEARCH, TREE], None, parallel=True).splitlines()
    expected = [
        r'root ::= thought "</think>\n" (calls | answer)',
        r'calls ::= call ("\n" call)*',
        r'call ::= "<tool_call>\n{\"name\": " (tool-search-web | tool-plant) "}\n</tool_call>"',
        r'tool-search-web ::= "\"search.web\", \"arguments\": " tool-search-web-args',
        r'tool-search-web-args ::= "{\"query\": " string (", \"limit\": " integer)? ", \"filters\": " '
        r'tool-search-web-args-filters tool-search-web-args-rest3 "}"',
        r'tool-search-web-args-filters ::= "{\"site\": " string '
        r'(", \"after\": " tool-search-web-args-filters-after)? "}"',
        r"tool-search-web-args-filters-after ::= string | null",
        r'tool-search-web-args-tags ::= "[" (string (", " string)*)? "]"',
        r'tool-search-web-args-mode ::= integer | "\"auto\""',
        r'tool-search-web-args-level ::= "1" | "2.5" | "true" | "null"',
        r'tool-search-web-args-rest3 ::= (", \"tags\": " tool-search-web-args-tags)? '
        r'(", \"exact\": " boolean)? tool-search-web-args-rest5',
        r'tool-search-web-args-rest5 ::= (", \"score\": " number)? tool-search-web-args-rest6',
        r'tool-search-web-args-rest6 ::= (", \"mode\": " tool-search-web-args-mode)? '
        r'(", \"level\": " tool-search-web-args-level)?',
        r'tool-plant-args ::= "{\"root\": " tool-plant-def-Node (", " string ": " integer)* "}"',
        r'tool-plant-def-Node ::= "{\"label\": " string '
        r'(", \"children\": " tool-plant-def-Node-children)? "}"',
        r'tool-plant-def-Node-children ::= "[" tool-plant-def-Node (", " tool-plant-def-Node)* "]"',
    ]
    for line in expected:
        assert line in lines


def test_rule_names_are_gbnf_identifiers_and_unique() -> None:
    odd = Tool(
        name="weird name/ü__x", parameters={"type": "object", "properties": {"a b": {"enum": ["x", "y"]}}}
    )
    twin = Tool(name="weird-name-x", parameters=None)
    grammar = build_grammar([odd, twin], None, parallel=False)
    names = [line.split(" ::= ")[0] for line in grammar.splitlines()]
    assert len(names) == len(set(names))
    assert all(set(n) <= set(string.ascii_letters + string.digits + "-") for n in names)
    r = recognizer(grammar)
    assert r.accepts(completion([("weird name/ü__x", {"a b": "y"})]))
    assert r.accepts(completion([("weird-name-x", {"free": [1, {"form": None}]})]))


# ---------------------------------------------------------------------------------------------
# tool_choice


def test_tool_choice_modes() -> None:
    call = completion([("get_weather", {"city": "Paris"})])
    answer = "Thinking done." + THINK_CLOSE + "It is sunny."
    cases = [
        (None, True, True),
        (ToolChoice(mode="auto"), True, True),
        (ToolChoice(mode="none"), False, True),
        (ToolChoice(mode="required"), True, False),
        (ToolChoice(mode="tool", name="get_weather"), True, False),
        (ToolChoice(mode="tool", name="search.web"), False, False),
    ]
    for choice, call_ok, answer_ok in cases:
        r = recognizer(build_grammar([WEATHER, SEARCH], choice, parallel=False))
        assert (r.accepts(call), r.accepts(answer)) == (call_ok, answer_ok), choice
    named = recognizer(
        build_grammar([WEATHER, SEARCH], ToolChoice(mode="tool", name="search.web"), parallel=False)
    )
    assert named.accepts(completion([("search.web", {"query": "q", "filters": {"site": "x"}})]))


def test_tool_choice_errors_name_the_problem() -> None:
    with pytest.raises(
        GrammarError, match="'nope', which is not among the tools \\('get_weather'\\)"
    ) as info:
        build_grammar([WEATHER], ToolChoice(mode="tool", name="nope"), parallel=False)
    assert info.value.path == "tool_choice.name"
    with pytest.raises(GrammarError, match="no tools"):
        build_grammar([], ToolChoice(mode="required"), parallel=False)
    with pytest.raises(GrammarError, match="duplicate tool name 'get_weather'") as dup:
        build_grammar([WEATHER, WEATHER], None, parallel=False)
    assert dup.value.path == "tools[1].name"
    with pytest.raises(GrammarError, match="unsupported tool-call syntax"):
        build_grammar([WEATHER], None, parallel=False, syntax="minimax-xml")  # type: ignore[arg-type]


def test_parallel_calls_only_when_allowed() -> None:
    two = completion(
        [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo", "unit": "celsius"})]
    )
    assert auto(parallel=True).accepts(two)
    assert not auto(parallel=False).accepts(two)
    assert auto(parallel=True).accepts(completion([("get_weather", {"city": "Paris"})]))
    # calls and answers do not mix
    assert not auto(parallel=True).accepts(completion([("get_weather", {"city": "Paris"})]) + "\nDone.")


# ---------------------------------------------------------------------------------------------
# thought and answer


THINKY = st.text(alphabet=st.sampled_from([*"</think>_cal \n", "é", '"']), max_size=40)


@given(THINKY)
def test_thought_is_any_text_without_the_closing_tag(text: str) -> None:
    assert auto().accepts(text, "thought") == ("</think>" not in text)


@given(THINKY.map(lambda s: s.replace("think", "tool_call")))
def test_answer_is_any_nonempty_text_without_a_call_tag(text: str) -> None:
    answer_only = recognizer(build_grammar(ALL_TOOLS, ToolChoice(mode="none"), parallel=False))
    assert answer_only.accepts(text, "answer") == (text != "" and "<tool_call>" not in text)
    opens_like_a_call = text[:1] in ("", "{", "[", "<", ">", "`", '"', " ", "\n")
    writes_a_call = "<tool_call>" in text or '{"name"' in text or '"arguments"' in text
    assert auto().accepts(text, "answer") == (not opens_like_a_call and not writes_a_call)


@given(st.text(alphabet=st.sampled_from([*'<tool_call>"arguments{name', "x", " "]), max_size=40))
def test_an_answer_beside_tools_avoids_a_call_tag_and_the_keys_of_a_call(text: str) -> None:
    forbidden = "<tool_call>" in text or '"arguments' in text or '{"name' in text
    assert auto().accepts(text, "answer-rest") == (not forbidden)


def test_an_answer_beside_tools_cannot_be_a_bare_json_call() -> None:
    bare = '{"name": "get_weather", "arguments": {"city": "Lisbon"}}'
    assert not auto().accepts("Checking.</think>\n" + bare)
    assert not auto().accepts("Checking.</think>\n\n" + bare)
    assert not auto().accepts("Checking.</think>\n```json\n" + bare + "\n```")
    assert not auto().accepts('Checking.</think>\nSure: {"arguments": {}}')
    assert not auto().accepts('Checking.</think>\nFinal answer: {"name": "get_weather"')
    # what the default model wrote when the keys were held off only up to their closing quote
    assert not auto().accepts('Checking.</think>\nIt costs $25.\n{"name ": "calculate", "arguments ": {}}')
    assert not auto().accepts('Checking.</think>\n>{"city": "Lisbon"}')
    assert auto().accepts("Checking.</think>\nIt is 24 C and sunny in Lisbon.")


def test_thinking_closes_at_the_first_closing_tag() -> None:
    r = auto()
    assert r.accepts("a </thin </think <</think>\nHello")
    assert r.accepts("</think>\nno thinking at all")
    assert not r.accepts("a</think>b</think>\nHello")  # the first </think> must be followed by \n
    assert not r.accepts("thought without end")
    assert not r.accepts("done</think>\n")  # an empty answer
    assert not r.accepts("done</think>\n<tool_call>\n{bad json}\n</tool_call>")  # not an answer either


# ---------------------------------------------------------------------------------------------
# arguments: valid calls from the schema are accepted, broken ones refused

JSON_TEXT = st.text(st.characters(codec="utf-8"), max_size=8)
NUMBERS = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**12), 10**12)


def values(schema: Any, root: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values matching ``schema`` (the subset used by the test tools); past ``depth`` 3,
    optional properties are left out so recursive schemas stay small."""
    if not isinstance(schema, dict) or not schema:
        return st.recursive(
            st.none() | st.booleans() | NUMBERS | JSON_TEXT,
            lambda inner: st.lists(inner, max_size=2) | st.dictionaries(JSON_TEXT, inner, max_size=2),
            max_leaves=4,
        )
    if "$ref" in schema:
        if depth > 6:  # a ref that recurses without consuming anything (LOOSE's Loop)
            return st.nothing()
        target = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
        return st.deferred(lambda: values(target, root, depth + 1))
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of([values(s, root, depth) for s in schema["anyOf"]])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([values({**schema, "type": k}, root, depth) for k in kind])
    simple: dict[str, st.SearchStrategy[Any]] = {
        "string": JSON_TEXT,
        "integer": st.integers(-(10**12), 10**12),
        "number": NUMBERS,
        "boolean": st.booleans(),
        "null": st.none(),
    }
    if kind in simple:
        return simple[kind]
    if kind == "array":
        items = values(schema.get("items", {}), root, depth + 1)
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=2)
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))

    @st.composite
    def objects(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, sub in props.items():
            if key in required or (depth < 3 and draw(st.booleans())):
                out[key] = draw(values(sub, root, depth + 1))
        return out

    return objects()


def calls_of(tool: Tool) -> st.SearchStrategy[tuple[str, Any]]:
    params = tool.parameters or {}
    return values(params, params).map(lambda args: (tool.name, args))


ANY_CALL = st.one_of([calls_of(t) for t in ALL_TOOLS])
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(ANY_CALL, min_size=1, max_size=3), THINKY.filter(lambda s: "</think>" not in s))
def test_valid_calls_are_accepted(calls: list[tuple[str, Any]], thought: str) -> None:
    text = completion(calls, thought)
    assert auto(parallel=True).accepts(text)
    assert auto(parallel=False).accepts(text) == (len(calls) == 1)
    for name, _ in calls:
        only = recognizer(build_grammar(ALL_TOOLS, ToolChoice(mode="tool", name=name), parallel=True))
        assert only.accepts(text) == all(n == name for n, _ in calls)


@SETTINGS
@given(
    calls_of(WEATHER) | calls_of(SEARCH), st.sampled_from(["nope", "get_Weather", "search", "search.web "])
)
def test_wrong_tool_name_is_refused(call: tuple[str, Any], wrong: str) -> None:
    assert not auto().accepts(completion([(wrong, call[1])]))


@SETTINGS
@given(calls_of(SEARCH), st.data())
def test_missing_required_property_is_refused(call: tuple[str, Any], data: st.DataObject) -> None:
    name, args = call
    missing = data.draw(st.sampled_from(["query", "filters", "filters.site"]))
    if missing == "filters.site":
        args["filters"].pop("site")
    else:
        args.pop(missing)
    assert not auto().accepts(completion([(name, args)]))


@SETTINGS
@given(calls_of(WEATHER), st.sampled_from(["kelvin", "Celsius", 1, None, ["celsius"]]))
def test_wrong_enum_value_is_refused(call: tuple[str, Any], unit: Any) -> None:
    name, args = call
    assert not auto().accepts(completion([(name, with_value(WEATHER, args, "unit", unit))]))


@SETTINGS
@given(calls_of(SEARCH), st.sampled_from(["limit", "exact", "tags", "level", "filters"]))
def test_wrong_types_and_unknown_properties_are_refused(call: tuple[str, Any], key: str) -> None:
    name, args = call
    wrong = {"limit": 1.5, "exact": "yes", "tags": "a,b", "level": 3, "filters": {"site": 1}}[key]
    assert auto().accepts(completion([(name, args)]))
    assert not auto().accepts(completion([(name, with_value(SEARCH, args, key, wrong))]))
    assert not auto().accepts(completion([(name, {**args, "surprise": 1})]))


BREAKERS = {
    "truncated": lambda s: s[:-1],
    "trailing comma": lambda s: s[:-1] + ", }",
    "single quotes": lambda s: s.replace('"', "'"),
    "compact layout": lambda s: (
        s.replace(", ", ",").replace(": ", ":") if ", " in s or ": " in s else s + " "
    ),
    "raw newline in a string": lambda s: s.replace('"city": "', '"city": "\n'),
    "unquoted key": lambda s: s.replace('"city"', "city"),
    "doubled brace": lambda s: "{" + s + "}",
}


@SETTINGS
@given(calls_of(WEATHER), st.sampled_from(sorted(BREAKERS)))
def test_bad_json_is_refused(call: tuple[str, Any], breaker: str) -> None:
    name, args = call
    text = BREAKERS[breaker](json.dumps(args, ensure_ascii=False))
    assert not auto().accepts("ok" + THINK_CLOSE + hermes_call(name, text))


def test_call_framing_is_exact() -> None:
    good = completion([("get_weather", {"city": "Paris"})], "x")
    assert (
        good
        == 'x</think>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    )
    r = auto()
    assert r.accepts(good)
    for bad in (
        good.replace("<tool_call>\n", "<tool_call>"),
        good.replace('"arguments": ', '"arguments":'),
        good.replace('{"name": "get_weather", ', '{"name":"get_weather", '),
        good.replace("}\n</tool_call>", "}</tool_call>"),
        good.replace("</think>\n", "</think>\n\n"),
        good.replace("</think>\n", "</think>"),
    ):
        assert not r.accepts(bad), bad


def test_properties_come_in_schema_order() -> None:
    assert auto().accepts(completion([("get_weather", {"city": "Paris", "unit": "celsius"})]))
    assert not auto().accepts(completion([("get_weather", {"unit": "celsius", "city": "Paris"})]))


def test_recursive_refs_extra_members_and_fallbacks() -> None:
    r = auto()
    tree = {
        "root": {"label": "a", "children": [{"label": "b"}, {"label": "c", "children": [{"label": "d"}]}]}
    }
    assert r.accepts(completion([("plant", tree)]))
    assert r.accepts(completion([("plant", {**tree, "x": 1, "y": -2})]))  # additionalProperties: integer
    assert not r.accepts(completion([("plant", {**tree, "x": "one"})]))
    assert not r.accepts(completion([("plant", {"root": {"label": "a", "children": []}})]))  # minItems: 1
    loose = {
        "anything": {"k": [None, 1.5e300, "é\n"]},
        "negated": "a string after all",
        "both": 12,
        "loop": [1],
    }
    assert r.accepts(completion([("run", loose)]))


def test_enum_literals_are_canonical_json() -> None:
    tool = Tool(
        name="t", parameters={"type": "object", "properties": {"v": {"enum": ["é", 1.0, {"a": [1, 2]}]}}}
    )
    r = recognizer(build_grammar([tool], None, parallel=False))
    for value in ("é", 1.0, {"a": [1, 2]}):
        assert r.accepts(completion([("t", {"v": value})]))
    assert not r.accepts("x" + THINK_CLOSE + hermes_call("t", '{"v": "\\u00e9"}'))
    assert not r.accepts("x" + THINK_CLOSE + hermes_call("t", '{"v": 1}'))


def test_parameters_none_or_empty_take_any_object() -> None:
    for params in (None, {}, {"type": "object"}, {"description": "no arguments"}):
        r = recognizer(build_grammar([Tool(name="t", parameters=params)], None, parallel=False))
        assert r.accepts(completion([("t", {})]))
        assert r.accepts(completion([("t", {"a": [1, {"b": None}]})]))
        assert not r.accepts("x" + THINK_CLOSE + hermes_call("t", "[1]"))
    closed = Tool(name="t", parameters={"type": "object", "additionalProperties": False})
    r = recognizer(build_grammar([closed], None, parallel=False))
    assert r.accepts(completion([("t", {})]))
    assert not r.accepts(completion([("t", {"a": 1})]))


def test_think_close_must_be_a_tag() -> None:
    with pytest.raises(ValueError, match="closing tag"):
        build_grammar([WEATHER], None, parallel=False, think_close="\n")


# ---------------------------------------------------------------------------------------------
# after the thinking (thinking off, or the second phase of a thinking budget)


def test_golden_answer_only_after_the_thinking() -> None:
    expected = "root ::= answer\n" + GOLDEN_ANSWER_ONLY.split("\n", 9)[9]  # without the thought rules
    assert build_grammar([], None, parallel=False, thinking=False) == expected


def test_after_the_thinking_the_grammar_starts_with_the_call_or_the_answer() -> None:
    call = hermes_call("get_weather", '{"city": "Paris"}')
    for choice, call_ok, answer_ok in [
        (None, True, True),
        (ToolChoice(mode="none"), False, True),
        (ToolChoice(mode="required"), True, False),
    ]:
        after = recognizer(build_grammar([WEATHER], choice, parallel=False, thinking=False))
        full = recognizer(build_grammar([WEATHER], choice, parallel=False))
        assert (after.accepts(call), after.accepts("It is sunny.")) == (call_ok, answer_ok), choice
        assert (full.accepts("Hm." + THINK_CLOSE + call), full.accepts(call)) == (call_ok, False), choice
    after = recognizer(build_grammar([WEATHER], None, parallel=False, thinking=False))
    assert not after.accepts("Hm." + THINK_CLOSE + call)  # no thought any more
    assert not after.accepts('{"name": "get_weather", "arguments": {"city": "Paris"}}')  # still no bare JSON
    assert build_grammar([WEATHER], None, parallel=False, thinking=False, think_close="\n")  # not used


# ---------------------------------------------------------------------------------------------
# bare calls


def bare(name: str, args: Any) -> str:
    return json.dumps({"name": name, "arguments": args}, ensure_ascii=False)


def test_bare_calls_are_calls_only_when_asked_for() -> None:
    call = "Checking.</think>\n" + bare("get_weather", {"city": "Lisbon"})
    with_bare = recognizer(build_grammar(ALL_TOOLS, None, parallel=False, bare_calls=True))
    assert with_bare.accepts(call)
    assert not auto().accepts(call)
    # the tagged form stays, answers keep their restrictions
    assert with_bare.accepts(completion([("get_weather", {"city": "Lisbon"})]))
    assert with_bare.accepts("Checking.</think>\nIt is sunny.")
    assert not with_bare.accepts('Checking.</think>\nSure: {"arguments": {}}')


@SETTINGS
@given(st.lists(ANY_CALL, min_size=1, max_size=3), st.lists(st.booleans(), min_size=3, max_size=3))
def test_bare_calls_follow_the_same_schemas_and_mix_with_tagged_ones(
    calls: list[tuple[str, Any]], tagged: list[bool]
) -> None:
    body = HERMES_CALL_SEPARATOR.join(
        hermes_call(name, json.dumps(args, ensure_ascii=False)) if tag else bare(name, args)
        for (name, args), tag in zip(calls, tagged, strict=False)
    )
    text = "ok" + THINK_CLOSE + body
    parallel = recognizer(build_grammar(ALL_TOOLS, None, parallel=True, bare_calls=True))
    single = recognizer(build_grammar(ALL_TOOLS, None, parallel=False, bare_calls=True))
    assert parallel.accepts(text)
    assert single.accepts(text) == (len(calls) == 1)
    required = recognizer(
        build_grammar(ALL_TOOLS, ToolChoice(mode="required"), parallel=True, bare_calls=True)
    )
    assert required.accepts(text)


def test_a_bare_call_is_framed_exactly() -> None:
    r = recognizer(build_grammar(ALL_TOOLS, None, parallel=False, bare_calls=True))
    good = "x</think>\n" + bare("get_weather", {"city": "Paris"})
    assert r.accepts(good)
    for bad in (
        good + "\n",
        good + " Done.",
        good.replace('"arguments": ', '"arguments":'),
        good.replace("</think>\n", "</think>\n "),
        "x</think>\n" + bare("nope", {"city": "Paris"}),
        "x</think>\n" + bare("get_weather", {"city": 1}),
        "x</think>\n" + json.dumps({"arguments": {"city": "Paris"}, "name": "get_weather"}),
    ):
        assert not r.accepts(bad), bad
    off = build_grammar(ALL_TOOLS, ToolChoice(mode="none"), parallel=False, bare_calls=True)
    assert "call" not in off  # with tool_choice none that text is an answer (read as text)
    after = recognizer(build_grammar(ALL_TOOLS, None, parallel=False, thinking=False, bare_calls=True))
    assert after.accepts(bare("get_weather", {"city": "Paris"}))


# ---------------------------------------------------------------------------------------------
# prose thinking

PROSE = ThoughtShape()
DECIDING = ThoughtShape(max_chars=20, decision=(" No,", " Yes,"))


@given(st.text(alphabet=st.sampled_from([*"ab <>{}\n.\"'", "é"]), max_size=30))
def test_a_prose_thought_is_text_without_markup_or_json_that_does_not_open_with_whitespace(text: str) -> None:
    prose = recognizer(build_grammar(ALL_TOOLS, None, parallel=False, thought=PROSE))
    expected = text[:1] not in ("", "\n", " ") and not any(c in text for c in "<>{}")
    assert prose.accepts(text, "thought") == expected


def test_prose_thinking_refuses_a_call_in_the_thinking_and_keeps_calls_and_answers_after_it() -> None:
    prose = recognizer(build_grammar(ALL_TOOLS, None, parallel=False, bare_calls=True, thought=PROSE))
    call = bare("get_weather", {"city": "Lisbon"})
    assert prose.accepts("I need the weather in Lisbon, so I call the tool.\n</think>\n" + call)
    assert prose.accepts("I know this: it is Paris.\n</think>\nThe capital of France is Paris.")
    assert not prose.accepts(call + "</think>\n" + call)
    assert not prose.accepts('<call function="get_weather"/></think>\n' + call)
    assert not prose.accepts("</think>\nIt is sunny.")  # some thinking, always
    assert not prose.accepts("\nI need it.</think>\n" + call)


def test_a_deciding_thought_opens_with_its_decision_and_what_follows_keeps_to_it() -> None:
    r = recognizer(build_grammar(ALL_TOOLS, None, parallel=False, bare_calls=True, thought=DECIDING))
    call = bare("get_weather", {"city": "Lisbon"})
    assert r.accepts(" Yes, the weather.</think>\n" + call)
    assert r.accepts(" No, it is Paris.</think>\nParis.")
    assert not r.accepts(" No, it is Paris.</think>\n" + call)  # said no tool, calls one
    assert not r.accepts(" Yes, the weather.</think>\nIt is sunny.")  # said a tool, answers
    assert not r.accepts("Maybe.</think>\nParis.")
    assert r.accepts(" No," + "x" * 20 + "</think>\nParis.")
    assert not r.accepts(" No," + "x" * 21 + "</think>\nParis.")  # at most max_chars after the word
    # what tool_choice allows comes first: only the answer branch without tools or with none
    answer_only = recognizer(build_grammar((), None, parallel=False, thought=DECIDING))
    assert answer_only.accepts(" No, hello.</think>\nHello!")
    assert not answer_only.accepts(" Yes, hello.</think>\nHello!")
    required = recognizer(
        build_grammar(ALL_TOOLS, ToolChoice(mode="required"), parallel=False, thought=DECIDING)
    )
    assert not required.accepts(" No, hello.</think>\nHello!")


PLANNING = ThoughtShape(
    max_chars=30, decision=("\nNext: answer.\n", "\nNext: call {tool}.\n"), decide_last=True
)


def test_a_thought_that_decides_last_is_one_paragraph_then_the_next_step_that_the_turn_keeps_to() -> None:
    r = recognizer(build_grammar(ALL_TOOLS, None, parallel=False, bare_calls=True, thought=PLANNING))
    call = bare("get_weather", {"city": "Lisbon"})
    step = "\nNext: call get_weather.\n</think>\n"
    assert r.accepts("I need the weather." + step + call)
    assert r.accepts("Paris, I know it.\nNext: answer.\n</think>\nParis.")
    other = {"anything": 1, "negated": 2, "both": "x", "loop": "y"}
    assert r.accepts("I run it.\nNext: call run.\n</think>\n" + bare("run", other))
    assert not r.accepts("I need the weather." + step + bare("run", other))  # another tool than named
    assert not r.accepts("I need the weather." + step + "It is sunny.")  # named a tool, answers
    assert not r.accepts("Paris.\nNext: answer.\n</think>\n" + call)  # said answer, calls
    assert not r.accepts("I need it.\nAnd more." + step + call)  # one paragraph: no other line break
    assert not r.accepts("Next: call get_weather.\n</think>\n" + call)  # some prose first
    assert not r.accepts("x" * 32 + step + call)  # at most max_chars of prose
    assert r.accepts("x" * 31 + step + call)
    answer_only = recognizer(build_grammar((), None, parallel=False, thought=PLANNING))
    assert answer_only.accepts("Hi.\nNext: answer.\n</think>\nHello!")
    assert not answer_only.accepts("Hi.\nNext: call get_weather.\n</think>\nHello!")


def test_a_thought_after_a_lead_goes_on_with_its_next_word() -> None:
    led = recognizer(
        build_grammar(
            ALL_TOOLS, None, parallel=False, thought=msgspec.structs.replace(PLANNING, lead="The user asks")
        )
    )
    unled = recognizer(build_grammar(ALL_TOOLS, None, parallel=False, thought=PLANNING))
    step = "\nNext: answer.\n</think>\nParis."
    assert led.accepts(" for the capital." + step)  # the lead is in the prompt; a space goes on from it
    assert not unled.accepts(" for the capital." + step)  # without one a thought opens on a word
    assert unled.accepts("For the capital." + step)
    assert not led.accepts("\nfor the capital." + step)  # still one line


def test_after_a_decided_thought_only_that_branch_is_left() -> None:
    call = bare("get_weather", {"city": "Lisbon"})
    answers = recognizer(
        build_grammar(ALL_TOOLS, None, parallel=False, thinking=False, bare_calls=True, only="answer")
    )
    calls = recognizer(
        build_grammar(ALL_TOOLS, None, parallel=False, thinking=False, bare_calls=True, only="calls")
    )
    assert answers.accepts("It is sunny.")
    assert not answers.accepts(call)
    assert not answers.accepts("```json")  # still an answer beside tools: not opening like a call
    assert calls.accepts(call)
    assert not calls.accepts("It is sunny.")
    # only calls where none are allowed: the answer stays
    none = recognizer(
        build_grammar(ALL_TOOLS, ToolChoice(mode="none"), parallel=False, thinking=False, only="calls")
    )
    assert none.accepts("It is sunny.")
