"""Hostile requests made from valid ones, sent over one keep-alive connection, and what their
answers may not show (``tests/server/test_server_fuzz.py``, ``benchmarks/fuzz_memory.py``).

**Seeds** (``seeds``): real valid requests for an endpoint, made against the server under test:
a user turn offering a tool, then the conversation after the server's answer (its thinking,
signatures and tool calls as the dialect carries them, written back through the codec) with
the tool's result, whole and streamed. Each seed is checked to get a 200.

**Mutations** (``Op``, ``mutate``): each ``Op`` is three numbers' worth of choice (a kind, a
place, a value), so hypothesis can draw and shrink them and a ``random.Random`` can make them
for the benchmark. On the JSON value: delete, duplicate or swap an item, retype a value,
nest it deep, give it a huge string or number, unicode (lone surrogates, NUL, right-to-left),
another role or type, a key given twice; on the bytes: cut short, invalid UTF-8, NUL or a BOM;
on the head: another content type, an oversized header, too many headers.

**Checks** (``problems``): no 5xx; no Python exception name or traceback in the body; an
error in the dialect's envelope (streamed: the dialect's error event); a 400 about the body's
content names a place (``messages[3].content[1]``, a field name, a byte position) unless it
is an upstream's own words the gateway relays; and the
keep-alive connection still serves the next request (``send`` follows each request with
``GET /healthz`` on the same socket). Refusals of the request head itself (431, or 400 from
the HTTP parser) come before any route, as plain text, and close the connection by design.
"""

from __future__ import annotations

import builtins
import http.client
import json
import random
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from tests.support.processes import rss
from tests.support.scripts import WEATHER_TOOL
from tests.support.traffic import Gateway
from thinkwire.asgi.errors import UPSTREAM_ERROR_HEADER
from thinkwire.dialects.base import get_codec
from thinkwire.emulators.run import emulating
from thinkwire.ir import Message, ToolResult
from thinkwire.ir.blocks import Dialect, ToolCall

ENDPOINTS: Final[dict[Dialect, str]] = {
    "openai-chat": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "openai-responses": "/v1/responses",
}
DIALECTS: Final = tuple(ENDPOINTS)

EXCEPTION_NAME: Final = re.compile(
    r"\bTraceback\b|\b("
    + "|".join(
        sorted(
            n
            for n in dir(builtins)
            if isinstance(getattr(builtins, n), type) and n.endswith(("Error", "Exception", "Group"))
        )
    )
    + r"|ValidationError|DecodeError|EncodeError|[A-Z][A-Za-z]+(Error|Exception))\b"
)
"""A Python exception's name or a traceback, in a body or a log line."""

# --- the servers under test -----------------------------------------------------------------------

UPSTREAMS: Final = {"anthropic": "claude-fuzz", "deepseek": "deepseek-fuzz", "openai-responses": "gpt-fuzz"}
"""The emulated vendors behind the fuzzed gateway, and the model name routed to each."""


@dataclass
class Target:
    """A server under test (a ``thinkwire serve`` child) and valid requests for each endpoint."""

    server: Gateway
    seeds: dict[Dialect, list[dict[str, Any]]]


def _target(server: Gateway, models: Sequence[str]) -> Target:
    return Target(server, {d: [s for m in models for s in seeds(server.url, d, m)] for d in DIALECTS})


@contextmanager
def scripted_target(home: Path) -> Iterator[Target]:
    """``thinkwire serve --model scripted``."""
    with Gateway(["--model", "scripted"], home) as server:
        yield _target(server, ["local"])


