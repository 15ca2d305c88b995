"""The started-order policy table and its words, row by row: what a production planner reads in a blocked plan."""

from __future__ import annotations

import pytest

from reconciler.planning.plan import BlockReason
from reconciler.planning.policy import (
    DELETE_RULE,
    POLICY,
    Mutability,
    change_blocked,
    delete_blocked,
    progress_phrase,
    restore_blocked,
    rule_for,
)
from reconciler.resources import Kind
from reconciler.state import Observed, ResourceState, StepProgress

NOW = "2026-11-24T08:00:00+00:00"
LINE, WO = Kind.WORK_ORDER_LINE, Kind.WORK_ORDER


def line(quantity: int | None = 200, observed: Observed | None = None) -> ResourceState:
    payload = {"quantity": quantity} if quantity is not None else {}
    return ResourceState(payload=payload, digest="d", observed=observed)


def at(*steps: tuple[str | None, str, float], status: str = "production") -> Observed:
    return Observed(
        status=status,
        started=any(s != "not_started" or q > 0 for _, s, q in steps),
        observed_at=NOW,
        steps=tuple(StepProgress(workstation=w, status=s, qty_done=q) for w, s, q in steps),
    )


@pytest.mark.parametrize(
    ("kind", "path", "mutability", "reason"),
    [
        (LINE, "quantity", Mutability.BEFORE_START, BlockReason.STARTED_QUANTITY),
        (LINE, "workflow", Mutability.BEFORE_START, BlockReason.STARTED_WORKFLOW),
        (LINE, "routing", Mutability.BEFORE_START, BlockReason.STARTED_ROUTING),
        (LINE, "routing.steps", Mutability.BEFORE_START, BlockReason.STARTED_ROUTING),
        (LINE, "routing.steps[2]", Mutability.BEFORE_START, BlockReason.STARTED_ROUTING),
        (LINE, "routing.steps[0].workstation", Mutability.BEFORE_START, BlockReason.STARTED_ROUTING),
        (LINE, "routing.steps[11].job_task", Mutability.BEFORE_START, BlockReason.STARTED_ROUTING),
        (LINE, "routing.steps[0].bom", Mutability.ANY_TIME, None),
        (LINE, "routing.steps[3].bom[0].quantity", Mutability.ANY_TIME, None),
        (LINE, "routing.steps[1].custom_fields.ΧΡΩΜΑ", Mutability.ANY_TIME, None),
        (LINE, "routing.name", Mutability.ANY_TIME, None),
        (LINE, "product", Mutability.BEFORE_START, BlockReason.STARTED_PRODUCT),
        (LINE, "workorder", Mutability.BEFORE_START, BlockReason.STARTED_WORK_ORDER),
        (LINE, "status", Mutability.BEFORE_START, BlockReason.STARTED_STATUS),
        (LINE, "bom[1].unit", Mutability.ANY_TIME, None),
        (LINE, "custom_fields.ΔΙΑΣΤΑΣΕΙΣ", Mutability.ANY_TIME, None),
        (LINE, "comments", Mutability.ANY_TIME, None),
        (LINE, "target_day", Mutability.ANY_TIME, None),
        (LINE, "quantityX", Mutability.ANY_TIME, None),  # not a prefix at a field boundary: no rule, so any time
        (WO, "client", Mutability.BEFORE_START, BlockReason.STARTED_CLIENT),
        (WO, "comments", Mutability.ANY_TIME, None),
        (WO, "quantity", Mutability.ANY_TIME, None),  # a line's rule is not a work order's
        (Kind.CLIENT, "name", Mutability.ANY_TIME, None),
        (Kind.PRODUCT, "workflow", Mutability.ANY_TIME, None),
    ],
)
def test_rule_for_takes_the_longest_matching_row(
    kind: Kind, path: str, mutability: Mutability, reason: BlockReason | None
) -> None:
    rule = rule_for(kind, path)
    assert (rule.mutability, rule.reason) == (mutability, reason)


def test_the_table_marks_what_is_documented_and_what_is_ours() -> None:
    documented = {path for (kind, path), rule in POLICY.items() if kind is LINE and rule.documented}
    assert documented == {
        "quantity",
        "workflow",
        "routing",
        "routing.steps",
        "routing.steps[].workstation",
        "routing.steps[].job_task",
        "routing.steps[].bom",
        "routing.steps[].custom_fields",
        "bom",
        "custom_fields",
        "comments",
    }
    assert POLICY[(WO, "client")].documented and not POLICY[(LINE, "product")].documented
    assert [p for (k, p), r in POLICY.items() if not r.sent_when_unset] == ["status"]
    assert POLICY[(LINE, "quantity")].sent_when_unset
    assert (DELETE_RULE.reason, DELETE_RULE.noun, DELETE_RULE.documented) == (
        BlockReason.STARTED_DELETE,
        "deletion",
        True,
    )
    assert {r.noun for r in POLICY.values() if r.mutability is Mutability.BEFORE_START} == {
        "quantity",
        "workflow",
        "routing",
        "product",
        "work order",
        "status",
        "client",
    }


