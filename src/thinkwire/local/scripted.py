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

A reply is the text the model continues with *after* the template's prefill (for
``qwen2.5-think``: the thinking, ``</think>``, then an answer or a ``<tool_call>`` element).
A thinking budget makes the engine call twice (the thinking, then the rest after the close it
writes): the second call gets the rest of the first call's reply, after its ``</think>``.
``grammar`` is not enforced: a script must be well-formed itself, or be a test of what the
parser does with malformed output.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from thinkwire.local.engine import LocalEngine, OnChunk, Params, Result
from thinkwire.local.templates import ChatTemplate

SCRIPTED_MODEL: Final = "scripted"
"""The model id of a scripted engine (``thinkwire serve --model scripted``)."""

Script = Sequence[str] | Callable[[str], str]
"""Replies used in turn (the last one repeats), or ``prompt -> reply``."""

_THINK_CLOSE: Final = "</think>"
_TOKEN: Final = re.compile(r"\w+|\s+|[^\w\s]")


def tokens(text: str) -> list[str]:
    """``text`` split the way the scripted model counts tokens (the pieces join back to it)."""
    return _TOKEN.findall(text)


def echo_reply(prompt: str) -> str:
    """A reply for demos with no model: thinks about the last user line, then echoes it.

    Written for ``qwen2.5-think``'s layout (thinking continued after ``<think>\\n``).
    """
    user = prompt.rsplit("<|im_start|>user\n", 1)[-1].split("<|im_end|>", 1)[0].strip()
    last = user.splitlines()[-1] if user else ""
    words = len(last.split())
    return (
        f"The user wrote {words} word{'s' if words != 1 else ''}. "
        f"I am the scripted model, so I repeat them.\n</think>\n\n{last or '(nothing to repeat)'}"
    )


WEATHER_TOOL: Final[dict[str, Any]] = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
"""The tool ``weather_agent`` calls (name, description, JSON Schema of its arguments)."""
_CALL: Final = (
    'I need the weather for {city}, so I call the tool.\n</think>\n<tool_call>\n{{"name": "get_weather", '
    '"arguments": {{"city": "{city}"}}}}\n</tool_call>'
)
_ANSWER: Final = "The tool says {city} is sunny, so I can answer.\n</think>\nIt is sunny in {city}."


def weather_agent(prompt: str) -> str:
    """A two-step tool loop for tests and demos (``qwen2.5-think`` layout): thinks, then calls
    ``get_weather`` (``WEATHER_TOOL``) for the city the user named — the last capitalised word
    after "in" in their last message, else the last capitalised word — and, once the last turn
    holds a tool result, thinks again and answers ``It is sunny in CITY.``"""
    turns = [t.split("<|im_end|>", 1)[0] for t in prompt.split("<|im_start|>user\n")[1:]]
    asked = [t for t in turns if not t.lstrip().startswith("<tool_response>")]
    said = asked[-1] if asked else ""
    named = re.findall(r"\bin ([A-Z][A-Za-z]+)", said)
    names = named or [w for w in (w.strip("?.!,") for w in said.split()) if w[:1].isupper() and w.isalpha()]
    city = names[-1] if names else "Paris"
    if turns and turns[-1].lstrip().startswith("<tool_response>"):
        return _ANSWER.format(city=city)
    return _CALL.format(city=city)


class ScriptedRuntime:
    """Canned completions behind the ``handle_completions`` interface (module docstring).

    ``calls`` records the params of every call in order; ``cancelled`` counts streams stopped
    by their callback.
    """

    def __init__(self, script: Script, *, delay: float = 0.0, slots: int = 1) -> None:
        self._script = script
        self._next = 0
        self._delay = delay
        self._lock = threading.Lock()
        self._cache: deque[list[str]] = deque(maxlen=max(1, slots))
        self.calls: list[Params] = []
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
            self.calls.append(dict(params))
        reply = self._continued(prompt_text)
        if reply is None:
            reply = self._reply(prompt_text)
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
    template: ChatTemplate | str = "qwen2.5-think",
    *,
    delay: float = 0.0,
    slots: int = 1,
    **engine: Any,
) -> tuple[LocalEngine, ScriptedRuntime]:
    """A ``LocalEngine`` (model id ``scripted``) on a ``ScriptedRuntime``; both are returned so
    tests can look at the runtime's calls. ``engine`` passes on to ``LocalEngine`` (``secret``,
    default a fresh random one; ``max_tokens``, ``new_id``, ...)."""
    if not callable(script):
        script = list(script)
    runtime = ScriptedRuntime(script, delay=delay, slots=slots)
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
