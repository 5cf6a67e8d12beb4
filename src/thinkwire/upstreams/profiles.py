"""Vendor profiles: each upstream's quirks as data, one record each.

A profile says which dialect the vendor speaks, where its Chat reasoning lives (``carrier``),
who issues its reasoning (``provider``, written into each thinking block's origin so signatures
only ever go back to their issuer), which headers it needs, the path of each endpoint, where
its hosted API is and which environment variable holds its key (``base_url``,
``api_key_env``), and what its models cost (``prices``). The upstream client, the gateway's
config (defaults for an upstream that names the profile) and the agent's model specs
(``anthropic:MODEL`` ...) read these records; no code branches on a vendor's name.
"""

from __future__ import annotations

import fnmatch
from typing import Any, Final, Literal

import msgspec

from thinkwire.ir.blocks import Carrier, Dialect
from thinkwire.ir.conversation import Usage

Kind = Literal["anthropic", "openai-chat", "openai-responses", "local"]
Auth = Literal["x-api-key", "bearer", "none"]

PATHS: Final[dict[Dialect, str]] = {
    "anthropic": "/v1/messages",
    "openai-chat": "/v1/chat/completions",
    "openai-responses": "/v1/responses",
}


class Price(msgspec.Struct, frozen=True):
    """US$ per million input and output tokens."""

    input: float
    output: float

    def cost(self, usage: Usage) -> float:
        return ((usage.input_tokens or 0) * self.input + (usage.output_tokens or 0) * self.output) / 1e6


class VendorProfile(msgspec.Struct, frozen=True, kw_only=True):
    """One vendor's wire facts. ``dialect``: the one it speaks (``None``: any, as thinkwire's own
    server); ``carrier``: where its Chat reasoning lives (``None``: not Chat);
    ``headers``: sent on every request; ``auth``: how the key is sent; ``notes``: the rules it
    enforces, for people."""

    name: str
    dialect: Dialect | None
    provider: str
    carrier: Carrier | None = None
    auth: Auth = "bearer"
    headers: dict[str, str] = {}
    thinking_budget: int | None = None
    """The vendor thinks only when asked: a request that does not ask (a Chat client has no
    way to) gets thinking with this budget; ``None``: the vendor thinks by itself."""
    max_tokens: int | None = None
    """Sent when a request sets none, for a vendor that requires it (a Chat client may omit it)."""
    body: dict[str, Any] = {}
    """Fields every request to this vendor carries (lists are merged with the client's)."""
    placeholder: str | None = None
    """What the vendor accepts in place of thinking on an assistant turn that has none (a
    harness's hard-coded greeting, a turn the state could not restore), sent when another
    turn of the request carries thinking and the vendor then requires it on all
    (``with_placeholders``); ``None``: such a turn is sent as it is."""
    accepts_unsigned: bool = True
    """Reasoning without this vendor's signature may be sent (``policy.apply_origin_rule``)."""
    base_url: str | None = None
    """The vendor's hosted API (``None``: self-hosted, the config must say where)."""
    api_key_env: str | None = None
    """The environment variable that conventionally holds its key."""
    prices: dict[str, Price] = {}
    """List prices by model-name glob (late 2025)."""
    notes: str = ""


PROFILES: Final[dict[str, VendorProfile]] = {
    p.name: p
    for p in (
        VendorProfile(
            name="anthropic",
            dialect="anthropic",
            provider="anthropic",
            auth="x-api-key",
            headers={"anthropic-version": "2023-06-01"},
            thinking_budget=2048,
            max_tokens=8192,
            accepts_unsigned=False,
            base_url="https://api.anthropic.com",
            api_key_env="ANTHROPIC_API_KEY",
            prices={
                "claude-opus-4*": Price(15.0, 75.0),
                "claude-sonnet-4*": Price(3.0, 15.0),
                "claude-haiku-4*": Price(1.0, 5.0),
            },
            notes="signed thinking must come back unchanged and in place before tool_use (WIRE.md 2.1-2.5)",
        ),
        VendorProfile(
            name="deepseek",
            dialect="openai-chat",
            provider="deepseek",
            carrier="reasoning_content",
            base_url="https://api.deepseek.com",
            api_key_env="DEEPSEEK_API_KEY",
            placeholder="",
            prices={"deepseek-chat": Price(0.28, 0.42), "deepseek-reasoner": Price(0.28, 0.42)},
            notes=(
                "a tool-call turn of the current turn must come back with its reasoning_content, "
                'and once one turn has it all must ("" passes) (2.8)'
            ),
        ),
        VendorProfile(
            name="deepseek-anthropic",
            dialect="anthropic",
            provider="deepseek",
            auth="x-api-key",
            headers={"anthropic-version": "2023-06-01"},
            max_tokens=8192,
            accepts_unsigned=False,
            base_url="https://api.deepseek.com/anthropic",
            api_key_env="DEEPSEEK_API_KEY",
            notes=(
                "DeepSeek's Anthropic-compatible API: Anthropic's rules, DeepSeek's own signatures "
                "(Claude refuses them, and they refuse Claude's)"
            ),
        ),
        VendorProfile(
            name="kimi",
            dialect="openai-chat",
            provider="moonshot",
            carrier="reasoning_content",
            placeholder="",
            notes="a tool-call turn must come back with its reasoning_content (2.8)",
        ),
        VendorProfile(
            name="minimax",
            dialect="openai-chat",
            provider="minimax",
            carrier="think-tags",
            base_url="https://api.minimax.io",
            api_key_env="MINIMAX_API_KEY",
            prices={"MiniMax-M2*": Price(0.3, 1.2)},
            notes="inline <think> in content by default; the whole content must come back (2.14)",
        ),
        VendorProfile(
            name="openrouter",
            dialect="openai-chat",
            provider="openrouter",
            carrier="reasoning_details",
            base_url="https://openrouter.ai/api",
            api_key_env="OPENROUTER_API_KEY",
            notes="reasoning_details merged by index and sent back whole (2.10)",
        ),
        VendorProfile(name="vllm", dialect="openai-chat", provider="vllm", carrier="reasoning"),
        VendorProfile(name="sglang", dialect="openai-chat", provider="sglang", carrier="reasoning_content"),
        VendorProfile(name="ollama", dialect="openai-chat", provider="ollama", carrier="reasoning"),
        VendorProfile(
            name="openai-responses",
            dialect="openai-responses",
            provider="openai",
            # stateless: the reasoning comes back encrypted, so the gateway (not OpenAI) keeps it
            body={"store": False, "include": ["reasoning.encrypted_content"]},
            base_url="https://api.openai.com",
            api_key_env="OPENAI_API_KEY",
            notes="reasoning items are paired with the item that follows them (2.11)",
        ),
        VendorProfile(
            name="thinkwire",
            dialect=None,
            provider="thinkwire-local",
            carrier="reasoning_details",
            notes="another thinkwire server: reasoning_details carries its signatures",
        ),
    )
}


def price_of(model: str) -> Price | None:
    """The list price of ``model``, from the first profile with a matching glob."""
    for profile in PROFILES.values():
        for pattern, price in profile.prices.items():
            if fnmatch.fnmatchcase(model, pattern):
                return price
    return None


def default_profile(kind: Kind) -> str:
    """The profile an upstream of ``kind`` gets when its config names none."""
    return {"anthropic": "anthropic", "openai-responses": "openai-responses"}.get(kind, "vllm")
