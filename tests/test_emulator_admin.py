"""/_emulator/ over real HTTP: the admin key, validated bodies, database views and the machine's reports."""

from __future__ import annotations

import json

import httpx
import pytest

from reconciler.emulator.admin import ADMIN_HEADER
from reconciler.epoptia.profile import Operation as Op

from .emulator_process import EmulatorProcess
from .test_emulator_contract import line, seeded, start_line

GET_ROUTES = ["alarms", "workstations", "clients", "products", "workorders", "lines", "completions", "stats", "faults"]
POST_ROUTES = {
    "stats/reset": {},
    "faults": {},
    "clock": {"advance_seconds": 1},
    "operators": {"username": "maria", "password": "x"},
    "keys": {"key": "emu-another-key"},
}


@pytest.fixture
def mes(emulator: EmulatorProcess) -> EmulatorProcess:
    return seeded(emulator)


# --- the admin key ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("given", [None, "", "wrong-key", "ключ-ü"], ids=["missing", "empty", "wrong", "non-ascii"])
def test_every_admin_route_needs_the_admin_key(emulator: EmulatorProcess, given: str | None) -> None:
    headers = {ADMIN_HEADER: given.encode("utf-8")} if given is not None else {}
    with httpx.Client(base_url=emulator.url, headers={"X-Auth-Token": emulator.key, **headers}) as http:
        for route in GET_ROUTES:
            refused = http.get(f"/_emulator/{route}")
            assert refused.status_code == 401 and ADMIN_HEADER in refused.json()["error"], route
        for route, body in POST_ROUTES.items():
            assert http.post(f"/_emulator/{route}", json=body).status_code == 401, route
        assert http.get("/api/3.03/workorderlines").status_code == 200  # the API itself needs no admin key
    assert emulator.stats()["requests"] == 1 and emulator.inspect("faults")["latency_ms"] == 0


def test_with_the_admin_key_every_route_answers(emulator: EmulatorProcess) -> None:
    for route in GET_ROUTES:
        assert emulator.http.get(f"/_emulator/{route}").status_code == 200, route
    for route, body in POST_ROUTES.items():
        assert emulator.http.post(f"/_emulator/{route}", json=body).status_code == 200, route


# --- validated bodies, and nothing poisoned ----------------------------------------------------------------


