"""Chat templates: how one family of open models writes a conversation, as data.

A ``ChatTemplate`` is what the local engine writes and reads for one model family, matching
byte for byte what the model's own (Jinja) chat template writes; it is not a vendor profile
(``thinkwire.upstreams.profiles``, a remote vendor's wire facts). A template says everything
the renderer, the output parser and the engine need to know about a model family, and nothing
is decided by ``if model == ...`` elsewhere:

- ``markup``: the chat markup (role headers and footers, how tool results are wrapped);
- ``think``: the think tags and the whitespace the model puts around and after its thinking;
- ``tool_calls``: the tool-call syntax, where the tools are described and how;
- ``prefill``: text the engine writes at the start of the assistant turn before generating
  (``"<think>\\n"`` forces thinking on a model that would not think by itself); a request
  with thinking off gets ``no_think_prefill`` instead (an empty, closed think element), one
  with a thinking budget ``thinking_prefill`` (see ``thinkwire.local.budget``);
- ``stop`` / ``keep_stop``: stop sequences, and those that belong to the output (llama.cpp
  leaves a matched stop string out of the completion; the engine appends a ``keep_stop`` one
  back before parsing, so the completion is exactly the bytes the model produced);
- ``sampling``: the sampling defaults the model's authors recommend (or that were measured to
  work here for the default model).

Layout: an assistant turn is written as blocks separated by *gaps* (whitespace). Each template
names the gap its models write in the usual case (``ChatTemplate.gap``); the parser records a
gap only when the model wrote another one, so a turn written back reproduces exactly the bytes
the model generated.

The built-in templates are in ``TEMPLATES``; ``get_template(name)`` looks one up.
"""

# DeepSeek's special tokens are spelt with FULLWIDTH VERTICAL LINE (U+FF5C) on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

from typing import Final, Literal

import msgspec

from thinkwire.errors import ThinkwireError

Kind = Literal["think", "call", "text"]
"""The kind of an element of an assistant turn, for the gaps between them."""


class ChatMarkup(msgspec.Struct, frozen=True, kw_only=True):
    """Role headers and footers. A turn is ``header + content + footer``.

    ``bos`` is written once at the very start of the prompt (``""``: none). Tool results go in
    a turn of their own, ``tool_header`` .. ``tool_footer``, each result wrapped in
    ``tool_result_open`` .. ``tool_result_close`` and separated by ``tool_result_separator``;
    consecutive results (several tool messages in a row) share one turn.
    """

    bos: str = ""
    system_header: str
    system_footer: str
    user_header: str
    user_footer: str
    assistant_header: str
    assistant_footer: str
    tool_header: str
    tool_footer: str
    tool_result_open: str
    tool_result_close: str
    tool_result_separator: str


class ThinkSyntax(msgspec.Struct, frozen=True, kw_only=True):
    """Think tags and the usual whitespace around the thinking.

    A thinking block is written ``open + lead + text + trail + close``: ``lead`` / ``trail``
    are the whitespace the model usually writes inside the tags (``"\\n"``), so the
    ``Thinking`` text itself holds no framing whitespace. ``after`` is the gap between
    ``close`` and whatever follows in the same turn.
    """

    open: str = "<think>"
    close: str = "</think>"
    lead: str = "\n"
    trail: str = "\n"
    after: str = "\n\n"

    @property
    def empty(self) -> str:
        """An empty thinking element as it is written: ``open + lead + trail + close``."""
        return self.open + self.lead + self.trail + self.close

    def left_open(self, text: str) -> bool:
        """``text`` ends inside a thinking element: its last opening tag has no closing one."""
        return text.rfind(self.open) > text.rfind(self.close)


