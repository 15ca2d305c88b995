"""The two ways the emulator refuses: one row of a write, or a whole request."""

from __future__ import annotations


class RowError(Exception):
    """One row of a write is refused; the others go on."""


class RequestError(Exception):
    """The whole request is refused with an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
