"""``thinkwire serve``: build the engine from the command's options and run the server.

The engine is built as ``thinkwire.local.build`` says (the default model, a known model by name,
any GGUF file, or ``scripted``). The listening socket is bound before the model loads, so a port
already in use is reported at once, not after seconds of loading.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from thinkwire.backend import Backend
from thinkwire.errors import ThinkwireError
from thinkwire.ir.blocks import Carrier
from thinkwire.local.build import EngineOptions, build_engine, signing_secret
from thinkwire.policy import Policy
from thinkwire.server.auth import BrowserPolicy
from thinkwire.store.base import StoreError, without_password
from thinkwire.store.pipeline import Stateful
from thinkwire.store.state import ConversationState, Durability

ROUTES: Final = (
    "  OpenAI Chat       POST {url}/v1/chat/completions\n"
    "  OpenAI Responses  POST {url}/v1/responses\n"
    "  Anthropic         POST {url}/v1/messages\n"
    "  models            GET  {url}/v1/models      health  GET {url}/healthz\n"
)


class ServeError(ThinkwireError):
    """The server cannot start (port in use, bad options)."""


@dataclass(kw_only=True)
class ServeOptions(EngineOptions):
    """The engine's options and the server's own: where it listens, the policy, the queue, the
    Chat carrier, the gateway config, the keys and the conversation state."""

    host: str = "127.0.0.1"
    port: int = 8000
    policy: Policy = "keep"
    max_queue: int = 16
    carrier: Carrier = "reasoning_content"
    config: Path | None = None
    api_keys_env: str | None = None
    state: str | None = None
    """The conversation state (a SQLite path or ``redis://host:port/db``); ``""`` turns it
    off; ``None``: ``$THINKWIRE_HOME/state.db``."""
    durability: Durability = "commit"
    browser: BrowserPolicy = field(default_factory=BrowserPolicy)
    """The ``Host`` names and browser origins answered (``thinkwire.server.auth``)."""


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or ``ServeError`` saying why not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServeError(f"--host {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        hint = " (another server is running there; pick another --port)" if port else ""
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(options: ServeOptions) -> None:
    """Run the server until interrupted (the command's body; messages go to stderr)."""
    import uvicorn

    from thinkwire.asgi.protocol import BoundedHttpTools
    from thinkwire.server.app import create_app
    from thinkwire.server.auth import keys_from_env
    from thinkwire.server.state import ServerState

    if options.slots < 1 or options.max_queue < 0 or options.ctx < 512 or options.max_tokens < 1:
        raise ServeError(
            "--slots and --max-tokens must be positive, --max-queue not negative, --ctx at least 512"
        )
    api_keys = keys_from_env(options.api_keys_env) if options.api_keys_env else frozenset()
    if not api_keys and not is_loopback(options.host):
        raise ServeError(
            f"refusing to serve on {options.host} without keys: anyone who can reach it could use it; "
            "set --api-keys-env VAR (or listen on 127.0.0.1)"
        )
    sock = bind(options.host, options.port)
    port = sock.getsockname()[1]
    host = f"[{options.host}]" if ":" in options.host else options.host
    url = f"http://{host}:{port}"
    try:
        service = _backend(options)
    except BaseException:
        sock.close()
        raise
    state = ServerState(
        service=service,
        conversations=service.state,
        carrier=options.carrier,
        api_keys=api_keys,
        browser=options.browser,
    )
    if api_keys:
        _say(
            f"{len(api_keys)} gateway key(s) from ${options.api_keys_env}: every route but /healthz needs one"
        )
    browser = options.browser
    if browser.allowed_hosts:
        _say(f"answering Host names {', '.join(browser.allowed_hosts)}")
    if browser.cors_origins:
        _say(f"browser pages at {', '.join(browser.cors_origins)} may call this server and read its answers")
    _say(f"serving on {url}\n" + ROUTES.format(url=url).rstrip("\n"))
    config = uvicorn.Config(
        create_app(state),
        log_level=options.log_level,
        lifespan="on",
        timeout_graceful_shutdown=5,
        http=BoundedHttpTools,  # request heads bounded (httptools has no limit of its own)
    )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled
        uvicorn.Server(config).run(sockets=[sock])
    _say("stopped")


def _backend(options: ServeOptions) -> Stateful:
    """The local engine's service, or with ``--config`` the gateway over its upstreams (the
    engine is loaded only when an upstream is ``kind = "local"``), behind the conversation state
    (``thinkwire.store.pipeline``): restore, policy and recording for either."""
    from thinkwire.local.model_files import default_home
    from thinkwire.local.service import EngineService
    from thinkwire.server.gateway import GatewayService
    from thinkwire.store.issuer import Issuer
    from thinkwire.upstreams.config import load_config

    config = load_config(options.config) if options.config is not None else None
    home = options.home or default_home()
    home.mkdir(parents=True, exist_ok=True)
    state = _state(options, home)
    try:
        local: EngineService | None = None
        if config is None or any(u.kind == "local" for u in config.upstreams):
            _say(f"loading the model ({options.model or options.model_path or 'default'})...")
            started = time.monotonic()
            engine = build_engine(options)
            local = EngineService(engine, slots=options.slots, max_queue=options.max_queue)
            _say(
                f"model {engine.model_id} ready in {time.monotonic() - started:.1f} s "
                f"(template {engine.template.name}, policy {options.policy}, {options.slots} slot(s))"
            )
        backend: Backend
        if config is None:
            assert local is not None
            backend = local
        else:
            for upstream in config.upstreams:
                where = without_password(upstream.base_url) if upstream.base_url else "the local engine"
                key = f", key from ${upstream.api_key_env}" if upstream.api_key_env else ""
                if upstream.api_key_env and upstream.api_key() is None:
                    key += " (not set!)"
                _say(
                    f"upstream {upstream.name}: {upstream.kind} at {where}{key}, "
                    f"models {', '.join(upstream.models)}"
                )
            backend = GatewayService(config, local=local)
    except BaseException:
        if state is not None:
            state.close()
        raise
    # the server's own thinking signatures use the engine's secret, under --home when given
    return Stateful(backend, state, issuer=Issuer(signing_secret(options)), policy=options.policy)


def _state(options: ServeOptions, home: Path) -> ConversationState | None:
    """The conversation state the options name (``None``: ``--no-state``)."""
    if options.state == "":
        _say("no state: thinking a client drops is not restored, and no Responses are stored")
        return None
    from thinkwire.store import STATE_DB, Keys, open_state
    from thinkwire.store.fingerprint import RETIRED_SECRET_ENV

    if os.environ.get(RETIRED_SECRET_ENV):
        raise ServeError(
            f"${RETIRED_SECRET_ENV} is no longer read: thinkwire has one deployment secret, "
            "$THINKWIRE_SECRET, which keys the state and signs thinking. Unset "
            f"${RETIRED_SECRET_ENV} (and give every replica the same $THINKWIRE_SECRET)"
        )
    keys = Keys(signing_secret(options))
    target = options.state or str(home / STATE_DB)
    try:
        state = open_state(target, keys=keys, durability=options.durability)
    except StoreError as exc:
        raise ServeError(f"--state: {exc}") from None
    _say(f"state: {without_password(target)} (durability {options.durability})")
    try:  # a store that does not answer now degrades the service; it does not stop it
        state.backend.stats()
    except StoreError as exc:
        _say(f"the state store does not answer ({exc}); serving without restore until it does")
    return state


def _say(message: str) -> None:
    sys.stderr.write(f"thinkwire: {message}\n")
    sys.stderr.flush()
