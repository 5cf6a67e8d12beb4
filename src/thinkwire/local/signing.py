"""Signatures on the thinking the local engine emits, checked when a client sends it back.

A hosted provider refuses thinking that comes back altered; the local engine does the same,
so a client (or a proxy in between) that edits, truncates, reorders or blanks thinking is
told so instead of silently steering the model with reasoning it never wrote.

**Token.** ``sign`` returns ``"tw1." + urlsafe-base64(HMAC-SHA256(secret, message))``
without padding (47 characters), where ``message`` is::

    b"thinkwire-thinking\\x00" + len(model) as 4 bytes big-endian + model + text

(model and text in UTF-8; lone surrogates, which JSON can carry, pass through as
``surrogatepass`` bytes). The model id is length-prefixed so ``("ab", "c")`` and
``("a", "bc")`` differ. ``tw1`` is the version: a later scheme becomes ``tw2.``.

**Origin.** The engine emits ``Thinking(text, signature=sign(secret, model, text),
origin=Origin(dialect=<the client's dialect>, provider="thinkwire-local", model=<model id>))``
(``engine_thinking`` builds it). The dialect is the client's so its codec writes the signature
into its own slot (Anthropic ``signature``, Responses ``encrypted_content``, Chat
``reasoning_details``).

**Which blocks are ours when they come back.** A request's history carries no trustworthy
issuer (the codecs label every block of a request with whatever provider the server names),
so a block is claimed by its *signature*: a ``Thinking`` whose signature starts with ``tw``,
digits and a dot. No other issuer's token looks like that (Anthropic signatures and OpenAI
``encrypted_content`` are base64 without dots). A claimed block must verify against the
model serving the request; everything else is accepted as unsigned and listed, so the
renderer can treat it as foreign reasoning:

- ``unsigned``: thinking with no signature (reasoning from another engine, or ours after a
  trip through a carrier with no signature slot such as ``reasoning_content``);
- ``foreign-signature``: thinking signed by another issuer (the signature means nothing here);
- ``redacted``: ``RedactedThinking`` (never issued by this engine).

**Omitted thinking.** ``Thinking(text="", signature=<ours>)`` is Anthropic's
``display: "omitted"`` form: the engine sent the signature but not the text. The signature
covers the full text, which the engine must recall (``recall(signature) -> text | None``, e.g.
from what it recorded when it generated it); a recalled text that verifies is reported as
``restored`` (``restore_omitted`` puts it back in the conversation), a block that cannot be
recalled is a problem. Without ``recall`` such blocks are listed as ``omitted``.

**Secret.** ``load_secret`` takes ``$THINKWIRE_SECRET`` (its UTF-8 bytes, at least 16) or the
file ``$THINKWIRE_HOME/secret`` (default ``~/.cache/thinkwire/secret``), created on first use
with 32 random bytes in hex and mode 0600. The key is the file's text, so copying it into
``$THINKWIRE_SECRET`` gives the same signatures. Changing the secret invalidates every
signature issued before. It is the deployment's one secret: the state's keys use a subkey
derived from it (``subkey``); the engine's tokens and the server's own (``twg1.``,
``thinkwire.store.issuer``) are keyed with it directly, each in its own domain
(``thinkwire-thinking``, and the ``"\0gateway\0"`` model slot), as before there were subkeys,
so thinking signed then still verifies.

Errors::

    ThinkwireError
    ├── SignatureError   signed thinking came back altered (answer 400 in the client's dialect)
    └── SecretError      the secret is too short, or its file is unsafe or unreadable
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final, Literal

import msgspec

from thinkwire.errors import ThinkwireError
from thinkwire.ir.blocks import Carrier, Dialect, Origin, RedactedThinking, Thinking
from thinkwire.ir.conversation import Message
from thinkwire.local.model_files import default_home

LOCAL_PROVIDER: Final = "thinkwire-local"
"""``Origin.provider`` of every thinking block the local engine emits."""
SIGNATURE_PREFIX: Final = "tw1."
SECRET_ENV: Final = "THINKWIRE_SECRET"
SECRET_FILE: Final = "secret"
MIN_SECRET_BYTES: Final = 16

_DOMAIN: Final = b"thinkwire-thinking\x00"
_OURS: Final = re.compile(r"tw[0-9]+\.")
_TOKEN: Final = re.compile(re.escape(SIGNATURE_PREFIX) + r"[A-Za-z0-9_-]{43}")


class SignatureError(ThinkwireError):
    """Signed thinking that does not verify. ``problems`` lists every block, in order."""

    def __init__(self, problems: Sequence[ThinkingProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class SecretError(ThinkwireError):
    """The deployment secret cannot be used."""


# ---------------------------------------------------------------------------------------------
# tokens


def sign(secret: bytes, model: str, text: str) -> str:
    """The signature of ``text`` as thinking of ``model`` (see the module docstring)."""
    return SIGNATURE_PREFIX + base64.urlsafe_b64encode(_mac(secret, model, text)).rstrip(b"=").decode()


def verify(secret: bytes, model: str, text: str, signature: str) -> bool:
    """Whether ``signature`` is ``sign(secret, model, text)``, compared in constant time."""
    expected = sign(secret, model, text).encode()
    return hmac.compare_digest(expected, signature.encode("utf-8", "surrogatepass"))


Purpose = Literal["state-keys"]


def subkey(secret: bytes, purpose: Purpose) -> bytes:
    """A key for one purpose, derived from the deployment secret (HMAC-SHA256 over the
    purpose's name), so no two uses of the one secret share a key."""
    return hmac.new(secret, b"thinkwire-subkey\x00" + purpose.encode(), hashlib.sha256).digest()


def is_engine_signature(signature: str | None) -> bool:
    """Whether ``signature`` has this engine's token form (any version, valid or not)."""
    return signature is not None and _OURS.match(signature) is not None


def _mac(secret: bytes, model: str, text: str) -> bytes:
    model_bytes = model.encode("utf-8", "surrogatepass")
    message = (
        _DOMAIN + len(model_bytes).to_bytes(4, "big") + model_bytes + text.encode("utf-8", "surrogatepass")
    )
    return hmac.new(secret, message, hashlib.sha256).digest()


def engine_origin(dialect: Dialect, model: str, *, carrier: Carrier | None = None) -> Origin:
    """The origin of thinking this engine emits to a client speaking ``dialect``."""
    return Origin(dialect=dialect, carrier=carrier, provider=LOCAL_PROVIDER, model=model)


def engine_thinking(
    secret: bytes,
    model: str,
    text: str,
    *,
    dialect: Dialect,
    carrier: Carrier | None = None,
    omit_text: bool = False,
) -> Thinking:
    """A signed thinking block as the engine emits it; ``omit_text`` gives the
    ``display: "omitted"`` form (empty text, signature over the full text)."""
    return Thinking(
        text="" if omit_text else text,
        signature=sign(secret, model, text),
        origin=engine_origin(dialect, model, carrier=carrier),
    )


# ---------------------------------------------------------------------------------------------
# checking a conversation


class ThinkingProblem(msgspec.Struct, frozen=True, kw_only=True):
    """Signed thinking that does not verify. ``path`` is ``messages[i].blocks[j]``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class UnsignedThinking(msgspec.Struct, frozen=True, kw_only=True):
    """Reasoning this engine did not issue, accepted as unsigned (see the module docstring).

    ``provider`` is what its origin says, for the renderer's cross-origin decisions.
    """

    path: str
    reason: Literal["unsigned", "foreign-signature", "redacted"]
    provider: str | None = None


class RestoredThinking(msgspec.Struct, frozen=True, kw_only=True):
    """An omitted (empty) block of ours whose recalled ``text`` verified."""

    path: str
    text: str


class ThinkingCheck(msgspec.Struct, frozen=True, kw_only=True):
    """What ``check_thinking`` found, each list in conversation order.

    ``verified``: paths of blocks of ours whose text verified as sent. ``restored``: omitted
    blocks of ours with their recalled text. ``omitted``: omitted blocks of ours left to the
    caller (no ``recall`` given). ``unsigned``: reasoning from elsewhere. ``problems``: blocks
    of ours that do not verify; when there is any, answer 400.
    """

    verified: tuple[str, ...] = ()
    restored: tuple[RestoredThinking, ...] = ()
    omitted: tuple[str, ...] = ()
    unsigned: tuple[UnsignedThinking, ...] = ()
    problems: tuple[ThinkingProblem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        """Raise ``SignatureError`` listing every problem, if there is any."""
        if self.problems:
            raise SignatureError(self.problems)


Recall = Callable[[str], str | None]
"""``recall(signature) -> text``: the full text of an omitted block this engine emitted."""


def check_thinking(
    messages: Sequence[Message], *, secret: bytes, model: str, recall: Recall | None = None
) -> ThinkingCheck:
    """Check every thinking block of a conversation sent to ``model`` (see the module docstring)."""
    verified: list[str] = []
    restored: list[RestoredThinking] = []
    omitted: list[str] = []
    unsigned: list[UnsignedThinking] = []
    problems: list[ThinkingProblem] = []
    for i, message in enumerate(messages):
        for j, block in enumerate(message.blocks):
            path = f"messages[{i}].blocks[{j}]"
            if isinstance(block, RedactedThinking):
                provider = block.origin.provider if block.origin else None
                unsigned.append(UnsignedThinking(path=path, reason="redacted", provider=provider))
                continue
            if not isinstance(block, Thinking):
                continue
            signature = block.signature
            if signature is None or not is_engine_signature(signature):
                reason: Literal["unsigned", "foreign-signature"] = (
                    "unsigned" if signature is None else "foreign-signature"
                )
                provider = block.origin.provider if block.origin else None
                unsigned.append(UnsignedThinking(path=path, reason=reason, provider=provider))
            elif verify(secret, model, block.text, signature):
                verified.append(path)
            elif block.text == "" and _well_formed(signature):
                text = recall(signature) if recall is not None else None
                if recall is None:
                    omitted.append(path)
                elif text is not None and verify(secret, model, text, signature):
                    restored.append(RestoredThinking(path=path, text=text))
                else:
                    problems.append(
                        ThinkingProblem(
                            path=path, message="omitted thinking whose signature this engine cannot recall"
                        )
                    )
            else:
                problems.append(ThinkingProblem(path=path, message=_why(secret, model, block)))
    return ThinkingCheck(
        verified=tuple(verified),
        restored=tuple(restored),
        omitted=tuple(omitted),
        unsigned=tuple(unsigned),
        problems=tuple(problems),
    )


def restore_omitted(messages: Sequence[Message], check: ThinkingCheck) -> tuple[Message, ...]:
    """``messages`` with the text of each restored block put back (nothing else changes)."""
    texts = {r.path: r.text for r in check.restored}
    if not texts:
        return tuple(messages)
    out: list[Message] = []
    for i, message in enumerate(messages):
        blocks = tuple(
            msgspec.structs.replace(b, text=texts[f"messages[{i}].blocks[{j}]"])
            if isinstance(b, Thinking) and f"messages[{i}].blocks[{j}]" in texts
            else b
            for j, b in enumerate(message.blocks)
        )
        out.append(message if blocks == message.blocks else msgspec.structs.replace(message, blocks=blocks))
    return tuple(out)


def _well_formed(signature: str) -> bool:
    """A version-1 token whose MAC part has the right length and alphabet (32 bytes)."""
    return _TOKEN.fullmatch(signature) is not None


def _why(secret: bytes, model: str, block: Thinking) -> str:
    """The problem with a signature of ours that did not verify, as precisely as is known."""
    signature = block.signature or ""
    if not signature.startswith(SIGNATURE_PREFIX):
        version = signature.split(".", 1)[0]
        return (
            f"signature version {version!r} is not supported by this engine (expected {SIGNATURE_PREFIX!r})"
        )
    if not _well_formed(signature):
        return "signature is malformed or truncated"
    issued = block.origin.model if block.origin else None
    if issued and issued != model and verify(secret, issued, block.text, signature):
        return f"signature was issued for model {issued!r}, not {model!r}"
    return "signature does not match its thinking"


# ---------------------------------------------------------------------------------------------
# the deployment secret


def load_secret(environ: Mapping[str, str] | None = None) -> bytes:
    """The deployment secret: ``$THINKWIRE_SECRET``, else the file under ``$THINKWIRE_HOME``."""
    env = os.environ if environ is None else environ
    value = env.get(SECRET_ENV, "")
    if value:
        return _checked(value.encode("utf-8", "surrogatepass"), f"${SECRET_ENV}")
    return read_or_create_secret(default_home(env) / SECRET_FILE)


def read_or_create_secret(path: Path) -> bytes:
    """The secret kept in ``path``, created (mode 0600, 32 random bytes in hex) if missing.

    Two processes starting at once agree: the file is written under a temporary name and
    linked into place only if no secret is there yet. A file other users can read is refused.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(secrets.token_hex(32) + "\n")
            with contextlib.suppress(FileExistsError):  # another process made one first: use it
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretError(f"cannot read the secret file {path}: {exc.strerror or exc}") from exc
    if os.name == "posix" and mode & 0o077:
        raise SecretError(
            f"the secret file {path} is readable by other users (mode {mode & 0o777:o}); chmod 600 it"
        )
    return _checked(text.strip().encode(), str(path))


def _checked(secret: bytes, source: str) -> bytes:
    if len(secret) < MIN_SECRET_BYTES:
        raise SecretError(
            f"the secret in {source} has {len(secret)} bytes; use at least {MIN_SECRET_BYTES}"
            " (e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return secret
