"""The engine a set of options describes: ``EngineOptions`` and ``build_engine``.

The model is the default one from the store (``thinkwire model pull``), a known model by name,
any GGUF file (``model_path`` with a ``template``), or ``scripted`` — the deterministic scripted
model (``thinkwire.scripted``, read through the rendered prompt by
``thinkwire.local.scripted.scripted_agent``): any tools, a code word noted only in its thinking,
``calls`` tool calls per user turn; for trying clients without loading anything. ``thinkwire
serve``, the agent's ``local`` model and the emulators' build their engine here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from thinkwire.errors import ThinkwireError
from thinkwire.local.engine import LocalEngine
from thinkwire.local.scripted import SCRIPTED_MODEL, SCRIPTED_TEMPLATE, scripted_agent, scripted_engine
from thinkwire.local.templates import DEFAULT_TEMPLATE


class EngineOptionsError(ThinkwireError):
    """The options name no model the engine can load (both a model and a path, no file)."""


@dataclass(kw_only=True)
class EngineOptions:
    """What the engine is built from: the model, its template, and how it runs."""

    model: str | None = None
    model_path: Path | None = None
    template: str | None = None
    slots: int = 1
    ctx: int = 8192
    max_tokens: int = 1024
    think_share: float | None = 0.75
    home: Path | None = None
    threads: int | None = None
    log_level: str = "info"
    calls: int = 1
    """Tool calls the ``scripted`` model makes per user turn before it answers."""


def signing_secret(options: EngineOptions) -> bytes:
    """The deployment's signing secret: ``$THINKWIRE_SECRET``, else the file under ``--home``
    (else ``$THINKWIRE_HOME``). Thinking signed before a restart still verifies after it, as
    the state restores it."""
    from thinkwire.local.signing import load_secret

    environ = dict(os.environ)
    if options.home is not None:
        environ["THINKWIRE_HOME"] = str(options.home)
    return load_secret(environ)


def build_engine(options: EngineOptions) -> LocalEngine:
    """The engine the options describe (loads the model: seconds for the default one)."""
    secret = signing_secret(options)
    if options.model == SCRIPTED_MODEL:
        template = options.template or SCRIPTED_TEMPLATE
        engine, _ = scripted_engine(
            scripted_agent(template, calls=options.calls),
            template,
            slots=options.slots,
            record=0,  # a server keeps no prompts for tests to read
            max_tokens=options.max_tokens,
            think_share=options.think_share,
            secret=secret,
        )
        return engine
    if options.model_path is not None:
        if options.model is not None:
            raise EngineOptionsError("give either --model or --model-path, not both")
        if not options.model_path.is_file():
            raise EngineOptionsError(f"--model-path: no file at {options.model_path}")
        path, model_id = options.model_path, options.model_path.name.removesuffix(".gguf")
    else:
        from thinkwire.local.model_files import DEFAULT_MODEL, default_home, find_model, model_path

        spec = DEFAULT_MODEL if options.model is None else find_model(options.model)
        path = model_path(spec, options.home or default_home())
        model_id = spec.name
    return LocalEngine(
        path,
        options.template or DEFAULT_TEMPLATE,
        n_ctx=options.ctx,
        slots=options.slots,
        threads=options.threads or os.cpu_count(),
        model_id=model_id,
        max_tokens=options.max_tokens,
        runtime_logs=options.log_level == "debug",
        think_share=options.think_share,
        secret=secret,
    )
