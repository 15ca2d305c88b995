"""Epoptia's rules exactly, no silent data loss, drift a person can accept: against the emulator over HTTP.

The plans of these scenarios are golden files made from real runs
(tests/golden/domain-*.txt): a reviewer reads them as a planner would.
Regenerate with UPDATE_GOLDEN=1 and read the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from reconciler.epoptia.profile import Operation as Op
from reconciler.state import StateStore

from .e2e import WO_0412, Repo
from .emulator_process import EmulatorProcess
from .test_e2e_apply import operator_start

GOLDEN = Path(__file__).parent / "golden"
ROUTINGS = "manifests/routings/profiles.yaml"
ASSEMBLY = "manifests/routings/assembly.yaml"


@pytest.fixture
def repo(tmp_path: Path, emulator: EmulatorProcess) -> Repo:
    root = tmp_path / "factory"
    root.mkdir()
    repo = Repo(root, emulator)
    applied = repo.run("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    return repo


def golden(name: str, text: str) -> None:
    text = re.sub(r"lineage [0-9a-f-]{36}", "lineage <lineage>", text)
    text = re.sub(r"state serial \d+", "state serial <n>", text)
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs; rerun with UPDATE_GOLDEN=1 and review"


def test_step_custom_fields_change_on_a_started_line_and_its_structure_does_not(repo: Repo) -> None:
    operator_start(repo, "131319", "LASER")
    repo.edit(ROUTINGS, "ΧΡΩΜΑ: RAL 9016", "ΧΡΩΜΑ: RAL 7016")  # rule 2: custom fields change at any time
    plan = repo.run("plan", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    golden("domain-step-custom-fields.txt", plan.stdout)
    applied = repo.run("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    steps = repo.emulator.stored("lines")["131319"]["steps"]
    assert [s["custom_fields"] for s in steps if s["workstation"] == "ΒΑΦΕΙΟ"] == [
        [{"name": "ΧΡΩΜΑ", "value": "RAL 7016"}]
    ]
    assert repo.emulator.inspect("alarms")["alarms"] == []
    assert repo.run("plan", "--detailed-exitcode").returncode == 0

    # The structure is rule 1: a new step on the started line is blocked, the other line takes it.
    repo.edit(ROUTINGS, "  - workstation: ΒΑΦΕΙΟ", "  - workstation: ΣΥΣΚΕΥΑΣΙΑ\n  - workstation: ΒΑΦΕΙΟ")
    blocked = repo.run("plan", "--detailed-exitcode", "--format", "json")
    assert blocked.returncode == 1
    assert '"started-routing"' in blocked.stdout and '"id": "131350"' in blocked.stdout


def test_a_shared_routing_edit_leaves_archived_lines_as_they_ran(repo: Repo) -> None:
    repo.edit(
        WO_0412,
        "    routing: ΣΥΝΑΡΜΟΛΟΓΗΣΗ\n    custom_fields:\n      ΔΙΑΣΤΑΣΕΙΣ: 900x2100",
        "    routing: ΣΥΝΑΡΜΟΛΟΓΗΣΗ\n    custom_fields:\n      ΔΙΑΣΤΑΣΕΙΣ: 900x2100\n    archived: true",
    )
    assert repo.run("apply", "--auto-approve").returncode == 0
    repo.edit(
        ASSEMBLY,
        "  - workstation: ΠΟΙΟΤΙΚΟΣ ΕΛΕΓΧΟΣ",
        "  - workstation: ΣΥΣΚΕΥΑΣΙΑ\n  - workstation: ΠΟΙΟΤΙΚΟΣ ΕΛΕΓΧΟΣ",
    )
    plan = repo.run("plan", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr  # never blocked by the archived line
    assert not re.search(r"WorkOrderLine/131321\b.*will be", plan.stdout)  # no action on the archived line
    assert "131321" in plan.stdout.split("Plan:")[1]  # ... it is named among those that keep their steps
    golden("domain-shared-routing-archived.txt", plan.stdout)
    assert repo.run("apply", "--auto-approve").returncode == 0
    assert repo.run("plan", "--detailed-exitcode").returncode == 0


def test_only_owned_fields_travel_and_what_someone_typed_in_epoptia_stays(repo: Repo) -> None:
    # Someone fills the client's phone in Epoptia's web UI; the manifests never set it.
    repo.emulator.write(Op.UPSERT_CLIENTS, [{"id": "C-1003", "name": "Nordic Glazing AB", "phone": "+46 31 700 00"}])
    repo.edit("manifests/clients.yaml", "name: Nordic Glazing AB", "name: Nordic Glazing Sverige AB")
    applied = repo.run("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    client = repo.emulator.stored("clients")["C-1003"]
    assert client["name"] == "Nordic Glazing Sverige AB" and client["phone"] == "+46 31 700 00"
    assert client["email"] == "orders@nordicglazing.se" and client["vat_rate"] == 0
    # A field the manifests stop setting is cleared: that is an owned change.
    repo.edit("manifests/clients.yaml", "    email: orders@nordicglazing.se\n", "")
    assert repo.run("apply", "--auto-approve").returncode == 0
    assert repo.emulator.stored("clients")["C-1003"]["email"] == ""


def test_a_lost_state_never_creates_what_exists_and_adoption_keeps_the_started_rules(repo: Repo) -> None:
    operator_start(repo, "131319", "LASER")
    store = StateStore(repo.root / "state" / "test.json")
    for path in (store.path, store.backup_path, store.wal_path):
        path.unlink(missing_ok=True)
    repo.edit(WO_0412, "quantity: 200", "quantity: 250")
    plan = repo.run("plan", "--detailed-exitcode")
    assert plan.returncode == 1, plan.stdout
    assert "[exists-in-epoptia]" in plan.stdout and "already exists in Epoptia" in plan.stdout
    # Clients and products are sent again (an upsert of the same; Epoptia has no read of them); lines never.
    assert not re.search(r"WorkOrder(Line)?/\S+ (in WorkOrder/\S+ )?will be created", plan.stdout), plan.stdout
    adopt = repo.run("plan", "--adopt", "--detailed-exitcode")
    assert adopt.returncode == 1  # the quantity change to the started line is refused
    golden("domain-adopt-after-lost-state.txt", adopt.stdout)
    assert "[started-quantity]" in adopt.stdout and "will be adopted" in adopt.stdout
    applied = repo.run("apply", "--adopt", "--auto-approve", "--skip-blocked")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert repo.emulator.inspect("alarms")["alarms"] == []  # nothing was sent to the started line's quantity
    assert repo.emulator.stats()["creates_by_id"].get("131319") == 1  # created once, never again
    after = repo.run("plan", "--detailed-exitcode", "--skip-blocked")
    assert after.returncode == 0 and "[started-quantity]" in after.stdout, after.stdout


def test_unknown_workflow_names_are_refused_at_plan_time_with_the_closest(repo: Repo) -> None:
    repo.edit(
        "manifests/work-orders/2026-12/WO-26-0413.yaml", "workflow: Διέλαση και Βαφή", "workflow: Διέλαση και Βαφι"
    )
    plan = repo.run("plan", "--detailed-exitcode")
    assert plan.returncode == 1
    assert (
        "workflow 'Διέλαση και Βαφι' is not a workflow template in Epoptia; did you mean 'Διέλαση και Βαφή'?"
        in plan.stderr
    )
    repo.edit("manifests/products.yaml", "workflow: Διέλαση και Ανοδίωση", "workflow: Ανοδίωση")
    products = repo.run("plan", "--detailed-exitcode")
    assert products.returncode == 1 and "Product/P-2001: workflow 'Ανοδίωση'" in products.stderr


def test_refresh_only_records_what_epoptia_has_and_drift_then_counts_from_there(repo: Repo) -> None:
    repo.emulator.write(
        Op.UPSERT_LINES,
        [
            {
                "workorderline_id": "131350",
                "quantity": 150,
                "workorder": {"id": "WO-26-0415"},
                "client": {"id": "C-1001"},
                "product": {"id": "P-2002"},
                "comments": "αλλαγή στο UI",
            }
        ],
    )
    assert repo.run("drift", "--detailed-exitcode").returncode == 2
    plan = repo.run("plan", "--refresh-only")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    golden("domain-refresh-only.txt", plan.stdout)
    recorded = repo.run("apply", "--refresh-only", "--auto-approve")
    assert recorded.returncode == 0 and "nothing was sent" in recorded.stdout, recorded.stdout
    assert repo.run("drift", "--detailed-exitcode").returncode == 0  # accepted: since the last refresh
    again = repo.run("plan", "--detailed-exitcode", "--refresh", "full")
    assert again.returncode == 2, again.stdout  # the manifests still own what Epoptia changed
    assert '- comments: "αλλαγή στο UI"' in again.stdout and "~ quantity: 150 -> 1000" in again.stdout


def test_a_change_that_cannot_be_sent_is_blocked_not_planned_and_dropped(repo: Repo) -> None:
    operator_start(repo, "131319", "LASER")
    # A started line's routing gets a new step (refused) and a new name (a label): both wait, together.
    repo.edit(ROUTINGS, "id: ΚΟΠΗ-ΒΑΦΗ", "id: ΚΟΠΗ-ΒΑΦΗ-2")
    for path in ("manifests/work-orders/2026-12/WO-26-0412.yaml", "manifests/work-orders/2026-12/WO-26-0415.yaml"):
        repo.edit(path, "routing: ΚΟΠΗ-ΒΑΦΗ", "routing: ΚΟΠΗ-ΒΑΦΗ-2")
    repo.edit(ROUTINGS, "  - workstation: ΔΙΑΤΡΗΣΗ", "  - workstation: ΦΡΕΖΑ\n  - workstation: ΔΙΑΤΡΗΣΗ")
    assert repo.run("apply", "--auto-approve", "--skip-blocked").returncode == 0
    for _ in range(2):
        after = repo.run("plan", "--detailed-exitcode", "--skip-blocked", "--format", "json")
        assert after.returncode == 0, after.stdout  # only blocked actions are left
        again = repo.run("apply", "--auto-approve", "--skip-blocked")
        assert "Nothing to apply." in again.stdout, again.stdout


def test_operator_failures_name_the_operator_not_the_api_key(repo: Repo) -> None:
    login = repo.run("operator", "login", "--username", "demo", "--password", "wrong")
    assert login.returncode == 1 and "operator" in login.stderr and "refused the API key" not in login.stderr
    start = repo.run(
        "station",
        "start",
        "--workstation",
        str(repo.emulator.workstation("LASER")),
        "--line",
        "131319",
        env={"EPOPTIA_OPERATOR_TOKEN": "not-a-token"},
    )
    assert start.returncode == 1 and "operator" in start.stderr and "refused the API key" not in start.stderr


LINE_131319 = """  - id: 131319
    code: 0412-01
    product: P-2001
    quantity: 200
    target_day: 2026-12-04
    routing: ΚΟΠΗ-ΒΑΦΗ
    custom_fields:
      ΔΙΑΣΤΑΣΕΙΣ: 60x40x6000
      ΧΡΩΜΑ: RAL 9016
