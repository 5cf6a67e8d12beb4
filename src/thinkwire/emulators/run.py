"""Serving an emulator: from the command line (``thinkwire emulate``) or in a test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette

from thinkwire.emulators.app import create_emulator

Emulate = Callable[..., tuple[str, Starlette]]
"""``emulate(vendor, break_case=None, *, secret=None)`` -> (base URL, app): the ``emulate``
test fixture's type."""


def run_emulator(
    vendor: str,
    host: str = "127.0.0.1",
    port: int = 8090,
    break_case: str | None = None,
    *,
    secret: str | None = None,
    log_level: str = "info",
) -> None:
    """Serve the ``vendor`` emulator on ``host:port`` until interrupted.

    ``ValueError`` (before anything listens) for an unknown vendor or a break case that does
    not apply to it. ``secret`` is the signing key (default: derived from the vendor name)."""
    app = create_emulator(vendor, break_case=break_case, secret=secret)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


@contextmanager
def emulating(
    vendor: str, break_case: str | None = None, *, secret: str | None = None
) -> Iterator[tuple[str, Starlette]]:
    """The ``vendor`` emulator on a free loopback port for the ``with`` block: yields its base
    URL and the app (``app.state.requests`` records what it got)."""
    from thinkwire.server.background import serving

    app = create_emulator(vendor, break_case=break_case, secret=secret)
    with serving(app) as url:
        yield url, app
