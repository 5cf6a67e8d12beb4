"""A scripted model: the local engine's whole pipeline with canned completions instead of llama.cpp.

``ScriptedRuntime`` answers ``handle_completions`` calls the way xllamacpp does — an
OpenAI-completions-shaped result with ``usage`` and ``timings``, or a stream of chunks through
a callback that can cancel — but the completion text comes from a script: a list of replies
used in turn, or a function of the prompt. ``scripted_engine`` puts it under a real
``LocalEngine``, so rendering, signing, parsing and streaming are the production code; only the
model is canned. Tests, demos (``thinkwire serve --model scripted``) and the conformance
emulators use it.

What it imitates:

- **tokens**: a crude tokenizer (runs of word characters, single punctuation marks, runs of
  whitespace) stands in for the model's; counts are consistent, not equal to a real model's;
- **stop strings**: the reply is cut before the first stop string the request names
  (``finish_reason: "stop"``, the string left out, as llama.cpp does);
- **``n_predict``**: a reply longer than the budget is cut (``finish_reason: "length"``);
- **the prompt cache**: ``timings.cache_n`` is the number of leading prompt tokens shared with
  the longest earlier ``prompt + completion`` (llama.cpp keeps one such sequence per slot; the
  runtime keeps the last ``slots`` of them), at most all but the last prompt token, which
  llama.cpp always evaluates again; ``prompt_n`` the rest;
- **streaming**: one chunk per token with ``delay`` seconds before each; when the callback
  returns ``True`` the generation stops (``cancelled`` counts such stops).

``scripted_agent`` is the scripted model of ``thinkwire serve --model scripted``: it reads the
rendered prompt back into the conversation (``prompt_view``: the template's own markup and
completion parser, so it follows the template) and answers with ``thinkwire.scripted.reply``,
the model the emulators and the agent use: any tools, a code word noted only in its thinking,
``calls`` tool calls per user turn, the word quoted at the end only if the prompt still holds
that thinking.

A reply is the text the model continues with *after* the template's prefill (for
``qwen2.5-think``: the thinking, ``</think>``, then an answer or a ``<tool_call>`` element).
A thinking budget makes the engine call twice (the thinking, then the rest after the close it
writes): the second call gets the rest of the first call's reply, after its ``</think>``.
``grammar`` is not enforced: a script must be well-formed itself, or be a test of what the
parser does with malformed output.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from thinkwire import scripted
from thinkwire.ir.blocks import Text, Thinking, ToolCall, ToolResult
from thinkwire.ir.conversation import Message, Request, Response, Tool
from thinkwire.local.engine import LocalEngine, OnChunk, Params, Result
from thinkwire.local.parse import CallSpec, format_calls, parse_completion
from thinkwire.local.templates import ChatTemplate, ToolCallSyntax, get_template

SCRIPTED_MODEL: Final = "scripted"
"""The model id of a scripted engine (``thinkwire serve --model scripted``)."""
SCRIPTED_TEMPLATE: Final = "qwen2.5-think"
"""The template the scripted model writes by default: plain thinking, no lead or shape to follow
(the default model's own template shapes its thought, which a script does not)."""

Script = Sequence[str] | Callable[[str], str]
"""Replies used in turn (the last one repeats), or ``prompt -> reply``."""

_THINK_CLOSE: Final = "</think>"
_TOKEN: Final = re.compile(r"\w+|\s+|[^\w\s]")


def tokens(text: str) -> list[str]:
    """``text`` split the way the scripted model counts tokens (the pieces join back to it)."""
    return _TOKEN.findall(text)


def prompt_view(prompt: str, template: ChatTemplate) -> Request:
    """The conversation a prompt rendered with ``template`` holds, read back: the tools of its
    system section, user turns, tool results (their ids those of the calls before them, in
    order), and assistant turns through the engine's own completion parser. The open assistant
    turn at the end (the prefill) is not part of it."""
    markup = template.markup
    turns = [
        (markup.system_header, "system", markup.system_footer),
        (markup.assistant_header, "assistant", markup.assistant_footer),
        (markup.tool_header, "tool", markup.tool_footer),
        (markup.user_header, "user", markup.user_footer),
    ]
    text = prompt.removeprefix(markup.bos)
    tools: tuple[Tool, ...] = ()
    messages: list[Message] = []
    calls: list[str] = []  # ids of the calls still waiting for their results
    made = 0
    pos = 0
    while True:
        turn = next((t for t in turns if text.startswith(t[0], pos)), None)
        if turn is None:
            break
        header, role, footer = turn
        start = pos + len(header)
        end = text.find(footer, start)
        if end < 0:  # the open turn the model continues
            break
        content, pos = text[start:end], end + len(footer)
        if role == "system":
            tools = _tools(content, template.tool_calls) or tools  # a later system message holds none
        elif role == "assistant":

            def new_id() -> str:
                nonlocal made
                made += 1
                return f"call_{made}"

            body = content.removeprefix(template.prefill)
            parsed = parse_completion(body, template, tools=tools, new_id=new_id, prefill=template.prefill)
            calls = [c.id for c in parsed.tool_calls]
            messages.append(Message(role="assistant", blocks=parsed.blocks))
        elif content.startswith(markup.tool_result_open):
            results = _results(content, template)
            ids = [calls.pop(0) if calls else f"result_{len(messages)}_{n}" for n in range(len(results))]
            messages.append(
                Message(
                    role="user",
                    blocks=tuple(ToolResult(call_id=i, content=r) for i, r in zip(ids, results, strict=True)),
                )
            )
        else:
            messages.append(Message(role="user", blocks=(Text(text=content),)))
    return Request(messages=tuple(messages), tools=tools or None)


def _tools(system: str, syntax: ToolCallSyntax) -> tuple[Tool, ...]:
    start = system.find(syntax.tools_intro)
    if start < 0:
        return ()
    start += len(syntax.tools_intro)
    end = system.find(syntax.tools_outro, start)
    tools: list[Tool] = []
    for line in system[start : end if end >= 0 else len(system)].split(syntax.tool_line_prefix):
        line = line.removesuffix(syntax.tool_line_suffix).strip()
        try:
            spec = json.loads(line)
        except ValueError:
            continue
        spec = spec.get("function", spec) if isinstance(spec, dict) else None
        if isinstance(spec, dict) and isinstance(spec.get("name"), str):
            tools.append(
                Tool(
                    name=spec["name"], description=spec.get("description"), parameters=spec.get("parameters")
                )
            )
    return tuple(tools)


def _results(content: str, template: ChatTemplate) -> list[str]:
    markup = template.markup
    inner = content.removeprefix(markup.tool_result_open).removesuffix(markup.tool_result_close)
    return inner.split(markup.tool_result_close + markup.tool_result_separator + markup.tool_result_open)


def completion(response: Response, template: ChatTemplate, *, think: bool = True) -> str:
    """``response`` as the model would write it after the prefill: its thinking, the close of
    the think element, then the call element or the answer (``think`` false: no thinking)."""
    thought = " ".join(b.text for b in response.blocks if isinstance(b, Thinking))
    calls = [b for b in response.blocks if isinstance(b, ToolCall)]
    if calls:
        rest = format_calls(template, [CallSpec(calls[0].name, calls[0].arguments)])
    else:
        rest = "".join(b.text for b in response.blocks if isinstance(b, Text))
    if not think:
        return rest
    return thought + template.think.trail + template.think.close + template.think.after + rest


def scripted_agent(template: ChatTemplate | str, *, calls: int = 1) -> Callable[[str], str]:
    """The script of ``thinkwire serve --model scripted`` (module docstring): ``calls`` tool
    calls per user turn before it answers."""
    chat = get_template(template) if isinstance(template, str) else template

    def script(prompt: str) -> str:
        view = prompt_view(prompt, chat)
        return completion(
            scripted.reply(view, calls=calls), chat, think=not prompt.endswith(chat.no_think_prefill)
        )

    return script


RECORDED: Final = 1000
"""Calls a ``ScriptedRuntime`` remembers by default (for tests to look at)."""


class ScriptedRuntime:
    """Canned completions behind the ``handle_completions`` interface (module docstring).

    ``calls`` records the params of the last ``record`` calls in order (``thinkwire serve
    --model scripted`` keeps none: each holds a whole prompt, and a server that kept every one
    grew with every request); ``cancelled`` counts streams stopped
    by their callback.
    """

    def __init__(self, script: Script, *, delay: float = 0.0, slots: int = 1, record: int = RECORDED) -> None:
        self._script = script
        self._next = 0
        self._delay = delay
        self._lock = threading.Lock()
        self._cache: deque[list[str]] = deque(maxlen=max(1, slots))
        self.calls: list[Params] = []
        self._record = record
        self._last: tuple[str, str] | None = None
        self.cancelled = 0

    def complete(self, params: Params) -> Result:
        """One whole completion."""
        prompt, pieces, finish, cached = self._generate(params)
        return self._result("".join(pieces), finish, len(prompt), cached, len(pieces))

    def stream(self, params: Params, on_chunk: OnChunk) -> None:
        """One completion as chunks, one per token; returns when done or cancelled."""
        prompt, pieces, finish, cached = self._generate(params)
        for n, piece in enumerate(pieces, 1):
            if self._delay:
                time.sleep(self._delay)
            last = n == len(pieces)
            chunk = self._result(piece, finish if last else None, len(prompt), cached, n)
            if on_chunk(chunk):
                with self._lock:
                    self.cancelled += 1
                return
        if not pieces:
            on_chunk(self._result("", finish, len(prompt), cached, 0))

    # internals

    def _continued(self, prompt: str) -> str | None:
        """The rest of the last reply when ``prompt`` continues the last call's turn after the
        engine closed its thinking (the second call of a thinking budget)."""
        with self._lock:
            last = self._last
        if last is None or not prompt.startswith(last[0]):
            return None
        added = prompt[len(last[0]) :]
        if "<|im_start|>" in added or _THINK_CLOSE not in added or _THINK_CLOSE not in last[1]:
            return None
        return last[1].split(_THINK_CLOSE, 1)[1].lstrip("\n")

    def _reply(self, prompt: str) -> str:
        if callable(self._script):
            return self._script(prompt)
        with self._lock:
            if not self._script:
                return ""
            reply = self._script[min(self._next, len(self._script) - 1)]
            self._next += 1
            return reply

    def _generate(self, params: Params) -> tuple[list[str], list[str], str, int]:
        prompt_text = str(params.get("prompt", ""))
        with self._lock:
            if self._record:
                self.calls.append(dict(params))
                del self.calls[: -self._record]
        reply = ""  # n_predict 0: the prompt only (the engine settling its cache), no reply used up
        if params.get("n_predict") != 0:
            continued = self._continued(prompt_text)
            reply = self._reply(prompt_text) if continued is None else continued
            with self._lock:
                self._last = (prompt_text, reply)
        finish = "stop"
        stops = [s for s in params.get("stop") or () if isinstance(s, str) and s]
        cut = min((i for i in (reply.find(s) for s in stops) if i >= 0), default=-1)
        if cut >= 0:
            reply = reply[:cut]
        pieces = tokens(reply)
        budget = params.get("n_predict")
        if isinstance(budget, int) and 0 <= budget < len(pieces):
            pieces, finish = pieces[:budget], "length"
        prompt = tokens(prompt_text)
        with self._lock:
            cached = max((_shared(prompt, seq) for seq in self._cache), default=0)
            cached = min(cached, max(0, len(prompt) - 1))
            self._cache.append(prompt + tokens("".join(pieces)))
        return prompt, pieces, finish, cached

    @staticmethod
    def _result(text: str, finish: str | None, prompt: int, cached: int, generated: int) -> Result:
        return {
            "object": "text_completion",
            "model": SCRIPTED_MODEL,
            "choices": [{"index": 0, "text": text, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": generated,
                "total_tokens": prompt + generated,
            },
            "timings": {"cache_n": cached, "prompt_n": prompt - cached, "predicted_n": generated},
        }


def _shared(a: Sequence[str], b: Sequence[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def scripted_engine(
    script: Script | Iterable[str],
    template: ChatTemplate | str = SCRIPTED_TEMPLATE,
    *,
    delay: float = 0.0,
    slots: int = 1,
    record: int = RECORDED,
    **engine: Any,
) -> tuple[LocalEngine, ScriptedRuntime]:
    """A ``LocalEngine`` (model id ``scripted``) on a ``ScriptedRuntime``; both are returned so
    tests can look at the runtime's last ``record`` calls. ``engine`` passes on to
    ``LocalEngine`` (``secret``, default a fresh random one; ``max_tokens``, ``new_id``, ...)."""
    if not callable(script):
        script = list(script)
    runtime = ScriptedRuntime(script, delay=delay, slots=slots, record=record)
    engine.setdefault("model_id", SCRIPTED_MODEL)
    engine.setdefault("secret", secrets.token_bytes(32))  # nothing to keep across restarts
    built = LocalEngine(
        SCRIPTED_MODEL,
        template,
        slots=slots,
        runtime=runtime.complete,
        stream_runtime=runtime.stream,
        **engine,
    )
    return built, runtime
