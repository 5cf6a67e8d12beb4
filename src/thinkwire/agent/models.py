"""The models an agent runs on, chosen by one spec string; the agent never sees dialects.

A ``Model`` streams the next assistant turn of an IR ``Request`` as IR stream events. Specs:

- ``local`` (the default model) or ``local:NAME``: the embedded engine, no key, no network;
- ``scripted``: the deterministic scripted model (``thinkwire.scripted.reply``): it
  notes a code word only in its thinking and quotes it after a tool result only if that
  thinking came back — tests and demos of what a policy hides;
- ``anthropic:MODEL``, ``minimax:MODEL``, ``deepseek:MODEL``, ``openrouter:MODEL``,
  ``openai-responses:MODEL``: the vendor's public API, its key from the environment variable
  in its vendor profile (``thinkwire.upstreams.profiles``: the profiles with a hosted API);
- ``openai-chat:URL#MODEL``: any OpenAI-compatible server (vLLM, SGLang, Ollama, another
  thinkwire), ``OPENAI_API_KEY`` sent when set;
- any other string: a model name routed by ``thinkwire.toml`` (``--config``, else
  ``$THINKWIRE_HOME/thinkwire.toml`` or ``./thinkwire.toml``), as the gateway routes it.

Remote models go through ``thinkwire.upstreams`` (the gateway's client and profiles), so
every carrier, signature and stream quirk is handled in one place. Prices (the profiles'
``prices``, US$ per million tokens) feed the cost limit and the evals; models not listed cost
``None``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

import msgspec

from thinkwire.backend import Caller
from thinkwire.errors import ThinkwireError
from thinkwire.ir.conversation import Request, Response
from thinkwire.ir.stream import StreamEvent, response_events
from thinkwire.upstreams.config import GatewayConfig, Upstream, load_config
from thinkwire.upstreams.profiles import PROFILES, Price, price_of

if TYPE_CHECKING:
    from thinkwire.local.service import EngineService


class ModelSpecError(ThinkwireError):
    """A model spec that names nothing usable (the message says what is expected)."""


class Model(Protocol):
    """What the agent calls. ``name``: the spec's model name (traces); ``price``: what its
    tokens cost (``None``: unknown)."""

    name: str
    price: Price | None

    def stream(self, request: Request, *, seed: int | None = None) -> AsyncIterator[StreamEvent]:
        """The next assistant turn; ``seed`` fixes sampling where the model can (the local engine)."""
        ...

    async def aclose(self) -> None: ...


class FunctionModel:
    """A model that is a Python function of the request (tests, the scripted model)."""

    def __init__(self, fn: Callable[[Request], Response], name: str = "function") -> None:
        self.fn = fn
        self.name = name
        self.price: Price | None = Price(0.0, 0.0)

    async def stream(self, request: Request, *, seed: int | None = None) -> AsyncIterator[StreamEvent]:
        for event in response_events(self.fn(request)):
            yield event

    async def aclose(self) -> None:
        return None


class EngineModel:
    """The embedded engine, through the server's slot queue (worker threads, cancellation)."""

    def __init__(self, service: EngineService, name: str) -> None:
        self.service = service
        self.name = name
        self.price: Price | None = Price(0.0, 0.0)

    async def stream(self, request: Request, *, seed: int | None = None) -> AsyncIterator[StreamEvent]:
        generation = await self.service.generate(request, Caller(dialect="anthropic", seed=seed))
        try:
            async for event in generation:
                yield event
        finally:
            await generation.aclose()

    async def aclose(self) -> None:
        await self.service.aclose()


