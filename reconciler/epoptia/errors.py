"""What can go wrong talking to Epoptia, each with what happened and what to do.

Messages never contain the API key: they name the environment variable that
holds it instead.
"""

from __future__ import annotations

from ..errors import ReconcilerError


class EpoptiaError(ReconcilerError):
    """Base of every failure of a request to Epoptia."""


class UnreachableError(EpoptiaError):
    """No connection, or no answer in time, after the retries allowed."""


class KeyRejectedError(EpoptiaError):
    """HTTP 401: the key is wrong, or expired because it was unused for 60 days."""


class HaltedError(EpoptiaError):
    """A 403 or 429 stopped every request to this target until a person clears the halt."""


class RedirectedError(EpoptiaError):
    """Any 3xx: never followed, since it is usually a silent redirect to a login page."""


class ServerError(EpoptiaError):
    """HTTP 5xx after the retries allowed."""


class RequestRefusedError(EpoptiaError):
    """Any other 4xx: Epoptia refused the request as sent."""


class OperatorTokenError(EpoptiaError):
    """An action on a named line needs a logged-in operator's token."""


class BadResponseError(EpoptiaError):
    """Epoptia answered 200 with a body that is not what the wire profile says."""
