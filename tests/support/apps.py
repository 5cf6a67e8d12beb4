"""The server app over a backend, behind the conversation state, as ``thinkwire serve`` builds it.

``stateful_app(backend, state)`` -> (app, the ``Stateful`` in front of ``backend``);
``sqlite_state(path)`` a ``ConversationState`` on a SQLite file with a test secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from thinkwire.backend import Backend
from thinkwire.policy import Policy
from thinkwire.server import ServerState, create_app
from thinkwire.store import ConversationState, Durability, Keys, open_state
from thinkwire.store.issuer import Issuer
from thinkwire.store.pipeline import Stateful

KEYS = Keys(b"k" * 32)
SECRET = b"issuer-test-secret-0123456789abcdef"


def sqlite_state(path: Path, *, keys: Keys = KEYS, durability: Durability = "commit") -> ConversationState:
    return open_state(path, keys=keys, durability=durability)


def stateful_app(
    backend: Backend,
    state: ConversationState | None = None,
    *,
    secret: bytes = SECRET,
    policy: Policy = "keep",
    **server: Any,
) -> tuple[Starlette, Stateful]:
    service = Stateful(backend, state, issuer=Issuer(secret), policy=policy)
    return create_app(ServerState(service=service, conversations=state, **server)), service