@contextmanager
def gateway_target(home: Path) -> Iterator[Target]:
    """``thinkwire serve --config`` over the strict Anthropic, DeepSeek and OpenAI Responses
    emulators (in this process), one model routed to each (``UPSTREAMS``)."""
    with (
        emulating("anthropic", record=0) as (claude, _),  # each record holds a whole request
        emulating("deepseek", record=0) as (deepseek, _),
        emulating("openai-responses", record=0) as (openai, _),
    ):
        urls = {"anthropic": claude, "deepseek": deepseek, "openai-responses": openai}
        kinds = {"anthropic": "anthropic", "deepseek": "openai-chat", "openai-responses": "openai-responses"}
        config = home / "thinkwire.toml"
        config.write_text(
            "".join(
                f'[[upstreams]]\nname = "{vendor}"\nkind = "{kinds[vendor]}"\nbase_url = "{urls[vendor]}"\n'
                f'profile = "{vendor}"\nmodels = ["{model}"]\ntimeout = 30\n\n'
                for vendor, model in UPSTREAMS.items()
            )
        )
        with Gateway(["--config", str(config)], home) as server:
            yield _target(server, list(UPSTREAMS.values()))


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (MiB, as the fuzz tables print it)."""
    return rss(pid) / (1 << 20)


# --- seeds ----------------------------------------------------------------------------------------


def _first(dialect: Dialect, model: str) -> dict[str, Any]:
    """A user turn asking for the weather, with the weather tool and thinking asked for."""
    ask = "What is the weather in Paris? Think first."
    tool = WEATHER_TOOL
    if dialect == "anthropic":
        return {
            "model": model,
            "max_tokens": 4096,
            "system": "You are helpful.",
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "messages": [{"role": "user", "content": ask}],
            "tools": [
                {"name": tool["name"], "description": tool["description"], "input_schema": tool["parameters"]}
            ],
        }
    if dialect == "openai-chat":
        return {
            "model": model,
            "max_tokens": 4096,
            "reasoning_effort": "medium",
            "messages": [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": ask}],
            "tools": [{"type": "function", "function": tool}],
        }
    return {
        "model": model,
        "max_output_tokens": 4096,
        "instructions": "You are helpful.",
        "reasoning": {"effort": "medium", "summary": "auto"},
        "include": ["reasoning.encrypted_content"],
        "store": False,
        "input": [{"role": "user", "content": ask}],
        "tools": [{"type": "function", **tool}],
    }


def seeds(
    url: str, dialect: Dialect, model: str, *, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Valid requests for ``dialect``'s endpoint at ``url`` (module docstring), each checked."""
    codec = get_codec(dialect)
    first = _first(dialect, model)
    with httpx.Client(base_url=url, timeout=60, headers=headers) as client:
        answer = client.post(ENDPOINTS[dialect], json=first)
        assert answer.status_code == 200, answer.text
        turn = codec.decode_response(answer.json()).to_message()
        calls = [b for b in turn.blocks if isinstance(b, ToolCall)]
        assert calls, f"the first answer made no tool call: {answer.text}"
        results = Message(
            role="tool", blocks=tuple(ToolResult(call_id=c.id, content="Sunny, 21 C") for c in calls)
        )
        asked = codec.decode_request(first)
        request = type(asked)(**{**_fields(asked), "messages": (*asked.messages, turn, results)})
        second = {**first, **codec.encode_request(request).value}
        made = [first, second, {**first, "stream": True}, {**second, "stream": True}]
        for body in made:
            checked = client.post(ENDPOINTS[dialect], json=body)
            assert checked.status_code == 200, f"seed refused: {checked.text}"
    return made


def _fields(struct: Any) -> dict[str, Any]:
    return {name: getattr(struct, name) for name in struct.__struct_fields__}


# --- mutations ------------------------------------------------------------------------------------


class Raw(str):
    """JSON text written as is where this value stands (what ``json.dumps`` cannot write:
    a key twice, 5,000-digit numbers, NaN, nesting deeper than Python's stack)."""


DEEP: Final = 100_000
HOSTILE: Final[tuple[Any, ...]] = (
    None,
    True,
    0,
    -1,
    1.5,
    2**63,
    -(2**64),
    1e308,
    "",
    "x",
    [],
    {},
    [1, "a", None],
    {"a": {"b": []}},
    "x" * 1_000_000,
    "\ud800 lone surrogate \udfff",
    "NUL \x00 inside",
    "\u202eright-to-left \ufeff bom \U0001f9e0",
    '{"a":' * 1000 + "1" + "}" * 1000,
    "[" * 5000,
    Raw("9" * 5000),
    Raw("-1e999999"),
    Raw("NaN"),
    Raw("Infinity"),
    Raw('"\\ud800"'),
    Raw('"bad \\x escape"'),
    Raw("[" * DEEP + "]" * DEEP),
    Raw('{"a":' * 1000 + "1" + "}" * 1000),
    Raw("[" * 150 + "]" * 150),
)
"""Values a field is given in place of its own (``retype``)."""
ROLES: Final = ("system", "developer", "user", "assistant", "tool", "function", "model", "", "ASSISTANT")
TYPES: Final = (
    "text",
    "thinking",
    "redacted_thinking",
    "tool_use",
    "tool_result",
    "reasoning",
    "function_call",
    "function_call_output",
    "message",
    "input_text",
    "output_text",
    "image",
    "unknown",
    "",
)
CONTENT_TYPES: Final = (
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=latin-1",
    "application/problem+json",
    "APPLICATION/JSON",
    "",
)
BYTES: Final = (b"\xff\xfe", b"\x00", b"\xef\xbb\xbf", b"\xc3", b"\xed\xa0\x80", b"}", b"\n\r\n")
BIG_HEADER: Final = 2 << 20
"""An oversized header value (over the 1 MiB bound on a request's head)."""

