"""Settling a send that got no answer: did Epoptia add the quantity or not?

`complete` is not idempotent: sent twice, it counts twice. So a send that got no
answer that tells (a timeout, a dropped connection, a 5xx, an answer that is not
JSON, or a kill -9 of the relay between sending and marking) is never simply
sent again. The rule:

1. Wait until the request can no longer be running at Epoptia: the target's
   timeout plus `settle_grace` after it went out (real time). Until then, and
   until the read succeeds, the workstation sends nothing more; it keeps counting.
2. Read the lines (the only read Epoptia has) and take every step at the
   workstation: by `workstationId` where the list carries it, else by the
   workstation's name (from `relay.workstations`, or learnt from an earlier
   answer's step).
3. Compare with the baseline: the quantities a previous read showed at those
   steps, moved forward by every answered send since (an answer names its step
   and its new `qty_done`; a send whose answer does not is kept as `loose`).
   `moved = Σ(now − baseline) − loose`.
4. moved == the batch's quantity: it arrived; the batch is done.
   moved == 0: it did not; the quantity goes back to pending and is sent again.
   Anything else (someone else reported at that workstation meanwhile, a line
   left the list, or the workstation cannot be found in the list): the relay
   cannot tell. The batch is marked `unknown`, never resent by itself, and
   reported (status, log) for a person to resolve with `--resolve ID:applied`
   or `--resolve ID:resend`.

The baseline is taken by a read before a workstation's first send, and renewed
by every settlement read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .sender import StepReading

TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class Verdict:
    applied: bool | None  # None: cannot tell
    moved: float | None
    explanation: str


def steps_at(
    readings: Iterable[StepReading], ws: int, name: str | None, known_elements: Iterable[int] = ()
) -> tuple[dict[int, tuple[str, float]] | None, str | None]:
    """The steps of one workstation in a read, and its name; (None, None) when the read cannot show them."""
    readings = list(readings)
    if any(r.workstation_id is not None for r in readings):
        found = {r.element_id: (r.line_id, r.qty_done) for r in readings if r.workstation_id == ws}
        names = {r.workstation_name for r in readings if r.workstation_id == ws and r.workstation_name}
        return found, name or (names.pop() if len(names) == 1 else None)
    if name is None:
        known = set(known_elements)
        names = {r.workstation_name for r in readings if r.element_id in known and r.workstation_name}
        if len(names) != 1:
            return None, None
        name = names.pop()
    return {r.element_id: (r.line_id, r.qty_done) for r in readings if r.workstation_name == name}, name


def settle(
    quantity: float, steps: dict[int, tuple[str, float]] | None, baseline: dict[int, float] | None, loose: float
) -> Verdict:
    if steps is None:
        return Verdict(
            None, None, "the list of lines does not show this workstation's steps (give its name in relay.workstations)"
        )
    if baseline is None:
        return Verdict(None, None, "there is no earlier reading of this workstation to compare with")
    moved = sum(done - baseline.get(element, 0.0) for element, (_, done) in steps.items()) - loose
    if abs(moved - quantity) <= TOLERANCE:
        return Verdict(True, moved, f"the workstation's steps moved by {_n(moved)}: it arrived")
    if abs(moved) <= TOLERANCE:
        return Verdict(False, 0.0, "the workstation's steps did not move: it did not arrive")
    return Verdict(
        None,
        moved,
        f"the workstation's steps moved by {_n(moved)} since the last known reading, "
        f"neither 0 nor {_n(quantity)}: someone else reported there, or a line left the list",
    )


def _n(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