"""


def test_a_started_line_moved_to_a_new_work_order_stays_and_its_other_changes_go_where_it_is(repo: Repo) -> None:
    operator_start(repo, "131319", "LASER")
    repo.edit(WO_0412, LINE_131319, "")
    moved = LINE_131319.replace("    quantity: 200\n", "    quantity: 200\n    comments: νέα παρτίδα\n")
    (repo.root / "manifests/work-orders/2026-12/WO-26-0499.yaml").write_text(
        f"kind: WorkOrder\nid: WO-26-0499\nclient: C-1001\nlines:\n{moved}", encoding="utf-8"
    )
    plan = repo.run("plan", "--detailed-exitcode", "--format", "json")
    assert plan.returncode == 1, plan.stdout + plan.stderr
    reasons = {
        (f"{a['kind']}/{a['id']}", (a.get("blocked") or {}).get("reason")) for a in json.loads(plan.stdout)["actions"]
    }
    assert ("WorkOrderLine/131319", "started-work-order") in reasons
    # The new work order would reach Epoptia only on that line: it waits with it.
    assert ("WorkOrder/WO-26-0499", "no-line-to-carry") in reasons

    applied = repo.run("apply", "--auto-approve", "--skip-blocked")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    line = repo.emulator.stored("lines")["131319"]
    assert line["workorder_id"] == "WO-26-0412" and line["comments"] == "νέα παρτίδα"  # sent where it is
    assert "WO-26-0499" not in repo.emulator.stored("workorders")
    assert repo.emulator.inspect("alarms")["alarms"] == []  # nothing was sent that Epoptia had to refuse
    after = json.loads(repo.run("plan", "--format", "json").stdout)
    assert [f"{a['kind']}/{a['id']}" for a in after["actions"] if not a.get("blocked")] == []
