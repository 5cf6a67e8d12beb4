"""Errors raised by thinkwire.

Hierarchy::

    ThinkwireError
    ├── DecodeError        input does not match the dialect's wire format (carries a JSON path)
    │   └── InputTooLarge  input exceeds the configured size limit
    ├── EncodeError        the IR cannot be written in the target dialect at all
    └── ApiError           a request refused or failed, answered to the client with an HTTP
                           status (the server writes it in the client's error envelope)

Everything a user can trigger with bad input derives from ``ThinkwireError``, so callers
(the CLI, the server) catch one type and print one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from thinkwire.ir.losses import Loss

OVERLOADED: Final = 503
"""Our status for "every slot busy and the queue full"; Anthropic clients get 529."""


class ThinkwireError(Exception):
    """Root of every error thinkwire raises on purpose."""


class DecodeError(ThinkwireError):
    """Wire data that does not fit the dialect.

    ``path`` is a JSON path into the input such as ``messages[3].content[1].signature``
    (empty for the document itself).
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class InputTooLarge(DecodeError):
    """Input larger than the configured limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__("", f"input is {size} bytes, over the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class EncodeError(ThinkwireError):
    """The IR holds something the target dialect cannot express even with a reported loss."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class ApiError(ThinkwireError):
    """An error answered to the client (``status``, ``message``, the ``param`` it concerns,
    an OpenAI ``code``).

    ``types``: the error ``type`` by envelope family (``"anthropic"``, ``"openai"``), kept
    when an upstream named it (an envelope of another family gets the type of the status);
    ``upstream``: the gateway's own context for an upstream's error (``upstream 'x' answered
    400``), sent apart from the vendor's message. What the server did before the error
    (``losses``, ``restored`` turns, ``removed`` thinking blocks) goes out in the same headers
    as on a success."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: str | None = None,
        types: dict[str, str] | None = None,
        upstream: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.retry_after = retry_after
        self.types = types or {}
        self.upstream = upstream
        self.losses: tuple[Loss, ...] = ()
        self.restored = 0
        self.removed = 0

    @classmethod
    def bad_request(cls, error: DecodeError | str, *, code: str | None = None) -> ApiError:
        """A 400 for a request that does not decode (``error.path`` becomes ``param``)."""
        if isinstance(error, DecodeError):
            return cls(400, str(error), param=error.path or None, code=code)
        return cls(400, error, code=code)
