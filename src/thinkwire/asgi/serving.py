"""Run an ASGI app on a loopback port in a background thread (tests, emulators, examples).

``serving(app)`` starts uvicorn on ``127.0.0.1`` at a free port, waits until it listens, yields
the base URL, and stops the server on exit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from thinkwire.asgi.protocol import BoundedHttpTools


@contextmanager
def serving(app: Any, *, start_timeout: float = 10.0) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 at a free port; yields ``http://127.0.0.1:PORT``."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", http=BoundedHttpTools
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="thinkwire-background-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError("the background server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(start_timeout)
