"""The ``schema`` probe: every answer as the official SDKs read it.

Each whole response and each stream event the check saw is validated against the pydantic
types of the vendors' own Python SDKs (``openai.types.chat.ChatCompletion`` and
``ChatCompletionChunk``; ``openai.types.responses.Response`` and ``ResponseStreamEvent``;
``anthropic.types.Message`` and ``RawMessageStreamEvent``): what those SDKs, and the clients
generated from the same OpenAPI specs (``@ai-sdk/openai``), fail to parse. A Responses output
item without its ``id`` is such a failure. The SDKs are an optional extra
(``pip install 'thinkwire[check]'``); without them the probe is n/a and says so.

Problems in token accounting (``usage``) are noted, not failed. The SDKs' unions are
discriminated by ``type`` in their own code, not in pydantic, so a failed union lists every
member's complaints; ``problems`` keeps those of the member whose ``type`` the data names.
"""

from __future__ import annotations

import importlib
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from thinkwire.conformance.endpoint import Exchange
from thinkwire.conformance.probes import Context, Probe, Result, failed, not_applicable, passed
from thinkwire.ir.blocks import Dialect

TYPES: Final[dict[Dialect, tuple[str, str, str]]] = {
    "openai-chat": ("openai.types.chat", "ChatCompletion", "ChatCompletionChunk"),
    "openai-responses": ("openai.types.responses", "Response", "ResponseStreamEvent"),
    "anthropic": ("anthropic.types", "Message", "RawMessageStreamEvent"),
}
"""Per dialect: the SDK module, its whole-response type and its stream-event type."""
SKIPPED_EVENTS: Final = frozenset({"ping"})
"""Stream events the SDKs skip without parsing."""
INSTALL: Final = "pip install 'thinkwire[check]'"
NOTED: Final = ("usage.", "response.usage.", "message.usage.")
"""Paths of token accounting: a field missing there is noted, not failed (clients parse the
output and read the counts they know; newer SDK types require newer counters)."""


@dataclass(frozen=True)
class Schema:
    """One dialect's SDK types: ``whole(data)`` and ``event(data)`` give the problems found."""

    whole: Callable[[Any], list[str]]
    event: Callable[[Any], list[str]]


def load(dialect: Dialect) -> Schema | None:
    """The SDK types for ``dialect`` (``None`` when the SDK is not installed)."""
    module_name, whole_name, event_name = TYPES[dialect]
    try:
        from pydantic import TypeAdapter

        module = importlib.import_module(module_name)
    except ImportError:
        return None
    whole_type, event_type = getattr(module, whole_name), getattr(module, event_name)
    classes: dict[str, type] = {}
    _collect(whole_type, classes)
    _collect(event_type, classes)
    whole_adapter: Any = TypeAdapter(whole_type)
    event_adapter: Any = TypeAdapter(event_type)
    return Schema(
        whole=lambda data: problems(whole_adapter, data, classes),
        event=lambda data: problems(event_adapter, data, classes),
    )


def _collect(tp: Any, classes: dict[str, type]) -> None:
    """Every pydantic model class reachable from ``tp``, by name."""
    from pydantic import BaseModel

    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp.__name__ in classes:
            return
        classes[tp.__name__] = tp
        for info in tp.model_fields.values():
            _collect(info.annotation, classes)
        return
    for arg in typing.get_args(tp):
        _collect(arg, classes)


def _type_tags(cls: type) -> tuple[Any, ...]:
    fields = getattr(cls, "model_fields", {})
    info = fields.get("type")
    return typing.get_args(info.annotation) if info is not None else ()


def _relevant(loc: tuple[Any, ...], data: Any, classes: dict[str, type]) -> bool:
    """Whether an error at ``loc`` belongs to the union members the data's ``type`` names."""
    node = data
    for part in loc:
        inside = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node)
        )
        if inside:
            node = node[part]
        elif isinstance(part, str) and part in classes:
            tags = _type_tags(classes[part])
            if tags and isinstance(node, dict) and node.get("type") not in tags:
                return False
    return True


def _path(loc: tuple[Any, ...], classes: dict[str, type]) -> str:
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and (p in classes or "[" in p))) or "(top)"


def problems(adapter: Any, data: Any, classes: dict[str, type]) -> list[str]:
    """What the SDK type behind ``adapter`` refuses in ``data`` (empty: it parses)."""
    from pydantic import ValidationError

    try:
        adapter.validate_python(data)
    except ValidationError as exc:
        errors = exc.errors()
        kept = [e for e in errors if _relevant(tuple(e["loc"]), data, classes)] or errors[:1]
        found = dict.fromkeys(f"{_path(tuple(e['loc']), classes)}: {e['msg']}" for e in kept)
        return list(found)
    return []


def _label(exchange: Exchange, index: int) -> str:
    return f"{'streamed' if exchange.stream else 'whole'} response {index + 1}"


async def schema(ctx: Context) -> Result:
    types = load(ctx.dialect)
    if types is None:
        sdk = TYPES[ctx.dialect][0].split(".")[0]
        return not_applicable(f"the `{sdk}` SDK is not installed: {INSTALL} to validate against its types")
    exchanges = [e for e in await ctx.observed() if e.ok]
    found: list[str] = []
    bad: list[Exchange] = []
    accounting: list[str] = []
    checked = 0
    for n, exchange in enumerate(exchanges):
        here: list[str] = []
        if exchange.stream:
            for name, data in exchange.events:
                if (
                    data is None
                    or name in SKIPPED_EVENTS
                    or (isinstance(data, dict) and data.get("type") in SKIPPED_EVENTS)
                ):
                    continue
                checked += 1
                kind = name or (data.get("type") if isinstance(data, dict) else None) or "event"
                here += [f"{_label(exchange, n)}, event {kind}: {p}" for p in types.event(data)]
        else:
            checked += 1
            here += [f"{_label(exchange, n)}: {p}" for p in types.whole(exchange.data)]
        usage = [p for p in here if p.split(": ", 2)[-2].startswith(NOTED)]
        here = [p for p in here if p not in usage]
        if here:
            bad.append(exchange)
            found += here
        accounting += usage
    notes = sorted({note for e in exchanges for note in e.notes})
    notes += sorted({f"token accounting: {p.split(': ', 2)[-2]}: {p.split(': ')[-1]}" for p in accounting})
    details: dict[str, Any] = {"validated": checked, "problems": found[:20], "notes": notes}
    if found:
        shown = "; ".join(dict.fromkeys(p.split(": ", 1)[-1] if ": " in p else p for p in found[:3]))
        return failed(
            f"{len(found)} problem(s) the official SDK types refuse, e.g. {found[0]} ({shown})",
            *bad[:2],
            **details,
        )
    noted = f" (noted: {'; '.join(notes)})" if notes else ""
    return passed(
        f"{checked} whole responses and stream events parse with the official SDK types{noted}",
        *exchanges[:1],
        **details,
    )


PROBES = (
    Probe(
        "schema",
        "structural",
        "Answers parse with the official SDKs' types",
        "Each whole response and each stream event validates against the vendor SDK's own pydantic "
        "types (openai, anthropic): what the SDKs and clients generated from the same specs parse.",
        "1",
        schema,
    ),
)
