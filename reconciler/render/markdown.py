"""The plan as a pull-request comment.

Summary first, blocked actions next (they stop the merge), then one collapsible
section per work order, so a plan with hundreds of changes stays readable. The
comment never exceeds GitHub's size limit: past the budget, the tail is
summarised and the reader is told how to see the whole plan.
"""

from __future__ import annotations

from collections import defaultdict

from ..planning.plan import Action, Plan
from .describe import (
    change_lines,
    drift_sections,
    no_changes_line,
    source_line,
    summary_line,
    summary_notes,
    symbol,
    title,
)

GITHUB_COMMENT_LIMIT = 65_536
# Room kept for the closing note and the header the workflow adds around the body.
_BUDGET = GITHUB_COMMENT_LIMIT - 2_000
MARKER = "<!-- epoptia-reconciler-plan -->"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _diff_block(actions: list[Action]) -> str:
    lines = []
    for action in actions:
        lines.append(f"{symbol(action)} {title(action)}")
        for line in change_lines(action):
            lines.append(f"{line.sign}     {line.text}")
    body = "\n".join(lines).replace("```", "`\u200b``")
    return f"```diff\n{body}\n```"


def _node(step: dict) -> str:
    station = step.get("workstation") or "(automatic)"
    task = f"<br/>{step['job_task']}" if step.get("job_task") else ""
    return (station + task).replace('"', "'")


def _identity(step: dict) -> tuple:
    return (step.get("workstation"), step.get("job_task"))


def routing_flowchart(action: Action) -> str:
    """A mermaid flowchart of the route before and after; added, removed and changed steps marked."""
    assert action.routing is not None
    before, after = list(action.routing.before), list(action.routing.after)
    old = {_identity(s): s for s in before}
    new = {_identity(s): s for s in after}
    lines = ["```mermaid", "flowchart LR"]
    for label, steps, prefix, others in (("before", before, "b", new), ("after", after, "a", old)):
        lines.append(f'  subgraph {prefix}["{label}"]')
        lines.append("    direction LR")
        for i, step in enumerate(steps):
            other = others.get(_identity(step))
            mark = ("removed" if prefix == "b" else "added") if other is None else (
                "changed" if other != step else "same")
            lines.append(f'    {prefix}{i}["{_node(step)}"]:::{mark}')
        for i in range(len(steps) - 1):
            lines.append(f"    {prefix}{i} --> {prefix}{i + 1}")
        lines.append("  end")
    lines += [
        "  classDef same fill:#f6f8fa,stroke:#8c959f;",
        "  classDef added fill:#dafbe1,stroke:#1a7f37;",
        "  classDef removed fill:#ffebe9,stroke:#cf222e,stroke-dasharray: 4 3;",
        "  classDef changed fill:#fff8c5,stroke:#9a6700;",
        "```",
    ]
    return "\n".join(lines)


def _group_title(key: str, actions: list[Action]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for action in actions:
        counts["blocked" if action.blocked else action.verb.value] += 1
    parts = ", ".join(f"{n} {what}" for what, n in counts.items())
    return f"<b>{_escape(key)}</b>: {parts}"


def render_markdown(plan: Plan, *, limit: int = _BUDGET) -> str:
    head = [MARKER, f"### Epoptia plan for `{plan.target}`", ""]
    drift = [
        f"<details><summary>{_escape(heading)}</summary>\n\n```\n" + "\n".join(lines).replace("```", "`\u200b``")
        + "\n```\n\n</details>\n"
        for heading, lines in drift_sections(plan.drift)
    ]
    if not plan.actions:
        head.append(f"**{no_changes_line(plan)}**")
        head.append("")
        head.append(f"_{_escape(source_line(plan))}_")
        return "\n".join(head + [""] + drift)
    head.append(f"**{summary_line(plan.summary)}**")
    head.extend(f"\n{note}" for note in summary_notes(plan))
    head.append("")
    head.append(f"_{_escape(source_line(plan))}_")
    head.append("")

    blocked = plan.blocked
    if blocked:
        head.append(f"#### :no_entry: Blocked ({len(blocked)})")
        head.append("")
        head.append("These changes are refused because production has started; the plan fails until they are "
                    "resolved or applied with `--skip-blocked`.")
        head.append("")
        for action in blocked:
            assert action.blocked is not None
            head.append(
                f"- **{_escape(action.address)}** (`{action.blocked.reason.value}`): "
                f"{_escape(action.blocked.message)}. *Advice:* {_escape(action.blocked.advice)}."
            )
        head.append("")

    groups: dict[str, list[Action]] = defaultdict(list)
    for action in plan.actions:
        if action.kind.value in ("WorkOrder", "WorkOrderLine"):
            key = f"WorkOrder/{action.parent or action.id}"
        else:
            key = "Clients and products"
        groups[key].append(action)

    head.extend(drift)
    head.append("#### Changes")
    head.append("")
    out = "\n".join(head)
    shown = 0
    for key, actions in groups.items():
        charts = "".join(
            f"\n\nRouting of {_escape(a.address)}" + (" (blocked)" if a.blocked else "") + f":\n\n{routing_flowchart(a)}"
            for a in actions if a.routing is not None
        )
        section = (
            f"<details><summary>{_group_title(key, actions)}</summary>\n\n{_diff_block(actions)}{charts}\n\n</details>\n"
        )
        if len(out) + len(section) > limit:
            rest = list(groups.values())[shown:]
            hidden = sum(len(a) for a in rest)
            out += (
                f"\n_{len(rest)} more groups with {hidden} actions are not shown, to stay within GitHub's comment "
                "size limit. The whole plan is in the job's artifacts; render it with `reconciler show PLANFILE`._\n"
            )
            break
        out += "\n" + section
        shown += 1
    return out
