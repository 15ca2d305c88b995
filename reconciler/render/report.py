"""What an apply did, for the person or the CI log that ran it.

Counts are of what the plan asked: "Done: 2 of 3" counts the plan's runnable
actions whose resource Epoptia took. A resource the executor touched on the
way (a work order recorded with its lines, a line that carried its work
order's change) is not an extra "done". Long lists of what was not attempted
are summarised: a count and the first few, never hundreds of lines.
"""

from __future__ import annotations

from collections import Counter

from ..planning.plan import Plan, Verb
from ..report import ApplyReport, Outcome

_HEADINGS = (
    (Outcome.FAILED, "Failed"),
    (Outcome.UNKNOWN, "Unknown (the request failed; the next apply checks what Epoptia has)"),
    (Outcome.NOT_APPLIED, "Not applied (the operation is not available on this tenant)"),
    (Outcome.BLOCKED, "Blocked"),
    (Outcome.NOT_ATTEMPTED, "Not attempted"),
)
# Outcomes a person must act on are listed up to this many; the rest are counted.
LISTED = 50
# What was not attempted (the run stopped before it) is only sampled: the next apply does it.
SAMPLED = 5
_DONE_WORDS = {
    Verb.CREATE: "created",
    Verb.UPDATE: "updated",
    Verb.ARCHIVE: "archived",
    Verb.DELETE: "deleted",
    Verb.FORGET: "forgotten",
    Verb.ADOPT: "adopted",
}


def done_counts(report: ApplyReport, plan: Plan) -> Counter[Verb]:
    """Per verb, how many of the plan's runnable actions were done."""
    outcome = {o.address: o.outcome for o in report.outcomes}
    return Counter(a.verb for a in plan.runnable if outcome.get(a.address) is Outcome.DONE)


def render_report(report: ApplyReport, plan: Plan, continue_command: str) -> str:
    out = [f"Recovered: {note}" for note in report.recovered]
    if report.stopped_by:
        out.append(f"Apply stopped: {report.stopped_by}")
        out.append("")
    done = done_counts(report, plan)
    planned = len(plan.runnable)
    parts = ", ".join(f"{n:,} {_DONE_WORDS[verb]}" for verb, n in done.items())
    out.append(
        f"Done: {sum(done.values()):,} of {planned:,} planned change{'s' if planned != 1 else ''}"
        + (f" ({parts})." if parts else ".")
    )
    for outcome, heading in _HEADINGS:
        rows = report.having(outcome)
        if not rows:
            continue
        if outcome is Outcome.NOT_ATTEMPTED:
            sample = ", ".join(r.address for r in rows[:SAMPLED])
            more = f" and {len(rows) - SAMPLED:,} more" if len(rows) > SAMPLED else ""
            out.append(f"{heading}: {len(rows):,} (the run stopped before them): {sample}{more}.")
            continue
        out.append(f"{heading}: {len(rows):,}.")
        out.extend(f"  {r.address}: {r.detail}" if r.detail else f"  {r.address}" for r in rows[:LISTED])
        if len(rows) > LISTED:
            out.append(f"  ... and {len(rows) - LISTED:,} more (`reconciler plan` shows what is still to do).")
    if report.mismatches:
        out.append(f"Read back differs from what was sent: {len(report.mismatches):,}.")
        out.extend(f"  {m.address}: {m.detail}" for m in report.mismatches[:LISTED])
        if len(report.mismatches) > LISTED:
            out.append(f"  ... and {len(report.mismatches) - LISTED:,} more.")
    if not report.complete:
        out.append("")
        out.append(f"To continue, fix what is listed above if needed, then run: {continue_command}")
    else:
        out.append("Apply complete: Epoptia matches the plan.")
    return "\n".join(out) + "\n"
