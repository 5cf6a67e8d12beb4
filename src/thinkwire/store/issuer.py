"""Signatures the gateway issues itself, for thinking a client's signature slot cannot hold.

An Anthropic client expects a ``signature`` on every thinking block and a Responses client an
``encrypted_content`` on every reasoning item it carries statelessly; an upstream of another
signature family (DeepSeek or MiniMax over Chat, Anthropic for a Responses client) sends none
the client's codec may carry. The gateway then signs the block itself (``Signer``), and
Anthropic's ``display: "omitted"`` works for such upstreams too: the client gets an empty block
with the gateway's signature and sends it back so.

**Token.** ``"twg1." + urlsafe-base64(HMAC-SHA256(secret, ...))``: the local engine's token
(``thinkwire.local.signing.sign``, whose HMAC is reused here) over the thinking text with
``"\\0gateway\\0" + tenant`` in its model slot, so a signature is good only for the tenant it
was issued to and never equals an engine signature (no model id holds a NUL). The secret is
the engine's (``signing.load_secret``: ``$THINKWIRE_SECRET`` or ``$THINKWIRE_HOME/secret``),
there with or without a state store; gateway replicas share it as they share the store's.

**Out.** Only clients of ``SIGNING_DIALECTS``. A thinking block the upstream signed in a family
the client's codec carries (``carries_signature``) goes through untouched. One signed in another
family has that signature dropped (the codec could not write it) and its origin made the
gateway's, ``Origin(provider="thinkwire-gateway")`` in the client's dialect (an origin its
``BlockStop`` brings is dropped); it and any block
that ends unsigned get the gateway's signature as one ``SignatureDelta`` just before their
``BlockStop``, over the whole text, so streamed and whole answers agree. The state store records
what the upstream sent, not this.

**Sealed reasoning** (Responses clients). OpenAI's ``encrypted_content`` is the reasoning itself,
encrypted: a stateless client (``store: false``, ``include: ["reasoning.encrypted_content"]``)
sends back ``{id, encrypted_content, summary: []}`` and nothing else, and the reasoning is
whole again on OpenAI's side. The gateway's is the same: ``"twe1." + urlsafe-base64(nonce +
AES-256-GCM-SIV(key, the block as the upstream sent it))``, the block serialised as IR (its
text, and the upstream's own signature and origin, so Claude's signature goes back to Claude
without any state), authenticated with the tenant as associated data, under keys derived from
the deployment secret with HKDF-SHA256 (``cryptography``; nothing home-made). The nonce is an
HMAC of the tenant and the block, so the same block seals to the same token, streamed or
whole, as a signature would (GCM-SIV is built for such nonces: a repeat reveals only that two
plaintexts are equal). Coming
back, the sealed block replaces whatever the client sent with it, text or none; a token that
does not open (altered, another tenant's, another deployment's) is a 400
``invalid_encrypted_content`` naming the block.

**In** (``Issuer.inbound``). A thinking block whose signature starts ``twg1.`` is ours: with
text it must verify (else ``ApiError`` 400 ``invalid_signature``, ``param`` the block's
``messages[i].blocks[j]``, as the engine answers) and its signature is removed, so the upstream
never sees it and the store upgrades it to what the upstream issued (``store.restore``'s lossy
path). An empty one (omitted) loses its signature too and is restored from the recording like
a turn sent back without thinking; ``Issuer.settle`` then checks the signature against the
restored text (400 when it does not match), and where nothing was restored (no state store,
a turn not recorded or expired) leaves the empty block out and reports a ``signature`` loss.
Signatures of any other issuer are never touched here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from thinkwire.dialects._reasoning import carries_signature
from thinkwire.errors import ApiError
from thinkwire.ir.blocks import Block, Dialect, Origin, RedactedThinking, Text, Thinking
from thinkwire.ir.conversation import Message
from thinkwire.ir.losses import Loss
from thinkwire.ir.serde import from_json, to_json
from thinkwire.ir.stream import BlockDelta, BlockStart, BlockStop, SignatureDelta, StreamEvent, ThinkingDelta
from thinkwire.local import signing

GATEWAY_PROVIDER: Final = "thinkwire-gateway"
"""``Origin.provider`` of a block the gateway signed."""
PREFIX: Final = "twg1."
SEALED: Final = "twe1."
"""The prefix of the gateway's sealed reasoning (``encrypted_content`` for Responses clients)."""
SIGNING_DIALECTS: Final = frozenset({"anthropic", "openai-responses"})
"""Client dialects with a signature slot: the gateway signs for these only."""
SEALING_DIALECTS: Final = frozenset({"openai-responses"})
"""Client dialects whose slot holds the reasoning itself, encrypted (sealed, not signed)."""
_NONCE: Final = 12


