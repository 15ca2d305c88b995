"""Partial updates (a field left out keeps its value, "" or null clears it) and the delete rule, over real HTTP."""

from __future__ import annotations

import pytest

from reconciler.epoptia.profile import Operation as Op

from .emulator_process import EmulatorProcess
from .test_emulator_contract import client, line, product, routing, seeded, start_line


@pytest.fixture
def mes(emulator: EmulatorProcess) -> EmulatorProcess:
    return seeded(emulator)


def without(row: dict, *fields: str) -> dict:
    return {k: v for k, v in row.items() if k not in fields}


# --- clients and products ----------------------------------------------------------------------------------


def test_a_client_field_left_out_keeps_its_value_and_an_empty_one_clears_it(mes: EmulatorProcess) -> None:
    mes.write(Op.UPSERT_CLIENTS, [client(city="Πειραιάς", phone="210 0000000", vat_rate="24", kind="both")])
    assert mes.write(Op.UPSERT_CLIENTS, [{"id": "C-1", "email": "info@aigaiou.gr"}])[0]["result"] == "updated"
    stored = mes.stored("clients")["C-1"]
    assert (stored["name"], stored["city"], stored["phone"], stored["vat_rate"], stored["kind"]) == (
        "Κατασκευαστική Αιγαίου ΑΕ",
        "Πειραιάς",
        "210 0000000",
        24,
        "both",
    )
    assert stored["email"] == "info@aigaiou.gr"
    mes.write(Op.UPSERT_CLIENTS, [{"id": "C-1", "city": "", "phone": None, "vat_rate": "", "kind": ""}])
    stored = mes.stored("clients")["C-1"]
    assert (stored["city"], stored["phone"], stored["vat_rate"], stored["kind"]) == ("", "", None, "client")
    assert stored["email"] == "info@aigaiou.gr"


def test_a_required_name_cannot_be_cleared_and_a_new_client_needs_one(mes: EmulatorProcess) -> None:
    assert mes.write(Op.UPSERT_CLIENTS, [{"id": "C-1", "name": ""}])[0]["reason"] == "name is required"
    assert mes.write(Op.UPSERT_CLIENTS, [{"id": "C-9", "city": "Βόλος"}])[0]["reason"] == "name is required"
    assert mes.write(Op.UPSERT_PRODUCTS, [{"id": "P-9"}])[0]["reason"] == "name is required"
    assert mes.stored("clients")["C-1"]["name"] == "Κατασκευαστική Αιγαίου ΑΕ"


def test_a_product_field_left_out_keeps_its_value_and_an_empty_one_clears_it(mes: EmulatorProcess) -> None:
    mes.write(Op.UPSERT_PRODUCTS, [product(comments="ανοδιωμένο", workflow_id=1, active="false")])
    assert mes.write(Op.UPSERT_PRODUCTS, [{"id": "P-1", "name": "Προφίλ 60x40 νέο"}])[0]["result"] == "updated"
    stored = mes.stored("products")["P-1"]
    assert (stored["code"], stored["comments"], stored["workflow_id"], stored["active"]) == (
        "ALU-6040",
        "ανοδιωμένο",
        1,
        False,
    )
    mes.write(Op.UPSERT_PRODUCTS, [{"id": "P-1", "code": "", "workflow_id": None, "active": ""}])
    stored = mes.stored("products")["P-1"]
    assert (stored["name"], stored["code"], stored["workflow_id"], stored["active"]) == (
        "Προφίλ 60x40 νέο",
        "",
        None,
        True,
    )
    assert (
        mes.write(Op.UPSERT_PRODUCTS, [{"id": "P-1", "active": {"x": 1}}])[0]["reason"]
        == "active must be true or false"
    )


# --- lines ------------------------------------------------------------------------------------------------


def test_a_line_field_left_out_keeps_its_value_and_an_empty_one_clears_it(mes: EmulatorProcess) -> None:
    full = line(
        comments="πρώτο",
        overUnderPercentage="5",
        wol_tag=[{"id": "", "name": "urgent"}],
        bom=[{"item": "ΜΠΙΛΙΕΤΑ", "quantity": 3}],
        production_status="production",
    )
    mes.write(Op.UPSERT_LINES, [full])
    sparse = without(
        full,
        "comments",
        "description",
        "target_day",
        "overUnderPercentage",
        "wol_tag",
        "bom",
        "customFields",
        "workorderline_code",
        "production_status",
        "erp_routing",
    )
    sparse["workorder"] = {"id": "WO-1"}
    assert mes.write(Op.UPSERT_LINES, [sparse])[0]["result"] == "unchanged"
    got = mes.stored("lines")["131319"]
    assert (got["comments"], got["description"], got["target_day"], got["over_under"], got["code"]) == (
        "πρώτο",
        "Προφίλ",
        "2026-12-04",
        5,
        "131319-01",
    )
    assert (got["tags"], got["bom"], got["production_status"]) == (
        [{"id": "", "name": "urgent"}],
        [{"item": "ΜΠΙΛΙΕΤΑ", "quantity": 3}],
        "production",
    )
    assert [s["workstation"] for s in got["steps"]] == ["LASER", "ΜΟΝΤΑΖ 1"]
    assert mes.stored("workorders")["WO-1"]["code"] == "ΠΑΡ-WO-1"

    cleared = {
        **sparse,
        "comments": "",
        "target_day": None,
        "overUnderPercentage": "",
        "wol_tag": None,
        "bom": [],
        "workorder": {"id": "WO-1", "code": ""},
    }
    assert mes.write(Op.UPSERT_LINES, [cleared])[0]["result"] == "updated"
    got = mes.stored("lines")["131319"]
    assert (got["comments"], got["target_day"], got["over_under"], got["tags"], got["bom"]) == ("", None, None, [], [])
    assert got["description"] == "Προφίλ" and mes.stored("workorders")["WO-1"]["code"] == ""


