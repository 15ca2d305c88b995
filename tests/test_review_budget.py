"""The pull-request comment always arrives: under GitHub's limit, summary first, every blocked and removed line named.

A property test at 1, 100 and 10,000 changed lines (blocked plus deleted or archived ones up to
1,000, ids short or long, work orders of 1 to 1,000 lines, thousands of drift messages).
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings

from reconciler.planning.plan import Plan, Verb
from reconciler.render.describe import summary_line
from reconciler.render.markdown import GITHUB_COMMENT_LIMIT, render_markdown

from .review_plans import make_plan, plans

EXAMPLES = {1: 60, 100: 40, 10_000: 8}


def check_comment(plan: Plan) -> str:
    text = render_markdown(plan)
    assert len(text) < GITHUB_COMMENT_LIMIT
    assert text.startswith("<!-- epoptia-reconciler-plan -->")
    assert f"**{summary_line(plan.summary)}**" in text
    assert text.index("**Plan:") < 300
    named = [a for a in plan.actions if a.blocked is not None or a.verb in (Verb.DELETE, Verb.ARCHIVE)]
    for action in named:
        assert action.id in text, action.address
    if plan.blocked:
        assert f"Blocked ({len(plan.blocked):,})" in text
    shown = sum(1 for a in plan.actions if a.id in text)
    if shown < len(plan.actions) or "more work order" in text:
        assert "This comment shows part of the plan" in text and "reconciler show PLANFILE" in text
    return text


@pytest.mark.parametrize("changed", sorted(EXAMPLES))
def test_any_plan_fits_the_comment_with_the_summary_and_every_blocked_and_removed_line(changed: int) -> None:
    @settings(max_examples=EXAMPLES[changed], deadline=None, suppress_health_check=list(HealthCheck))
    @given(plans(changed))
    def run(plan: Plan) -> None:
        check_comment(plan)

    run()


def test_ten_thousand_blocked_lines_with_long_ids_are_counted_not_dropped() -> None:
    plan = make_plan(random.Random(1), 10_000, risky=10_000, long_ids=True, per_order=1, drift=3_000)
    text = render_markdown(plan)
    assert len(text) < GITHUB_COMMENT_LIMIT
    assert f"**{summary_line(plan.summary)}**" in text
    assert "Too many to list here; every one is in the full plan." in text
    assert "This comment shows part of the plan" in text
    blocked = len(plan.blocked)
    assert f"Blocked ({blocked:,})" in text and f"started-quantity: {blocked:,} resources in" in text


def test_a_small_plan_is_shown_whole() -> None:
    plan = make_plan(random.Random(2), 12, risky=3, long_ids=False, per_order=4)
    text = check_comment(plan)
    assert "This comment shows part of the plan" not in text
    assert all(a.id in text for a in plan.actions)
