"""Words and symbols for plan actions, shared by every renderer.

Renderers differ in layout, never in what they say: each takes its titles,
symbols and change lines from here.
"""

from __future__ import annotations

import json
from typing import Any, Iterator, NamedTuple

from ..planning.plan import Action, Drift, DriftCause, Plan, RefreshScope, Summary, Verb

SYMBOLS = {
    Verb.CREATE: "+",
    Verb.UPDATE: "~",
    Verb.ARCHIVE: ">",
    Verb.DELETE: "-",
    Verb.FORGET: "x",
    Verb.ADOPT: "=",
}
BLOCKED_SYMBOL = "!"

_VERBS = {
    Verb.CREATE: "will be created",
    Verb.UPDATE: "will be updated",
    Verb.ARCHIVE: "will be archived",
    Verb.DELETE: "will be deleted",
    Verb.FORGET: "will be forgotten (removed from the state only; Epoptia keeps it)",
    Verb.ADOPT: "will be adopted (recorded in the state as Epoptia has it; nothing is sent)",
}
_REFUSED = {
    Verb.UPDATE: "cannot be updated",
    Verb.DELETE: "cannot be deleted",
}


class ChangeLine(NamedTuple):
    """One line under an action: sign is '+', '-', '~' or ' ' (context)."""

    sign: str
    text: str


def summary_line(summary: Summary) -> str:
    return (
        f"Plan: {summary.create} to create, {summary.update} to update, {summary.archive} to archive, "
        f"{summary.delete} to delete, {summary.blocked} blocked."
    )


def summary_notes(plan: Plan) -> list[str]:
    """What the summary line leaves out: forgets, unchanged resources, selectors."""
    summary = plan.summary
    notes = []
    if summary.forget:
        notes.append(f"{summary.forget} to forget (removed from the state only; Epoptia keeps them).")
    if summary.adopt:
        notes.append(f"{summary.adopt} to adopt (Epoptia has them; the state records them as they are).")
    if plan.history:
        shown = ", ".join(plan.history[:10]) + (" ..." if len(plan.history) > 10 else "")
        notes.append(f"{len(plan.history)} archived line(s) keep the steps they ran with: {shown}.")
    if plan.only or plan.exclude:
        parts = [f"--only {p}" for p in plan.only] + [f"--exclude {p}" for p in plan.exclude]
        notes.append("Partial plan: " + " ".join(parts) + "; other resources were not considered.")
    return notes


def no_changes_line(plan: Plan) -> str:
    if plan.refresh_only:
        return ("Refresh only: nothing is sent to Epoptia. Applying this plan records what Epoptia has as the "
                f"state ({plan.unchanged} resources).")
    if not plan.refreshed:
        return (f"No changes. The state matches the manifests ({plan.unchanged} resources unchanged); "
                "Epoptia was not read.")
    if plan.refresh is RefreshScope.TARGETED:
        return (f"No changes. The manifests match the state ({plan.unchanged} resources unchanged), and Epoptia "
                "was read where this plan touches it; `reconciler drift` compares everything.")
    if plan.unverified:
        return (f"No changes. Epoptia matches the manifests as far as it can be read ({plan.unchanged} resources "
                f"unchanged; {plan.unverified} clients and products have no read in Epoptia, so the state vouches "
                "for them).")
    return f"No changes. Epoptia matches the manifests ({plan.unchanged} resources unchanged)."


def symbol(action: Action) -> str:
    return BLOCKED_SYMBOL if action.blocked is not None else SYMBOLS[action.verb]


def title(action: Action) -> str:
    where = f" in WorkOrder/{action.parent}" if action.parent else ""
    if action.blocked is not None:
        verb = _REFUSED.get(action.verb, "is blocked")
        return f"{action.address}{where} {verb} [{action.blocked.reason.value}]"
    return f"{action.address}{where} {_VERBS[action.verb]}"


def value(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, sort_keys=True)


def routing_chain(routing: Any) -> str:
    """'ΚΟΠΗ-ΒΑΦΗ: LASER (Κοπή) → ΒΑΦΕΙΟ' instead of a JSON blob."""
    if not isinstance(routing, dict) or not isinstance(routing.get("steps"), list):
        return value(routing)
    steps = []
    for step in routing["steps"]:
        station = step.get("workstation") or "(auto)"
        task = f" ({step['job_task']})" if step.get("job_task") else ""
        steps.append(station + task)
    chain = " → ".join(steps)
    return f"{routing['name']}: {chain}" if routing.get("name") else chain


def _shown(key: str, v: Any) -> str:
    return routing_chain(v) if key == "routing" else value(v)


def change_lines(action: Action) -> Iterator[ChangeLine]:
    """The fields an action sets or changes, then (for a blocked one) why and what to do."""
    if action.verb is Verb.CREATE and action.payload is not None:
        for key, v in action.payload.items():
            if v in (None, "", [], {}) or (key == "workorder" and v == action.parent):
                continue
            yield ChangeLine("+", f"{key}: {_shown(key, v)}")
    for change in action.changes:
        if change.before is None:
            yield ChangeLine("+", f"{change.path}: {_shown(change.path, change.after)}")
        elif change.after is None:
            yield ChangeLine("-", f"{change.path}: {_shown(change.path, change.before)}")
        else:
            yield ChangeLine(
                "~", f"{change.path}: {_shown(change.path, change.before)} -> {_shown(change.path, change.after)}"
            )
    if action.blocked is not None:
        yield ChangeLine(" ", action.blocked.message)
        yield ChangeLine(" ", f"advice: {action.blocked.advice}")


def source_line(plan: Plan) -> str:
    where = f"Target {plan.target!r}, state serial {plan.serial}" + (f", lineage {plan.lineage}" if plan.lineage else "")
    if plan.refresh is RefreshScope.FULL:
        how = f"refreshed from Epoptia (all {plan.pages_read} page(s) of lines)"
    elif plan.refresh is RefreshScope.TARGETED:
        how = (f"refreshed from Epoptia where this plan touches it ({plan.pages_read} page(s) of lines; "
               "--refresh full reads them all)")
    else:
        how = "not refreshed: planned from the state file alone"
    window = f"\nApply window: {plan.window.message}." if plan.window else ""
    return f"{where}; {how}.{window}"


def drift_sections(drift: tuple[Drift, ...]) -> list[tuple[str, list[str]]]:
    """(heading, lines) for what changed in Epoptia outside the reconciler, in its two parts."""
    owned, progress = [], []
    for d in drift:
        if d.cause is DriftCause.PROGRESS:
            progress.append(d.message)
            continue
        owned.append(d.message)
        for c in d.changes:
            owned.append(f"    {c.path}: applied {value(c.before)}, Epoptia has {value(c.after)}")
    sections = []
    if owned:
        sections.append(("Changed in Epoptia outside the reconciler (this plan puts the manifests' values back):", owned))
    if progress:
        sections.append(("Production progress since the last refresh (the shop floor's; information only):", progress))
    return sections
