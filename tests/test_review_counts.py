"""Every count in every summary equals what the plan and the report hold, over random plans."""

from __future__ import annotations

import random
import re
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.planning.plan import Plan, Verb
from reconciler.render.markdown import render_markdown
from reconciler.render.report import render_report
from reconciler.render.text import render_text
from reconciler.report import ApplyReport, Outcome, ResourceOutcome

from .review_plans import make_plan

SUMMARY = re.compile(r"Plan: (\d+) to create, (\d+) to update, (\d+) to archive, (\d+) to delete, (\d+) blocked\.")
small_plans = st.builds(
    make_plan,
    st.integers(0, 2**32).map(random.Random),
    st.integers(1, 300),
    risky=st.integers(0, 80),
    long_ids=st.booleans(),
    per_order=st.sampled_from([1, 4, 25]),
    drift=st.sampled_from([0, 3]),
)


def expected(plan: Plan) -> tuple[int, ...]:
    """Counted here from the actions, not from Plan.summary."""
    runnable = Counter(a.verb for a in plan.actions if a.blocked is None)
    blocked = sum(1 for a in plan.actions if a.blocked is not None)
    return (runnable[Verb.CREATE], runnable[Verb.UPDATE], runnable[Verb.ARCHIVE], runnable[Verb.DELETE], blocked)


def _number(text: str) -> int:
    return int(text.replace(",", ""))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(small_plans)
def test_text_and_markdown_counts_equal_the_plan(plan: Plan) -> None:
    want = expected(plan)
    for text in (render_text(plan), render_markdown(plan)):
        assert tuple(int(n) for n in SUMMARY.search(text).groups()) == want  # type: ignore[union-attr]
    md = render_markdown(plan)
    if want[4]:
        assert f"Blocked ({want[4]:,})" in md
    removed = want[2] + want[3]
    if removed:
        assert f"Deleted and archived ({removed:,})" in md
    # The groups' own counts (full, one line, or the closing "…and N more") add up to every action.
    changes = md[md.index("#### Changes by work order") :]
    changes = changes.split("<details><summary>Changed in Epoptia")[0].split("<details><summary>Production")[0]
    heads = re.findall(r"(?:</b>|\*\*): ((?:[\d,]+ (?:to \w+(?: \(state only\))?|blocked)(?:, )?)+)", changes)
    counted = sum(_number(n) for head in heads for n in re.findall(r"([\d,]+) (?:to|blocked)", head))
    more = re.search(r"more work orders? with ([\d,]+) changes?", changes)
    assert counted + (_number(more.group(1)) if more else 0) == len(plan.actions)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(small_plans, st.data())
def test_report_counts_equal_what_the_plan_asked_and_the_report_holds(plan: Plan, data: st.DataObject) -> None:
    outcomes = {}
    for action in plan.actions:
        outcome = (
            Outcome.BLOCKED
            if action.blocked
            else data.draw(st.sampled_from([Outcome.DONE, Outcome.DONE, Outcome.FAILED, Outcome.NOT_ATTEMPTED]))
        )
        outcomes[action.address] = ResourceOutcome(address=action.address, outcome=outcome)
    # A work order recorded with its lines: a "done" the plan did not ask for, which is not counted.
    outcomes["WorkOrder/CARRIED"] = ResourceOutcome(address="WorkOrder/CARRIED", outcome=Outcome.DONE)
    report = ApplyReport(outcomes=tuple(outcomes.values()))
    text = render_report(report, plan, "reconciler apply")
    done = [a for a in plan.runnable if outcomes[a.address].outcome is Outcome.DONE]
    match = re.search(r"Done: ([\d,]+) of ([\d,]+) planned changes?(?: \((.*)\))?\.", text)
    assert match is not None
    assert _number(match.group(1)) == len(done) and _number(match.group(2)) == len(plan.runnable)
    parts = re.findall(r"(\d[\d,]*) ([a-z]+)", match.group(3) or "")
    assert sum(_number(n) for n, _ in parts) == len(done)
    assert dict((w, _number(n)) for n, w in parts) == {
        {"create": "created", "update": "updated", "archive": "archived", "delete": "deleted"}[v.value]: n
        for v, n in Counter(a.verb for a in done).items()
    }
    for outcome, heading in (
        (Outcome.FAILED, "Failed"),
        (Outcome.NOT_ATTEMPTED, "Not attempted"),
        (Outcome.BLOCKED, "Blocked"),
    ):
        n = len(report.having(outcome))
        assert (f"{heading}: {n:,}" in text) == bool(n)
    not_attempted = report.having(Outcome.NOT_ATTEMPTED)
    if len(not_attempted) > 5:
        assert f"and {len(not_attempted) - 5:,} more" in text
        assert len([line for line in text.splitlines() if "Not attempted" in line]) == 1
