"""The local engine: an IR request in, a signed IR response (or stream events) out.

``LocalEngine`` owns one llama.cpp runtime (``xllamacpp.Server``, CPU) for one GGUF model and
one ``ChatTemplate``. Every request goes through the same steps:

1. **check** the incoming thinking with ``signing.check_thinking``: a block this engine signed
   that came back altered raises ``SignatureError`` (answer 400); an omitted block (empty text,
   our signature) is restored from what the engine remembers emitting; reasoning from
   elsewhere is accepted as unsigned;
2. **plan** the thinking from ``Request.thinking`` (``budget.plan_thinking``: Anthropic
   ``thinking``, OpenAI ``reasoning_effort`` / ``reasoning.effort``): unbounded, off, or at
   most N tokens. It picks the prefill (the template's; its empty think element when off; one
   that opens thinking under a budget), the grammar, and whether the turn takes two
   completions (see ``thinkwire.local.budget``);
3. **render** the prompt (``render.render``) under the policy (``keep`` by default: the prompt
   then begins with the previous turn's prompt plus its completion, so the runtime reuses its
   KV cache and only the new tokens are processed);
4. **constrain** the output with ``grammar.build_grammar`` when the template asks for it
   (function tools only, ``Opaque`` ones are left out; parallel calls when the template allows
   them and ``tool_choice.parallel`` is not ``False``; no thought part when thinking is off);
   without a grammar ``tool_choice`` is not enforced;
5. **generate** with ``handle_completions``: the raw prompt, the template's stop strings (plus
   the client's) and sampling (the request's values win), ``cache_prompt``, ``n_predict`` =
   ``sampling.max_tokens`` or ``max_tokens``. Under a thinking budget, two calls
   (``budget.generate``): the thinking up to the budget, then, after the close the engine
   writes, the rest of the turn under the rest of ``n_predict``. A seeded first turn (no
   assistant message yet) first settles the cache on the prompt's system part (``settle``), so
   that the same seed samples the same turn whatever was cached before;
6. **append the kept stop**: llama.cpp leaves a matched stop string out of the text and its
   OpenAI-shaped result does not say which one matched (``finish_reason`` is ``"stop"`` for
   end-of-turn and for every stop string). The matched string is read from
   ``__verbose.stopping_word`` when the runtime runs with verbosity > 9 (which also floods
   stderr with debug logs, so the engine does not turn it on). Otherwise a ``keep_stop`` that
   closes the template's call element is appended when generation stopped with such an element
   still open (its opening tag after its last closing tag): under a grammar nothing else can
   end generation there, since end-of-turn is only allowed once the grammar is complete.
   Without a grammar, a model that ends its turn in the middle of a call gets the closing tag
   added (the call is usually malformed then and is reported as a problem anyway);
7. **parse** the completion (``parse.StreamParser``) into ``Thinking`` / ``ToolCall`` /
   ``Text`` blocks and **sign** every ``Thinking`` (``signing.sign`` over model id and text;
   origin ``provider="thinkwire-local"``, the client's ``dialect`` and ``carrier``).

``complete`` returns an ``EngineResult``; ``stream`` returns an ``EngineStream`` of
``thinkwire.ir`` stream events (``MessageStart``, block events, ``MessageDelta`` with stop
reason and usage, ``MessageStop``) that folds to the same response. Stop reasons:
``max_tokens`` when the token budget ran out, ``tool_use`` when the turn holds a call,
``end_turn`` otherwise. Usage: ``input_tokens`` = all prompt tokens (cached + processed),
``output_tokens`` = generated tokens, ``cache_read_tokens`` = prompt tokens reused from the KV
cache (``timings.cache_n``; llama.cpp always reprocesses at least the last prompt token).
Under a thinking budget the prompt counts once (the first call's prompt and cached tokens)
and ``output_tokens`` sums both calls' generated tokens; the close the engine wrote between
them is in ``completion`` but counted in neither.

Streaming uses xllamacpp's own: ``handle_completions({..., "stream": True}, callback)`` calls
``callback(chunk)`` for each piece on the calling thread (the GIL is released while it waits),
and stops generating when the callback returns ``True``. ``stream`` runs it on a worker thread
and hands the chunks over a queue; closing the stream early makes the next callback return
``True``, which cancels the generation in llama.cpp. An engine built on an injected
``runtime`` with no ``stream_runtime`` streams the whole completion through the same parser.

``xllamacpp.Server`` also opens its own HTTP listener on 127.0.0.1 at a random port (it cannot
be turned off from Python). The engine never publishes that address; ``thinkwire serve`` is
the only server users should see.

Errors::

    ThinkwireError
    ├── EngineUnavailable    the engine cannot start
    │   ├── ModelFileMissing     no model file at the path: run ``thinkwire model pull``
    │   └── RuntimeMissing       xllamacpp is not installed: ``pip install 'thinkwire[local]'``
    ├── EngineError          the runtime refused or failed a completion (``code``: its status)
    │   └── EngineClosed         the engine was closed
    ├── SignatureError       (signing) signed thinking came back altered
    └── GrammarError         (grammar) no grammar for this request, e.g. an unknown named tool
"""

