"""What an apply did, for the person or the CI log that ran it."""

from __future__ import annotations

from ..report import ApplyReport, Outcome

_HEADINGS = (
    (Outcome.FAILED, "Failed"),
    (Outcome.UNKNOWN, "Unknown (the request failed; the next apply checks what Epoptia has)"),
    (Outcome.NOT_APPLIED, "Not applied (the operation is not available on this tenant)"),
    (Outcome.BLOCKED, "Blocked"),
    (Outcome.NOT_ATTEMPTED, "Not attempted"),
)


def render_report(report: ApplyReport, continue_command: str) -> str:
    out = [f"Recovered: {note}" for note in report.recovered]
    if report.stopped_by:
        out.append(f"Apply stopped: {report.stopped_by}")
        out.append("")
    out.append(f"Done: {len(report.done)}.")
    for outcome, heading in _HEADINGS:
        rows = report.having(outcome)
        if rows:
            out.append(f"{heading}: {len(rows)}.")
            out.extend(f"  {r.address}: {r.detail}" if r.detail else f"  {r.address}" for r in rows)
    if report.mismatches:
        out.append(f"Read back differs from what was sent: {len(report.mismatches)}.")
        out.extend(f"  {m.address}: {m.detail}" for m in report.mismatches)
    if not report.complete:
        out.append("")
        out.append(f"To continue, fix what is listed above if needed, then run: {continue_command}")
    else:
        out.append("Apply complete: Epoptia matches the plan.")
    return "\n".join(out) + "\n"