class UpstreamModel:
    """A configured upstream, through the gateway's upstream client. ``max_tokens``: sent when
    a request sets none (Anthropic refuses a request without it)."""

    def __init__(
        self,
        upstream: Upstream,
        model: str,
        *,
        max_tokens: int = 1024,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        from thinkwire.upstreams.client import UpstreamClient

        self.upstream = upstream
        self.name = model
        self.price = price_of(model)
        self.max_tokens = max_tokens
        self.client = UpstreamClient(environ=environ)  # keys from where open_model checked them

    async def stream(self, request: Request, *, seed: int | None = None) -> AsyncIterator[StreamEvent]:
        from thinkwire.upstreams.conventions import with_thinking  # seed: vendors' APIs take none we rely on

        if request.sampling.max_tokens is None:
            sampling = msgspec.structs.replace(request.sampling, max_tokens=self.max_tokens)
            request = msgspec.structs.replace(request, sampling=sampling)
        request = with_thinking(msgspec.structs.replace(request, model=self.name), self.upstream)
        async for event in self.client.stream(self.upstream, request):
            yield event

    async def aclose(self) -> None:
        await self.client.aclose()


VENDORS: Final[tuple[str, ...]] = tuple(
    name for name, p in PROFILES.items() if p.base_url is not None and p.dialect is not None
)
"""The vendors a spec ``VENDOR:MODEL`` names: the profiles with a hosted API."""

FORMS: Final = (
    "local, local:NAME, scripted, anthropic:MODEL, minimax:MODEL, deepseek:MODEL, "
    "openrouter:MODEL, openai-responses:MODEL, openai-chat:URL#MODEL, "
    "or a model name routed by thinkwire.toml"
)


def open_model(
    spec: str,
    *,
    config: Path | None = None,
    home: Path | None = None,
    environ: dict[str, str] | None = None,
    max_tokens: int = 1024,
    threads: int | None = None,
) -> Model:
    """The model ``spec`` names (module docstring); ``ModelSpecError`` when it names nothing
    or its key is missing. ``local`` loads the model file (seconds). ``max_tokens``: per turn
    when a request sets none. ``threads``: the local model's CPU threads (default: every core);
    other models ignore it."""
    env = dict(os.environ) if environ is None else environ
    head, sep, rest = spec.partition(":")
    if spec == "scripted":
        from thinkwire.scripted import reply

        return FunctionModel(reply, name="scripted")
    if head == "local":
        return _local(rest if sep else None, home=home, max_tokens=max_tokens, threads=threads)
    if head in VENDORS and sep:
        if not rest:
            raise ModelSpecError(f"model {spec!r}: give the model name after {head}:")
        vendor = PROFILES[head]
        assert vendor.dialect is not None  # VENDORS holds only profiles with both
        assert vendor.base_url is not None
        upstream = Upstream(
            name=head,
            kind=vendor.dialect,
            base_url=env.get(f"THINKWIRE_{head.upper().replace('-', '_')}_BASE_URL", vendor.base_url),
            api_key_env=vendor.api_key_env,
            profile=vendor,
        )
        if upstream.api_key(env) is None:
            raise ModelSpecError(f"model {spec!r} needs ${vendor.api_key_env} in the environment")
        return UpstreamModel(upstream, rest, max_tokens=max_tokens, environ=env)
    if head == "openai-chat" and sep:
        url, hash_, name = rest.rpartition("#")
        if not hash_ or not url or not name or not url.startswith(("http://", "https://")):
            raise ModelSpecError(
                f"model {spec!r}: expected openai-chat:URL#MODEL, e.g. http://127.0.0.1:8000/v1#qwen"
            )
        upstream = Upstream(
            name="openai-chat",
            kind="openai-chat",
            base_url=url.rstrip("/").removesuffix("/v1"),
            api_key_env="OPENAI_API_KEY",
            profile=PROFILES["vllm"],
        )
        return UpstreamModel(upstream, name, max_tokens=max_tokens, environ=env)
    routed = _configured(spec, config, home, env)
    if routed is None:
        raise ModelSpecError(f"unknown model {spec!r}; expected {FORMS}")
    if routed.kind == "local":
        return _local(None, home=home, max_tokens=max_tokens, threads=threads)
    if routed.api_key_env and routed.api_key(env) is None:
        raise ModelSpecError(
            f"model {spec!r} (upstream {routed.name}) needs ${routed.api_key_env} in the environment"
        )
    return UpstreamModel(routed, spec, max_tokens=max_tokens, environ=env)


def _configured(spec: str, config: Path | None, home: Path | None, env: dict[str, str]) -> Upstream | None:
    from thinkwire.local.model_files import default_home

    candidates = (
        [config]
        if config is not None
        else [(home or default_home(env)) / "thinkwire.toml", Path("thinkwire.toml")]
    )
    for path in candidates:
        if path is not None and (config is not None or path.is_file()):
            loaded: GatewayConfig = load_config(path)
            return loaded.route(spec)
    return None


def _local(name: str | None, *, home: Path | None, max_tokens: int, threads: int | None) -> Model:
    from thinkwire.local.build import EngineOptions, build_engine
    from thinkwire.local.service import EngineService

    engine = build_engine(
        EngineOptions(model=name, home=home, max_tokens=max_tokens, threads=threads, log_level="warning")
    )
    return EngineModel(EngineService(engine), name=engine.model_id)


__all__ = [
    "FORMS",
    "VENDORS",
    "EngineModel",
    "FunctionModel",
    "Model",
    "ModelSpecError",
    "Price",
    "UpstreamModel",
    "open_model",
    "price_of",
]