from __future__ import annotations

import importlib
import os
import queue
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, Literal

import msgspec

from thinkwire.errors import ThinkwireError
from thinkwire.ir.blocks import Carrier, Dialect, Origin, Thinking, ToolCall, ToolResult
from thinkwire.ir.conversation import Request, Response, StopReason, Tool, ToolChoice, Usage
from thinkwire.ir.stream import (
    BlockDelta,
    BlockStart,
    BlockStop,
    Folder,
    MessageDelta,
    MessageStart,
    MessageStop,
    SignatureDelta,
    StreamEvent,
    ThinkingDelta,
)
from thinkwire.local.budget import Params as Params  # the runtime's types, re-exported
from thinkwire.local.budget import Result as Result
from thinkwire.local.budget import Run, ThinkingPlan, Written, generate, plan_thinking
from thinkwire.local.budget import finish_reason as _finish_reason
from thinkwire.local.grammar import build_grammar
from thinkwire.local.model_files import PULL_HINT
from thinkwire.local.parse import IdFactory, Problem, StreamParser, new_call_id
from thinkwire.local.render import Rendered, render
from thinkwire.local.signing import check_thinking, engine_origin, load_secret, restore_omitted, sign
from thinkwire.local.templates import ChatTemplate, ThoughtShape, get_template
from thinkwire.policy import Policy

DEFAULT_MAX_TOKENS: Final = 1024
"""``n_predict`` when the request sets no ``max_tokens``."""
RECALL_SIZE: Final = 4096
"""How many emitted thinking texts the engine remembers, to restore omitted blocks."""
RECALL_CHARS: Final = 16 << 20
"""How many characters of them at most (a thought can quote a client's megabyte-long tool name)."""
INSTALL_HINT: Final = "pip install 'thinkwire[local]'"

OnChunk = Callable[[Result], bool]
"""Called with each stream chunk; returning ``True`` stops the generation."""
CompleteFn = Callable[[Params], Result]
"""``complete(params) -> result``: one whole completion (``Server.handle_completions``)."""
StreamFn = Callable[[Params, OnChunk], object]
"""``stream(params, on_chunk)``: returns when the stream ends (``Server.handle_completions``
with ``"stream": True`` and a callback)."""


class EngineUnavailable(ThinkwireError):
    """The engine cannot start."""


class ModelFileMissing(EngineUnavailable):
    """No model file at the given path."""


class RuntimeMissing(EngineUnavailable):
    """The ``xllamacpp`` runtime is not installed."""


class EngineError(ThinkwireError):
    """The runtime refused or failed a completion.

    ``code`` is the runtime's HTTP-like status (400: the request, e.g. a prompt longer than
    the context; 500: the runtime itself); ``type`` its error type.
    """

    def __init__(self, message: str, *, code: int = 500, type: str = "server_error") -> None:
        self.code = code
        self.type = type
        super().__init__(message)


class EngineClosed(EngineError):
    """The engine was closed; no more completions."""

    def __init__(self) -> None:
        super().__init__("the local engine is closed", code=503, type="unavailable")


