"""Codec throughput against bare JSON, measured in one run.

Builds a ~1 MB, 200-turn interleaved conversation (a turn is one message: user text,
assistant thinking + tool call, tool result, assistant thinking + text, repeated), writes it
in each dialect, then for every pair
(source -> target) times ``orjson.loads`` + decode + encode + ``orjson.dumps`` against a bare
``orjson.loads`` + ``orjson.dumps`` of the same bytes. Target: ratio <= 3.0.

    python benchmarks/codecs.py            # full run (best of 7)
    python benchmarks/codecs.py --quick    # fewer repeats (CI smoke)
    python benchmarks/codecs.py --check    # exit 1 when a pair misses the target
    python benchmarks/codecs.py --turns 800   # the same megabyte in 800 smaller messages
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable

import orjson

from thinkwire.dialects.base import get_codec
from thinkwire.ir import DIALECTS, Message, Request, Text, Thinking, Tool, ToolCall, ToolResult

TARGET = 3.0
WORDS = (
    "the",
    "user",
    "wants",
    "a",
    "forecast",
    "so",
    "first",
    "I",
    "check",
    "the",
    "city",
    "then",
    "the",
    "unit",
    "and",
    "compare",
    "with",
    "yesterday",
    "because",
    "the",
    "tool",
    "may",
    "fail",
    "and",
    "then",
    "I",
    "should",
    "retry",
    "with",
    "a",
    "different",
    "query",
)


def _prose(rng: random.Random, size: int) -> str:
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def conversation(turns: int = 200, megabytes: float = 1.0, seed: int = 7) -> Request:
    """A deterministic interleaved tool loop of ``turns`` messages totalling about ``megabytes``.

    The messages cycle: user text; assistant thinking + tool call; tool result; assistant
    thinking + text. Each thinking block carries a signature.
    """
    rng = random.Random(seed)
    size = int(megabytes * 1_000_000 / turns)  # bytes of prose per message
    messages: list[Message] = []
    call_id = ""
    for turn in range(turns):
        step = turn % 4
        signature = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789+/") for _ in range(120))
        if step == 0:
            messages.append(Message(role="user", blocks=(Text(text=_prose(rng, size)),)))
        elif step == 1:
            call_id = f"call_{turn:04d}_{rng.getrandbits(40):010x}"
            arguments = orjson.dumps({"city": rng.choice(["Paris", "Tokyo", "Lima"]), "day": turn}).decode()
            thinking = Thinking(text=_prose(rng, size - 60), signature=signature)
            call = ToolCall(id=call_id, name="get_weather", arguments=arguments)
            messages.append(Message(role="assistant", blocks=(thinking, call)))
        elif step == 2:
            result = ToolResult(call_id=call_id, content=_prose(rng, size))
            messages.append(Message(role="tool", blocks=(result,)))
        else:
            thinking = Thinking(text=_prose(rng, size // 2), signature=signature)
            messages.append(Message(role="assistant", blocks=(thinking, Text(text=_prose(rng, size // 2)))))
    tool = Tool(
        name="get_weather",
        description="Forecast for a city and day.",
        parameters={"type": "object", "properties": {"city": {"type": "string"}, "day": {"type": "integer"}}},
    )
    return Request(model="bench-model", messages=tuple(messages), tools=(tool,))


def best(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--check", action="store_true", help=f"exit 1 when a ratio exceeds {TARGET}")
    parser.add_argument("--turns", type=int, default=200, help="messages in the conversation")
    parser.add_argument("--megabytes", type=float, default=1.0, help="approximate size of the conversation")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7

    ir = conversation(args.turns, args.megabytes)
    wires = {d: orjson.dumps(get_codec(d).encode_request(ir).value) for d in DIALECTS}
    print(f"conversation: {len(ir.messages)} messages (turns), about {args.megabytes:g} MB")
    print(f"{'source -> target':40} {'MB':>6} {'codec MB/s':>11} {'json MB/s':>10} {'ratio':>6}")
    worst = 0.0
    for source in DIALECTS:
        data = wires[source]
        megabytes = len(data) / 1e6
        bare = best(lambda data=data: orjson.dumps(orjson.loads(data)), repeats)  # type: ignore[misc]
        for target in DIALECTS:
            src, dst = get_codec(source), get_codec(target)

            def trip(data: bytes = data, src=src, dst=dst) -> bytes:
                return orjson.dumps(dst.encode_request(src.decode_request(orjson.loads(data))).value)

            codec = best(trip, repeats)
            ratio = codec / bare
            worst = max(worst, ratio)
            print(
                f"{source + ' -> ' + target:40} {megabytes:6.2f} {megabytes / codec:11.1f} "
                f"{megabytes / bare:10.1f} {ratio:6.2f}"
            )
    verdict = "meets" if worst <= TARGET else "MISSES"
    print(f"worst ratio {worst:.2f}: {verdict} the target of {TARGET:.1f}x bare JSON")
    return 1 if args.check and worst > TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
