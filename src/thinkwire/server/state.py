"""What every endpoint shares: the engine service, the Responses store, the server's options."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from thinkwire.ir.blocks import Carrier
from thinkwire.server.http import DEFAULT_BODY_LIMIT
from thinkwire.server.service import Backend
from thinkwire.server.store import ResponseStore


@dataclass
class ServerState:
    """``service``: the local engine or the gateway. ``carrier``: where Chat responses put
    reasoning unless a request's ``thinkwire-carrier`` header says otherwise. ``body_limit``:
    largest request body."""

    service: Backend
    carrier: Carrier = "reasoning_content"
    body_limit: int = DEFAULT_BODY_LIMIT
    responses: ResponseStore = field(default_factory=ResponseStore)
    started: int = field(default_factory=lambda: int(time.time()))
    api_keys: frozenset[str] = frozenset()
    """Gateway keys (``thinkwire.server.auth``); empty: no key needed."""