class EngineResult(msgspec.Struct, frozen=True, kw_only=True):
    """One generated turn and what it cost.

    ``prompt_tokens``: every prompt token (cached + processed); ``cached_tokens``: reused from
    the KV cache; ``processed_tokens``: evaluated for this request (``prompt_tokens -
    cached_tokens``, as the runtime counts it); ``completion_tokens``: generated. Under a
    thinking budget the prompt counts are the first call's and ``completion_tokens`` both
    calls'. ``prompt`` / ``completion``: the exact text given to and produced by the model
    (the completion with a kept stop appended, and under a budget the think close the engine
    wrote between the calls; without the prefill, which ends ``prompt``); under ``keep`` the
    next turn's prompt begins with ``prompt + completion``. ``problems``: what the parser
    found wrong; ``skipped``: what the renderer could not show the model (images, opaque
    items...).
    """

    response: Response
    prompt_tokens: int
    cached_tokens: int
    processed_tokens: int
    completion_tokens: int
    prompt: str
    completion: str
    problems: tuple[Problem, ...] = ()
    skipped: tuple[str, ...] = ()


class _Prepared(msgspec.Struct, frozen=True, kw_only=True):
    rendered: Rendered
    params: Params
    tools: tuple[Tool, ...]
    origin: Origin
    plan: ThinkingPlan
    rest_grammar: Callable[[str], str | Written] | None = None  # after phase 1's thought (phase 2)
    bare_calls: bool = False  # the parser reads bare calls
    settle: str = ""  # a seeded first turn: the system part the KV cache is settled on first


def _import_runtime() -> Any:
    """The ``xllamacpp`` module (untyped, hence ``Any``)."""
    try:
        return importlib.import_module("xllamacpp")
    except ImportError as exc:
        raise RuntimeMissing(f"the local engine needs xllamacpp ({exc}): {INSTALL_HINT}") from None


