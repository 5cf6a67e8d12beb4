"""Errors raised by thinkwire.

Hierarchy::

    ThinkwireError
    ├── DecodeError        input does not match the dialect's wire format (carries a JSON path)
    │   └── InputTooLarge  input exceeds the configured size limit
    └── EncodeError        the IR cannot be written in the target dialect at all

Everything a user can trigger with bad input derives from ``ThinkwireError``, so callers
(the CLI, the server) catch one type and print one line.
"""

from __future__ import annotations


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
