"""Property tests: the codec laws over generated conversations, every dialect and carrier.

(a) same dialect: encode -> decode -> encode reproduces the wire exactly;
(b) cross dialect: A -> IR -> B -> IR keeps thinking and tool calls, or reports the loss;
(c) streaming: a response streamed and folded equals the same response sent whole.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thinkwire.dialects.base import get_codec
from thinkwire.dialects.sse import parse
from thinkwire.ir import (
    CARRIERS,
    DIALECTS,
    Block,
    Message,
    Origin,
    RedactedThinking,
    Request,
    Response,
    StopReason,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    Usage,
    fold,
    response_events,
    to_builtins,
)
from thinkwire.laws import cross_dialect_problems, with_canonical_arguments

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ÉéΩ思考.,!?\n", min_size=1, max_size=40)
origins = st.one_of(
    st.none(),
    st.builds(Origin, dialect=st.just("anthropic"), model=st.just("claude-x")),
    st.builds(Origin, dialect=st.just("openai-chat"), carrier=st.sampled_from(CARRIERS)),
    st.builds(Origin, dialect=st.just("openai-responses")),
)
signatures = st.none() | st.text(alphabet="ABCDEFabcdef0123456789+/=", min_size=8, max_size=40)
thinking = st.builds(Thinking, text=words | st.just(""), signature=signatures, origin=origins)
redacted = st.builds(
    RedactedThinking,
    data=st.text(alphabet="ABCDEF0123456789=", min_size=8, max_size=30),
    origin=st.none() | st.just(Origin(dialect="anthropic")),
)
arguments = st.dictionaries(
    st.sampled_from(["city", "n", "flag"]), st.integers(0, 99) | words, max_size=3
).map(lambda d: json.dumps(d))


@st.composite
def assistant_blocks(draw: st.DrawFn, prefix: str) -> tuple[Block, ...]:
    kinds = draw(st.lists(st.sampled_from(["thinking", "redacted", "call", "text"]), min_size=1, max_size=6))
    blocks: list[Block] = []
    for n, kind in enumerate(kinds):
        if kind == "thinking":
            blocks.append(draw(thinking))
        elif kind == "redacted":
            blocks.append(draw(redacted))
        elif kind == "call":
            blocks.append(ToolCall(id=f"call_{prefix}_{n}", name="lookup", arguments=draw(arguments)))
        else:
            blocks.append(Text(text=draw(words)))
    if not any(isinstance(b, Text | ToolCall) for b in blocks):
        blocks.append(Text(text=draw(words)))  # every turn shows something
    return tuple(blocks)


@st.composite
def conversations(draw: st.DrawFn) -> Request:
    messages: list[Message] = []
    for turn in range(draw(st.integers(1, 4))):
        messages.append(Message(role="user", blocks=(Text(text=draw(words)),)))
        blocks = draw(assistant_blocks(str(turn)))
        messages.append(Message(role="assistant", blocks=blocks))
        for block in blocks:
            if isinstance(block, ToolCall):
                result = ToolResult(call_id=block.id, content=draw(words), is_error=draw(st.booleans()))
                messages.append(Message(role="tool", blocks=(result,)))
    return Request(model="m", messages=tuple(messages))


@st.composite
def responses(draw: st.DrawFn) -> Response:
    blocks = draw(assistant_blocks("r"))
    stop: StopReason = "tool_use" if any(isinstance(b, ToolCall) for b in blocks) else "end_turn"
    usage = Usage(input_tokens=draw(st.integers(0, 999)), output_tokens=draw(st.integers(0, 999)))
    return Response(id="resp_1", model="m", blocks=blocks, stop_reason=stop, usage=usage)


def _normalised(response: Response) -> Any:
    return to_builtins(with_canonical_arguments(response))


@SETTINGS
@given(conversations(), st.sampled_from(DIALECTS), st.sampled_from([None, *CARRIERS]))
def test_a_same_dialect_round_trip_is_exact(request: Request, dialect: str, carrier: Any) -> None:
    codec = get_codec(dialect)
    carrier = carrier if dialect == "openai-chat" else None
    wire = json.loads(json.dumps(codec.encode_request(request, carrier=carrier).value))
    again = codec.encode_request(codec.decode_request(wire))
    assert again.value == wire
    assert again.losses == ()


@SETTINGS
@given(
    conversations(), st.sampled_from(DIALECTS), st.sampled_from(DIALECTS), st.sampled_from([None, *CARRIERS])
)
def test_b_cross_dialect_keeps_thinking_or_reports_the_loss(
    request: Request, source: str, target: str, carrier: Any
) -> None:
    src, dst = get_codec(source), get_codec(target)
    decoded = src.decode_request(json.loads(json.dumps(src.encode_request(request).value)))
    encoded = dst.encode_request(decoded, carrier=carrier if target == "openai-chat" else None)
    back = dst.decode_request(json.loads(json.dumps(encoded.value)))
    assert cross_dialect_problems(decoded.messages, back.messages, encoded.losses) == []


@SETTINGS
@given(responses(), st.sampled_from(DIALECTS), st.sampled_from([None, *CARRIERS]))
def test_c_streamed_response_folds_to_the_whole_one(response: Response, dialect: str, carrier: Any) -> None:
    codec = get_codec(dialect)
    carrier = carrier if dialect == "openai-chat" else None
    encoded = codec.encode_response(response, carrier=carrier)
    whole = codec.decode_response(json.loads(json.dumps(encoded.value)))
    encoder = codec.stream_encoder(carrier=carrier)
    data = b"".join(b for event in response_events(response) for b in encoder.feed(event))
    data += b"".join(encoder.close())
    decoder = codec.stream_decoder()
    events = [e for sse in parse(data) for e in decoder.feed(sse)] + decoder.close()
    folded = fold(events)
    if encoded.losses or encoder.losses:  # e.g. Chat's fixed slots reorder a whole message, not a stream
        losses = [*encoded.losses, *encoder.losses]
        assert cross_dialect_problems((folded.to_message(),), (whole.to_message(),), losses) == []
    else:
        assert _normalised(folded) == _normalised(whole)
