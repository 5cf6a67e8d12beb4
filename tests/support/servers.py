"""The thinkwire server on a scripted model, on loopback ports (the ``serve`` fixture).

``ScriptedServers`` starts the server on a scripted model (``thinkwire.local.scripted``), behind
the conversation state as ``thinkwire serve`` runs it (SQLite in a temporary folder), as many
times as a test needs, and stops them all.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from thinkwire.asgi.serving import serving
from thinkwire.local.engine import LocalEngine
from thinkwire.local.scripted import ScriptedRuntime, scripted_engine
from thinkwire.local.service import EngineService
from thinkwire.server.app import create_app
from thinkwire.server.state import ServerState
from thinkwire.store import STATE_DB, Keys, open_state
from thinkwire.store.issuer import Issuer
from thinkwire.store.pipeline import Stateful


class ScriptedServers:
    """``servers(script, slots=1, max_queue=16, delay=0.0, state=None, **engine)`` starts a
    server on a scripted model and returns (base URL, runtime, engine); ``close()`` stops all.
    ``state`` sets ``ServerState`` fields (``carrier``, ``body_limit``...); ``engine`` passes on
    to ``LocalEngine`` (``secret``, ``max_tokens``...)."""

    def __init__(self) -> None:
        self._running: list[AbstractContextManager[str]] = []
        self._folders: list[tempfile.TemporaryDirectory[str]] = []

    def __call__(
        self,
        script: Sequence[str] | Callable[[str], str],
        *,
        slots: int = 1,
        max_queue: int = 16,
        delay: float = 0.0,
        state: dict[str, Any] | None = None,
        **engine: Any,
    ) -> tuple[str, ScriptedRuntime, LocalEngine]:
        built, runtime = scripted_engine(script, delay=delay, slots=slots, **engine)
        folder = tempfile.TemporaryDirectory(prefix="thinkwire-state-")
        self._folders.append(folder)
        conversations = open_state(Path(folder.name) / STATE_DB, keys=Keys(secrets.token_bytes(32)))
        service = Stateful(
            EngineService(built, slots=slots, max_queue=max_queue),
            conversations,
            issuer=Issuer(secrets.token_bytes(32)),
        )
        server_state = ServerState(service=service, conversations=conversations, **(state or {}))
        context = serving(create_app(server_state))
        url = context.__enter__()
        self._running.append(context)
        return url, runtime, built

    def close(self) -> None:
        while self._running:
            self._running.pop().__exit__(None, None, None)
        while self._folders:
            self._folders.pop().cleanup()