def is_gateway_signature(signature: str | None) -> bool:
    """Whether ``signature`` has the gateway's token form (valid or not)."""
    return signature is not None and signature.startswith(PREFIX)


def is_sealed(token: str | None) -> bool:
    """Whether ``token`` has the gateway's sealed-reasoning form (it may still not open)."""
    return token is not None and token.startswith(SEALED)


def _slot(tenant: str) -> str:
    return "\0gateway\0" + tenant


@dataclass(frozen=True)
class Omitted:
    """An empty block of ours sent back (``display: "omitted"``), checked after the restore."""

    message: int
    path: str
    signature: str


class Issuer:
    """Signs and verifies the gateway's thinking signatures with one deployment secret."""

    __slots__ = ("_aead", "_nonce_key", "_secret")

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        keys = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=b"thinkwire sealed reasoning v1")
        derived = keys.derive(secret)
        self._aead = AESGCMSIV(derived[:32])
        self._nonce_key = derived[32:]

    def __repr__(self) -> str:
        return "Issuer(<secret>)"

    def sign(self, tenant: str, text: str) -> str:
        token = signing.sign(self._secret, _slot(tenant), text)
        return PREFIX + token.removeprefix(signing.SIGNATURE_PREFIX)

    def verify(self, tenant: str, text: str, signature: str) -> bool:
        if not is_gateway_signature(signature):
            return False
        token = signing.SIGNATURE_PREFIX + signature.removeprefix(PREFIX)
        return signing.verify(self._secret, _slot(tenant), text, token)

    def seal(self, tenant: str, block: Thinking) -> str:
        """``block``, as the upstream sent it, encrypted for ``tenant`` (module docstring)."""
        plain, bound = to_json(block), _slot(tenant).encode()
        nonce = hmac.new(self._nonce_key, bound + b"\0" + plain, hashlib.sha256).digest()[:_NONCE]
        sealed = self._aead.encrypt(nonce, plain, bound)
        return SEALED + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def unseal(self, tenant: str, token: str) -> Thinking | None:
        """The block ``token`` seals for ``tenant``; ``None`` when it does not open."""
        body = token.removeprefix(SEALED)
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            if len(raw) <= _NONCE:
                return None
            plain = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], _slot(tenant).encode())
            return from_json(plain, Thinking)
        except (InvalidTag, binascii.Error, ValueError, msgspec.ValidationError, msgspec.DecodeError):
            return None

    def signer(self, tenant: str, dialect: Dialect) -> Signer | None:
        """What signs one answer to a ``dialect`` client (``None``: that dialect has no slot)."""
        return Signer(self, tenant, dialect) if dialect in SIGNING_DIALECTS else None

    def inbound(
        self, messages: Sequence[Message], tenant: str
    ) -> tuple[tuple[Message, ...], tuple[Omitted, ...]]:
        """``messages`` with the gateway's signatures checked and removed (module docstring),
        and the omitted blocks left for ``settle``. Raises ``ApiError`` 400 for an altered one."""
        out: list[Message] = []
        omitted: list[Omitted] = []
        for i, message in enumerate(messages):
            blocks: list[Block] = []
            for j, block in enumerate(message.blocks):
                token = (
                    block.data if isinstance(block, RedactedThinking) else getattr(block, "signature", None)
                )
                if is_sealed(token):
                    assert token is not None
                    opened = self.unseal(tenant, token)
                    if opened is None:
                        raise _invalid(
                            f"messages[{i}].blocks[{j}]",
                            "encrypted_content could not be decrypted or verified",
                            code="invalid_encrypted_content",
                        )
                    blocks.append(opened)
                    continue
                if not isinstance(block, Thinking) or not is_gateway_signature(block.signature):
                    blocks.append(block)
                    continue
                assert block.signature is not None
                path = f"messages[{i}].blocks[{j}]"
                if not block.text:
                    omitted.append(Omitted(message=i, path=path, signature=block.signature))
                elif not self.verify(tenant, block.text, block.signature):
                    raise _invalid(path, "signature does not match its thinking")
                blocks.append(msgspec.structs.replace(block, signature=None))
            changed = any(a is not b for a, b in zip(blocks, message.blocks, strict=True))
            out.append(_with(message, blocks) if changed else message)
        return tuple(out), tuple(omitted)

    def settle(
        self, messages: Sequence[Message], omitted: Sequence[Omitted], tenant: str
    ) -> tuple[tuple[Message, ...], tuple[Loss, ...]]:
        """After the restore: each omitted block's signature checked against the text put back
        in its turn; turns where nothing came back lose their empty blocks, each a loss."""
        out = list(messages)
        losses: list[Loss] = []
        for i in sorted({o.message for o in omitted}):
            mine = [o for o in omitted if o.message == i]
            blocks = out[i].blocks
            if any(_hollow(b) for b in blocks):  # not restored
                for o in mine:
                    detail = (
                        "omitted thinking signed by the gateway cannot be restored (no state store, "
                        "or the turn was not recorded); it is left out"
                    )
                    losses.append(Loss(path=o.path, kind="signature", detail=detail))
                kept = [b for b in blocks if not _hollow(b)]
                out[i] = _with(out[i], kept or [Text(text="")])
                continue
            texts = [b.text for b in blocks if isinstance(b, Thinking)]
            for o in mine:
                if not any(self.verify(tenant, text, o.signature) for text in texts):
                    raise _invalid(o.path, "omitted thinking whose signature matches none restored")
        return tuple(out), tuple(losses)