class LocalEngine:
    """A GGUF model on llama.cpp that thinks, calls tools and signs its thinking.

    ``template`` is a ``ChatTemplate`` or a built-in template's name. ``n_ctx`` is the context of
    each of the ``slots`` concurrent generations (the runtime gets ``n_ctx * slots``; llama.cpp
    picks the slot whose cache shares the longest prefix with the prompt). ``secret``: the
    signing key (default ``signing.load_secret()``). ``model_id``: the model name in
    signatures and responses (default: the file name without ``.gguf``). ``max_tokens``: the
    generation budget when a request sets none. ``new_id`` makes tool-call ids.

    ``think_share``: cap thinking the request leaves unbounded at this share of the turn's
    token budget (``budget.plan_thinking``); ``None``: unbounded.
    ``runtime_logs``: let llama.cpp write its own log lines to stderr (every load step and
    every slot's timings); ``False`` silences it.

    ``runtime`` / ``stream_runtime`` replace xllamacpp (tests, other bindings): with
    ``runtime`` given nothing is loaded and ``model_path`` is not read.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        template: ChatTemplate | str,
        *,
        n_ctx: int = 8192,
        threads: int | None = os.cpu_count(),
        slots: int = 1,
        secret: bytes | None = None,
        model_id: str | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        runtime_logs: bool = True,
        think_share: float | None = None,
        new_id: IdFactory = new_call_id,
        runtime: CompleteFn | None = None,
        stream_runtime: StreamFn | None = None,
    ) -> None:
        if n_ctx < 1 or slots < 1 or max_tokens < 1:
            raise ValueError("n_ctx, slots and max_tokens must be positive")
        self.model_path = Path(model_path)
        self.template = get_template(template) if isinstance(template, str) else template
        self.model_id = model_id or self.model_path.name.removesuffix(".gguf")
        self.max_tokens = max_tokens
        self.think_share = think_share
        self._secret = load_secret() if secret is None else secret
        self._new_id = new_id
        self._recall: OrderedDict[str, str] = OrderedDict()
        self._recall_chars = 0
        self._recall_lock = threading.Lock()
        self._server: Any = None
        if runtime is None:
            if not self.model_path.is_file():
                raise ModelFileMissing(f"no model file at {self.model_path}: {PULL_HINT}")
            xllamacpp = _import_runtime()
            params = xllamacpp.CommonParams()
            params.model.path = str(self.model_path)
            params.n_ctx = n_ctx * slots
            params.n_parallel = slots
            cores = threads or 1
            params.cpuparams.n_threads = cores
            params.cpuparams_batch.n_threads = cores
            if not runtime_logs:
                params.verbosity = -1  # llama.cpp prints nothing (errors still reach us as results)
            try:
                self._server = xllamacpp.Server(params)
            except Exception as exc:  # the binding raises a bare RuntimeError
                raise EngineError(f"llama.cpp could not load {self.model_path}: {exc}") from exc
            runtime = self._server.handle_completions
            # xllamacpp's destructor waits forever for a server that never served a request;
            # one token now makes close() safe at any time (and the first request no slower)
            _raise_for_error(runtime({"prompt": "\n", "n_predict": 1, "cache_prompt": False}))
            stream_runtime = stream_runtime or self._server.handle_completions
        self._complete: CompleteFn | None = runtime
        self._stream: StreamFn | None = stream_runtime

    # lifecycle

    def close(self) -> None:
        """Free the model (the runtime's threads stop). Later calls raise ``EngineClosed``."""
        self._complete = self._stream = None
        self._server = None  # the C++ destructor stops the runtime's loop and its listener

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._complete is None

    # generation

    def complete(
        self,
        request: Request,
        *,
        policy: Policy = "keep",
        dialect: Dialect = "openai-chat",
        carrier: Carrier | None = None,
        seed: int | None = None,
    ) -> EngineResult:
        """Generate the next assistant turn of ``request`` (see the module docstring).

        ``dialect`` / ``carrier``: the client's, written into each thinking block's origin so
        its codec puts the signature in its own slot. ``seed``: fixes sampling.
        """
        prepared = self._prepare(request, policy, dialect, carrier, seed)
        complete = self._complete
        if complete is None:
            raise EngineClosed
        turn = _Turn(self, prepared)
        turn.start()
        pieces = self._generate(prepared, lambda params: _whole(complete, params))
        while True:
            try:
                turn.events(next(pieces))
            except StopIteration as done:
                return turn.finish(done.value)

    def stream(
        self,
        request: Request,
        *,
        policy: Policy = "keep",
        dialect: Dialect = "openai-chat",
        carrier: Carrier | None = None,
        seed: int | None = None,
    ) -> EngineStream:
        """Stream the next assistant turn as IR events (arguments as for ``complete``).

        The request is checked, rendered and its grammar built now (so ``SignatureError`` and
        ``GrammarError`` are raised here, before any event); generation starts with the first
        ``next()``.
        """
        prepared = self._prepare(request, policy, dialect, carrier, seed)
        if self.closed:
            raise EngineClosed
        return EngineStream(self, prepared)

    # steps

    def _prepare(
        self,
        request: Request,
        policy: Policy,
        dialect: Dialect,
        carrier: Carrier | None,
        seed: int | None,
    ) -> _Prepared:
        check = check_thinking(
            request.messages, secret=self._secret, model=self.model_id, recall=self._recalled
        )
        check.raise_for_problems()
        if check.restored:
            request = msgspec.structs.replace(request, messages=restore_omitted(request.messages, check))
        tools = tuple(t for t in request.tools or () if isinstance(t, Tool))
        template, sampling = self.template, request.sampling
        max_tokens = sampling.max_tokens or self.max_tokens
        plan = plan_thinking(request.thinking, max_tokens, default_share=self.think_share)
        last = request.messages[-1].blocks if request.messages else ()
        shape = template.shape(after_result=any(isinstance(b, ToolResult) for b in last))
        lead = shape.lead if shape is not None else ""
        rendered = render(
            request, template, policy, prefill=plan.prefill(template, lead)
        )  # opaque tools: `skipped`
        params: Params = {
            "prompt": rendered.prompt,
            "n_predict": max_tokens,
            "cache_prompt": True,
            "stop": list(dict.fromkeys((*template.stop, *(sampling.stop or ())))),
        }
        rest_grammar = None
        if template.grammar:
            choice = request.tool_choice
            parallel = template.parallel_calls and (choice is None or choice.parallel is not False)
            close = template.think.close + template.think.after

            def grammar(thinking: bool, thought: str = "") -> str:
                only, tool = decided(shape, thought, tools)
                return build_grammar(
                    tools,
                    choice if tool is None else ToolChoice(mode="tool", name=tool),
                    parallel=parallel,
                    think_close=close,
                    thinking=thinking,
                    bare_calls=template.bare_calls,
                    thought=shape,
                    only=only,
                )

            params["grammar"] = grammar(plan.think)

            def rest(thought: str) -> str | Written:
                # a draft the model finished (it closed its thinking itself, after the usual trail)
                done = thought.endswith(template.think.trail)
                draft = drafted(shape, thought) if done else ""
                return Written(draft) if draft else grammar(False, thought)

            if plan.budget is not None:
                rest_grammar = rest
        defaults = template.sampling
        for key, value in (
            (
                "temperature",
                sampling.temperature if sampling.temperature is not None else defaults.temperature,
            ),
            ("top_p", sampling.top_p if sampling.top_p is not None else defaults.top_p),
            ("top_k", sampling.top_k if sampling.top_k is not None else defaults.top_k),
            ("repeat_penalty", defaults.repeat_penalty),
            ("seed", seed),
        ):
            if value is not None:
                params[key] = value
        first_turn = not any(m.role == "assistant" for m in request.messages)
        return _Prepared(
            settle=rendered.system if seed is not None and first_turn else "",
            rendered=rendered,
            params=params,
            tools=tools,
            origin=engine_origin(dialect, self.model_id, carrier=carrier),
            plan=plan,
            rest_grammar=rest_grammar,
            bare_calls=template.bare_calls
            and not (request.tool_choice is not None and request.tool_choice.mode == "none"),
        )

    def _generate(self, prepared: _Prepared, run: Run) -> Generator[str, None, Result]:
        """The turn's text pieces (both phases under a thinking budget); returns the result."""
        if prepared.settle and self._complete is not None:
            settle(self._complete, prepared.settle)
        return generate(
            prepared.params,
            run,
            budget=prepared.plan.budget,
            think=self.template.think,
            rest_grammar=prepared.rest_grammar,
        )

    def _remember(self, signature: str, text: str) -> None:
        with self._recall_lock:
            self._recall_chars += len(text) - len(self._recall.pop(signature, ""))
            self._recall[signature] = text
            while len(self._recall) > RECALL_SIZE or self._recall_chars > RECALL_CHARS:
                self._recall_chars -= len(self._recall.popitem(last=False)[1])

    def _recalled(self, signature: str) -> str | None:
        with self._recall_lock:
            return self._recall.get(signature)


def settle(complete: CompleteFn, system: str) -> None:
    """Leave the KV cache holding ``system`` with its last token evaluated alone, whatever the
    cache held before, so that the prompt that follows (which starts with ``system``) is
    evaluated the same way every time.

    What is cached changes the last bits of the next logits (llama.cpp evaluates the uncached
    rest of a prompt as one batch, and a batch's size changes its arithmetic), and at a
    temperature above 0 that can change the sample: the same first turn with the same seed
    sampled different text after different earlier requests (docs/local-engine.md). The first
    call puts ``system`` in the cache (only its last token when it is there already), the
    second evaluates that last token alone; both generate at most one greedy token, which the
    next prompt overwrites or, being the same each time, reuses.
    """
    for _ in range(2):
        complete({"prompt": system, "n_predict": 0, "cache_prompt": True, "temperature": 0.0})


def decided(
    shape: ThoughtShape | None, thought: str, tools: Sequence[Tool] = ()
) -> tuple[Literal["answer", "calls"] | None, str | None]:
    """What ``thought`` (the text after the prefill) decided with the opening words of the
    shape's ``decision`` (its closing words with ``decide_last``): an answer or calls, and
    which tool when the words name one (``(None, None)``: nothing, or no decision to make)."""
    if shape is None or shape.decision is None or not thought:
        return None, None
    answer, call = shape.decision
    says = thought.endswith if shape.decide_last else thought.startswith
    if says(answer):
        return "answer", None
    if not shape.per_tool:
        return ("calls", None) if says(call) else (None, None)
    named = [t.name for t in tools if says(shape.call_words(t.name))]
    return ("calls", max(named, key=len)) if named else (None, None)


def drafted(shape: ThoughtShape | None, thought: str) -> str:
    """The answer a thought that decided to answer drafted (``ThoughtShape.draft_answer``):
    its text after the opening phrase, stripped (``""``: none)."""
    if shape is None or not shape.draft_answer or shape.decision is None or shape.decide_last:
        return ""
    return thought.removeprefix(shape.decision[0]).strip() if thought.startswith(shape.decision[0]) else ""


def _raise_for_error(result: Result, *, strict: bool = True) -> None:
    """Raise ``EngineError`` for an error result (``strict``: also for one with no choices).

    llama.cpp answers ``{"error": {"code", "message", "type"}}``; the binding itself answers
    ``{"code", "message", "type"}`` when it cannot decode the runtime's reply.
    """
    error = result.get("error", result if "message" in result and "code" in result else None)
    if error is None and ("choices" in result or not strict):
        return
    if not isinstance(error, dict):
        error = {"message": f"unexpected runtime result: {str(result)[:200]}"}
    code = error.get("code")
    raise EngineError(
        str(error.get("message") or "the runtime failed"),
        code=code if isinstance(code, int) else 500,
        type=str(error.get("type") or "server_error"),
    )


def kept_stop(template: ChatTemplate, text: str, finish_reason: str, verbose: object = None) -> str:
    """The stop string to append to ``text`` (``""``: none), see step 6 of the module docstring.

    ``verbose`` is the result's ``__verbose`` object when the runtime sends one.
    """
    if finish_reason != "stop":
        return ""
    if isinstance(verbose, dict) and isinstance(verbose.get("stopping_word"), str):
        word = verbose["stopping_word"]
        return word if word in template.keep_stop else ""
    syntax = template.tool_calls
    if syntax.close in template.keep_stop and text.rfind(syntax.open) > text.rfind(syntax.close):
        return syntax.close
    return ""


class _Turn:
    """Text pieces of one generated turn -> signed block events, and the final result."""

    def __init__(self, engine: LocalEngine, prepared: _Prepared) -> None:
        self.engine = engine
        self.prepared = prepared
        self.id = "msg_local_" + uuid.uuid4().hex[:24]
        self.parser = StreamParser(
            engine.template,
            tools=prepared.tools,
            new_id=engine._new_id,
            origin=prepared.origin,
            prefill=prepared.rendered.prefill,
            think=prepared.plan.think,
            bare_calls=prepared.bare_calls,
        )
        self.folder = Folder()
        self.pieces: list[str] = []
        self._thinking: dict[int, list[str]] = {}
        self.tail: list[StreamEvent] = []

    def start(self) -> list[StreamEvent]:
        return self._fold([MessageStart(id=self.id, model=self.engine.model_id)])

    def events(self, piece: str) -> list[StreamEvent]:
        """Events for a piece of generated text."""
        if not piece:
            return []
        self.pieces.append(piece)
        return self._sign(self.parser.feed(piece))

    def end(self, finish_reason: str, verbose: object) -> list[StreamEvent]:
        """The kept stop (if any) and the events that close every open block."""
        events: list[StreamEvent] = []
        stop = kept_stop(self.engine.template, "".join(self.pieces), finish_reason, verbose)
        if stop:
            events += self.events(stop)
        return events + self._sign(self.parser.close())

    def finish(self, result: Result) -> EngineResult:
        """Close the turn and sum up its final ``result``; ``tail`` gets the events still to
        send (the blocks' ends, the stop reason and usage)."""
        finish = _finish_reason(result)
        closing = self.end(finish, result.get("__verbose"))
        counts = result.get("usage") or {}
        timings = result.get("timings") or {}
        details = counts.get("prompt_tokens_details") or {}
        cached = _int(timings.get("cache_n"), _int(details.get("cached_tokens")))
        processed = _int(timings.get("prompt_n"))
        prompt_tokens = _int(counts.get("prompt_tokens"), cached + processed)
        completion_tokens = _int(counts.get("completion_tokens"), _int(timings.get("predicted_n")))
        calls = any(isinstance(b, ToolCall) for b in self.folder.result().blocks)
        reason: StopReason = "max_tokens" if finish == "length" else "tool_use" if calls else "end_turn"
        usage = Usage(input_tokens=prompt_tokens, output_tokens=completion_tokens, cache_read_tokens=cached)
        last: list[StreamEvent] = [MessageDelta(stop_reason=reason, usage=usage), MessageStop()]
        self.tail = [*closing, *self._fold(last)]
        return EngineResult(
            response=self.folder.result(),
            prompt_tokens=prompt_tokens,
            cached_tokens=cached,
            processed_tokens=processed,
            completion_tokens=completion_tokens,
            prompt=self.prepared.rendered.prompt,
            completion="".join(self.pieces),
            problems=tuple(self.parser.problems),
            skipped=self.prepared.rendered.skipped,
        )

    def _sign(self, events: list[StreamEvent]) -> list[StreamEvent]:
        """``events`` with a signature delta before each thinking block's stop."""
        out: list[StreamEvent] = []
        for event in events:
            if isinstance(event, BlockStart) and isinstance(event.block, Thinking):
                self._thinking[event.index] = [event.block.text]
            elif isinstance(event, BlockDelta) and isinstance(event.delta, ThinkingDelta):
                self._thinking[event.index].append(event.delta.text)
            elif isinstance(event, BlockStop) and event.index in self._thinking:
                text = "".join(self._thinking.pop(event.index))
                signature = sign(self.engine._secret, self.engine.model_id, text)
                self.engine._remember(signature, text)
                out.append(BlockDelta(index=event.index, delta=SignatureDelta(signature)))
            out.append(event)
        return self._fold(out)

    def _fold(self, events: list[StreamEvent]) -> list[StreamEvent]:
        for event in events:
            self.folder.feed(event)
        return events


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _choice(result: Result) -> dict[str, Any]:
    choice = (result.get("choices") or [{}])[0]
    return choice if isinstance(choice, dict) else {}


def _whole(complete: CompleteFn, params: Params) -> Generator[str, None, Result]:
    """One whole completion as a single piece (a ``budget.Run``)."""
    result = complete(params)
    _raise_for_error(result)
    yield str(_choice(result).get("text") or "")
    return result


class _Cancelled(Exception):
    """The consumer cancelled a stream: end it without its closing events."""


_DONE: Final = object()


def _streamed(stream: StreamFn, params: Params, cancel: threading.Event) -> Generator[str, None, Result]:
    """One streamed completion, its pieces as they come (a ``budget.Run``); the result holds
    the finish reason and the last ``usage`` / ``timings`` / ``__verbose`` seen. Raises
    ``_Cancelled`` once ``cancel`` is set."""
    chunks: queue.Queue[object] = queue.Queue()

    def on_chunk(chunk: Result) -> bool:
        chunks.put(chunk)
        return cancel.is_set()

    def work() -> None:
        try:
            stream({**params, "stream": True}, on_chunk)
        except BaseException as exc:  # handed to the consumer
            chunks.put(exc)
        finally:
            chunks.put(_DONE)

    worker = threading.Thread(target=work, name="thinkwire-local-stream", daemon=True)
    worker.start()
    last: Result = {}
    finish = ""
    while (item := chunks.get()) is not _DONE:
        if isinstance(item, BaseException):
            raise EngineError(f"the runtime failed: {item}") from item
        assert isinstance(item, dict)
        _raise_for_error(item, strict=False)
        if cancel.is_set():
            raise _Cancelled
        finish = _finish_reason(item) or finish
        for key in ("usage", "timings", "__verbose"):
            if key in item:
                last[key] = item[key]
        text = str(_choice(item).get("text") or "")
        if text:
            yield text
    worker.join()
    return {**last, "choices": [{"text": "", "finish_reason": finish}]}


class EngineStream(Iterator[StreamEvent]):
    """The events of one streamed turn. ``result`` is the ``EngineResult`` once the stream is
    exhausted (``None`` before). ``close()`` (or leaving a ``with`` block, or dropping a
    half-read stream) stops the generation at its next token."""

    def __init__(self, engine: LocalEngine, prepared: _Prepared) -> None:
        self.result: EngineResult | None = None
        self.skipped = prepared.rendered.skipped
        """What the prompt could not show the model (redacted thinking, images, opaque items)."""
        self._cancel = threading.Event()
        self._events = self._run(engine, prepared)

    def __iter__(self) -> EngineStream:
        return self

    def __next__(self) -> StreamEvent:
        return next(self._events)

    def cancel(self) -> None:
        """Stop the generation at its next token; safe from any thread. The stream then ends
        without its closing events and ``result`` stays ``None``."""
        self._cancel.set()

    def close(self) -> None:
        """Cancel and end the stream; call it from the thread that iterates."""
        self._cancel.set()
        self._events.close()

    def __enter__(self) -> EngineStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, engine: LocalEngine, prepared: _Prepared) -> Generator[StreamEvent, None, None]:
        turn = _Turn(engine, prepared)
        complete, stream = engine._complete, engine._stream
        if complete is None:
            raise EngineClosed
        yield from turn.start()
        run: Run = (  # without a streaming runtime: the whole completion, through the same parser
            (lambda params: _whole(complete, params))
            if stream is None
            else (lambda params: _streamed(stream, params, self._cancel))
        )
        pieces = engine._generate(prepared, run)
        try:
            while True:
                try:
                    piece = next(pieces)
                except StopIteration as done:
                    self.result = turn.finish(done.value)
                    break
                yield from turn.events(piece)
            yield from turn.tail
        except _Cancelled:
            return
        finally:
            self._cancel.set()  # a consumer that stops early cancels the generation
            pieces.close()