VALUE_KINDS: Final = ("delete", "duplicate", "swap", "retype", "nest", "role", "type", "twice")
TEXT_KINDS: Final = ("truncate", "bytes")
HEAD_KINDS: Final = ("content-type", "big-header", "many-headers", "no-content-type")
KINDS: Final = VALUE_KINDS * 4 + TEXT_KINDS + HEAD_KINDS
"""Value mutations four times as likely as the others (they reach deeper into the server)."""


@dataclass(frozen=True)
class Op:
    """One mutation: ``KINDS[kind % len(KINDS)]`` at place ``at`` (modulo the places there are)
    with value ``pick`` (modulo the values there are)."""

    kind: int
    at: int
    pick: int


@dataclass
class Hostile:
    """A request to send: its body, headers, and what was done to it."""

    body: bytes
    headers: dict[str, str]
    done: list[str] = field(default_factory=list)

    @property
    def head_refused(self) -> bool:
        """The head itself is over a bound: refused before any route, connection closed."""
        return any(d.startswith(("big-header", "many-headers")) for d in self.done)

    @property
    def content_changed(self) -> bool:
        """The body's content (not its bytes or head) was mutated: a 400 must name a place."""
        return not any(d.startswith(TEXT_KINDS + HEAD_KINDS) for d in self.done)


def random_ops(rng: random.Random) -> list[Op]:
    """One to three mutations drawn from ``rng`` (the benchmark's; the test draws with hypothesis)."""
    return [
        Op(rng.randrange(1 << 16), rng.randrange(1 << 16), rng.randrange(1 << 20))
        for _ in range(rng.randint(1, 3))
    ]


def mutate(seed: dict[str, Any], ops: Sequence[Op], *, stream: bool) -> Hostile:
    """``seed`` (with ``stream``) after ``ops``, value mutations first, then bytes, then head."""
    value: Any = json.loads(json.dumps({**seed, "stream": stream}))
    done: list[str] = []
    raws: list[str] = []
    kinds = [(KINDS[op.kind % len(KINDS)], op) for op in ops]
    for kind, op in kinds:
        if kind in VALUE_KINDS:
            value, what = _mutate_value(value, kind, op, raws)
            done.append(what)
    text = json.dumps(value)
    for i, raw in enumerate(raws):  # placeholders -> their JSON text
        text = text.replace(json.dumps(_placeholder(i)), raw)
    body = text.encode("utf-8", "surrogatepass")
    headers = {"content-type": "application/json"}
    for kind, op in kinds:
        if kind == "truncate":
            cut = op.pick % max(1, len(body))
            body = body[:cut]
            done.append(f"truncate at {cut}")
        elif kind == "bytes":
            at = op.at % (len(body) + 1)
            inserted = BYTES[op.pick % len(BYTES)]
            body = body[:at] + inserted + body[at:]
            done.append(f"bytes {inserted!r} at {at}")
        elif kind == "content-type":
            headers["content-type"] = CONTENT_TYPES[op.pick % len(CONTENT_TYPES)]
            done.append(f"content-type {headers['content-type']!r}")
        elif kind == "no-content-type":
            headers.pop("content-type", None)
            done.append("no-content-type")
        elif kind == "big-header":
            headers["x-big"] = "a" * BIG_HEADER
            done.append("big-header")
        elif kind == "many-headers":
            headers.update({f"x-h{i}": "1" for i in range(300)})
            done.append("many-headers")
    return Hostile(body, headers, done)


