"""What can go wrong talking to Epoptia, each with what happened and what to do.

    EpoptiaError
    ├── UnreachableError        no connection, or no answer in time (after the retries allowed)
    ├── KeyRejectedError        401 for the API key: wrong, or expired after 60 days unused
    ├── OperatorTokenError      401 for an operator's login or token
    ├── HaltedError             a 403/429 stopped every request until a person clears the halt
    ├── RedirectedError         any 3xx (never followed: usually a login page)
    ├── ServerError             5xx (after the retries allowed)
    ├── RequestRefusedError     any other 4xx
    │   └── CommandNotFoundError   400 "Command `x` for api version 3.03 not found": nothing was written
    └── BadResponseError        2xx with a body that is not what the wire profile says

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
    """Epoptia refused an operator's login or token (not the API key)."""


class CommandNotFoundError(RequestRefusedError):
    """The tenant does not know the path of an operation: nothing was written.

    Most write paths of the wire profile are our assumption (EPOPTIA_API.md), so
    this says which operation, that its path is the assumed default, and how to
    point it elsewhere.
    """

    def __init__(self, message: str, *, operation: str, path: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.operation = operation
        self.path = path


class BadResponseError(EpoptiaError):
    """Epoptia answered 200 with a body that is not what the wire profile says."""