def test_progress_phrases() -> None:
    assert progress_phrase("7", line(observed=None)) == "line 7 has started in production"
    standby = Observed(status="production", started=False, observed_at=NOW)
    assert progress_phrase("7", line(observed=standby)) == "line 7 is released to production (status production)"
    two = at(("LASER", "completed", 200), ("ΜΟΝΤΑΖ 1", "in_progress", 120.5), ("ΒΑΦΕΙΟ", "not_started", 0))
    assert progress_phrase("7", line(observed=two)) == "line 7 has started at ΜΟΝΤΑΖ 1 (120.5 of 200 done)"
    assert progress_phrase("7", line(None, two)) == "line 7 has started at ΜΟΝΤΑΖ 1"
    whole = at(("LASER", "started", 40.0))
    assert progress_phrase("7", line(observed=whole)) == "line 7 has started at LASER (40 of 200 done)"
    nameless = at((None, "paused", 3))
    assert progress_phrase("7", line(observed=nameless)) == "line 7 has started in production (3 of 200 done)"
    assert progress_phrase("7", line(None, nameless)) == "line 7 has started in production"
    big = at(("LASER", "in_progress", 1234567.0))
    assert progress_phrase("7", line(2000000, big)) == "line 7 has started at LASER (1234567 of 2000000 done)"
    moved = at(("LASER", "not_started", 5))  # quantity done without a status: started all the same
    assert progress_phrase("7", line(observed=moved)) == "line 7 has started at LASER (5 of 200 done)"


def test_quantity_changes_get_advice_that_fits_the_direction() -> None:
    started = [("131319", line(observed=at(("LASER", "in_progress", 120))))]
    rule = rule_for(LINE, "quantity")
    assert change_blocked(rule, LINE, "131319", 200, 250, started) == (
        "line 131319 has started at LASER (120 of 200 done): quantity cannot change",
        "create a new line for the extra 50",
    )
    assert change_blocked(rule, LINE, "131319", 200, 150, started) == (
        "line 131319 has started at LASER (120 of 200 done): quantity cannot change",
        "keep quantity 200; to make only 150, let the shop floor stop there and archive the line",
    )
    assert change_blocked(rule, LINE, "131319", 200, None, started)[1] == "keep quantity 200"
    assert change_blocked(rule, LINE, "131319", None, 5, started)[1] == "keep quantity nothing"


@pytest.mark.parametrize(
    ("path", "advice"),
    [
        (
            "workflow",
            "keep the current workflow; create a new line with the new workflow for what is left, and archive "
            "this one when it is done",
        ),
        (
            "routing",
            "keep the current routing; create a new line with the new routing for what is left, and archive "
            "this one when it is done",
        ),
        (
            "product",
            "keep the current product; create a new line with the new product for what is left, and archive "
            "this one when it is done",
        ),
        ("workorder", "keep the line in its work order; create a new line in the other one for what is left"),
        ("status", "the shop floor runs the status of a started line; archive the line when it is done"),
    ],
)
def test_other_line_changes_get_their_own_advice(path: str, advice: str) -> None:
    started = [("9", line(observed=at(("LASER", "started", 0))))]
    rule = rule_for(LINE, path)
    message, got = change_blocked(rule, LINE, "9", "a", "b", started)
    assert message == f"line 9 has started at LASER (0 of 200 done): {rule.noun} cannot change"
    assert got == advice


def test_a_work_order_names_its_first_started_line_and_how_many_more() -> None:
    rule = rule_for(WO, "client")
    one = [("1", line(observed=at(("LASER", "started", 2))))]
    assert change_blocked(rule, WO, "WO-1", "C-1", "C-2", one) == (
        "work order WO-1 is in production (line 1 has started at LASER (2 of 200 done)): its client cannot change",
        "keep client 'C-1', or create a new work order for 'C-2'",
    )
    three = [*one, ("2", line(observed=None)), ("3", line(observed=None))]
    message, advice = change_blocked(rule, WO, "WO-1", None, "C-2", three)
    assert message == (
        "work order WO-1 is in production (line 1 has started at LASER (2 of 200 done) and 2 more): "
        "its client cannot change"
    )
    assert advice == "leave client out again, or create a new work order for 'C-2'"
    assert change_blocked(rule, WO, "WO-1", "C-1", None, one)[1] == (
        "keep client 'C-1', or create a new work order for nothing"
    )
    two = [*one, ("2", line(observed=None))]
    assert change_blocked(rule, WO, "WO-1", "C-1", "C-2", two)[0].endswith(
        "(2 of 200 done) and 1 more): its client cannot change"
    )


def test_deletions_and_restores() -> None:
    released = [("5", line(observed=Observed(status="production", started=False, observed_at=NOW)))]
    assert delete_blocked(LINE, "5", released) == (
        "line 5 is released to production (status production): it cannot be deleted",
        "archive it instead: put it back in the manifests with `archived: true`",
    )
    assert delete_blocked(WO, "WO-2", released) == (
        "work order WO-2 cannot be deleted: line 5 is released to production (status production)",
        "put it back in the manifests and set `archived: true` on its launched lines; Epoptia deletes only what was "
        "never launched",
    )
    assert restore_blocked("5") == (
        "line 5 is archived in Epoptia: an archived line cannot be brought back",
        "set `archived: true` again, and create a new line if more must be made",
    )
