"""Serving an emulator: from the command line (``thinkwire emulate``) or in a test."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from thinkwire.emulators.app import RECORDED, create_emulator, make_vendor
from thinkwire.emulators.models import MODELS, LocalModel, Model, load_local_model

Emulate = Callable[..., tuple[str, Starlette]]
"""``emulate(vendor, break_case=None, *, secret=None, model=None)`` -> (base URL, app): the
``emulate`` test fixture's type."""


def run_emulator(
    vendor: str,
    host: str = "127.0.0.1",
    port: int = 8090,
    break_case: str | None = None,
    *,
    secret: str | None = None,
    model: str = "scripted",
    home: Path | None = None,
    log_level: str = "info",
    calls: int = 1,
) -> None:
    """Serve the ``vendor`` emulator on ``host:port`` until interrupted.

    ``ValueError`` (before anything loads or listens) for an unknown vendor, model, or a break
    case that does not apply to the vendor. ``secret`` is the signing key (default: derived
    from the vendor name). ``model``: ``scripted`` or ``local`` (the default local model from
    the store under ``home``, loaded first: ``ThinkwireError`` when it cannot be). ``calls``:
    the scripted model's tool calls per user turn."""
    if model not in MODELS:
        raise ValueError(f"--model: unknown model {model!r}; expected one of {', '.join(MODELS)}")
    make_vendor(vendor, break_case=break_case, calls=calls)  # refuse bad options before loading anything
    local: LocalModel | None = None
    if model == "local":
        _say("loading the local model...")
        started = time.monotonic()
        local = load_local_model(home=home, quiet=log_level != "debug")
        _say(f"model {local.service.model_id} ready in {time.monotonic() - started:.1f} s")
    try:
        app = create_emulator(
            vendor, break_case=break_case, secret=secret, model=local, calls=calls, record=0
        )
        uvicorn.run(app, host=host, port=port, log_level=log_level)
    finally:
        if local is not None:
            local.close()


@contextmanager
def emulating(
    vendor: str,
    break_case: str | None = None,
    *,
    secret: str | None = None,
    model: Model | None = None,
    calls: int = 1,
    record: int = RECORDED,
) -> Iterator[tuple[str, Starlette]]:
    """The ``vendor`` emulator on a free loopback port for the ``with`` block: yields its base
    URL and the app (``app.state.requests`` records the last ``record`` requests it got).
    ``model``: what answers (``None``: the scripted model), not closed here."""
    from thinkwire.asgi.serving import serving

    app = create_emulator(
        vendor, break_case=break_case, secret=secret, model=model, calls=calls, record=record
    )
    with serving(app) as url:
        yield url, app


def _say(message: str) -> None:
    sys.stderr.write(f"thinkwire: {message}\n")
    sys.stderr.flush()
