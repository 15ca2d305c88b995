"""What the apply on merge says: the comment on each merged pull request and the job summary.

Words only: every decision was taken in ``drain.py``; this module turns its
codes into sentences, the way ``render/`` does for plans.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..planning.plan import Action
from ..planning.review import ActionDifference, Comparison, Difference, PlanDifference
from ..render.markdown import MARKER, render_markdown
from .comment import APPLY_MARKER
from .drain import DrainOutcome, Status, Step

_HEADLINE = {
    Status.APPLIED: ":white_check_mark: Applied as reviewed",
    Status.NOTHING: ":white_check_mark: Nothing to apply",
    Status.DIFFERENT: ":no_entry: Not applied: the plan on main differs from the plan reviewed here",
    Status.STALE: ":no_entry: Not applied: the reviewed plan is stale",
    Status.UNREVIEWED: ":no_entry: Not applied: no reviewed plan",
    Status.WINDOW: ":hourglass: Pending: merged outside the apply windows",
    Status.HALTED: ":octagonal_sign: Not applied: requests to Epoptia are halted",
    Status.FAILED: ":x: The apply failed",
    Status.WAITING: ":hourglass: Pending: waiting behind an earlier merge",
}

_PLAN_WORDS = {
    PlanDifference.TARGET: "the plans are for different targets",
    PlanDifference.LINEAGE: "the plans were made from different state files (another lineage)",
    PlanDifference.SELECTION: "the plans were made with different --only/--exclude",
}


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _what(action: Action) -> str:
    return f"{action.verb.value}" + (f" (blocked: {action.blocked.reason.value})" if action.blocked else "")


def difference_line(difference: ActionDifference) -> str:
    where = f"`{difference.address}`"
    reviewed, fresh = difference.reviewed, difference.fresh
    if Difference.ADDED in difference.kinds:
        assert fresh is not None
        return f"- {where}: **not in the reviewed plan**; now planned: {_what(fresh)}"
    if Difference.REMOVED in difference.kinds:
        assert reviewed is not None
        return f"- {where}: reviewed as {_what(reviewed)}; **no longer planned**"
    assert reviewed is not None and fresh is not None
    parts = []
    if Difference.VERB in difference.kinds:
        parts.append(f"reviewed as {reviewed.verb.value}, now {fresh.verb.value}")
    if Difference.BLOCKED in difference.kinds:
        if fresh.blocked is not None:
            parts.append(f"now blocked ({fresh.blocked.reason.value}): {fresh.blocked.message}")
        else:
            parts.append("no longer blocked")
    if Difference.PARENT in difference.kinds:
        parts.append(f"work order {reviewed.parent} in the review, now {fresh.parent}")
    if Difference.CHANGES in difference.kinds:
        before = {c.path: c for c in reviewed.changes}
        after = {c.path: c for c in fresh.changes}
        shown = []
        for path in difference.change_paths[:6]:
            old, new = before.get(path), after.get(path)
            old_text = f"{_value(old.before)} -> {_value(old.after)}" if old else "no change"
            new_text = f"{_value(new.before)} -> {_value(new.after)}" if new else "no change"
            shown.append(f"`{path}`: reviewed {old_text}, now {new_text}")
        parts.append("; ".join(shown))
    if Difference.PAYLOAD in difference.kinds and difference.payload_keys:
        keys = ", ".join(f"`{k}`" for k in difference.payload_keys[:8])
        shown = []
        for key in difference.payload_keys[:3]:
            old = (reviewed.payload or {}).get(key)
            new = (fresh.payload or {}).get(key)
            shown.append(f"`{key}` reviewed {_value(old)}, now {_value(new)}")
        parts.append(f"would send other values for {keys} ({'; '.join(shown)})")
    return f"- {where}: " + "; ".join(parts)


def difference_lines(comparison: Comparison, limit: int = 40) -> list[str]:
    lines = [f"- {_PLAN_WORDS[d]}" for d in comparison.plan]
    lines += [difference_line(d) for d in comparison.actions[:limit]]
    if len(comparison.actions) > limit:
        lines.append(f"- ... and {len(comparison.actions) - limit} more differences")
    return lines


def _workflow_file() -> str:
    ref = os.environ.get("GITHUB_WORKFLOW_REF", "")  # owner/repo/.github/workflows/epoptia-apply.yml@refs/heads/main
    path = ref.split("@", 1)[0]
    return path.rsplit("/", 1)[-1] if path.endswith((".yml", ".yaml")) else "epoptia-apply.yml"


def approve_lines(step: Step, target: str, main: str = "main") -> list[str]:
    if step.digest is None:
        return []
    blocked = step.fresh is not None and bool(step.fresh.blocked)
    extra = " -f skip-blocked=true" if blocked else ""
    local = " --skip-blocked" if blocked else ""
    lines = [
        "",
        "If the plan on main (below) is what should happen, a person with write access approves exactly that plan "
        f"(digest `{step.digest}`); anything else keeps it from being applied:",
        "",
        "```sh",
        f"gh workflow run {_workflow_file()} --ref {main} -f approve={step.digest}{extra}",
        "```",
        "",
        f"(or, from a checkout of `{main}`: `reconciler ci apply --target {target} --approve {step.digest}{local}`).",
    ]
    if blocked:
        lines += [
            "",
            "The plan has blocked actions: approving it applies the rest and leaves them undone; "
            "to resolve them, change the manifests in a new pull request instead.",
        ]
    return lines


def _run_link() -> str:
    run = os.environ.get("GITHUB_RUN_ID")
    if not run:
        return ""
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    return f"{server}/{os.environ.get('GITHUB_REPOSITORY', '')}/actions/runs/{run}"


def step_markdown(step: Step, target: str, *, main: str = "main", plan_limit: int = 30_000) -> str:
    merge = step.merge
    lines = [f"### Epoptia apply to `{target}`: {_HEADLINE[step.status]}", ""]
    lines.append(f"Merge commit `{merge.commit[:12]}`" + (f", from #{merge.pr}" if merge.pr else "") + ".")
    if step.approved:
        lines.append("")
        lines.append(f"Applied the plan a person approved (digest `{step.digest}`).")
    if step.message:
        lines += ["", step.message if "\n" not in step.message else f"```\n{step.message}\n```"]
    if step.status is Status.APPLIED and step.report is not None:
        lines += ["", f"{len(step.report.done)} change(s) done in Epoptia."]
    if step.status is Status.WINDOW:
        lines += ["", "The scheduled apply job applies it when a window opens, under the same review rule."]
    if step.status is Status.HALTED:
        lines += [
            "",
            "Once Epoptia confirms the address is not blocked, clear the halt (for every job) with "
            "`gh workflow run epoptia-halt-clear.yml`, or `reconciler ci run -- halt clear` from a checkout.",
        ]
    if step.comparison is not None and not step.comparison.identical:
        lines += ["", "**What differs from the reviewed plan:**", "", *difference_lines(step.comparison)]
    if step.status in (Status.DIFFERENT, Status.STALE, Status.UNREVIEWED):
        lines += approve_lines(step, target, main)
    if step.fresh is not None and step.status.held:
        plan = render_markdown(step.fresh, limit=plan_limit).replace(MARKER, "").strip()
        lines += ["", "<details><summary>The plan on main</summary>", "", plan, "", "</details>"]
    link = _run_link()
    if link:
        lines += ["", f"<sub>[workflow run]({link})</sub>"]
    return APPLY_MARKER + "\n" + "\n".join(lines) + "\n"


def summary_markdown(outcome: DrainOutcome, *, main: str = "main") -> str:
    lines = [f"## Epoptia apply to `{outcome.target}`", ""]
    if outcome.still_held is not None:
        held = outcome.still_held
        pr = f" (#{held.get('pr')})" if held.get("pr") else ""
        lines.append(
            f"Still held for a person: merge `{str(held.get('commit'))[:12]}`{pr}, {held.get('status')}: "
            f"{held.get('why')}. Approve its plan (digest `{held.get('digest')}`) or change the manifests; "
            "the reasons are on the pull request."
        )
        return "\n".join(lines) + "\n"
    if not outcome.steps:
        lines.append(
            f"Nothing pending: `{main}` is applied" + (f" (at `{outcome.applied[:12]}`)." if outcome.applied else ".")
        )
        return "\n".join(lines) + "\n"
    lines += ["| merge | pull request | outcome |", "|---|---|---|"]
    for step in outcome.steps:
        pr = f"#{step.merge.pr}" if step.merge.pr else ""
        lines.append(f"| `{step.merge.commit[:12]}` {step.merge.title[:60]} | {pr} | {_HEADLINE[step.status]} |")
    lines.append("")
    for step in outcome.steps:
        if step.status.held or step.status is Status.WINDOW:
            lines.append(step_markdown(step, outcome.target, main=main, plan_limit=60_000).replace(APPLY_MARKER, ""))
            break
    return "\n".join(lines) + "\n"
