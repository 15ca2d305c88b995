"""Is a saved plan still true? Only the objects it touches matter.

A plan records, per action, the state digest and the observed production facts
it was made from. An apply of unrelated resources changes neither, so it does
not make the plan stale; a line that started since, or a resource another run
changed, does, and the message says which.
"""

from __future__ import annotations

from ..resources import Kind
from ..state.values import Snapshot
from .plan import Plan, Verb


def stale_reasons(plan: Plan, current: Snapshot, target: str) -> list[str]:
    if plan.target != target:
        return [f"the plan was made for target {plan.target!r}, not {target!r}"]
    if plan.lineage and current.lineage and plan.lineage != current.lineage:
        return [f"the plan was made from another state file (lineage {plan.lineage}, now {current.lineage})"]
    reasons = []
    for action in plan.actions:
        entry = current.entry(action.address)
        now_digest = entry.digest if entry is not None else None
        if action.verb in (Verb.CREATE, Verb.ADOPT) or (action.prior_digest is None and entry is None):
            if entry is not None:
                reasons.append(f"{action.address} was created or adopted since this plan was made")
            continue
        if entry is None:
            reasons.append(f"{action.address} is no longer in the state (another apply removed it)")
            continue
        if now_digest != action.prior_digest:
            reasons.append(f"{action.address} changed since this plan was made (another apply, or a change in Epoptia)")
            continue
        observed = current.peek(action.address).observed  # read and let go: a plan may touch 100,000
        fingerprint = observed.fingerprint() if observed is not None else None
        if fingerprint != action.observed_fingerprint:
            kind = "line" if action.kind is Kind.WORK_ORDER_LINE else action.kind.value
            if observed is not None and observed.started and not action.prior_started:
                reasons.append(f"{kind} {action.id} started since this plan was made")
            else:
                reasons.append(f"{kind} {action.id} moved on the shop floor since this plan was made")
    return reasons