def _hollow(block: Block) -> bool:
    return isinstance(block, Thinking) and not block.text and block.signature is None


def _with(message: Message, blocks: list[Block]) -> Message:
    return msgspec.structs.replace(message, blocks=tuple(blocks))


def _invalid(path: str, why: str, *, code: str = "invalid_signature") -> ApiError:
    what = "encrypted reasoning" if code == "invalid_encrypted_content" else "thinking signature"
    return ApiError(400, f"invalid {what}: {path}: {why}", param=path, code=code)


@dataclass
class _Open:
    foreign: bool
    signed: bool
    original: Thinking
    text: list[str] = field(default_factory=list)
    signature: list[str] = field(default_factory=list)
    """A foreign signature's pieces: not sent, but sealed with the block."""


class Signer:
    """Rewrites one answer's events for its client (module docstring, "Out")."""

    def __init__(self, issuer: Issuer, tenant: str, dialect: Dialect) -> None:
        self.issuer, self.tenant, self.dialect = issuer, tenant, dialect
        self._open: dict[int, _Open] = {}

    def _origin(self, origin: Origin | None) -> Origin:
        return Origin(dialect=self.dialect, provider=GATEWAY_PROVIDER, model=origin.model if origin else None)

    def feed(self, event: StreamEvent) -> list[StreamEvent]:
        if isinstance(event, BlockStart) and isinstance(event.block, Thinking):
            block = original = event.block
            foreign = not carries_signature(block, self.dialect)
            if foreign:
                block = msgspec.structs.replace(block, signature=None, origin=self._origin(block.origin))
                event = BlockStart(index=event.index, block=block)
            self._open[event.index] = _Open(
                foreign=foreign, signed=bool(block.signature), original=original, text=[block.text]
            )
            return [event]
        opened = self._open.get(getattr(event, "index", -1))
        if opened is None:
            return [event]
        if isinstance(event, BlockDelta):
            if isinstance(event.delta, ThinkingDelta):
                opened.text.append(event.delta.text)
            elif isinstance(event.delta, SignatureDelta):
                if opened.foreign:
                    opened.signature.append(event.delta.signature)
                    return []
                opened.signed = opened.signed or bool(event.delta.signature)
            return [event]
        if not isinstance(event, BlockStop):
            return [event]
        del self._open[event.index]
        if opened.signed:
            return [event]
        text = "".join(opened.text)
        if self.dialect in SEALING_DIALECTS:  # the block as the upstream sent it, whole
            original = msgspec.structs.replace(
                opened.original,
                text=text,
                signature=(opened.original.signature or "") + "".join(opened.signature) or None,
                origin=event.origin or opened.original.origin,
            )
            signature = self.issuer.seal(self.tenant, original)
        else:
            signature = self.issuer.sign(self.tenant, text)
        if event.origin is not None and (
            opened.foreign or not carries_signature(Thinking(text="", origin=event.origin), self.dialect)
        ):
            event = msgspec.structs.replace(event, origin=None)  # the start's (ours) stays
        return [BlockDelta(index=event.index, delta=SignatureDelta(signature=signature)), event]
