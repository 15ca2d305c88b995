"""When a workstation's sum goes: a pure function of the spool's row and the clock.

The period counts from the last time a sum was taken while the machine keeps
running (so a machine counting without pause reports every period on the dot),
and from its first piece after an idle spell (so a lone piece after a long
pause does not go at once). A stop or alarm flushes at once; a zero never goes.
"""

from __future__ import annotations

from .spool import Station


def window_due(st: Station, period: float) -> float | None:
    """Clock time at which the pending sum is due by the period; None when nothing is pending."""
    if st.pending <= 0 or st.first_at is None:
        return None
    if st.last_take is not None and st.first_at - st.last_take < period:
        return st.last_take + period
    return st.first_at + period


def due(st: Station, now: float, period: float, threshold: float, *, final: bool = False) -> str | None:
    """Why the pending sum should go now ('stop', 'alarm', 'shutdown', 'threshold', 'period'), or None."""
    if st.pending <= 0:
        return None
    if st.flush:
        return st.flush
    if final:
        return "shutdown"
    if st.pending >= threshold:
        return "threshold"
    at = window_due(st, period)
    if at is not None and now >= at:
        return "period"
    return None


def backoff(failures: int, base: float, cap: float) -> float:
    return min(cap, base * 2 ** max(0, failures - 1))
