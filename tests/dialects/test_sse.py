"""The SSE parser and formatter."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thinkwire.dialects.sse import SSEEvent, SSEParser, format_event, parse
from thinkwire.errors import DecodeError

SAMPLE = (
    b'event: message_start\r\ndata: {"a":1}\r\n\r\n'
    b": keep-alive comment\n\n"
    b"data: line one\ndata: line two\n\n"
    b"event: ping\ndata:{}\n\n"
    b"data: [DONE]"
)
EXPECTED = [
    SSEEvent(data='{"a":1}', event="message_start"),
    SSEEvent(data="line one\nline two"),
    SSEEvent(data="{}", event="ping"),
    SSEEvent(data="[DONE]"),
]


def test_parses_names_multiline_data_comments_and_an_unterminated_last_event() -> None:
    assert list(parse(SAMPLE)) == EXPECTED


@given(st.lists(st.integers(min_value=1, max_value=len(SAMPLE) - 1), max_size=12))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    bounds = [0, *sorted(set(cuts)), len(SAMPLE)]
    chunks = [SAMPLE[a:b] for a, b in itertools.pairwise(bounds)]
    assert list(parse(chunks)) == EXPECTED


def test_cr_lf_split_across_chunks_is_one_line_end() -> None:
    assert list(parse([b"data: x\r", b"\n\r", b"\n"])) == [SSEEvent(data="x")]


def test_utf8_split_across_chunks() -> None:
    data = format_event('{"t":"é思"}', "delta")
    chunks = [data[i : i + 1] for i in range(len(data))]
    assert list(parse(chunks)) == [SSEEvent(data='{"t":"é思"}', event="delta")]


@given(
    st.text(alphabet=st.characters(blacklist_characters="\r", blacklist_categories=["Cs"]), max_size=50),
    st.none() | st.sampled_from(["a", "b"]),
)
def test_format_then_parse_is_identity(data: str, event: str | None) -> None:
    assert list(parse(format_event(data, event))) == [SSEEvent(data=data, event=event)]


def test_a_line_that_is_not_utf8_is_a_decode_error_not_a_unicode_error() -> None:
    """An upstream's stream with a stray byte gave the gateway's client a 500 naming
    ``UnicodeDecodeError``; it is the stream's ``DecodeError`` (a broken stream, 502)."""
    parser = SSEParser()
    assert parser.feed(b"data: ok\n\n") == [SSEEvent(data="ok")]
    with pytest.raises(DecodeError, match="not UTF-8"):
        parser.feed(b"data: \xff\xfe\n\n")
    unterminated = SSEParser()
    assert unterminated.feed(b"data: \xff") == []
    with pytest.raises(DecodeError, match="not UTF-8"):
        unterminated.close()
