"""``thinkwire serve``: build the engine from the command's options and run the server.

The model is the default one from the store (``thinkwire model pull``), a known model by name,
any GGUF file (``model_path`` with a ``profile``), or ``scripted`` — a canned model that thinks
about the last thing the user wrote and repeats it, or runs the weather tool loop
(``thinkwire.local.scripted``), for trying clients without loading anything. The listening
socket is bound before the model loads, so a port already in use is reported at once, not
after seconds of loading.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from thinkwire.backend import Backend
from thinkwire.errors import ThinkwireError
from thinkwire.ir.blocks import Carrier
from thinkwire.local.engine import LocalEngine
from thinkwire.local.profiles import DEFAULT_PROFILE
from thinkwire.local.scripted import SCRIPTED_MODEL, WEATHER_TOOL, echo_reply, scripted_engine, weather_agent
from thinkwire.policy import Policy
from thinkwire.store.base import StoreError
from thinkwire.store.pipeline import Stateful
from thinkwire.store.state import ConversationState, Durability

ROUTES: Final = (
    "  OpenAI Chat       POST {url}/v1/chat/completions\n"
    "  OpenAI Responses  POST {url}/v1/responses\n"
    "  Anthropic         POST {url}/v1/messages\n"
    "  models            GET  {url}/v1/models      health  GET {url}/healthz\n"
)


class ServeError(ThinkwireError):
    """The server cannot start (port in use, no model, bad options)."""


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    model: str | None = None
    model_path: Path | None = None
    profile: str | None = None
    policy: Policy = "keep"
    slots: int = 1
    max_queue: int = 16
    ctx: int = 8192
    max_tokens: int = 1024
    think_share: float | None = 0.75
    carrier: Carrier = "reasoning_content"
    home: Path | None = None
    threads: int | None = None
    log_level: str = "info"
    config: Path | None = None
    api_keys_env: str | None = None
    state: str | None = None
    """The conversation state (a SQLite path or ``redis://host:port/db``); ``""`` turns it
    off; ``None``: ``$THINKWIRE_HOME/state.db``."""
    durability: Durability = "commit"


def scripted_reply(prompt: str) -> str:
    """The ``scripted`` model: the weather loop when the prompt offers its tool, else an echo."""
    if f'"name": "{WEATHER_TOOL["name"]}"' in prompt:
        return weather_agent(prompt)
    return echo_reply(prompt)


def signing_secret(options: ServeOptions) -> bytes:
    """The deployment's signing secret: ``$THINKWIRE_SECRET``, else the file under ``--home``
    (else ``$THINKWIRE_HOME``). Thinking signed before a restart still verifies after it, as
    the state restores it."""
    from thinkwire.local.signing import load_secret

    environ = dict(os.environ)
    if options.home is not None:
        environ["THINKWIRE_HOME"] = str(options.home)
    return load_secret(environ)


def build_engine(options: ServeOptions) -> LocalEngine:
    """The engine the options describe (loads the model: seconds for the default one)."""
    profile = options.profile or DEFAULT_PROFILE
    secret = signing_secret(options)
    if options.model == SCRIPTED_MODEL:
        engine, _ = scripted_engine(
            scripted_reply,
            profile,
            slots=options.slots,
            max_tokens=options.max_tokens,
            think_share=options.think_share,
            secret=secret,
        )
        return engine
    if options.model_path is not None:
        if options.model is not None:
            raise ServeError("give either --model or --model-path, not both")
        if not options.model_path.is_file():
            raise ServeError(f"--model-path: no file at {options.model_path}")
        path, model_id = options.model_path, options.model_path.name.removesuffix(".gguf")
    else:
        from thinkwire.local.store import DEFAULT_MODEL, default_home, find_model, model_path

        spec = DEFAULT_MODEL if options.model is None else find_model(options.model)
        path = model_path(spec, options.home or default_home())
        model_id = spec.name
    return LocalEngine(
        path,
        profile,
        n_ctx=options.ctx,
        slots=options.slots,
        threads=options.threads or os.cpu_count(),
        model_id=model_id,
        max_tokens=options.max_tokens,
        runtime_logs=options.log_level == "debug",
        think_share=options.think_share,
        secret=secret,
    )


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
    )
    if api_keys:
        _say(
            f"{len(api_keys)} gateway key(s) from ${options.api_keys_env}: every route but /healthz needs one"
        )
    _say(f"serving on {url}\n" + ROUTES.format(url=url).rstrip("\n"))
    config = uvicorn.Config(
        create_app(state), log_level=options.log_level, lifespan="on", timeout_graceful_shutdown=5
    )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled
        uvicorn.Server(config).run(sockets=[sock])
    _say("stopped")


def _backend(options: ServeOptions) -> Stateful:
    """The local engine's service, or with ``--config`` the gateway over its upstreams (the
    engine is loaded only when an upstream is ``kind = "local"``), behind the conversation state
    (``thinkwire.store.pipeline``): restore, policy and recording for either."""
    from thinkwire.local.service import EngineService
    from thinkwire.local.store import default_home
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
                f"(profile {engine.profile.name}, policy {options.policy}, {options.slots} slot(s))"
            )
        backend: Backend
        if config is None:
            assert local is not None
            backend = local
        else:
            for upstream in config.upstreams:
                where = upstream.base_url or "the local engine"
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
    from thinkwire.store import STATE_DB, Keys, load_secret, open_state
    from thinkwire.store.base import without_password

    keys = Keys(load_secret(home))
    target = options.state or str(home / STATE_DB)
    try:
        state = open_state(target, keys=keys, durability=options.durability)
    except StoreError as exc:
        raise ServeError(f"--state: {exc}") from None
    _say(f"state: {without_password(target)} (durability {options.durability})")
    return state


def _say(message: str) -> None:
    sys.stderr.write(f"thinkwire: {message}\n")
    sys.stderr.flush()
