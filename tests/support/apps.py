"""The server app over a backend, behind the conversation state, as ``thinkwire serve`` builds it.

``stateful_app(backend, state)`` -> (app, the ``Stateful`` in front of ``backend``);
``sqlite_state(path)`` a ``ConversationState`` on a SQLite file with a test secret;
``vendor_gateway(url, profile)`` the gateway over one upstream at ``url`` with that vendor
profile (its kind the profile's dialect).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from thinkwire.backend import Backend
from thinkwire.policy import Policy
from thinkwire.server import ServerState, create_app
from thinkwire.server.gateway import GatewayService
from thinkwire.store import ConversationState, Durability, Keys, open_state
from thinkwire.store.issuer import Issuer
from thinkwire.store.pipeline import Stateful
from thinkwire.upstreams.config import parse_config
from thinkwire.upstreams.profiles import PROFILES

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


def vendor_gateway(url: str, profile: str, *, name: str | None = None, **service: Any) -> GatewayService:
    """The gateway over one upstream at ``url`` speaking ``profile``'s dialect with its quirks
    (named ``name``, default the profile's name); ``service`` goes to ``GatewayService``."""
    kind = PROFILES[profile].dialect
    upstream = {"name": name or profile, "kind": kind, "base_url": url, "profile": profile}
    return GatewayService(parse_config({"upstreams": [upstream]}), **service)
