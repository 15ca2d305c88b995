"""Secrets never reach a screen, a log, a file or a pull-request comment.

Every key and token the reconciler reads is registered here the moment it is
read, and every message a person sees goes through ``redact`` on its way out
(the CLI's errors, notices and results). A key is also checked before it is
used: a space or a line break copied along with it from a web page would
otherwise end up in an HTTP library's error message.
"""

from __future__ import annotations

from typing import Any

_SECRETS: set[str] = set()
_MASK = "***"


def register(secret: str) -> None:
    """Remember ``secret`` (and its visible parts) so that ``redact`` hides it."""
    if not secret:
        return
    _SECRETS.add(secret)
    for part in secret.split():
        if len(part) >= 6:
            _SECRETS.add(part)


def redact(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


def key_problem(key: str) -> str | None:
    """What is wrong with an API key's characters, in words that never repeat the key; None when it is fine."""
    if key != key.strip():
        return "it starts or ends with a space or a line break (copied along with it?)"
    if any(c.isspace() for c in key):
        return "it contains a space or a line break"
    if not key.isascii():
        return "it contains a character that is not plain ASCII"
    if not key.isprintable():
        return "it contains a control character"
    return None


class RedactingStream:
    """A text stream that hides registered secrets in everything written to it: the one step every
    message of the CLI goes through, whatever printed it (click, rich, a traceback)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