def test_a_status_left_out_keeps_the_lines_status(mes: EmulatorProcess) -> None:
    mes.write(Op.UPSERT_LINES, [line(production_status="production")])
    mes.write(Op.UPSERT_LINES, [without(line(comments="x"), "production_status")])
    assert mes.lines()["131319"]["production_status"] == "production"
    mes.write(Op.UPSERT_LINES, [line(production_status="")])  # cleared: back to the default
    assert mes.lines()["131319"]["production_status"] == "standby"


def test_a_route_left_out_keeps_the_lines_route_even_when_the_product_has_another(mes: EmulatorProcess) -> None:
    mes.write(Op.UPSERT_PRODUCTS, [product(workflow_id=1)])
    mes.write(Op.UPSERT_LINES, [line(erp_routing=routing(("LASER", "Κοπή"), ("ΒΑΦΕΙΟ", None)))])
    assert mes.write(Op.UPSERT_LINES, [without(line(), "erp_routing")])[0]["result"] == "unchanged"
    assert [s["workstationName"] for s in mes.lines()["131319"]["erp_routing"]] == ["LASER", "ΒΑΦΕΙΟ"]


def test_required_fields_stay_required_on_update(mes: EmulatorProcess) -> None:
    mes.write(Op.UPSERT_LINES, [line()])
    for field, reason in [
        ("quantity", "quantity must be a number"),
        ("workorder", "workorder must be an object"),
        ("client", "client must be an object"),
        ("product", "product must be an object"),
    ]:
        (answer,) = mes.write(Op.UPSERT_LINES, [without(line(), field)])
        assert (answer["result"], answer["reason"]) == ("rejected", reason)


def test_target_day_must_be_a_date(mes: EmulatorProcess) -> None:
    for bad in ["04/12/2026", "2026-W49-5", "20261204", "2026-02-30", "２０２６-12-04"]:
        (answer,) = mes.write(Op.UPSERT_LINES, [line(target_day=bad)])
        assert answer["result"] == "rejected" and "target_day must be a date YYYY-MM-DD" in answer["reason"], bad
    assert mes.lines() == {}


# --- the delete rule -----------------------------------------------------------------------------------------


def test_a_line_released_to_production_is_launched_and_not_deleted(mes: EmulatorProcess) -> None:
    mes.write(
        Op.UPSERT_LINES,
        [
            line(production_status="production"),
            line("131320", wo="WO-2"),
            line("131321", wo="WO-2", production_status="production"),
        ],
    )
    (answer,) = mes.write(Op.DELETE_LINES, [{"workorderline_id": "131319"}])
    assert answer["result"] == "alarm" and "archive it instead" in answer["alarm"]
    (wo_answer,) = mes.write(Op.DELETE_LINES, [{"workorder_id": "WO-2"}])
    assert wo_answer["result"] == "alarm" and "(131321)" in wo_answer["alarm"]
    assert set(mes.lines()) == {"131319", "131320", "131321"}
    assert len(mes.inspect("alarms")["alarms"]) == 2


def test_a_paused_line_is_launched_even_after_standby_again(mes: EmulatorProcess) -> None:
    mes.write(Op.UPSERT_LINES, [line()])
    _, ws = start_line(mes)
    mes.call(Op.WORKSTATION_CONTROL, {"action": "pause", "workstation_id": ws})
    mes.write(Op.UPSERT_LINES, [line(production_status="standby")])  # ignored: the shop floor owns it now
    assert mes.write(Op.DELETE_LINES, [{"workorderline_id": "131319"}])[0]["result"] == "alarm"


def test_a_line_never_launched_is_deleted_with_its_work_order(mes: EmulatorProcess) -> None:
    mes.write(Op.UPSERT_LINES, [line(), line("131320", production_status="archive")])
    assert mes.write(Op.DELETE_LINES, [{"workorderline_id": "131320"}])[0]["result"] == "deleted"
    assert mes.stored("workorders")["WO-1"]["lines"] == ["131319"]
    assert mes.write(Op.DELETE_LINES, [{"workorder_id": "WO-1"}])[0]["result"] == "deleted"
    assert mes.stored("workorders") == {} and mes.stored("lines") == {}
