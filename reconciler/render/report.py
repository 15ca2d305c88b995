"""What an apply did, for the person or the CI log that ran it."""

from __future__ import annotations

from ..apply import ApplyReport


def render_report(report: ApplyReport, continue_command: str) -> str:
    out = []
    if report.stopped_by:
        out.append(f"Apply stopped: {report.stopped_by}")
        out.append("")
    out.append(f"Done: {len(report.done)}.")
    if report.failed:
        out.append(f"Failed: {len(report.failed)}.")
        out.extend(f"  {addr}: {reason}" for addr, reason in report.failed)
    if report.mismatches:
        out.append(f"Read back differs from what was sent: {len(report.mismatches)}.")
        out.extend(f"  {addr}: {reason}" for addr, reason in report.mismatches)
    if report.not_attempted:
        out.append(f"Not attempted: {len(report.not_attempted)}.")
        out.extend(f"  {addr}: {reason}" for addr, reason in report.not_attempted)
    if not report.complete:
        out.append("")
        out.append(f"To continue, fix what is listed above if needed, then run: {continue_command}")
    else:
        out.append("Apply complete: Epoptia matches the plan.")
    return "\n".join(out) + "\n"
