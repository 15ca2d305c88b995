"""Contract tests of the emulator over real HTTP: every operation, every rule on both sides.

The list is read in the confirmed shape (the default); what only a richer tenant would show is
checked through the admin routes (the database as stored) or on an emulator with read_shape="rich".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.epoptia.profile import DEFAULT_PROFILE
from reconciler.epoptia.profile import Operation as Op

from .emulator_process import EmulatorProcess


def client(cid="C-1", **kw):
    return {"id": cid, "name": "Κατασκευαστική Αιγαίου ΑΕ", "kind": "client", **kw}


def product(pid="P-1", **kw):
    return {"id": pid, "name": "Προφίλ 60x40", "code": "ALU-6040", **kw}


def routing(*steps):
    return [{"workstationName": ws, "job_tasks": [{"name": task}] if task else []} for ws, task in steps]


def line(lid="131319", qty="200", wo="WO-1", cid="C-1", pid="P-1", **kw):
    row = {
        "workorderline_id": lid,
        "workorderline_code": f"{lid}-01",
        "production_status": "standby",
        "description": "Προφίλ",
        "quantity": qty,
        "target_day": "2026-12-04",
        "comments": "",
        "workorder": {"id": wo, "code": f"ΠΑΡ-{wo}", "comments": "", "files": []},
        "client": {"id": cid},
        "product": {"id": pid},
        "customFields": [{"name": "ΔΙΑΣΤΑΣΕΙΣ", "value": "60x40"}],
        "bom": [],
    }
    if "erp_routing" not in kw and "workflow_id" not in kw:
        row["erp_routing"] = routing(("LASER", "Κοπή"), ("ΜΟΝΤΑΖ 1", "Πλαίσιο"))
    row.update(kw)
    return row


# Exactly the fields EPOPTIA_API.md has seen in a live tenant's list.
CONFIRMED_LINE_KEYS = {
    "workorderline_id",
    "description",
    "quantity",
    "target_day",
    "production_status",
    "comments",
    "client",
    "product",
    "customFields",
    "erp_routing",
    "workorder",
}
CONFIRMED_STEP_KEYS = {"elementId", "previous", "next", "workstationName", "status", "job_tag", "qty_done"}


def seeded(emulator: EmulatorProcess) -> EmulatorProcess:
    """Two clients and a product, which every line below refers to."""
    # Checked in the database, so that tenants whose write answers carry no results can be seeded too.
    assert emulator.call(Op.UPSERT_CLIENTS, [client(), client("C-2", name="Θερμοπρόσοψη ΟΕ")]).status_code == 200
    assert emulator.call(Op.UPSERT_PRODUCTS, [product()]).status_code == 200
    assert (set(emulator.stored("clients")), set(emulator.stored("products"))) == ({"C-1", "C-2"}, {"P-1"})
    return emulator


@pytest.fixture
def mes(emulator: EmulatorProcess) -> EmulatorProcess:
    return seeded(emulator)


@pytest.fixture
def rich_mes(tmp_path: Path) -> Iterator[EmulatorProcess]:
    """A seeded emulator that lists every stored field (read_shape="rich")."""
    process = EmulatorProcess(tmp_path / "rich.sqlite", read_shape="rich").start()
    try:
        yield seeded(process)
    finally:
        process.stop()


def start_line(mes: EmulatorProcess, lid: str = "131319", station: str = "LASER") -> tuple[str, int]:
    token = mes.call(Op.OPERATOR_LOGIN, {"username": "demo", "password": "demo"}).json()["token"]
    ws = mes.workstation(station)
    response = mes.call(
        Op.WORKSTATION_CONTROL,
        {"action": "start", "workstation_id": ws, "workorderline_id": lid},
        headers={"Operator-Token": token},
    )
    assert response.status_code == 200, response.text
    return token, ws


# --- authentication and headers ---------------------------------------------------------------


def test_missing_and_wrong_key_are_refused(emulator: EmulatorProcess) -> None:
    path = DEFAULT_PROFILE.endpoint(Op.LIST_LINES).path
    assert emulator.http.get(path, headers={"X-Auth-Token": ""}).status_code == 401
    wrong = emulator.http.get(path, headers={"X-Auth-Token": "nope"})
    assert wrong.status_code == 401 and "not recognised" in wrong.json()["error"]
    assert emulator.http.get(path).status_code == 200


def test_a_key_unused_for_60_days_expires_and_a_used_one_does_not(emulator: EmulatorProcess) -> None:
    emulator.emulator_post("clock", {"advance_days": 59})
    assert emulator.call(Op.LIST_LINES).status_code == 200  # used on day 59: the 60 days start again
    emulator.emulator_post("clock", {"advance_days": 59})
    assert emulator.call(Op.LIST_LINES).status_code == 200
    emulator.emulator_post("clock", {"advance_days": 61})
    expired = emulator.call(Op.LIST_LINES)
    assert expired.status_code == 401 and "expired" in expired.json()["error"]


def test_non_json_accept_and_content_type_and_invalid_json_are_refused(mes: EmulatorProcess) -> None:
    path = DEFAULT_PROFILE.endpoint(Op.UPSERT_CLIENTS).path
    assert (
        mes.http.get(DEFAULT_PROFILE.endpoint(Op.LIST_LINES).path, headers={"Accept": "text/html"}).status_code == 406
    )
    assert mes.http.post(path, content=b"data", headers={"Content-Type": "text/plain"}).status_code == 415
    bad = mes.http.post(path, content=b'{"data": [', headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("invalid JSON")


def test_unknown_command_answers_epoptias_exact_400(emulator: EmulatorProcess) -> None:
    response = emulator.http.get("/api/3.03/workorderlinez")
    assert response.status_code == 400
    assert response.text == "Command `workorderlinez` for api version 3.03 not found"


# --- reading ------------------------------------------------------------------------------------


def test_paged_get_has_the_confirmed_shape(mes: EmulatorProcess) -> None:
    rows = [line(str(131000 + i), qty=i + 1) for i in range(150)]
    assert {r["result"] for r in mes.write(Op.UPSERT_LINES, rows)} == {"created"}
    first = mes.call(Op.LIST_LINES, params={"page": 1, "limit": 100}).json()
    second = mes.call(Op.LIST_LINES, params={"page": 2, "limit": 100}).json()
    assert set(first) == {"workorderLines", "numberOfPages"} and first["numberOfPages"] == 2
    assert len(first["workorderLines"]) == 100 and len(second["workorderLines"]) == 50
    wol = first["workorderLines"][0]
    assert wol["workorderline_id"] == 131000 and wol["quantity"] == 1 and wol["target_day"] == "2026-12-04"
    assert wol["production_status"] == "standby" and wol["client"]["name"] == "Κατασκευαστική Αιγαίου ΑΕ"
    assert wol["product"]["name"] == "Προφίλ 60x40" and wol["workorder"]["id"] == "WO-1"
    assert wol["customFields"] == [{"id": 1, "name": "ΔΙΑΣΤΑΣΕΙΣ", "value": "60x40"}]
    step1, step2 = wol["erp_routing"]
    assert (step1["workstationName"], step1["job_tag"], step1["status"], step1["qty_done"]) == (
        "LASER",
        {"name": "Κοπή"},
        "not_started",
        0,
    )
    assert step1["next"] == [step2["elementId"]] and step2["previous"] == [step1["elementId"]]


def test_the_default_list_returns_exactly_the_confirmed_fields(mes: EmulatorProcess) -> None:
    mes.write(
        Op.UPSERT_LINES,
        [
            line(
                bom=[{"item": "ΜΠΙΛΙΕΤΑ", "quantity": 3}],
                wol_tag=[{"id": "", "name": "urgent"}],
                overUnderPercentage="5",
            )
        ],
    )
    (wol,) = mes.lines().values()
    assert set(wol) == CONFIRMED_LINE_KEYS
    assert {step_key for step in wol["erp_routing"] for step_key in step} == CONFIRMED_STEP_KEYS
    assert set(wol["client"]) == {"name"} and set(wol["product"]) == {"name"} and set(wol["workorder"]) == {"id"}
    assert set(wol["erp_routing"][0]["job_tag"]) == {"name"}
    assert {k for cf in wol["customFields"] for k in cf} == {"id", "name", "value"}


def test_the_rich_list_adds_what_is_stored(rich_mes: EmulatorProcess) -> None:
    rich_mes.write(Op.UPSERT_LINES, [line(wol_tag=[{"id": "", "name": "urgent"}], overUnderPercentage="5")])
    wol = rich_mes.lines()["131319"]
    assert set(wol) - CONFIRMED_LINE_KEYS == {
        "workorderline_code",
        "overUnderPercentage",
        "wol_tag",
        "files",
        "bom",
        "workflow",
    }
    assert wol["client"] == {"id": "C-1", "name": "Κατασκευαστική Αιγαίου ΑΕ"}
    assert wol["product"] == {"id": "P-1", "name": "Προφίλ 60x40", "code": "ALU-6040"}
    assert wol["workorder"] == {"id": "WO-1", "code": "ΠΑΡ-WO-1", "comments": "", "files": []}
    assert (wol["overUnderPercentage"], wol["wol_tag"]) == (5, [{"id": "", "name": "urgent"}])
    assert set(wol["erp_routing"][0]) - CONFIRMED_STEP_KEYS == {"workstationId", "bom", "customFields"}


def test_ids_that_are_not_plain_decimal_numbers_are_listed_as_text(mes: EmulatorProcess) -> None:
    ids = ["²", "٣", "007", "12345678901234567890123", "L-1", "0"]
    assert [r["result"] for r in mes.write(Op.UPSERT_LINES, [line(i) for i in ids])] == ["created"] * len(ids)
    listed = [w["workorderline_id"] for w in mes.call(Op.LIST_LINES).json()["workorderLines"]]
    assert listed == ["²", "٣", "007", "12345678901234567890123", "L-1", 0]


# --- upsert rules ---------------------------------------------------------------------------------


def test_upsert_accepts_strings_or_numbers_and_is_idempotent(mes: EmulatorProcess) -> None:
    assert mes.write(Op.UPSERT_LINES, [line(lid=131319, qty=200)])[0]["result"] == "created"
    assert mes.write(Op.UPSERT_LINES, [line(lid="131319", qty="200")])[0]["result"] == "unchanged"
    assert mes.write(Op.UPSERT_LINES, [line(qty="210")])[0]["result"] == "updated"
    assert mes.lines()["131319"]["quantity"] == 210 and len(mes.lines()) == 1


def test_routing_creates_a_line_workflow_and_names_what_is_unnamed(mes: EmulatorProcess) -> None:
    mes.write(Op.UPSERT_LINES, [line(erp_routing=routing(("LASER", None), (None, "Έλεγχος")))])
    steps = mes.lines()["131319"]["erp_routing"]
    assert [(s["workstationName"], s["job_tag"]["name"]) for s in steps] == [
        ("LASER", "Job task 1"),
        ("Workstation 2", "Έλεγχος"),
    ]


def test_a_routing_becomes_the_lines_workflow_and_the_products_first(rich_mes: EmulatorProcess) -> None:
    rich_mes.write(Op.UPSERT_LINES, [line(erp_routing=routing(("LASER", None), (None, "Έλεγχος")))])
    workflow = rich_mes.lines()["131319"]["workflow"]
    assert workflow["name"] == "Line 131319"
    assert rich_mes.stored("products")["P-1"]["workflow_id"] == workflow["id"]  # rule 3


def test_routing_and_workflow_together_are_rejected(mes: EmulatorProcess) -> None:
    (result,) = mes.write(Op.UPSERT_LINES, [line(workflow_id=1, erp_routing=routing(("LASER", None)))])
    assert result == {
        "id": "131319",
        "result": "rejected",
        "reason": "erp_routing and workflow_id cannot be used together on one line",
    }


def test_repeated_workstation_needs_distinct_job_tasks(mes: EmulatorProcess) -> None:
    bad = routing(("ΜΟΝΤΑΖ 1", None), ("LASER", None), ("ΜΟΝΤΑΖ 1", None))
    (result,) = mes.write(Op.UPSERT_LINES, [line(erp_routing=bad)])
    assert result["result"] == "rejected" and "'ΜΟΝΤΑΖ 1' appears 2 times" in result["reason"]
    good = routing(("ΜΟΝΤΑΖ 1", "Πλαίσιο"), ("LASER", None), ("ΜΟΝΤΑΖ 1", "Μηχανισμοί"))
    assert mes.write(Op.UPSERT_LINES, [line(erp_routing=good)])[0]["result"] == "created"


def test_unknown_client_or_product_rejects_the_row_and_the_others_go_on(mes: EmulatorProcess) -> None:
    results = mes.write(Op.UPSERT_LINES, [line("1", cid="C-9"), line("2"), line("3", pid="P-9")])
    assert [r["result"] for r in results] == ["rejected", "created", "rejected"]
    assert "unknown client 'C-9'" in results[0]["reason"] and set(mes.lines()) == {"2"}


def test_workflow_template_by_id(rich_mes: EmulatorProcess) -> None:
    mes = rich_mes
    templates = mes.call(Op.WORKFLOW_TEMPLATES).json()["workflows"]
    assert {"Διέλαση και Βαφή", "Διέλαση και Ανοδίωση"} <= {t["name"] for t in templates}
    wf = next(t["id"] for t in templates if t["name"] == "Διέλαση και Βαφή")
    assert mes.write(Op.UPSERT_LINES, [line(workflow_id=str(wf))])[0]["result"] == "created"
    got = mes.lines()["131319"]
    assert (
        got["workflow"] == {"id": wf, "name": "Διέλαση και Βαφή"}
        and got["erp_routing"][0]["workstationName"] == "ΔΙΕΛΑΣΗ"
    )
    assert mes.write(Op.UPSERT_LINES, [line("2", workflow_id=999)])[0]["reason"] == "unknown workflow_id 999"


# --- rule 1 and 2 on both sides of the start ---------------------------------------------------------


@pytest.mark.parametrize("started", [False, True], ids=["before-start", "after-start"])
def test_quantity_client_and_routing_change_only_before_start(mes: EmulatorProcess, started: bool) -> None:
    mes.write(Op.UPSERT_LINES, [line()])
    if started:
        start_line(mes)
    changed = line(
        qty="250",
        cid="C-2",
        erp_routing=routing(("LASER", "Κοπή"), ("ΒΑΦΕΙΟ", "Βαφή")),
        comments="νέο σχόλιο",
        customFields=[{"name": "ΔΙΑΣΤΑΣΕΙΣ", "value": "60x40x6000"}],
        bom=[{"item": "ΜΠΙΛΙΕΤΑ", "quantity": "12", "unit": "kg"}],
    )
    (result,) = mes.write(Op.UPSERT_LINES, [changed])
    got = mes.lines()["131319"]
    client_id = mes.stored("workorders")["WO-1"]["client_id"]  # the list names the client, never its id
    # Rule 2: comments, custom fields and BOMs change either way.
    assert got["comments"] == "νέο σχόλιο" and got["customFields"][0]["value"] == "60x40x6000"
    assert mes.stored("lines")["131319"]["bom"] == [{"item": "ΜΠΙΛΙΕΤΑ", "quantity": 12, "unit": "kg"}]
    if not started:
        assert result["result"] == "updated"
        assert (got["quantity"], client_id, got["client"]["name"]) == (250, "C-2", "Θερμοπρόσοψη ΟΕ")
        assert [s["workstationName"] for s in got["erp_routing"]] == ["LASER", "ΒΑΦΕΙΟ"]
        assert mes.inspect("alarms")["alarms"] == []
    else:
        assert result["result"] == "alarm"
        assert (got["quantity"], client_id) == (200, "C-1")
        assert [s["workstationName"] for s in got["erp_routing"]] == ["LASER", "ΜΟΝΤΑΖ 1"]
        texts = [a["text"] for a in mes.inspect("alarms")["alarms"]]
        assert "Line 131319 has started in production: change of quantity 200 → 250 was not applied" in texts
        assert any("change of client C-1 → C-2 was not applied" in t for t in texts)
        assert any("change of workflow/routing was not applied" in t for t in texts)


@pytest.mark.parametrize("started", [False, True], ids=["before-start", "after-start"])
def test_delete_only_before_launch(mes: EmulatorProcess, started: bool) -> None:
    mes.write(Op.UPSERT_LINES, [line(), line("131320")])
    if started:
        start_line(mes)
    (result,) = mes.write(Op.DELETE_LINES, [{"workorderline_id": "131319"}])
    wo_result = mes.write(Op.DELETE_LINES, [{"workorder_id": "WO-1"}])[0]
    if started:
        assert result["result"] == "alarm" and "archive it instead" in result["alarm"]
        assert wo_result["result"] == "alarm" and set(mes.lines()) == {"131319", "131320"}
    else:
        assert result["result"] == "deleted" and wo_result["result"] == "deleted" and mes.lines() == {}
    assert mes.write(Op.DELETE_LINES, [{"workorderline_id": "404"}])[0]["result"] == "not_found"


def test_archive_works_on_started_lines_and_is_idempotent(mes: EmulatorProcess) -> None:
    mes.write(Op.UPSERT_LINES, [line()])
    start_line(mes)
    assert mes.write(Op.ARCHIVE_LINES, [{"workorderline_id": 131319}])[0]["result"] == "archived"
    assert mes.lines()["131319"]["production_status"] == "archive"
    assert mes.write(Op.ARCHIVE_LINES, [{"workorderline_id": "131319"}])[0]["result"] == "unchanged"


def test_clients_and_products_upsert_and_validate(mes: EmulatorProcess) -> None:
    assert mes.write(Op.UPSERT_CLIENTS, [client()])[0]["result"] == "unchanged"
    assert mes.write(Op.UPSERT_CLIENTS, [client(city="Πειραιάς")])[0]["result"] == "updated"
    assert mes.write(Op.UPSERT_CLIENTS, [{"id": "C-3"}])[0]["reason"] == "name is required"
    long = mes.write(Op.UPSERT_PRODUCTS, [product("P-2", name="x" * 151)])[0]
    assert long["result"] == "rejected" and "150" in long["reason"]


# --- the shop floor -----------------------------------------------------------------------------------


def test_operator_token_is_needed_for_actions_on_named_lines(mes: EmulatorProcess) -> None:
    mes.write(Op.UPSERT_LINES, [line()])
    ws = mes.workstation("LASER")
    body = {"action": "start", "workstation_id": ws, "workorderline_id": "131319"}
    assert mes.call(Op.WORKSTATION_CONTROL, body).status_code == 401
    assert mes.call(Op.OPERATOR_LOGIN, {"username": "demo", "password": "wrong"}).status_code == 401
    token = mes.call(Op.OPERATOR_LOGIN, {"username": "demo", "password": "demo"}).json()["token"]
    assert mes.call(Op.WORKSTATION_CONTROL, body, headers={"Operator-Token": token}).status_code == 200
    assert mes.call(Op.OPERATOR_LOGOUT, headers={"Operator-Token": token}).status_code == 200
    again = mes.call(Op.WORKSTATION_CONTROL, {**body, "action": "pause"}, headers={"Operator-Token": token})
    assert again.status_code == 401
    assert mes.lines()["131319"]["erp_routing"][0]["status"] == "started"


def test_control_refuses_bad_actions_and_idle_workstations(mes: EmulatorProcess) -> None:
    ws = mes.workstation("LASER")
    assert mes.call(Op.WORKSTATION_CONTROL, {"action": "explode", "workstation_id": ws}).status_code == 400
    idle = mes.call(Op.WORKSTATION_CONTROL, {"action": "complete", "workstation_id": ws, "quantity": 5})
    assert idle.status_code == 409 and "no line is running" in idle.json()["error"]


def test_machine_scenario_sums_every_ten_minutes(mes: EmulatorProcess) -> None:
    """7,000 pcs/hour, reporting every 10 minutes or 1,200 pcs, whichever comes first, and the sum at the stop."""
    mes.write(Op.UPSERT_LINES, [line(qty="8000")])
    _, ws = start_line(mes)
    reported, last_report, reports = 0, 0, []
    for minute in range(1, 71):
        produced = minute * 7000 // 60
        stopping = minute == 70  # the machine stops (alarm or end of shift): it reports its running sum
        if minute - last_report >= 10 or produced - reported >= 1200 or stopping:
            mes.emulator_post("clock", {"advance_seconds": (minute - last_report) * 60})
            response = mes.call(
                Op.WORKSTATION_CONTROL, {"action": "complete", "workstation_id": ws, "quantity": produced - reported}
            )
            assert response.status_code == 200, response.text
            reports.append(produced - reported)
            reported, last_report = produced, minute
    assert reports == [1166, 1167, 1167, 1166, 1167, 1167, 1166]  # every 10 minutes; never 1,200 in between
    step = mes.lines()["131319"]["erp_routing"][0]
    assert (step["qty_done"], step["status"]) == (8166, "completed")


def test_pause_and_cancel(mes: EmulatorProcess) -> None:
    mes.write(Op.UPSERT_LINES, [line()])
    _, ws = start_line(mes)
    assert mes.call(Op.WORKSTATION_CONTROL, {"action": "pause", "workstation_id": ws}).json()["status"] == "paused"
    assert (
        mes.call(Op.WORKSTATION_CONTROL, {"action": "cancel", "workstation_id": ws}).json()["status"] == "not_started"
    )
    assert mes.lines()["131319"]["erp_routing"][0]["status"] == "not_started"


# --- durability and faults -----------------------------------------------------------------------------


def test_data_survives_a_restart_on_the_same_file(mes: EmulatorProcess) -> None:
    mes.write(Op.UPSERT_LINES, [line()])
    start_line(mes)
    mes.restart()
    got = mes.lines()["131319"]
    assert got["erp_routing"][0]["status"] == "started" and got["client"]["name"] == "Κατασκευαστική Αιγαίου ΑΕ"


def test_fault_5xx_and_latency(mes: EmulatorProcess) -> None:
    mes.emulator_post("faults", {"error_rate": 1.0})
    assert mes.call(Op.LIST_LINES).status_code == 503
    mes.emulator_post("faults", {"latency_ms": 300})
    import time

    start = time.monotonic()
    assert mes.call(Op.LIST_LINES).status_code == 200
    assert time.monotonic() - start >= 0.3


def test_fault_rate_limit_429_and_403_block(mes: EmulatorProcess) -> None:
    mes.emulator_post("faults", {"rate_limit": 3})
    codes = [mes.call(Op.LIST_LINES).status_code for _ in range(6)]
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
    mes.emulator_post("faults", {"rate_limit": 2, "rate_limit_status": 403})
    codes = [mes.call(Op.LIST_LINES).status_code for _ in range(4)]
    assert codes[:2] == [200, 200] and codes[2:] == [403, 403]
    import time

    time.sleep(1.1)
    assert mes.call(Op.LIST_LINES).status_code == 403  # blocked until a person clears it
    mes.emulator_post("faults", {})
    assert mes.call(Op.LIST_LINES).status_code == 200


def test_fault_dropped_connection_after_the_write(mes: EmulatorProcess) -> None:
    import httpx

    mes.emulator_post("faults", {"drop_rate": 1.0})
    with pytest.raises(httpx.HTTPError):
        mes.call(Op.UPSERT_LINES, [line()])
    mes.emulator_post("faults", {})
    assert "131319" in mes.lines()  # the write happened; only the answer was lost


def test_fault_redirect(mes: EmulatorProcess) -> None:
    mes.emulator_post("faults", {"redirect": True})
    response = mes.call(Op.LIST_LINES)
    assert response.status_code == 302 and response.headers["location"] == "/login"
