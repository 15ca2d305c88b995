"""Import: bootstrap manifests from a tenant filled by another route; the first plan is empty."""

from __future__ import annotations

from pathlib import Path

from reconciler.epoptia.profile import Operation as Op

from .e2e import Repo
from .emulator_process import EmulatorProcess
from .test_e2e_apply import operator_start


def fill_by_another_route(mes: EmulatorProcess) -> None:
    mes.write(Op.UPSERT_CLIENTS, [{"id": "C-7", "name": "Αλουμίνια Κρήτης ΑΕ"}, {"id": "C-8", "name": "Nordic AB"}])
    mes.write(
        Op.UPSERT_PRODUCTS,
        [{"id": "P-7", "name": "Προφίλ 60x40", "code": "ALU-6040"}, {"id": "P-8", "name": "Παράθυρο"}],
    )
    template = next(
        t["id"] for t in mes.call(Op.WORKFLOW_TEMPLATES).json()["workflows"] if t["name"] == "Διέλαση και Βαφή"
    )
    shared = [
        {"workstationName": "LASER", "job_tasks": [{"name": "Κοπή"}]},
        {"workstationName": "ΜΟΝΤΑΖ 1", "job_tasks": [], "customFields": [{"name": "ΧΡΩΜΑ", "value": "RAL 9016"}]},
    ]
    rows = []
    for i, (wo, client) in enumerate([("ERP-100", "C-7"), ("ERP-100", "C-7"), ("ERP-101", "C-8"), ("ERP-101", "C-8")]):
        row = {
            "workorderline_id": str(900 + i),
            "quantity": str(10 * (i + 1)),
            "production_status": "standby",
            "workorder": {"id": wo, "code": f"ΠΑΡ {wo}", "comments": "από το ERP" if wo == "ERP-100" else ""},
            "client": {"id": client},
            "product": {"id": "P-7" if i % 2 else "P-8"},
            "description": "Γραμμή",
            "target_day": f"2026-12-0{i + 1}",
            "customFields": [{"name": "ΔΙΑΣΤΑΣΕΙΣ", "value": f"{i}x40"}],
            "bom": [{"item": "ΜΠΙΛΙΕΤΑ", "quantity": "2.5", "unit": "kg"}] if i == 0 else [],
        }
        if i == 3:
            row["workflow_id"] = template
        elif i == 2:
            row["erp_routing"] = [{"workstationName": "ΒΑΦΕΙΟ", "job_tasks": []}]
        else:
            row["erp_routing"] = shared
        rows.append(row)
    assert {r["result"] for r in mes.write(Op.UPSERT_LINES, rows)} == {"created"}
    mes.write(Op.ARCHIVE_LINES, [{"workorderline_id": "902"}])


def test_import_then_plan_is_empty_then_an_edit_is_exactly_one_change(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    fill_by_another_route(emulator)
    root = tmp_path / "factory"
    root.mkdir()
    repo = Repo(root, emulator, manifests=False)
    operator_start(repo, "900", "LASER")
    imported = repo.run("import", "--out", "manifests")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "Imported: 2 Client, 2 Product, 1 Routing, 2 WorkOrder, 4 WorkOrderLine into manifests." in imported.stdout
    assert sorted(p.relative_to(root / "manifests").as_posix() for p in (root / "manifests").rglob("*.yaml")) == [
        "clients.yaml",
        "products.yaml",
        "routings.yaml",
        "work-orders/ERP-100.yaml",
        "work-orders/ERP-101.yaml",
    ]
    wo = (root / "manifests" / "work-orders" / "ERP-100.yaml").read_text(encoding="utf-8")
    assert (
        "routing: R-001" in wo and "ΔΙΑΣΤΑΣΕΙΣ: '0x40'" in wo and "target_day: 2026-12-01" in wo and "\\u" not in wo
    )  # Greek stays readable
    assert "status:" not in wo  # the shop floor runs the status of line 900; import never claims it
    other = (root / "manifests" / "work-orders" / "ERP-101.yaml").read_text(encoding="utf-8")
    # The list names no workflow (not a confirmed field): a line that runs a template is imported as the
    # steps it runs, and its route is never sent again unless someone changes it.
    assert "{workstation: ΔΙΕΛΑΣΗ}" in other and "{workstation: ΣΥΣΚΕΥΑΣΙΑ}" in other and "archived: true" in other

    assert repo.run("validate").returncode == 0
    assert repo.run("fmt", "--check").returncode == 0  # written in the house style
    plan = repo.run("plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout
    assert "No changes." in plan.stdout

    # The work order's comments are not in the list, so import could not write them; a line's are.
    assert "από το ERP" not in wo
    repo.edit("manifests/work-orders/ERP-100.yaml", "description: Γραμμή", "description: Γραμμή, επείγον")
    edited = repo.run("plan", "--detailed-exitcode")
    assert edited.returncode == 2
    assert "Plan: 0 to create, 1 to update, 0 to archive, 0 to delete, 0 blocked." in edited.stdout
    assert '~ description: "Γραμμή" -> "Γραμμή, επείγον"' in edited.stdout
    applied = repo.run("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert repo.emulator.stored("lines")["900"]["description"] == "Γραμμή, επείγον"
    # Comments the list could not show stay as Epoptia had them: a line row never sends what nobody owns.
    assert repo.emulator.stored("workorders")["ERP-100"]["comments"] == "από το ERP"
    assert repo.run("plan", "--detailed-exitcode").returncode == 0


def test_import_refuses_to_overwrite(tmp_path: Path, emulator: EmulatorProcess) -> None:
    fill_by_another_route(emulator)
    root = tmp_path / "factory"
    root.mkdir()
    repo = Repo(root, emulator)  # the sample manifests are already there
    result = repo.run("import", "--out", "manifests")
    assert result.returncode == 1 and "already holds manifests" in result.stderr
