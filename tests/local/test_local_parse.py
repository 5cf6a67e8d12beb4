"""Output parser: completions -> blocks, whole and streamed, malformed output included.

Every table case runs whole and streamed at every split point; both must agree.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thinkwire.ir import (
    ArgumentsDelta,
    Block,
    BlockDelta,
    BlockStart,
    BlockStop,
    Origin,
    StreamEvent,
    Text,
    Thinking,
    ThinkingDelta,
    Tool,
    ToolCall,
    fold,
)
from thinkwire.local.parse import DEFAULT_ORIGIN, ParsedCompletion, StreamParser, parse_completion
from thinkwire.local.render import render_assistant
from thinkwire.local.templates import ChatTemplate, get_template

QWEN25 = get_template("qwen2.5-think")
BARE_QWEN25 = msgspec.structs.replace(QWEN25, bare_calls=True)
QWEN3 = get_template("qwen3")
MINIMAX = get_template("minimax-m2")
DEEPSEEK = get_template("deepseek-r1-distill")
WEATHER = Tool(
    name="get_weather",
    parameters={"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}},
)


def ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"call_{next(counter)}"


def parse(text: str, template: ChatTemplate, tools: tuple[Tool, ...] = (WEATHER,)) -> ParsedCompletion:
    return parse_completion(text, template, tools=tools, new_id=ids())


def streamed(
    pieces: list[str], template: ChatTemplate, tools: tuple[Tool, ...] = (WEATHER,)
) -> list[StreamEvent]:
    parser = StreamParser(template, tools=tools, new_id=ids())
    events: list[StreamEvent] = []
    for piece in pieces:
        events += parser.feed(piece)
    return events + parser.close()


def think(text: str, **extra: object) -> Thinking:
    return Thinking(text=text, origin=DEFAULT_ORIGIN, extra={"local": dict(extra)} if extra else {})


CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
CASES: list[tuple[str, ChatTemplate, str, tuple[Block, ...]]] = [
    (
        "default: thought then call (what the grammar allows)",
        QWEN25,
        "The user wants the weather.\n</think>\n" + CALL,
        (
            think("The user wants the weather."),
            ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}'),
        ),
    ),
    (
        "default: thought then answer",
        QWEN25,
        "It is sunny.\n</think>\nParis is sunny today.",
        (think("It is sunny."), Text(text="Paris is sunny today.")),
    ),
    (
        "qwen3: native think, answer after a blank line",
        QWEN3,
        "<think>\nhmm\n</think>\n\nThe answer is 4.",
        (think("hmm"), Text(text="The answer is 4.")),
    ),
    (
        "qwen3: empty thinking, text, then two parallel calls",
        QWEN3,
        "<think>\n\n</think>\n\nLet me check.\n" + CALL + "\n" + CALL.replace("Paris", "Rome"),
        (
            think(""),
            Text(text="Let me check."),
            ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}'),
            ToolCall(id="call_2", name="get_weather", arguments='{"city": "Rome"}'),
        ),
    ),
    (
        "unusual whitespace is recorded, never lost",
        QWEN3,
        "<think>plan  </think>Answer.\n",
        (think("plan", lead="", trail="  "), Text(text="Answer.\n", extra={"local": {"gap": ""}})),
    ),
    (
        "arguments keep the exact JSON text the model wrote; an unusual layout is recorded",
        QWEN3,
        '<tool_call>\n{"name": "get_weather", "arguments": {"city":"Paris",  "days": 3}}\n</tool_call>',
        (
            ToolCall(
                id="call_1",
                name="get_weather",
                arguments='{"city":"Paris",  "days": 3}',
                extra={
                    "local": {
                        "raw": '<tool_call>\n{"name": "get_weather", '
                        '"arguments": {"city":"Paris",  "days": 3}}\n</tool_call>',
                        "calls": 1,
                    }
                },
            ),
        ),
    ),
    (
        "another key order is read, and its exact text recorded",
        QWEN3,
        '<tool_call>{"arguments": {"city": "Oslo"}, "name": "get_weather"}</tool_call>',
        (
            ToolCall(
                id="call_1",
                name="get_weather",
                arguments='{"city": "Oslo"}',
                extra={
                    "local": {
                        "raw": '<tool_call>{"arguments": {"city": "Oslo"}, "name": "get_weather"}'
                        "</tool_call>",
                        "calls": 1,
                    }
                },
            ),
        ),
    ),
    (
        "minimax: XML invoke, values typed by the schema",
        MINIMAX,
        'plan\n</think>\n\n<minimax:tool_call>\n<invoke name="get_weather">\n'
        '<parameter name="city">2024</parameter>\n<parameter name="days">3</parameter>\n'
        "</invoke>\n</minimax:tool_call>",
        (think("plan"), ToolCall(id="call_1", name="get_weather", arguments='{"city": "2024", "days": 3}')),
    ),
    (
        "minimax: two invokes in one element are parallel calls",
        MINIMAX,
        'x\n</think>\n\n<minimax:tool_call>\n<invoke name="get_weather">\n</invoke>\n'
        '<invoke name="get_weather">\n<parameter name="city">Rome</parameter>\n</invoke>\n'
        "</minimax:tool_call>",
        (
            think("x"),
            ToolCall(id="call_1", name="get_weather", arguments="{}"),
            ToolCall(id="call_2", name="get_weather", arguments='{"city": "Rome"}'),
        ),
    ),
    (
        "deepseek: prefilled think, Hermes call",
        DEEPSEEK,
        "ok\n</think>\n\n" + CALL,
        (think("ok"), ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')),
    ),
]


def _ids(cases: list[tuple[str, ChatTemplate, str, tuple[Block, ...]]]) -> list[str]:
    return [c[0] for c in cases]


@pytest.mark.parametrize(("label", "template", "text", "blocks"), CASES, ids=_ids(CASES))
def test_whole(label: str, template: ChatTemplate, text: str, blocks: tuple[Block, ...]) -> None:
    result = parse(text, template)
    assert result.blocks == blocks
    assert result.problems == ()


@pytest.mark.parametrize(("label", "template", "text", "blocks"), CASES, ids=_ids(CASES))
def test_streamed_at_every_split_point_folds_to_the_whole(
    label: str, template: ChatTemplate, text: str, blocks: tuple[Block, ...]
) -> None:
    for cut in range(len(text) + 1):
        assert fold(streamed([text[:cut], text[cut:]], template)).blocks == blocks, cut
    assert fold(streamed(list(text), template)).blocks == blocks


def test_thinking_and_text_stream_as_they_arrive() -> None:
    parser = StreamParser(QWEN3, new_id=ids())
    events = parser.feed("<think>\nLet me think")
    assert isinstance(events[0], BlockStart)
    assert isinstance(events[0].block, Thinking)
    assert events[1] == BlockDelta(index=0, delta=ThinkingDelta("Let me think"))
    assert parser.feed(" about it</th") == [BlockDelta(index=0, delta=ThinkingDelta(" about it"))]
    events = parser.feed("ink>\n\nThe answer")
    assert [type(e).__name__ for e in events] == ["BlockStop", "BlockStart", "BlockDelta"]
    assert parser.feed(" is 4.") != []


def test_a_call_is_emitted_whole_when_its_element_closes() -> None:
    parser = StreamParser(QWEN25, tools=(WEATHER,), new_id=ids())
    parser.feed("ok\n</think>\n")
    assert parser.feed(CALL[:-3]) == []  # not closed yet: nothing about the call
    events = parser.feed(CALL[-3:])
    assert events[0] == BlockStop(index=0)  # the thinking's stop waited for what follows
    assert events[1] == BlockStart(index=1, block=ToolCall(id="call_1", name="get_weather", arguments=""))
    assert events[2] == BlockDelta(index=1, delta=ArgumentsDelta('{"city": "Paris"}'))
    assert parser.close() == [BlockStop(index=1)]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (
            'ok\n</think>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": </tool_call>',
            "malformed-call",
        ),
        ('ok\n</think>\n<tool_call>\n{"arguments": {}}\n</tool_call>', "malformed-call"),
        ('ok\n</think>\n<tool_call>\n{"name": "f", "arguments": [1]}\n</tool_call>', "malformed-call"),
        ('ok\n</think>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Pa', "unclosed-call"),
    ],
)
def test_malformed_calls_stay_as_text_with_a_problem(text: str, kind: str) -> None:
    result = parse(text, QWEN25)
    assert result.tool_calls == ()
    (problem,) = result.problems
    assert problem.kind == kind
    _thought, rest = result.blocks
    assert isinstance(rest, Text)
    assert rest.text.startswith("<tool_call>")
    assert rest.extra["local"]["malformed"] == [problem.detail]
    assert problem.block == 1
    for cut in range(len(text) + 1):
        assert fold(streamed([text[:cut], text[cut:]], QWEN25)).blocks == result.blocks


BARE = '{"name": "get_weather", "arguments": {"city": "Paris"}}'


def bare_call(raw: str = BARE, arguments: str = '{"city": "Paris"}', **extra: object) -> ToolCall:
    return ToolCall(
        id="call_1",
        name="get_weather",
        arguments=arguments,
        extra={"local": {"raw": raw, "calls": 1, **extra}},
    )


BARE_CASES: list[tuple[str, str, tuple[Block, ...], list[str]]] = [
    ("a bare call after the thinking", "ok\n</think>\n" + BARE, (think("ok"), bare_call()), []),
    (
        "braces and quotes inside strings do not end it",
        'ok\n</think>\n{"name": "get_weather", "arguments": {"city": "} {\\"x"}}',
        (
            think("ok"),
            bare_call('{"name": "get_weather", "arguments": {"city": "} {\\"x"}}', '{"city": "} {\\"x"}'),
        ),
        [],
    ),
    (
        "another layout and what follows are kept",
        'ok\n</think>\n\n{"name":"get_weather","arguments":{}}\nDone.',
        (
            think("ok"),
            bare_call('{"name":"get_weather","arguments":{}}', "{}", gap="\n\n"),
            Text(text="Done."),
        ),
        [],
    ),
    (
        "two bare calls",
        "ok\n</think>\n" + BARE + "\n" + BARE,
        (think("ok"), bare_call(), msgspec.structs.replace(bare_call(), id="call_2")),
        [],
    ),
    (
        "JSON that is not a call is text",
        'ok\n</think>\n{"city": "Paris"} is my answer',
        (think("ok"), Text(text='{"city": "Paris"} is my answer')),
        [],
    ),
    (
        "JSON inside text is text",
        "ok\n</think>\nSure: " + BARE,
        (think("ok"), Text(text="Sure: " + BARE)),
        [],
    ),
    (
        "a bare call to a tool not offered is a problem, kept as text",
        'ok\n</think>\n{"name": "rm_rf", "arguments": {}}',
        (
            think("ok"),
            Text(
                text='{"name": "rm_rf", "arguments": {}}',
                extra={"local": {"malformed": ["not a bare call to an offered tool"]}},
            ),
        ),
        ["malformed-call"],
    ),
    (
        "a bare call cut short is a problem, kept as text",
        'ok\n</think>\n{"name": "get_weather", "arguments": {"ci',
        (
            think("ok"),
            Text(
                text='{"name": "get_weather", "arguments": {"ci',
                extra={"local": {"malformed": ["bare tool call not closed"]}},
            ),
        ),
        ["unclosed-call"],
    ),
    (
        "an unclosed object that is not a call is text",
        'ok\n</think>\n{"city": "Pa',
        (think("ok"), Text(text='{"city": "Pa')),
        [],
    ),
]


@pytest.mark.parametrize(("label", "text", "blocks", "problems"), BARE_CASES, ids=[c[0] for c in BARE_CASES])
def test_bare_calls_whole_and_streamed_at_every_split(
    label: str, text: str, blocks: tuple[Block, ...], problems: list[str]
) -> None:
    result = parse(text, BARE_QWEN25)
    assert result.blocks == blocks
    assert render_assistant(result.blocks, BARE_QWEN25, tools=(WEATHER,)) == BARE_QWEN25.prefill + text
    assert [p.kind for p in result.problems] == problems
    for cut in range(len(text) + 1):
        assert fold(streamed([text[:cut], text[cut:]], BARE_QWEN25)).blocks == blocks, cut
    assert fold(streamed(list(text), BARE_QWEN25)).blocks == blocks


def test_a_bare_call_is_emitted_whole_when_its_object_closes() -> None:
    parser = StreamParser(BARE_QWEN25, tools=(WEATHER,), new_id=ids())
    parser.feed("ok\n</think>\n")
    assert parser.feed(BARE[:-1]) == []
    events = parser.feed(BARE[-1:])
    assert events[0] == BlockStop(index=0)
    assert events[1] == BlockStart(index=1, block=ToolCall(id="call_1", name="get_weather", arguments=""))
    assert events[2] == BlockDelta(index=1, delta=ArgumentsDelta('{"city": "Paris"}'))
    assert parser.close() == [BlockStop(index=1, extra={"local": {"raw": BARE, "calls": 1}})]


def test_bare_calls_are_read_only_when_the_template_or_the_caller_asks() -> None:
    text = "ok\n</think>\n" + BARE
    assert parse_completion(text, BARE_QWEN25, tools=(WEATHER,), bare_calls=False).tool_calls == ()
    assert parse_completion(text, BARE_QWEN25, tools=()).tool_calls == ()  # no tools: it is text
    assert parse(text, DEEPSEEK).tool_calls == ()  # a template without bare calls
    assert parse(text, QWEN25).tool_calls == ()  # off by default (docs/local-engine.md)
    off = parse_completion(BARE, BARE_QWEN25, tools=(WEATHER,), new_id=ids(), think=False)
    assert off.blocks == (bare_call(no_think=True),)


def test_unclosed_thinking_is_marked_like_the_chat_codec_does() -> None:
    result = parse("I was cut off mid", QWEN25)
    (block,) = result.blocks
    assert isinstance(block, Thinking)
    assert block.text == "I was cut off mid"
    assert block.origin == Origin(dialect="openai-chat", carrier="think-tags", extra={"unclosed": True})
    assert [p.kind for p in result.problems] == ["unclosed-thinking"]


def test_a_call_to_a_tool_not_offered_is_kept_and_reported() -> None:
    result = parse('x\n</think>\n<tool_call>\n{"name": "rm_rf", "arguments": {}}\n</tool_call>', QWEN25)
    assert [c.name for c in result.tool_calls] == ["rm_rf"]
    assert [(p.kind, p.detail) for p in result.problems] == [("unknown-tool", "rm_rf")]


def test_origin_and_ids_are_the_callers() -> None:
    origin = Origin(dialect="openai-chat", carrier="think-tags", provider="local", model="m")
    result = parse_completion("t\n</think>\n" + CALL, QWEN25, new_id=lambda: "fixed", origin=origin)
    assert result.blocks[0] == Thinking(text="t", origin=origin)
    assert result.tool_calls[0].id == "fixed"


def test_feed_after_close_is_refused() -> None:
    parser = StreamParser(QWEN3)
    parser.close()
    assert parser.close() == []
    with pytest.raises(Exception, match="after close"):
        parser.feed("x")


PIECES = [
    "a",
    "Paris",
    " ",
    "\n",
    "\n\n",
    "<think>",
    "</think>",
    "<tool_c",
    "</tool_call>",
    CALL,
    "<tool_call>{oops}</tool_call>",
    '{"name": "get_weather", "arguments": {}}',
    "<minimax:tool_call>",
    '<invoke name="get_weather">\n<parameter name="days">2</parameter>\n</invoke>\n',
    "</minimax:tool_call>",
    "思考",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(st.sampled_from(PIECES) | st.text(max_size=4), max_size=12),
    cuts=st.lists(st.integers(0, 400), max_size=6),
    template=st.sampled_from([QWEN25, QWEN3, MINIMAX, DEEPSEEK]),
)
def test_any_output_parses_and_any_split_folds_to_the_whole(
    pieces: list[str], cuts: list[int], template: ChatTemplate
) -> None:
    text = "".join(pieces)
    whole = parse(text, template).blocks  # never raises
    points = sorted({min(c, len(text)) for c in cuts})
    split = [text[a:b] for a, b in itertools.pairwise([0, *points, len(text)])]
    assert fold(streamed(split, template)).blocks == whole


# --- the prefill the engine chose: thinking off, or opened for a budget ------------------------

NO_THINK_CASES: list[tuple[str, ChatTemplate, str, tuple[Block, ...]]] = [
    ("an answer", QWEN25, "Hello!", (Text(text="Hello!", extra={"local": {"no_think": True}}),)),
    (
        "a call",
        QWEN25,
        CALL,
        (
            ToolCall(
                id="call_1",
                name="get_weather",
                arguments='{"city": "Paris"}',
                extra={"local": {"no_think": True}},
            ),
        ),
    ),
    ("whitespace first is kept", QWEN3, "\nHi", (Text(text="\nHi", extra={"local": {"no_think": True}}),)),
    (
        "a model that thinks anyway",
        QWEN3,
        "<think>\nhm\n</think>\n\nHi",
        (Thinking(text="hm", extra={"local": {"no_think": True}}), Text(text="Hi")),
    ),
]


@pytest.mark.parametrize(("label", "template", "text", "blocks"), NO_THINK_CASES, ids=_ids(NO_THINK_CASES))
def test_with_thinking_off_the_empty_think_element_is_no_block(
    label: str, template: ChatTemplate, text: str, blocks: tuple[Block, ...]
) -> None:
    def origin(block: Block) -> Block:
        return Thinking(text=block.text, extra=block.extra) if isinstance(block, Thinking) else block

    whole = parse_completion(text, template, tools=(WEATHER,), new_id=ids(), think=False)
    assert tuple(origin(b) for b in whole.blocks) == blocks
    for cut in range(len(text) + 1):
        parser = StreamParser(template, tools=(WEATHER,), new_id=ids(), think=False)
        events = parser.feed(text[:cut]) + parser.feed(text[cut:]) + parser.close()
        assert fold(events).blocks == whole.blocks, cut


def test_a_prefill_other_than_the_templates_is_read_first() -> None:
    text = "short\n</think>\n\nHi"
    whole = parse_completion(text, QWEN3, prefill="<think>\n")
    assert whole.blocks == (Thinking(text="short", origin=DEFAULT_ORIGIN), Text(text="Hi"))  # no records
    assert parse_completion(text, QWEN3).blocks[0] == Text(text="short\n</think>\n\nHi")
