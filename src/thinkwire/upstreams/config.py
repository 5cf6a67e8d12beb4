"""``thinkwire.toml``: the gateway's upstreams and how requests are routed to them.

```toml
[[upstreams]]
name = "claude"
kind = "anthropic"                      # anthropic | openai-chat | openai-responses | local
base_url = "https://api.anthropic.com"  # with or without /v1; default: the profile's hosted API
api_key_env = "ANTHROPIC_API_KEY"       # the key is read from this variable, never from the file;
                                        # default: the profile's, when base_url is its hosted API
profile = "anthropic"                   # vendor facts and quirks (thinkwire.upstreams.profiles)
models = ["claude-*"]                   # glob patterns of model names routed here
timeout = 600                           # seconds to connect, and between two reads
deadline = 1800                         # seconds one whole answer may take, however it trickles
```

A request goes to the first upstream one of whose ``models`` patterns matches its ``model``.
An upstream of kind ``local`` is the embedded engine (no ``base_url``). Every problem in the
file is a ``ConfigError`` naming its place (``upstreams[1].kind: ...``).
"""

from __future__ import annotations

import fnmatch
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, get_args

import msgspec

from thinkwire.errors import ThinkwireError
from thinkwire.ir.blocks import CARRIERS, Carrier
from thinkwire.upstreams.profiles import PROFILES, Kind, VendorProfile, default_profile

KINDS: Final = get_args(Kind)
_UPSTREAM_KEYS: Final = frozenset(
    {
        "name",
        "kind",
        "base_url",
        "api_key_env",
        "profile",
        "models",
        "timeout",
        "deadline",
        "carrier",
        "headers",
        "thinking_budget",
    }
)


class ConfigError(ThinkwireError):
    """The gateway configuration is wrong (the message names the place)."""


class Upstream(msgspec.Struct, frozen=True, kw_only=True):
    """One configured upstream. ``carrier`` overrides the profile's Chat carrier."""

    name: str
    kind: Kind
    base_url: str = ""
    api_key_env: str | None = None
    profile: VendorProfile
    models: tuple[str, ...] = ("*",)
    timeout: float = 600.0
    deadline: float = 1800.0
    """Seconds one whole answer may take (an upstream trickling a byte a second never hits
    ``timeout``)."""
    carrier: Carrier | None = None
    headers: dict[str, str] = {}
    thinking_budget: int | None = None
    """Overrides the profile's (0: never ask for thinking)."""

    def matches(self, model: str) -> bool:
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models)

    def api_key(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The key from the environment (``None`` when the upstream needs none or it is unset)."""
        if self.api_key_env is None:
            return None
        return (os.environ if environ is None else environ).get(self.api_key_env) or None

    @property
    def chat_carrier(self) -> Carrier | None:
        return self.carrier or self.profile.carrier

    @property
    def default_thinking_budget(self) -> int | None:
        budget = self.thinking_budget if self.thinking_budget is not None else self.profile.thinking_budget
        return budget or None


class GatewayConfig(msgspec.Struct, frozen=True, kw_only=True):
    upstreams: tuple[Upstream, ...]

    def route(self, model: str | None) -> Upstream | None:
        """The upstream for ``model`` (the first whose patterns match), or ``None``."""
        for upstream in self.upstreams:
            if upstream.matches(model or ""):
                return upstream
        return None


def load_config(path: str | os.PathLike[str]) -> GatewayConfig:
    """Read and check a ``thinkwire.toml``."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    return parse_config(data, str(file))


def parse_config(data: Mapping[str, Any], source: str = "config") -> GatewayConfig:
    unknown = sorted(set(data) - {"upstreams"})
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r} (expected [[upstreams]] tables)")
    raw = data.get("upstreams")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{source}: expected at least one [[upstreams]] table")
    upstreams = tuple(_upstream(item, f"upstreams[{i}]") for i, item in enumerate(raw))
    names = [u.name for u in upstreams]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"upstreams[{i}].name: {name!r} is used twice")
    return GatewayConfig(upstreams=upstreams)


def _upstream(item: Any, path: str) -> Upstream:
    if not isinstance(item, dict):
        raise ConfigError(f"{path}: expected a table")
    unknown = sorted(set(item) - _UPSTREAM_KEYS)
    if unknown:
        raise ConfigError(
            f"{path}.{unknown[0]}: unknown key (expected one of {', '.join(sorted(_UPSTREAM_KEYS))})"
        )
    name = _str(item, "name", path, required=True)
    kind = _str(item, "kind", path, required=True)
    if kind not in KINDS:
        raise ConfigError(f"{path}.kind: {kind!r} is not one of {', '.join(KINDS)}")
    profile_name = _str(item, "profile", path) or default_profile(kind)  # type: ignore[arg-type]
    profile = PROFILES.get(profile_name)
    if profile is None:
        raise ConfigError(f"{path}.profile: unknown profile {profile_name!r}; known: {', '.join(PROFILES)}")
    # a vendor's hosted API and key variable come from its profile unless the table says
    hosted = kind != "local" and profile.dialect == kind
    base_url = _str(item, "base_url", path, required=kind != "local" and not (hosted and profile.base_url))
    on_vendor = hosted and not base_url
    # the endpoint paths begin with /v1: a base_url given with it (as SDKs take it) means the same
    base_url = (base_url or (profile.base_url if hosted else "") or "").rstrip("/").removesuffix("/v1")
    if base_url and not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{path}.base_url: expected an http:// or https:// URL, got {base_url!r}")
    if kind != "local" and profile.dialect is not None and profile.dialect != kind:
        raise ConfigError(f"{path}.profile: {profile_name!r} speaks {profile.dialect}, not {kind}")
    models = item.get("models", ["*"])
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m for m in models):
        raise ConfigError(f"{path}.models: expected a non-empty list of model-name patterns")
    timeout = item.get("timeout", 600)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise ConfigError(f"{path}.timeout: expected a positive number of seconds")
    deadline = item.get("deadline", max(1800.0, float(timeout)))
    if not isinstance(deadline, int | float) or isinstance(deadline, bool) or deadline < timeout:
        raise ConfigError(f"{path}.deadline: expected a number of seconds no smaller than timeout")
    carrier = _str(item, "carrier", path) or None
    if carrier is not None and carrier not in CARRIERS:
        raise ConfigError(f"{path}.carrier: {carrier!r} is not one of {', '.join(CARRIERS)}")
    budget = item.get("thinking_budget")
    if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool) or budget < 0):
        raise ConfigError(f"{path}.thinking_budget: expected a token count (0: never ask for thinking)")
    headers = item.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ConfigError(f"{path}.headers: expected a table of strings")
    return Upstream(
        name=name,
        kind=kind,  # type: ignore[arg-type]  # checked against KINDS above
        base_url=base_url,
        # the vendor's key variable only for the vendor's own host: a key never goes elsewhere
        # unless the table names it
        api_key_env=_str(item, "api_key_env", path) or (profile.api_key_env if on_vendor else None),
        profile=profile,
        models=tuple(models),
        timeout=float(timeout),
        deadline=float(deadline),
        carrier=carrier,
        headers=dict(headers),
        thinking_budget=budget,
    )


def _str(item: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str:
    value = item.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{path}.{key}: required")
        return ""
    if not isinstance(value, str) or (required and not value):
        raise ConfigError(f"{path}.{key}: expected a non-empty string")
    return value
