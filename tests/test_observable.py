"""What the list does not return can never show as drift, a read-back difference or a stale plan.

A property over random applied lines, random rows (every field a rich read could
carry, with random values) and random observable sets: every field path that
refresh reports as changed is one the target's list returns.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.epoptia.listing import TenantLines
from reconciler.epoptia.profile import ALL_FIELDS, DEFAULT_PROFILE
from reconciler.epoptia.reading import merge_duplicates, observed_line, read_rows
from reconciler.planning.diff import field_changes
from reconciler.planning.plan import Action, Plan, Verb
from reconciler.planning.staleness import stale_reasons
from reconciler.refresh import refresh
from reconciler.resources import Kind, compact
from reconciler.state import ResourceState, State

text = st.text(alphabet="abcΑΒΓ 0123-", min_size=0, max_size=8)
names = st.sampled_from(["LASER", "ΜΟΝΤΑΖ 1", "ΒΑΦΕΙΟ"])


@st.composite
def applied_line(draw) -> dict:
    steps = [
        compact(
            {
                "workstation": draw(names),
                "job_task": draw(st.none() | text),
                "bom": draw(
                    st.lists(
                        st.fixed_dictionaries({"item": text.filter(bool), "quantity": st.integers(1, 9)}), max_size=1
                    )
                ),
                "custom_fields": draw(st.dictionaries(text.filter(bool), text, max_size=1)),
            }
        )
        for _ in range(draw(st.integers(1, 3)))
    ]
    return compact(
        {
            "product": "P-1",
            "quantity": draw(st.integers(1, 999)),
            "code": draw(text),
            "description": draw(text),
            "target_day": draw(st.none() | st.just("2026-12-04")),
            "comments": draw(text),
            "over_under_percentage": draw(st.none() | st.integers(0, 20)),
            "tags": draw(st.lists(text.filter(bool), max_size=2)),
            "bom": draw(
                st.lists(st.fixed_dictionaries({"item": text.filter(bool), "quantity": st.integers(1, 9)}), max_size=1)
            ),
            "custom_fields": draw(st.dictionaries(text.filter(bool), text, max_size=2)),
            "workorder": "WO-1",
            "routing": {"name": "R", "steps": steps},
        }
    )


@st.composite
def rich_row(draw) -> dict:
    def maybe(key, value):
        return {key: value} if draw(st.booleans()) else {}

    steps = [
        {
            "elementId": i,
            "workstationName": draw(names),
            "status": draw(st.sampled_from(["not_started", "started"])),
            "qty_done": draw(st.integers(0, 5)),
            **maybe("job_tag", {"name": draw(text)}),
            **maybe("bom", [{"item": draw(text), "quantity": draw(st.integers(1, 9))}]),
            **maybe("customFields", [{"name": draw(text.filter(bool)), "value": draw(text)}]),
        }
        for i in range(draw(st.integers(0, 3)))
    ]
    return {
        "workorderline_id": 131319,
        **maybe("description", draw(text)),
        **maybe("quantity", draw(st.integers(1, 999))),
        **maybe("target_day", draw(st.sampled_from([None, "2026-12-05", "2026-12-05T10:00:00Z"]))),
        **maybe("comments", draw(text)),
        **maybe("workorderline_code", draw(text)),
        **maybe("overUnderPercentage", draw(st.integers(0, 20))),
        **maybe("wol_tag", [{"name": draw(text)}]),
        **maybe("bom", [{"item": draw(text), "quantity": 1}]),
        **maybe("files", [{"name": draw(text), "path": "https://x/y"}]),
        **maybe("customFields", [{"id": 1, "name": draw(text.filter(bool)), "value": draw(text)}]),
        **maybe("product", {"name": draw(st.sampled_from(["Προφίλ", "Άλλο"]))}),
        **maybe("workorder", {"id": draw(st.sampled_from(["WO-1", "WO-2"]))}),
        "production_status": "standby",
        "erp_routing": steps,
    }


def observable(path: str, seen: set[str]) -> bool:
    """Whether the list returns what a changed path is about: routing.steps[2].bom -> routing.bom."""
    match = re.match(r"routing\.steps\[\d+\]\.(\w+)", path)
    if match:
        return f"routing.{match.group(1)}" in seen
    if path.startswith("routing.steps"):  # a step added or removed: seen wherever the list shows steps
        return bool({"routing.workstation", "routing.job_task"} & seen)
    return re.split(r"[.\[]", path, maxsplit=1)[0] in seen


@settings(max_examples=300, deadline=None)
@given(applied=applied_line(), row=rich_row(), seen=st.sets(st.sampled_from(sorted(ALL_FIELDS))))
def test_only_observable_fields_ever_differ(applied: dict, row: dict, seen: set) -> None:
    profile = DEFAULT_PROFILE.model_copy(update={"observable": frozenset(seen)})
    (line,), _ = read_rows([row], 1)
    observed = observed_line(line, applied, profile, work_order=line.work_order_id)
    for change in field_changes(applied, observed):
        assert observable(change.path, seen), (change.path, sorted(seen))

    # The same through refresh (drift), and a saved plan made before it (staleness).
    entry = ResourceState(digest="d", parent="WO-1", payload=applied)
    snapshot = State(resources={"WorkOrderLine/131319": entry}).snapshot()
    by_id, _ = merge_duplicates([line])
    result = refresh(snapshot, TenantLines(by_id=by_id, pages=1), profile)
    for drift in result.drift:
        for change in drift.changes:
            assert observable(change.path, seen), (change.path, sorted(seen))
    view = snapshot.overlay(result.changes)
    plan = Plan(
        target="t",
        lineage=None,
        serial=0,
        created_at="now",
        actions=(
            Action(
                verb=Verb.UPDATE,
                kind=Kind.WORK_ORDER_LINE,
                id="131319",
                parent="WO-1",
                prior_digest="d",
                observed_fingerprint=view["WorkOrderLine/131319"].observed.fingerprint(),
            ),
        ),
    )
    reasons = stale_reasons(plan, view, "t")
    changed = bool(field_changes(applied, observed))
    assert bool(reasons) == changed, (reasons, changed)  # stale only when an observable field moved


def test_a_row_of_confirmed_fields_matches_what_was_applied() -> None:
    applied = {
        "product": "P-1",
        "quantity": 200,
        "description": "Προφίλ",
        "target_day": "2026-12-04",
        "code": "0412-01",
        "tags": ["επείγον"],
        "bom": [{"item": "ΜΠΙΛΙΕΤΑ", "quantity": 10}],
        "custom_fields": {"ΔΙΑΣΤΑΣΕΙΣ": "60x40"},
        "workorder": "WO-1",
        "routing": {
            "name": "R",
            "steps": [{"workstation": "LASER", "job_task": "Κοπή", "custom_fields": {"ΧΡΩΜΑ": "RAL 9016"}}],
        },
    }
    row = {
        "workorderline_id": 131319,
        "description": "Προφίλ",
        "quantity": "200",
        "target_day": "2026-12-04T00:00:00Z",
        "production_status": "production",
        "comments": "",
        "client": {"name": "Αιγαίου"},
        "product": {"name": "Προφίλ"},
        "customFields": [{"id": 7, "name": "ΔΙΑΣΤΑΣΕΙΣ", "value": "60x40"}],
        "workorder": {"id": "WO-1"},
        "erp_routing": [
            {
                "elementId": 1,
                "previous": [],
                "next": [],
                "workstationName": "LASER",
                "status": "started",
                "job_tag": {"name": "Κοπή"},
                "qty_done": 3,
            }
        ],
    }
    (line,), problems = read_rows([row], 1)
    assert problems == [] and line.started and line.launched
    from reconciler.epoptia.reading import Names

    names = Names(product_names={"P-1": "Προφίλ"}, client_names={})
    assert observed_line(line, applied, DEFAULT_PROFILE, names, "WO-1") == applied