class ToolCallSyntax(msgspec.Struct, frozen=True, kw_only=True):
    """How calls are written and how the tools are described to the model.

    ``kind``:

    - ``hermes``: ``open + "\\n" + {"name": NAME, "arguments": ARGS} + "\\n" + close``, one call
      per element (Qwen2.5, Qwen3; also used for models without a native syntax);
    - ``minimax-xml``: ``open`` then one ``<invoke name="..">`` per call, each holding
      ``<parameter name="..">value</parameter>`` lines, then ``close``: several calls share one
      element.

    ``before``: the gap between text and a following call; ``between``: the gap after a call
    (before another call, or anything else). The tools section is ``tools_intro``, one line
    per tool (``tool_line_prefix + JSON + tool_line_suffix``; with ``wrap_function`` the JSON
    is ``{"type": "function", "function": {...}}``) and ``tools_outro``. It is written inside
    the system section, with single braces (the Qwen2.5 GGUF's own template doubles them, and
    the model then copies ``{{`` into its calls).
    """

    kind: Literal["hermes", "minimax-xml"]
    open: str
    close: str
    before: str = "\n"
    between: str = "\n"
    tools_intro: str
    tool_line_prefix: str
    tool_line_suffix: str
    wrap_function: bool
    tools_outro: str


class SamplingDefaults(msgspec.Struct, frozen=True, kw_only=True):
    """Sampling defaults; ``None`` leaves the runtime's own default."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repeat_penalty: float | None = None


class ThoughtShape(msgspec.Struct, frozen=True, kw_only=True):
    """The shape a grammar gives the thinking (``thinkwire.local.grammar``), for a model whose
    thinking is forced (``native_thinking`` false).

    The thought is *prose*: no ``<``, ``>``, ``{`` or ``}`` (so no call markup or JSON in it),
    at most ``max_chars`` characters (``None``: unbounded). ``decision``: the thought opens
    with one of two phrases that continue the ``prefill`` (e.g. ``"Do I need a tool?"``): the
    first leads to an answer after the thinking, the second to tool calls; so what the model
    does follows what it said it would do. When the second holds ``{tool}`` there is one such
    phrase per tool, with its name there, and the calls go to that tool only
    (``"Which tool do I need now?"``: ``" none"`` or ``" get_weather"``). ``None``: the thought
    opens with any character but a line break. ``draft_answer``: a thought that decided to
    answer drafts the answer after its opening phrase (``"No, I can answer: Paris."``), and the
    answer is that draft, word for word, when the model closed its thinking itself and the
    thinking ran as the first phase of a budget (``thinkwire.local.budget``; ``thinkwire serve``
    and ``thinkwire run`` cap thinking at a share of the turn): the engine writes the draft
    instead of generating a second phase. The small default model writes good drafts in its
    thinking and, right after ``</think>``, answers with a call written as text.

    ``decide_last``: the decision's phrases *close* the thought instead of opening it (and
    include the whitespace before ``</think>``): the thought is one paragraph of prose (no line
    break), then e.g. ``"\\nNext: answer.\\n"`` or ``"\\nNext: call get_weather.\\n"``; the
    model says what it knows and what is missing before it decides. No draft answer then.

    ``lead``: words the engine writes after the opening think tag, which the model's thought
    continues (``"The user asks"``); they are part of the thought, written back as such. A
    template may give a turn right after tool results another shape
    (``ChatTemplate.after_result``), e.g. one that leads with ``"The result says"``.
    """

    max_chars: int | None = None
    decision: tuple[str, str] | None = None
    draft_answer: bool = False
    decide_last: bool = False
    lead: str = ""

    @property
    def per_tool(self) -> bool:
        """The call words name a tool (``{tool}``): one decision per tool."""
        return self.decision is not None and TOOL_SLOT in self.decision[1]

    def call_words(self, tool: str) -> str:
        """The decision's call words naming ``tool`` (as they are when they name none)."""
        if self.decision is None:
            raise ValueError("this thought has no decision")
        return self.decision[1].replace(TOOL_SLOT, tool)


TOOL_SLOT: Final = "{tool}"
"""In a ``ThoughtShape.decision``'s call words: the tool's name."""


