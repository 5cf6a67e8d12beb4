"""``UpstreamClient.prepare``: the pure half of an upstream call (no I/O), whose losses are known
before anything is sent."""

from __future__ import annotations

import asyncio
import re

import orjson
import pytest
from tests.support.faulty_upstream import faulty_upstream

from thinkwire.ir import Message, RedactedThinking, Request, Text, Thinking, ToolCall
from thinkwire.ir.blocks import Origin
from thinkwire.upstreams.client import (
    RETRIES,
    TRANSPORT_FAILURES,
    UpstreamClient,
    UpstreamError,
    retry_after,
    vendor_error,
)
from thinkwire.upstreams.config import Upstream, parse_config


def upstream(kind: str, profile: str, **extra: str) -> Upstream:
    table = {"name": "up", "kind": kind, "base_url": "http://127.0.0.1:9", "profile": profile, **extra}
    return parse_config({"upstreams": [table]}).upstreams[0]


def request(*, stream: bool) -> Request:
    claude = Origin(dialect="anthropic", provider="anthropic")
    turn = Message(
        role="assistant",
        blocks=(
            Thinking(text="check the weather", signature="sig", origin=claude),
            RedactedThinking(data="opaque", origin=claude),
            ToolCall(id="call_1", name="get_weather", arguments='{"city": "Oslo"}'),
        ),
    )
    return Request(
        model="deepseek-reasoner",
        messages=(Message(role="user", blocks=(Text(text="Weather in Oslo?"),)), turn),
        stream=stream,
    )


def test_prepare_encodes_for_the_upstream_and_reports_losses_without_sending() -> None:
    client = UpstreamClient(environ={"DS_KEY": "sk-test"})  # no session is made: nothing is sent
    call = client.prepare(upstream("openai-chat", "deepseek", api_key_env="DS_KEY"), request(stream=True))
    assert call.url == "http://127.0.0.1:9/v1/chat/completions"
    assert call.headers["authorization"] == "Bearer sk-test"
    body = orjson.loads(call.content)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"][1]["reasoning_content"] == "check the weather"
    # Chat's reasoning_content has no room for the signature or the redacted block: both are
    # reported before anything is sent
    assert [(loss.kind, loss.path) for loss in call.losses] == [
        ("signature", "messages[1].blocks[0]"),
        ("redacted", "messages[1].blocks[1]"),
    ]
    assert client._session is None


def test_a_whole_request_is_prepared_whole() -> None:
    call = UpstreamClient().prepare(upstream("openai-chat", "deepseek"), request(stream=False))
    body = orjson.loads(call.content)
    assert "stream" not in body
    assert "stream_options" not in body
    assert not call.streamed


def test_the_local_engine_is_not_prepared_as_an_http_call() -> None:
    local = parse_config({"upstreams": [{"name": "here", "kind": "local"}]}).upstreams[0]
    with pytest.raises(UpstreamError, match="local engine"):
        UpstreamClient().prepare(local, request(stream=False))


def test_a_vendor_error_is_read_as_the_vendor_sent_it_without_the_key_it_echoes() -> None:
    anthropic = vendor_error(
        400,
        b'{"type":"error","error":{"type":"invalid_request_error","message":"bad sk-secret-123"}}',
        "sk-secret-123",
    )
    assert (anthropic.family, anthropic.type, anthropic.message) == (
        "anthropic",
        "invalid_request_error",
        "bad [the upstream key]",
    )
    openai = vendor_error(429, b'{"error":{"message":"slow","type":"rate_limit","code":42,"param":"model"}}')
    assert (openai.family, openai.type, openai.code, openai.param) == ("openai", "rate_limit", "42", "model")
    html = vendor_error(502, b"<html>bad gateway</html>")
    assert (html.family, html.message) == (None, "<html>bad gateway</html>")


@pytest.mark.parametrize(
    ("sent", "passed_on"),
    [
        ("7", "7"),
        (" 30 ", "30"),
        ("9" * 8000, "86400"),  # capped at a day, not 8,000 digits
        ("Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ("1, <script>", None),
        ("ünïcode", None),  # not Latin-1: a 500 UnicodeEncodeError once it reached the headers
        ("-1", None),
        ("", None),
        (None, None),
    ],
)
def test_an_upstreams_retry_after_is_passed_on_only_when_it_is_one(
    sent: str | None, passed_on: str | None
) -> None:
    assert retry_after(sent) == passed_on


def failure(fault: str, *, stream: bool = False) -> tuple[UpstreamError, int]:
    """What ``send`` raises against one fault of the faulty upstream, and the requests it made."""

    async def call(url: str) -> None:
        client = UpstreamClient(backoff=0.01)
        table = {"name": "up", "kind": "openai-chat", "base_url": url, "timeout": 2, "deadline": 4}
        try:
            async for _ in client.stream(
                parse_config({"upstreams": [table]}).upstreams[0], request(stream=stream)
            ):
                pass
        finally:
            await client.aclose()

    with faulty_upstream() as faulty:
        with pytest.raises(UpstreamError) as caught:
            asyncio.run(call(faulty.url(fault)))
        return caught.value, len(faulty.requests)


@pytest.mark.parametrize(
    "fault", ["refused", "reset-before-headers", "reset-mid-body", "content-encoding-lie"]
)
def test_a_transport_failure_is_said_in_words_not_by_an_exceptions_name(fault: str) -> None:
    error, _ = failure(fault)
    assert error.status == 502
    assert any(error.message.endswith(words) for _, words in TRANSPORT_FAILURES), error.message
    assert not re.search(r"[A-Z][a-z]+(Error|Exception)", error.message)


@pytest.mark.parametrize("fault", ["huge-header", "bad-chunk-size"])
def test_an_answer_that_came_but_does_not_parse_is_not_asked_for_again(fault: str) -> None:
    """A malformed or oversized head was retried three times: each retry can pay for a
    generation that was made."""
    error, asked = failure(fault, stream=True)
    assert error.status == 502
    assert "sent a broken" in error.message
    assert asked == 1


def test_a_vendors_5xx_is_kept_when_its_retries_cannot_connect() -> None:
    """It became 'unreachable' in the gateway's words, the vendor's own answer lost."""
    error, asked = failure("500-then-reset")
    assert asked == 1 + RETRIES
    assert error.vendor is not None
    assert error.vendor.status == 500
    assert error.vendor.message == "The upstream failed (500)"


def test_a_vendors_error_envelope_in_a_200_is_relayed_as_its_error() -> None:
    """It was a 502 'broken response' naming a decode path; the client gets the vendor's words."""
    error, asked = failure("error-event")
    assert asked == 1
    assert error.status == 502
    assert error.vendor is not None
    assert error.vendor.message == "Overloaded inside a 200"
    assert error.vendor.family == "openai"