def raw(body: object) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    "route, body, status, says",
    [
        ("clock", raw({"advance_days": "soon"}), 422, "advance_days"),
        ("clock", raw({"advance_days": -1}), 422, "greater than or equal to 0"),
        ("clock", raw({"advance_seconds": 1, "rewind": True}), 422, "rewind"),
        ("clock", raw([1, 2]), 422, "body"),
        ("clock", b'{"advance_days": 1e400}', 422, "advance_days"),
        ("clock", b'{"advance_days": 1' + b"0" * 400 + b"}", 422, "advance_days"),
        ("faults", raw({"error_rate": 2}), 422, "error_rate"),
        ("faults", raw({"blocked": False}), 422, "blocked"),
        ("faults", raw({"hold_ms": 10**9}), 422, "hold_ms"),
        ("faults", raw({"mangle": {"field": "quantity", "append": "1"}}), 422, "mangle.field"),
        ("faults", raw({"lose_rows": "131319"}), 422, "lose_rows"),
        ("operators", raw({"username": "maria"}), 422, "password"),
        ("operators", raw({"username": "", "password": "x"}), 422, "username"),
        ("keys", raw({"key": 5}), 422, "key"),
        ("keys", b"", 422, "body"),
    ],
)
def test_a_bad_admin_body_is_refused_with_a_message(
    mes: EmulatorProcess, route: str, body: bytes, status: int, says: str
) -> None:
    response = mes.http.post(f"/_emulator/{route}", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert says in response.json()["error"]
    # Nothing stays open or half-done: the API and the admin routes go on as before.
    assert mes.write(Op.UPSERT_LINES, [line()])[0]["result"] == "created"
    assert mes.emulator_post("clock", {"advance_seconds": 1})["now"] > 0
    assert mes.inspect("faults")["latency_ms"] == 0


@pytest.mark.parametrize(
    "raw", [b"{", b"NaN", b'{"advance_days": Infinity}', b"[" * 100_000, b'{"username": "\\ud800", "password": "x"}']
)
def test_admin_bodies_that_are_not_json_answer_400(mes: EmulatorProcess, raw: bytes) -> None:
    for route in ("clock", "operators", "faults"):
        response = mes.http.post(f"/_emulator/{route}", content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and response.json()["error"].startswith("invalid JSON"), (route, raw[:20])
    assert mes.write(Op.UPSERT_LINES, [line()])[0]["result"] == "created"


# --- the database as stored -----------------------------------------------------------------------------------


def test_database_views_return_the_stored_documents(mes: EmulatorProcess) -> None:
    mes.write(Op.UPSERT_LINES, [line(bom=[{"item": "ΜΠΙΛΙΕΤΑ", "quantity": "12", "unit": "kg"}])])
    assert mes.stored("clients")["C-2"] == {
        "id": "C-2",
        "name": "Θερμοπρόσοψη ΟΕ",
        "kind": "client",
        "email": "",
        "city": "",
        "phone": "",
        "vat_number": "",
        "comments": "",
        "vat_rate": None,
    }
    assert mes.stored("products")["P-1"]["code"] == "ALU-6040"
    wo = mes.stored("workorders")["WO-1"]
    assert (wo["client_id"], wo["code"], wo["lines"]) == ("C-1", "ΠΑΡ-WO-1", ["131319"])
    stored = mes.stored("lines")["131319"]
    assert (stored["product_id"], stored["quantity"], stored["bom"]) == (
        "P-1",
        200,
        [{"item": "ΜΠΙΛΙΕΤΑ", "quantity": 12, "unit": "kg"}],
    )
    assert [(s["workstation"], s["job_task"], s["status"]) for s in stored["steps"]] == [
        ("LASER", "Κοπή", "not_started"),
        ("ΜΟΝΤΑΖ 1", "Πλαίσιο", "not_started"),
    ]


# --- the machine's reports ------------------------------------------------------------------------------------


def test_completions_record_every_report_and_total_what_was_credited(mes: EmulatorProcess) -> None:
    mes.write(Op.UPSERT_LINES, [line(qty="1000"), line("131320", qty="50")])
    _, laser = start_line(mes)
    _, montage = start_line(mes, "131320", "ΜΟΝΤΑΖ 1")
    start = mes.emulator_post("clock", {})["now"]
    for quantity in (300, 250.5):
        mes.emulator_post("clock", {"advance_seconds": 600})
        assert (
            mes.call(
                Op.WORKSTATION_CONTROL, {"action": "complete", "workstation_id": laser, "quantity": quantity}
            ).status_code
            == 200
        )
    assert (
        mes.call(
            Op.WORKSTATION_CONTROL, {"action": "complete", "workstation_id": montage, "quantity": "50"}
        ).status_code
        == 200
    )
    # Refused reports are recorded too, credited to nothing: the line at ΜΟΝΤΑΖ 1 is complete, so nothing runs there.
    assert (
        mes.call(Op.WORKSTATION_CONTROL, {"action": "complete", "workstation_id": montage, "quantity": 5}).status_code
        == 409
    )
    assert (
        mes.call(
            Op.WORKSTATION_CONTROL, {"action": "complete", "workstation_id": laser, "quantity": "lots"}
        ).status_code
        == 400
    )
    assert mes.call(Op.WORKSTATION_CONTROL, {"action": "pause", "workstation_id": laser}).status_code == 200
    got = mes.inspect("completions")
    assert [(c["workstation_id"], c["quantity"], c["workorderline_id"], c["accepted"]) for c in got["completions"]] == [
        (laser, 300, "131319", True),
        (laser, 250.5, "131319", True),
        (montage, 50, "131320", True),
        (montage, 5, None, False),
        (laser, None, None, False),
    ]
    assert "no line is running" in got["completions"][3]["refusal"] and got["completions"][0]["refusal"] is None
    first, second = (c["at"] for c in got["completions"][:2])
    assert 600 <= first - start < 700 and 600 <= second - first < 700  # the emulator's clock, moved by the test
    assert got["totals"] == [
        {"workstation_id": laser, "workstation": "LASER", "quantity": 550.5, "reports": 2},
        {"workstation_id": montage, "workstation": "ΜΟΝΤΑΖ 1", "quantity": 50, "reports": 1},
    ]
    assert mes.lines()["131319"]["erp_routing"][0]["qty_done"] == 550.5
