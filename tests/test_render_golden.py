"""Golden files: a reviewer reads tests/golden/plan.* as a user would see them.

Regenerate after an intended change with UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reconciler.planning import Drift, DriftCause, FieldChange, Plan, RefreshScope, Verb, make_plan
from reconciler.planning.planner import Tenant
from reconciler.render import Format, render, render_markdown
from reconciler.resources import Kind
from reconciler.state import ResourceState

from .planfixtures import FACTORY, NOW, applied, desired, not_started, started

GOLDEN = Path(__file__).parent / "golden"

BEFORE = (
    FACTORY
    + """\
  - {id: "131321", product: P-2, quantity: 5}
  - {id: "131322", product: P-2, quantity: 7, routing: ΚΟΠΗ}
---
kind: Product
id: P-3
name: Παλιό προϊόν
---
kind: WorkOrder
id: WO-3
client: C-2
lines:
  - {id: "131323", product: P-1, quantity: 40, target_day: 2026-12-04, routing: ΚΟΠΗ}
  - {id: "131324", product: P-1, quantity: 80, target_day: 2026-12-04, routing: ΚΟΠΗ}
  - id: "131325"
    product: P-2
    description: Παράθυρο ανοιγόμενο "Β" 900x1200
    quantity: 10
    target_day: 2026-12-09
    routing:
      - {workstation: LASER, job_task: Κοπή}
      - {workstation: ΔΙΑΤΡΗΣΗ}
      - {workstation: ΒΑΦΕΙΟ}
      - {workstation: ΣΥΣΚΕΥΑΣΙΑ}
"""
)

# The shared routing ΚΟΠΗ gets one step inserted (a name with quotes, '#…;' and angle brackets, as real
# data has); 131323 moves to the next week, 131324 grows; 131325's own routing moves a step and drops one.
NEW_STEP = """  - {workstation: 'ΥΑΛΟΘΕΤΗΣΗ "Β" [#2]; <νέα>'}\n"""

AFTER = (
    FACTORY.replace("quantity: 200", "quantity: 250")
    .replace(
        "  - {workstation: ΜΟΝΤΑΖ 1, job_task: Πλαίσιο}", NEW_STEP + "  - {workstation: ΜΟΝΤΑΖ 1, job_task: Πλαίσιο}"
    )
    .replace("comments: πρώτη παρτίδα", "comments: δεύτερη παρτίδα")
    .replace("    workflow: Συναρμολόγηση", "    workflow: Συναρμολόγηση\n    archived: true")
    .replace(
        "  - {id: C-2, name: Θερμοπρόσοψη ΟΕ}",
        "  - {id: C-2, name: Θερμοπρόσοψη ΟΕ}\n  - {id: C-3, name: Nordic Glazing AB}",
    )
    + """\
---
kind: WorkOrder
id: WO-2
client: C-3
lines:
  - id: "131400"
    product: P-2
    quantity: 60
    target_day: 2026-12-18
    routing:
      - {workstation: LASER, job_task: Κοπή}
      - {workstation: ΥΑΛΟΘΕΤΗΣΗ}
    custom_fields: {ΔΙΑΣΤΑΣΕΙΣ: 1200x1400}
  - {id: "131401", product: P-2, quantity: 12, comments: από το ERP, workflow: Συναρμολόγηση}