class ChatTemplate(msgspec.Struct, frozen=True, kw_only=True):
    """Everything model-specific about rendering prompts and parsing completions.

    ``native_thinking``: the model was trained to think in ``think`` tags by itself (when
    false, the ``prefill`` forces the opening tag and ``grammar`` should be on). ``grammar``:
    the engine constrains output with the GBNF grammar from ``thinkwire.local.grammar``.
    ``parallel_calls``: one turn may hold several calls. ``bare_calls``: a call may also be
    written as its bare JSON object ``{"name": .., "arguments": {..}}`` without the call tags
    (Hermes only): the grammar allows it and the parser reads it as a call (see
    ``thinkwire.local.grammar``). ``default_system``: the system text
    used when the conversation has none (``None``: no system section unless there are tools).
    ``think_instruction``: appended to the system section (``""``: none) to tell a model
    without native thinking what the pre-filled ``<think>`` is for. ``thought``: the shape the
    grammar gives the thinking (``ThoughtShape``; ``None``: any text without the closing tag);
    ``after_result``: the shape of a thought in a turn that comes right after tool results
    (``None``: ``thought``), see ``shape``.
    ``notes``: free text for people, e.g. how tools are presented to a model with no native
    tool syntax.
    """

    name: str
    description: str
    markup: ChatMarkup
    think: ThinkSyntax = ThinkSyntax()
    tool_calls: ToolCallSyntax
    native_thinking: bool
    prefill: str = ""
    grammar: bool = False
    parallel_calls: bool = False
    bare_calls: bool = False
    stop: tuple[str, ...] = ()
    keep_stop: tuple[str, ...] = ()
    sampling: SamplingDefaults = SamplingDefaults()
    default_system: str | None = None
    think_instruction: str = ""
    thought: ThoughtShape | None = None
    after_result: ThoughtShape | None = None
    notes: str = ""

    def shape(self, after_result: bool) -> ThoughtShape | None:
        """The shape of the turn's thought: ``after_result`` (when set) for a turn that comes
        right after tool results, ``thought`` otherwise."""
        return self.after_result if after_result and self.after_result is not None else self.thought

    @property
    def no_think_prefill(self) -> str:
        """The prefill of a turn with thinking off: an empty, closed thinking element and the
        gap after it (``think.empty + think.after``), so the model starts on its answer.

        For Qwen3 that is ``"<think>\\n\\n</think>\\n\\n"``, what its own chat template writes
        after ``<|im_start|>assistant\\n`` for ``enable_thinking=False``
        (https://huggingface.co/Qwen/Qwen3-8B/blob/main/tokenizer_config.json, ``chat_template``:
        ``{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n
        </think>\\n\\n' }}``; an assistant turn after the last user message with empty reasoning
        starts the same way).
        The soft ``/no_think`` switch in a user message is not used: it changes the user's
        text and only asks. For the default model it is ``"<think>\\n\\n</think>\\n"`` (its
        grammar writes one newline after ``</think>``).
        """
        return self.think.empty + self.think.after

    @property
    def thinking_prefill(self) -> str:
        """A prefill that leaves the model inside an open thinking element: ``prefill`` when
        it already opens one, else ``prefill + think.open + think.lead``. A turn with a
        thinking budget starts with it, so its first phase is thinking from the first token.
        """
        think, prefill = self.think, self.prefill
        return prefill if think.left_open(prefill) else prefill + think.open + think.lead

    def gap(self, prev: Kind | None, nxt: Kind | None) -> str:
        """The usual whitespace between two elements of an assistant turn.

        ``None`` stands for the start or the end of the turn: nothing is written there (text
        at either end keeps its own whitespace verbatim).
        """
        if prev is None or nxt is None:
            return ""
        if prev == "think":
            return self.think.after
        if prev == "call":
            return self.tool_calls.between
        return self.tool_calls.before if nxt == "call" else self.think.after


