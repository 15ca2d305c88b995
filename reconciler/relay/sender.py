"""How the relay talks to Epoptia: two small protocols, and their implementations over the client.

`Sender` sends one `complete` (the machine scenario: a workstation id and a
quantity) and reads the steps of every line (the only read Epoptia has, used to
learn whether an unanswered send took effect). `EpoptiaSender` implements it
over `EpoptiaClient`, so the relay shares the client's throttle and halt.

`WorkstationDirectory` turns the names machines use into Epoptia's ids.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..epoptia.errors import (
    BadResponseError,
    EpoptiaError,
    HaltedError,
    ServerError,
    UnreachableError,
)
from ..epoptia.listing import read_list
from ..errors import ReconcilerError


@dataclass(frozen=True, slots=True)
class SendAnswer:
    """What Epoptia answered to a `complete`; the step fields are None when the answer lacks them."""

    line_id: str | None = None
    element_id: int | None = None
    qty_done: float | None = None

    @classmethod
    def from_wire(cls, body: Any) -> SendAnswer:
        body = body if isinstance(body, dict) else {}

        def number(key: str) -> float | None:
            value = body.get(key)
            return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

        element = number("elementId")
        line = body.get("workorderline_id")
        return cls(
            line_id=None if line is None else str(line),
            element_id=None if element is None else int(element),
            qty_done=number("qty_done"),
        )


@dataclass(frozen=True, slots=True)
class StepReading:
    """One routing step of one line, as the list of lines shows it."""

    element_id: int
    line_id: str
    workstation_name: str | None
    workstation_id: int | None  # not among the confirmed fields: None on a tenant that does not send it
    qty_done: float


class Sender(Protocol):
    def complete(self, workstation_id: int, quantity: float) -> SendAnswer:
        """Add `quantity` at the workstation; raises an EpoptiaError when Epoptia did not answer 200."""

    def read_steps(self) -> Iterable[StepReading]:
        """Every step of every line, read now."""


class WorkstationDirectory(Protocol):
    def resolve(self, workstation: str) -> int:
        """The Epoptia id of a name (or of an id written as digits); raises UnknownWorkstation."""

    def name_of(self, workstation_id: int) -> str | None:
        """The workstation's name as Epoptia's list of lines spells it, if known."""


class UnknownWorkstation(ReconcilerError):
    """A machine named a workstation the directory does not know."""


class MappingDirectory:
    """Names from `relay.workstations` in reconciler.yaml; digits are ids as they are."""

    def __init__(self, workstations: Mapping[str, int]) -> None:
        self.ids = dict(workstations)
        self.names = {v: k for k, v in self.ids.items()}

    def resolve(self, workstation: str) -> int:
        if workstation in self.ids:
            return self.ids[workstation]
        if workstation.isdigit():
            return int(workstation)
        raise UnknownWorkstation(
            f"unknown workstation {workstation!r}",
            hint="add it to relay.workstations in reconciler.yaml (name: Epoptia id), or send its id",
        )

    def name_of(self, workstation_id: int) -> str | None:
        return self.names.get(workstation_id)


class EpoptiaSender:
    """The Sender over the shared client: every request takes the target's throttle and honours its halt."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def complete(self, workstation_id: int, quantity: float) -> SendAnswer:
        wire_quantity: float | int = int(quantity) if float(quantity).is_integer() else quantity
        return SendAnswer.from_wire(self.client.control("complete", workstation_id, quantity=wire_quantity))

    def read_steps(self) -> Iterator[StepReading]:
        # The list is read as every other reader of Epoptia reads it: defensively, page by page.
        # It carries workstation names, not ids (workstationId is not a confirmed field).
        for line in read_list(self.client).by_id.values():
            for step in line.steps:
                if step.element_id is None:
                    continue
                yield StepReading(
                    element_id=step.element_id,
                    line_id=line.line_id,
                    workstation_name=step.workstation,
                    workstation_id=None,
                    qty_done=step.qty_done,
                )


class Failure(enum.Enum):
    """What a failed send tells about whether Epoptia added the quantity."""

    REFUSED = "refused"  # an answer that refuses: not added; the sum goes back to pending
    HALTED = "halted"  # 403/429 or a halt already set: not added; nothing is sent until the halt is cleared
    UNCERTAIN = "uncertain"  # no answer, or one that says nothing (timeout, dropped, 5xx): read to find out


def classify(error: BaseException) -> Failure:
    if isinstance(error, HaltedError):
        return Failure.HALTED
    if isinstance(error, (UnreachableError, ServerError, BadResponseError)):
        return Failure.UNCERTAIN
    if isinstance(error, EpoptiaError):
        return Failure.REFUSED  # 3xx, 401, other 4xx: Epoptia refused the request as sent
    return Failure.UNCERTAIN  # anything unexpected: assume the worst, and read