"""
    + BEFORE[BEFORE.index("---\nkind: WorkOrder\nid: WO-3") :]
    .replace("quantity: 40, target_day: 2026-12-04", "quantity: 40, target_day: 2026-12-11")
    .replace("quantity: 80", "quantity: 120")
    .replace(
        """      - {workstation: ΔΙΑΤΡΗΣΗ}
      - {workstation: ΒΑΦΕΙΟ}
      - {workstation: ΣΥΣΚΕΥΑΣΙΑ}""",
        """      - {workstation: ΒΑΦΕΙΟ}
      - {workstation: ΔΙΑΤΡΗΣΗ}""",
    )
)


@pytest.fixture
def every_kind_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Plan:
    monkeypatch.chdir(tmp_path)
    before = desired(Path("."), BEFORE)
    state = applied(
        before,
        {
            "131319": started(),
            "131322": started(done=2),
            **{i: not_started() for i in ("131320", "131321", "131323", "131324", "131325")},
        },
    )
    drift = (
        Drift(
            cause=DriftCause.OWNED,
            kind=Kind.WORK_ORDER_LINE,
            id="131321",
            message="line 131321 was changed in Epoptia",
            changes=(FieldChange(path="comments", before=None, after="αλλαγή στο UI"),),
        ),
        Drift(
            cause=DriftCause.PROGRESS,
            kind=Kind.WORK_ORDER_LINE,
            id="131319",
            message="line 131319: LASER: 80 → 120 done (in_progress)",
        ),
    )
    after = desired(Path("."), AFTER)
    # Line 131401 exists in Epoptia although the state does not know it: it is adopted, and its comment fixed.
    seen = {**after.resources["WorkOrderLine/131401"].payload, "comments": "από το UI"}
    existing = {
        "WorkOrderLine/131401": ResourceState(digest="drift:0", parent="WO-2", payload=seen, observed=not_started())
    }
    return make_plan(
        after,
        state,
        target="production",
        now=NOW,
        refresh=RefreshScope.FULL,
        pages_read=32,
        drift=drift,
        tenant=Tenant(existing=existing),
        adopt=True,
    )


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs; rerun with UPDATE_GOLDEN=1 and review"


def test_fixture_plan_has_every_action_kind_and_blocked_ones(every_kind_plan: Plan) -> None:
    kinds = {a.verb for a in every_kind_plan.runnable}
    assert kinds == set(Verb)
    assert {a.blocked.reason.value for a in every_kind_plan.blocked} == {
        "started-quantity",
        "started-routing",
        "started-delete",
    }


def test_text_golden(every_kind_plan: Plan) -> None:
    _check("plan.txt", render(every_kind_plan, Format.TEXT))


def test_markdown_golden(every_kind_plan: Plan) -> None:
    text = render(every_kind_plan, Format.MARKDOWN)
    _check("plan.md", text)
    assert "```mermaid\nflowchart TB" in text and ":::added" in text and ":::removed" in text and ":::moved" in text
    assert text.index("**Plan:") < text.index("Blocked") < text.index("Deleted and archived") < text.index("<details>")
    # The shared routing's change is drawn once, not once per line that uses it.
    assert text.count("#lt;νέα#gt;") == 1 and "used by 3 lines of 2 work orders" in text
    assert "| due week |" in text and "| workstation | due day | net pieces |" in text


def test_json_golden_round_trips(every_kind_plan: Plan) -> None:
    text = render(every_kind_plan, Format.JSON)
    _check("plan.json", text)
    data = json.loads(text)
    assert data["format_version"] == 2 and data["lineage"] and data["serial"] == 7
    assert data["summary"]["blocked"] == 3
    assert Plan.from_json(text) == every_kind_plan


def test_text_is_coloured_only_when_asked(every_kind_plan: Plan) -> None:
    assert "\x1b[" not in render(every_kind_plan, Format.TEXT)
    assert "\x1b[" in render(every_kind_plan, Format.TEXT, color=True)


def test_markdown_stays_under_the_comment_limit_and_says_so(every_kind_plan: Plan) -> None:
    many = every_kind_plan.model_copy(
        update={
            "actions": tuple(
                a.model_copy(update={"parent": f"WO-{i}"})
                for i in range(3000)
                for a in every_kind_plan.actions
                if a.id == "131400"
            )
        }
    )
    text = render_markdown(many, limit=20_000)
    assert len(text) <= 20_000
    assert "This comment shows part of the plan" in text and "reconciler show PLANFILE" in text
    assert "more work orders with" in text
