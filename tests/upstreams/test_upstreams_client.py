"""``UpstreamClient.prepare``: the pure half of an upstream call (no I/O), whose losses are known
before anything is sent."""

from __future__ import annotations

import orjson
import pytest

from thinkwire.ir import Message, RedactedThinking, Request, Text, Thinking, ToolCall
from thinkwire.ir.blocks import Origin
from thinkwire.upstreams.client import UpstreamClient, UpstreamError, retry_after, vendor_error
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