def _placeholder(i: int) -> str:
    return f"\x01raw{i}\x01"


def _places(value: Any) -> list[tuple[Any, ...]]:
    """Every path into ``value`` (keys and indexes), parents before children."""
    out: list[tuple[Any, ...]] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while stack:
        path, at = stack.pop()
        children = at.items() if isinstance(at, dict) else enumerate(at) if isinstance(at, list) else ()
        for key, child in children:
            out.append((*path, key))
            stack.append(((*path, key), child))
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def _where(path: tuple[Any, ...]) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".") or "(body)"


def _mutate_value(value: Any, kind: str, op: Op, raws: list[str]) -> tuple[Any, str]:
    places = _places(value)
    if kind in ("role", "type"):
        places = [p for p in places if p[-1] == kind] or places
    if not places:
        return value, f"{kind}: nothing to change"
    path = places[op.at % len(places)]
    parent, key = _get(value, path[:-1]), path[-1]
    where = _where(path)
    if kind == "delete":
        del parent[key]
    elif kind == "duplicate":
        if isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(parent[key])))
        else:
            parent[f"{key}_"] = parent[key]
    elif kind == "swap" and isinstance(parent, list) and len(parent) > 1:
        other = op.pick % len(parent)
        parent[key], parent[other] = parent[other], parent[key]
    elif kind == "retype":
        new = HOSTILE[op.pick % len(HOSTILE)]  # copied: a later op must not change the table
        parent[key] = _raw(new, raws) if isinstance(new, Raw) else json.loads(json.dumps(new))
        return value, f"retype {where} to {_short(new)}"
    elif kind == "nest":
        depth = (101, 1000, 20_000)[op.pick % 3]
        opener, closer = ("[", "]") if op.pick % 2 else ('{"a":', "}")
        parent[key] = _raw(opener * depth + json.dumps(parent[key]) + closer * depth, raws)
        return value, f"nest {where} {depth} deep"
    elif kind in ("role", "type"):
        names = ROLES if kind == "role" else TYPES
        parent[key] = names[op.pick % len(names)]
        return value, f"{kind} {where} = {parent[key]!r}"
    elif kind == "twice" and isinstance(parent, dict):
        again = HOSTILE[op.pick % len(HOSTILE)]
        text = json.dumps(again) if not isinstance(again, Raw) else str(again)
        body = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in parent.items())
        parent_path = path[:-1]
        holder = _get(value, parent_path[:-1]) if parent_path else None
        if holder is None:
            return value, f"twice {where}: at the top"
        holder[parent_path[-1]] = _raw(f"{{{body}, {json.dumps(key)}: {text}}}", raws)
        return value, f"twice {where}"
    return value, f"{kind} {where}"


def _raw(text: str, raws: list[str]) -> str:
    raws.append(text)
    return _placeholder(len(raws) - 1)


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) < 60 else f"{shown[:40]}... ({len(shown)} chars)"


# --- sending and checking -------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    kept_alive: bool
    """The next request went over the same connection and was answered."""
    failure: str = ""
    """Why no answer came (status 0): the client's exception."""
    relayed: bool = False
    """An upstream's error in its own words (``thinkwire-upstream-error``): no place required."""


MAX_ANSWER: Final = 64 << 20
"""Bytes of an answer read at most (more is a problem: a 32 MiB request needs no more back)."""


