"""What every endpoint shares: the backend, the conversation state, the server's options."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from thinkwire.asgi.http import DEFAULT_BODY_LIMIT
from thinkwire.backend import Backend
from thinkwire.ir.blocks import Carrier
from thinkwire.server.auth import BrowserPolicy
from thinkwire.store.fingerprint import ANONYMOUS
from thinkwire.store.state import ConversationState


@dataclass
class ServerState:
    """``service``: the backend the endpoints generate with (normally a
    ``thinkwire.store.pipeline.Stateful`` in front of the engine or the gateway).
    ``conversations``: the state stored responses are read from (``None``: none kept).
    ``carrier``: where Chat responses put reasoning unless a request's ``thinkwire-carrier``
    header says otherwise. ``body_limit``: largest request body."""

    service: Backend
    conversations: ConversationState | None = None
    carrier: Carrier = "reasoning_content"
    body_limit: int = DEFAULT_BODY_LIMIT
    started: int = field(default_factory=lambda: int(time.time()))
    api_keys: frozenset[str] = frozenset()
    """Gateway keys (``thinkwire.server.auth``); empty: no key needed."""
    browser: BrowserPolicy = field(default_factory=BrowserPolicy)
    """The ``Host`` names and browser origins answered (``thinkwire.server.auth``)."""

    def tenant(self, credential: str | None) -> str:
        """The tenant a credential stands for in the state (``anonymous`` without a state)."""
        if self.conversations is None:
            return ANONYMOUS
        return self.conversations.keys.tenant_of(credential)
