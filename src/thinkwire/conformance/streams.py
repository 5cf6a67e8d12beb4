"""Stream probes beyond the fold.

- ``stream-final`` (Responses): the ``response.completed`` event repeats every output item the
  stream's ``response.output_item.done`` events carried, with the same fields (LiteLLM's
  Responses streams over Anthropic put ``encrypted_content`` only on ``response.completed``; a
  client that reads items as they are done loses it), and ``output_item.added`` names the
  same item ids. n/a when no stream carried a reasoning item (differences about other items are
  the ``schema`` probe's to judge, and are listed).
"""

from __future__ import annotations

from typing import Any, Final

from thinkwire.conformance.endpoint import Exchange
from thinkwire.conformance.probes import Context, Probe, Result, failed, not_applicable, passed

IGNORED: Final = frozenset({"status"})
"""Item fields that may change between the item events and ``response.completed``."""


def _events(exchange: Exchange, name: str) -> list[dict[str, Any]]:
    return [d for n, d in exchange.events if isinstance(d, dict) and (n or d.get("type")) == name]


def differences(exchange: Exchange) -> list[str]:
    """How a Responses stream's ``response.completed`` output differs from its item events."""
    completed = _events(exchange, "response.completed")
    if not completed:
        return ["the stream has no response.completed event"]
    final = completed[-1].get("response", {}).get("output")
    if not isinstance(final, list):
        return ["response.completed has no output list"]
    done = {d.get("output_index"): d.get("item") for d in _events(exchange, "response.output_item.done")}
    added = {d.get("output_index"): d.get("item") for d in _events(exchange, "response.output_item.added")}
    out: list[str] = []
    if sorted(done, key=str) != list(range(len(final))):
        out.append(
            f"output_item.done came for indexes {sorted(done, key=str)}, "
            f"response.completed has {len(final)} item(s)"
        )
    for index, item in enumerate(final):
        streamed = done.get(index)
        if not isinstance(item, dict) or not isinstance(streamed, dict):
            continue
        kind = item.get("type", "?")
        keys = (set(item) | set(streamed)) - IGNORED
        for key in sorted(keys):
            if key not in streamed:
                out.append(f"item {index} ({kind}): `{key}` only in response.completed")
            elif key not in item:
                out.append(f"item {index} ({kind}): `{key}` only in output_item.done")
            elif item[key] != streamed[key]:
                out.append(
                    f"item {index} ({kind}): `{key}` differs between output_item.done and response.completed"
                )
        first = added.get(index)
        if isinstance(first, dict) and first.get("id") != item.get("id"):
            out.append(
                f"item {index} ({kind}): output_item.added has id {first.get('id')!r}, "
                f"the item {item.get('id')!r}"
            )
    return out


def _reasoning_items(exchange: Exchange) -> int:
    """Reasoning items a stream carried, in its item events or its ``response.completed``."""
    items = [d.get("item") for d in _events(exchange, "response.output_item.done")]
    items += [d.get("item") for d in _events(exchange, "response.output_item.added")]
    for completed in _events(exchange, "response.completed"):
        output = completed.get("response", {}).get("output")
        items += output if isinstance(output, list) else []
    return sum(1 for i in items if isinstance(i, dict) and i.get("type") == "reasoning")


async def stream_final(ctx: Context) -> Result:
    streams = [e for e in await ctx.observed() if e.stream and e.ok]
    if not streams:
        return not_applicable("no stream was answered (see stream-agrees)")
    reasoning = sum(_reasoning_items(e) for e in streams)
    if not reasoning:
        found = [d for e in streams for d in differences(e)]
        if found:
            return not_applicable(
                f"none of the {len(streams)} streams carried a reasoning item, so no thinking was compared; "
                f"{len(found)} difference(s) about other items (schema judges them), e.g. {found[0]}",
                streams[0],
                differences=found[:10],
            )
        return not_applicable(
            f"the {len(streams)} streams agree with their response.completed, but none carried a reasoning "
            "item, so no thinking was compared",
            streams[0],
        )
    for exchange in streams:
        found = differences(exchange)
        if found:
            return failed(f"{len(found)} difference(s), e.g. {found[0]}", exchange, differences=found[:10])
    return passed(
        f"{len(streams)} streams: response.completed repeats every item event ({reasoning} reasoning items)",
        streams[0],
    )


PROBES = (
    Probe(
        "stream-final",
        "structural",
        "A stream's final response agrees with its item events",
        "Each Responses stream's response.completed holds the same output items, with the same fields "
        "(encrypted_content, summary, content), as its output_item.done events, and the ids "
        "output_item.added announced.",
        "1 OpenAI Responses, 2.11",
        stream_final,
        frozenset({"openai-responses"}),
    ),
)
