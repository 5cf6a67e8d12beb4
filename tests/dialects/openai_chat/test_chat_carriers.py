"""The reasoning carriers: inline <think> tags (whole and streamed) and reasoning_details items."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thinkwire.dialects.openai_chat import CODEC
from thinkwire.dialects.openai_chat.carriers import ThinkSplitter, split_think_tags
from thinkwire.errors import DecodeError
from thinkwire.ir import Origin, RedactedThinking, Text, Thinking
from thinkwire.ir.blocks import Opaque

ORIGIN = Origin(dialect="openai-chat", carrier="think-tags")


def _shape(blocks: list[Text | Thinking]) -> list[tuple[str, str]]:
    return [("think" if isinstance(b, Thinking) else "text", b.text) for b in blocks]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", []),
        ("just text", [("text", "just text")]),
        ("<think>\nplan\n</think>\n\nanswer", [("think", "\nplan\n"), ("text", "\n\nanswer")]),
        (
            "<think>a</think>x<think>b</think>y",
            [("think", "a"), ("text", "x"), ("think", "b"), ("text", "y")],
        ),
        ("before<think>a</think>", [("text", "before"), ("think", "a")]),
        ("<think>a</think><think>b</think>", [("think", "a"), ("think", "b")]),
        ("<think></think>ok", [("think", ""), ("text", "ok")]),
        ("a < b and c > d", [("text", "a < b and c > d")]),
        ("<thinking>not a tag</thinking>", [("text", "<thinking>not a tag</thinking>")]),
        ("stray</think>close", [("text", "stray</think>close")]),
        # tags do not nest: the first </think> closes, the rest is text
        ("<think>a<think>b</think>c</think>d", [("think", "a<think>b"), ("text", "c</think>d")]),
    ],
)
def test_split_think_tags_keeps_inline_order_and_exact_text(
    content: str, expected: list[tuple[str, str]]
) -> None:
    assert _shape(split_think_tags(content, ORIGIN)) == expected


def test_unclosed_think_is_marked_and_written_back_without_a_closing_tag() -> None:
    blocks = split_think_tags("ok<think>cut off mid", ORIGIN)
    assert _shape(blocks) == [("text", "ok"), ("think", "cut off mid")]
    thinking = blocks[1]
    assert isinstance(thinking, Thinking)
    assert thinking.origin is not None
    assert thinking.origin.extra == {"unclosed": True}
    wire = {"messages": [{"role": "assistant", "content": "ok<think>cut off mid"}]}
    assert CODEC.encode_request(CODEC.decode_request(wire)).value == wire


@pytest.mark.parametrize(
    "content",
    [
        "<think>a</think>x<think>b</think>y",
        "<think>a<think>b</think>c</think>d",
        "pre <think> mid </think> post <think>open",
        "<think></think><think></think>",
    ],
)
def test_think_tag_content_round_trips_byte_for_byte(content: str) -> None:
    wire = {"messages": [{"role": "assistant", "content": content}]}
    assert CODEC.encode_request(CODEC.decode_request(wire)).value == wire


def _split_streamed(chunks: list[str]) -> list[tuple[str, str]]:
    """Feed chunks to a splitter and rebuild whole blocks as the stream decoder does: a tag
    always starts a new block, adjacent pieces of one block are joined."""
    splitter = ThinkSplitter()
    out: list[tuple[str, str]] = []
    items = [item for chunk in chunks for item in splitter.feed(chunk)] + splitter.flush()
    for kind, text in items:
        if kind == "open":
            out.append(("think", ""))
        elif kind == "close":
            out.append(("closed", ""))
        elif out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + text)
        else:
            out.append((kind, text))
    return [(k, t) for k, t in out if k != "closed"]


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        (["<thi", "nk>plan</th", "ink>answer"], [("think", "plan"), ("text", "answer")]),
        (["<", "think>", "x", "<", "/think>"], [("think", "x")]),
        (["a <", " b"], [("text", "a < b")]),
        (["text<thin"], [("text", "text<thin")]),  # flushed at the end as text
        (["<think>cut</thi"], [("think", "cut</thi")]),  # flushed as thinking
        (["<<think>x</think>"], [("text", "<"), ("think", "x")]),
    ],
)
def test_splitter_handles_tags_cut_across_chunks(chunks: list[str], expected: list[tuple[str, str]]) -> None:
    assert _split_streamed(chunks) == expected


def test_splitter_releases_a_held_back_lt_as_soon_as_it_cannot_be_a_tag() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("x <") == [("text", "x ")]
    assert splitter.feed("= y") == [("text", "<= y")]
    assert splitter.feed("<think") == []
    assert splitter.feed(">") == [("open", "")]


_PIECES = st.sampled_from(["<think>", "</think>", "<", "<thi", "nk>", "</", "a", " ", "\n", ">", "é"])


@given(st.lists(_PIECES, max_size=14).map("".join), st.data())
def test_splitter_matches_whole_split_for_any_chunking(content: str, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(content) - 1)), max_size=6)))
    bounds = [0, *[c for c in cuts if c < len(content)], len(content)]
    chunks = [content[a:b] for a, b in itertools.pairwise(bounds)]
    assert _split_streamed(chunks) == _shape(split_think_tags(content, ORIGIN))


# ---------------------------------------------------------------------------------------------
# reasoning_details


def _assistant(**fields: Any) -> dict[str, Any]:
    return {"messages": [{"role": "assistant", "content": "done", **fields}]}


def test_details_items_map_one_block_each_in_order() -> None:
    details = [
        {
            "type": "reasoning.summary",
            "summary": "Compared both plans.",
            "id": "rs_1",
            "format": "openai-responses-v1",
            "index": 0,
        },
        {
            "type": "reasoning.encrypted",
            "data": "gAAAAABo...",
            "id": "rs_1",
            "format": "openai-responses-v1",
            "index": 1,
        },
        {
            "type": "reasoning.text",
            "text": "Plan B is cheaper.",
            "signature": "sig==",
            "format": "anthropic-claude-v1",
            "index": 2,
        },
        {"type": "reasoning.future", "blob": 1},
    ]
    request = CODEC.decode_request(_assistant(reasoning_details=details))
    summary, encrypted, text, unknown, _ = request.messages[0].blocks
    assert isinstance(summary, Thinking)
    assert summary.text == "Compared both plans."
    assert summary.origin is not None
    assert summary.origin.extra == {
        "type": "reasoning.summary",
        "id": "rs_1",
        "format": "openai-responses-v1",
        "index": 0,
    }
    assert isinstance(encrypted, RedactedThinking)
    assert encrypted.data == "gAAAAABo..."
    assert isinstance(text, Thinking)
    assert (text.text, text.signature) == ("Plan B is cheaper.", "sig==")
    assert unknown == Opaque(dialect="openai-chat", data=details[3])
    assert CODEC.encode_request(request).value == _assistant(reasoning_details=details)


@pytest.mark.parametrize(
    "item",
    [
        {
            "type": "reasoning.text",
            "text": "t",
            "format": "MiniMax-response-v1",
            "index": 0,
            "id": "reasoning-text-1",
        },
        {"type": "reasoning.text", "text": "t", "signature": None, "format": "google-gemini-v1", "index": 0},
        {
            "type": "reasoning.text",
            "text": None,
            "signature": "only-a-signature",
            "format": "anthropic-claude-v1",
            "index": 0,
        },
        {
            "type": "reasoning.text",
            "text": "t",
            "id": None,
            "format": "unknown",
            "index": 3,
            "vendor_field": [1],
        },
    ],
)
def test_details_item_variants_round_trip_unchanged(item: dict[str, Any]) -> None:
    wire = _assistant(reasoning_details=[item])
    encoded = CODEC.encode_request(CODEC.decode_request(wire))
    assert encoded.value == wire
    assert encoded.losses == ()


@pytest.mark.parametrize(
    ("item", "path", "message"),
    [
        ("text", "messages[0].reasoning_details[0]", "expected an object, got a string"),
        ({"text": "t"}, "messages[0].reasoning_details[0].type", "required field is missing"),
        ({"type": "reasoning.text"}, "messages[0].reasoning_details[0].text", "required field is missing"),
        ({"type": "reasoning.text", "text": 5}, "messages[0].reasoning_details[0].text", "expected a string"),
        (
            {"type": "reasoning.text", "text": "t", "signature": 5},
            "messages[0].reasoning_details[0].signature",
            "expected a string",
        ),
        (
            {"type": "reasoning.encrypted"},
            "messages[0].reasoning_details[0].data",
            "required field is missing",
        ),
        (
            {"type": "reasoning.summary", "summary": None},
            "messages[0].reasoning_details[0].summary",
            "got null",
        ),
    ],
)
def test_bad_details_items_name_their_path(item: Any, path: str, message: str) -> None:
    with pytest.raises(DecodeError) as caught:
        CODEC.decode_request(_assistant(reasoning_details=[item]))
    assert caught.value.path == path
    assert message in caught.value.message