class Connection:
    """One keep-alive connection to the server at ``url``."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        assert parts.hostname is not None
        assert parts.port is not None
        self.host, self.port, self.timeout = parts.hostname, parts.port, timeout
        self.http = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def send(self, path: str, hostile: Hostile) -> Answer:
        """POST ``hostile`` to ``path``, then ``GET /healthz`` on the same socket."""
        self.http.putrequest("POST", path, skip_accept_encoding=True)
        version = {"anthropic-version": "2023-06-01"} if path == ENDPOINTS["anthropic"] else {}
        for name, value in {**version, **hostile.headers, "content-length": str(len(hostile.body))}.items():
            self.http.putheader(name, value)
        try:
            self.http.endheaders(hostile.body)
            response = self.http.getresponse()
            body = response.read(MAX_ANSWER + 1)
        except (ConnectionError, http.client.HTTPException) as exc:  # the head refused mid-send
            self._reopen()
            return Answer(0, "", b"", kept_alive=False, failure=type(exc).__name__)
        socket = self.http.sock
        closing = response.will_close or len(body) > MAX_ANSWER
        kept = False
        if not closing:
            try:
                self.http.request("GET", "/healthz")
                health = self.http.getresponse()
                health.read()
                kept = health.status == 200 and self.http.sock is socket
            except (ConnectionError, http.client.HTTPException):
                kept = False
        if closing or not kept:
            self._reopen()
        kind = response.getheader("content-type", "") or ""
        relayed = response.getheader(UPSTREAM_ERROR_HEADER) is not None
        return Answer(response.status, kind, body, kept_alive=kept, relayed=relayed)

    def _reopen(self) -> None:
        self.http.close()
        self.http = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def close(self) -> None:
        self.http.close()


PLACE: Final = re.compile(
    r"(^|[\s'\"(`])[A-Za-z_][\w-]*(\[\d+\]|\.[A-Za-z_$][\w$-]*)"  # messages[3].content, tools.0
    r"|^[A-Za-z_][\w.\[\]-]*:"  # "max_tokens: must be ..."
    r"|\b(byte|position|line|column|char) \d+"
    r"|\b(field|parameter|param|key|property)\b"
)
"""Something in an error message that says where in the request the problem is."""


SERVER_ERRORS: Final = frozenset({"server_error", "api_error"})
"""The error types (OpenAI's, Anthropic's) of a 5xx, in a stream that had begun."""


def problems(dialect: Dialect, hostile: Hostile, answer: Answer) -> list[str]:
    """What is wrong with ``answer`` to ``hostile`` (module docstring); empty when nothing."""
    found: list[str] = []
    text = answer.body.decode("utf-8", "replace")
    if answer.status == 0 and not hostile.head_refused:
        found.append(f"no answer: {answer.failure}")
    if answer.status >= 500:
        found.append(f"status {answer.status}")
    if len(answer.body) > MAX_ANSWER:
        found.append(f"an answer over {MAX_ANSWER} bytes")
    sent = hostile.body.decode("utf-8", "replace")
    for match in EXCEPTION_NAME.finditer(text):
        if match.group(0) not in sent:
            found.append(f"exception name {match.group(0)!r} in the body")
            break
    if hostile.head_refused:
        if answer.status not in (0, 400, 431):
            found.append(f"an oversized head got {answer.status}, not 431 or 400")
        return found
    if not answer.kept_alive:
        found.append("the keep-alive connection did not serve the next request")
    if answer.status >= 400:
        error = _error_of(dialect, text)
        if error is None:
            found.append(f"not {dialect}'s error envelope: {text[:300]}")
        elif (
            answer.status == 400
            and hostile.content_changed
            and not answer.relayed
            and not PLACE.search(error.get("message", ""))
        ):
            param = error.get("param")
            if not param:
                found.append(f"a 400 naming no place: {error.get('message')!r}")
    elif "text/event-stream" in answer.content_type:
        for event in _events(text):
            if '"error"' not in event:
                continue
            error = _stream_error_of(dialect, event)
            if error is None:
                found.append(f"an error event not in {dialect}'s shape: {event[:300]}")
            elif {error.get("type"), error.get("code")} & SERVER_ERRORS:
                found.append(f"status 5xx in the stream: {event[:300]}")
    return found


def _error_of(dialect: Dialect, text: str) -> dict[str, Any] | None:
    try:
        body = json.loads(text)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("message"), str) or not error.get("type"):
        return None
    if dialect == "anthropic" and body.get("type") != "error":
        return None
    return error


def _events(text: str) -> list[str]:
    return [
        line[len("data:") :].strip()
        for line in text.splitlines()
        if line.startswith("data:") and line != "data: [DONE]"
    ]


def _stream_error_of(dialect: Dialect, data: str) -> dict[str, Any] | None:
    try:
        event = json.loads(data)
    except ValueError:
        return None
    if not isinstance(event, dict) or "error" not in event:
        return {}  # a content event that merely holds the word
    if dialect == "openai-responses":
        error = event.get("error") if event.get("type") == "error" else None
        return event if event.get("type") == "error" and isinstance(event.get("message"), str) else error
    return _error_of(dialect, data)