CHATML: Final = ChatMarkup(
    system_header="<|im_start|>system\n",
    system_footer="<|im_end|>\n",
    user_header="<|im_start|>user\n",
    user_footer="<|im_end|>\n",
    assistant_header="<|im_start|>assistant\n",
    assistant_footer="<|im_end|>\n",
    tool_header="<|im_start|>user\n",
    tool_footer="<|im_end|>\n",
    tool_result_open="<tool_response>\n",
    tool_result_close="\n</tool_response>",
    tool_result_separator="\n",
)
"""ChatML as Qwen's templates write it; tool results go back as a user turn."""

HERMES: Final = ToolCallSyntax(
    kind="hermes",
    open="<tool_call>",
    close="</tool_call>",
    tools_intro=(
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
    ),
    tool_line_prefix="\n",
    tool_line_suffix="",
    wrap_function=True,
    tools_outro=(
        "\n</tools>\n\nFor each function call, return a json object with function name and arguments "
        "within <tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    ),
)
"""Qwen's Hermes-style calls and tools section (single braces)."""

QWEN25_THINK: Final = ChatTemplate(
    name="qwen2.5-think",
    description="Qwen2.5(-Coder) Instruct in ChatML, made to think by a pre-filled <think> and a grammar",
    markup=CHATML,
    think=ThinkSyntax(after="\n"),  # the grammar writes "</think>\n" before a call or an answer
    tool_calls=HERMES,
    native_thinking=False,
    prefill="<think>\n",
    grammar=True,
    parallel_calls=False,
    stop=("<|im_end|>", "</tool_call>"),
    keep_stop=("</tool_call>",),
    sampling=SamplingDefaults(temperature=0.7, top_p=0.8, top_k=20, repeat_penalty=1.05),
    default_system="You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
    think_instruction=(
        "Before you answer, think step by step inside <think></think>. After </think>, either call "
        "one tool or write your final answer to the user in plain sentences."
    ),
    notes=(
        "The default model. Without the grammar it writes bare JSON instead of tool calls. With "
        "bare_calls it makes its later calls too, but then repeats calls it has the result of "
        "(docs/local-engine.md), so it is off."
    ),
)

QWEN25_DECIDE: Final = msgspec.structs.replace(
    QWEN25_THINK,
    name="qwen2.5-decide",
    description="qwen2.5-think whose every thought answers 'Do I need a tool?' and whose turn keeps to it",
    bare_calls=True,
    think_instruction=(
        "Before you act, think inside <think></think> in one or two short sentences, starting with whether "
        "you need a tool. You need one for facts you cannot know yourself (live data, records, prices, exact "
        'arithmetic) that no tool result has given you yet. Examples: "Hello!" - No, I can answer: Hello! '
        'How can I help? "What is the capital of Spain?" - No, I can answer: the capital of Spain is Madrid. '
        '"How much is the lamp?" - Yes, the price tool gives the lamp\'s price. "What is 37 * 41?" - Yes, '
        'the calculator gives the exact product. "Where is order X-0000?" - Yes, the order tool gives its '
        "record. After a result that answers the question - No, I can answer: what the result says. Then "
        "call one tool, or write your final answer to the user. Never call a tool again with the same "
        "arguments."
    ),
    thought=ThoughtShape(
        max_chars=300,
        decision=("Do I need a tool? No, I can answer:", "Do I need a tool? Yes,"),
        draft_answer=True,
    ),
    notes=(
        "For the default model. Without the grammar it writes bare JSON instead of tool calls, so bare calls "
        "are on: the call it prefers, written back byte for byte. The grammar makes its thinking a short "
        "prose answer to 'Do I need a tool?' (without it the thinking was call markup) and holds the turn "
        "to that answer; a thought is at most 300 characters. Measured with benchmarks/local_agent.py: "
        "faster and better than qwen2.5-think there, but not the default, since the model often answers "
        "No for a lookup it cannot know, even when told to use the tool."
    ),
)

QWEN25_STEP: Final = msgspec.structs.replace(
    QWEN25_THINK,
    name="qwen2.5-step",
    description="qwen2.5-think whose every thought says what it has, then the next step the turn keeps to",
    bare_calls=True,
    # the worked examples end right before the tools section, and after an answer like theirs the
    # model went on writing that section (2,700 characters, a minute of tokens): stop there
    stop=(*QWEN25_THINK.stop, "\n\n" + HERMES.tools_intro.split("\n", 1)[0]),
    think_instruction=(
        "Before you act, think inside <think></think> in two short lines. First line: what the user asks, "
        "or what the last tool result says, and whether that is general knowledge, live data or enough to "
        "answer. Second line: your next step. Use a tool only for facts you cannot know yourself (live "
        "data, records, prices, exact arithmetic, unit conversions) that no tool result above gives; "
        "greetings and general knowledge need no tool. After </think>, call that tool or write your final "
        "answer to the user.\n\n"
        "Examples of thoughts (the tools in them are made up):\n"
        "User: Good morning!\n"
        "<think>\nThe user asks nothing, they greet me, which needs no tool.\n"
        "Next I will answer from what I know.\n</think>\n"
        "Good morning! How can I help you?\n\n"
        "User: Who wrote Hamlet?\n"
        "<think>\nThe user asks who wrote Hamlet, which is general knowledge.\n"
        "Next I will answer from what I know.\n</think>\n"
        "Hamlet was written by William Shakespeare.\n\n"
        "User: Which museum opens earlier, the Louvre or the Prado?\n"
        "<think>\nThe user asks which of two museums opens earlier, which is live data.\n"
        "Next I will use the opening_hours tool.\n</think>\n"
        "(the result: the Louvre opens at 9:00)\n"
        "<think>\nThe result says the Louvre opens at 9:00; the Prado is still missing.\n"
        "Still needed: the opening_hours tool.\n</think>\n"
        "(the result: the Prado opens at 10:00)\n"
        "<think>\nThe result says the Prado opens at 10:00, which with the Louvre's 9:00 is enough "
        "to answer.\n"
        "Still needed: nothing.\n</think>\n"
        "The Louvre opens earlier, at 9:00; the Prado opens at 10:00."
    ),
    thought=ThoughtShape(
        max_chars=240,
        lead="The user asks",
        decision=("\nNext I will answer from what I know.\n", "\nNext I will use the {tool} tool.\n"),
        decide_last=True,
    ),
    after_result=ThoughtShape(
        max_chars=240,
        lead="The result says",
        decision=("\nStill needed: nothing.\n", "\nStill needed: the {tool} tool.\n"),
        decide_last=True,
    ),
    notes=(
        "For the default model. Every thought is two lines of prose: the engine opens the first with "
        "'The user asks' (after tool results: 'The result says') and the model restates the question or "
        "the result; the second line is the next step, and the grammar holds the rest of the turn to it "
        "(an answer, or calls to the named tool only, written as the bare JSON the model prefers and "
        "written back byte for byte). Measured in docs/local-engine.md: asked first, the model cannot tell "
        "a lookup from a question it can answer; after restating, it names the right tool and, after a "
        "result, says when nothing is missing."
    ),
)

QWEN3: Final = ChatTemplate(
    name="qwen3",
    description="Qwen3 in ChatML with native <think> and Hermes <tool_call>",
    markup=CHATML,
    tool_calls=HERMES,
    native_thinking=True,
    parallel_calls=True,
    stop=("<|im_end|>",),
    sampling=SamplingDefaults(temperature=0.6, top_p=0.95, top_k=20),
    notes=(
        "Qwen3's own template writes <think> only after the last user message (policy current-turn); "
        "this renderer keeps every turn's thinking under keep."
    ),
)

MINIMAX_M2: Final = ChatTemplate(
    name="minimax-m2",
    description="MiniMax-M2 with inline <think> and XML <minimax:tool_call>",
    markup=ChatMarkup(
        bos="]~!b[",
        system_header="]~b]system\n",
        system_footer="[e~[\n",
        user_header="]~b]user\n",
        user_footer="[e~[\n",
        assistant_header="]~b]ai\n",
        assistant_footer="[e~[\n",
        tool_header="]~b]tool",
        tool_footer="[e~[\n",
        tool_result_open="\n<response>",
        tool_result_close="</response>",
        tool_result_separator="",
    ),
    tool_calls=ToolCallSyntax(
        kind="minimax-xml",
        open="<minimax:tool_call>",
        close="</minimax:tool_call>",
        before="",
        between="",
        tools_intro=(
            "# Tools\nYou may call one or more tools to assist with the user query.\n"
            "Here are the tools available in JSONSchema format:\n\n<tools>\n"
        ),
        tool_line_prefix="<tool>",
        tool_line_suffix="</tool>\n",
        wrap_function=False,
        tools_outro=(
            "</tools>\n\nWhen making tool calls, use XML format to invoke tools and pass parameters:\n\n"
            '<minimax:tool_call>\n<invoke name="tool-name-1">\n'
            '<parameter name="param-key-1">param-value-1</parameter>\n'
            '<parameter name="param-key-2">param-value-2</parameter>\n...\n</invoke>\n</minimax:tool_call>'
        ),
    ),
    native_thinking=True,
    prefill="<think>\n",
    parallel_calls=True,
    stop=("[e~[", "</minimax:tool_call>"),
    keep_stop=("</minimax:tool_call>",),
    sampling=SamplingDefaults(temperature=1.0, top_p=0.95, top_k=40),
    default_system="You are a helpful assistant.",
    notes=(
        "Parameter values are text; the parser reads a value as JSON unless the tool's schema says "
        "string (or it is not valid JSON). Stopping on </minimax:tool_call> keeps one call element "
        "(possibly several invokes) per turn."
    ),
)

DEEPSEEK_R1_DISTILL: Final = ChatTemplate(
    name="deepseek-r1-distill",
    description="DeepSeek-R1 distilled models: <｜User｜>/<｜Assistant｜> markup, <think>, tools via Hermes",
    markup=ChatMarkup(
        bos="<｜begin▁of▁sentence｜>",
        system_header="",
        system_footer="",
        user_header="<｜User｜>",
        user_footer="",
        assistant_header="<｜Assistant｜>",
        assistant_footer="<｜end▁of▁sentence｜>",
        tool_header="<｜User｜>",
        tool_footer="",
        tool_result_open="<tool_response>\n",
        tool_result_close="\n</tool_response>",
        tool_result_separator="\n",
    ),
    tool_calls=HERMES,
    native_thinking=True,
    prefill="<think>\n",
    parallel_calls=False,
    stop=("<｜end▁of▁sentence｜>", "</tool_call>"),
    keep_stop=("</tool_call>",),
    sampling=SamplingDefaults(temperature=0.6, top_p=0.95),
    notes=(
        "The distills have no native tool-call syntax: the tools are described Hermes-style in the system "
        "text right after the BOS, calls are read as <tool_call>{json}</tool_call>, and results go back as a "
        "<｜User｜> turn of <tool_response> blocks. Turn the grammar on for reliable calls."
    ),
)

TEMPLATES: Final[dict[str, ChatTemplate]] = {
    t.name: t for t in (QWEN25_THINK, QWEN25_DECIDE, QWEN25_STEP, QWEN3, MINIMAX_M2, DEEPSEEK_R1_DISTILL)
}
"""The built-in templates by name."""

DEFAULT_TEMPLATE: Final = QWEN25_STEP.name


class UnknownTemplate(ThinkwireError):
    """No template has that name; the message lists the known ones."""


def get_template(name: str) -> ChatTemplate:
    """The built-in template called ``name``; raises ``UnknownTemplate`` listing the names."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise UnknownTemplate(
            f"unknown chat template {name!r}; expected one of {', '.join(sorted(TEMPLATES))}"
        ) from None
