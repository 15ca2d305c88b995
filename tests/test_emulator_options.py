"""The emulator's options, over real HTTP: what kind of tenant it plays (ids, write answers, missing commands)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from reconciler.emulator.options import EmulatorOptions
from reconciler.emulator.server import EmulatorServer
from reconciler.epoptia.profile import DEFAULT_PROFILE
from reconciler.epoptia.profile import Operation as Op

from .emulator_process import EmulatorProcess
from .test_emulator_contract import CONFIRMED_LINE_KEYS, line, seeded


@pytest.fixture
def tenant(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[EmulatorProcess]:
    """A seeded emulator with the options the test is parametrized with (indirect)."""
    process = EmulatorProcess(tmp_path / "tenant.sqlite", **request.param).start()
    try:
        yield seeded(process)
    finally:
        process.stop()


def listed(mes: EmulatorProcess) -> list[dict]:
    return mes.call(Op.LIST_LINES).json()["workorderLines"]


# --- list_ids ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tenant", [{"list_ids": "epoptia"}], indirect=True)
def test_epoptia_ids_are_given_in_write_answers_and_listed(tenant: EmulatorProcess) -> None:
    first = tenant.write(Op.UPSERT_LINES, [line("131319"), line("131320"), line("131330", wo="WO-2")])
    assert [(r["id"], r["epoptia_id"], r["workorder_epoptia_id"]) for r in first] == [
        ("131319", 4_000_001, 8_000_001),
        ("131320", 4_000_002, 8_000_001),
        ("131330", 4_000_003, 8_000_002),
    ]
    assert [(w["workorderline_id"], w["workorder"]["id"]) for w in listed(tenant)] == [
        (4_000_001, 8_000_001),
        (4_000_002, 8_000_001),
        (4_000_003, 8_000_002),
    ]


@pytest.mark.parametrize("tenant", [{"list_ids": "epoptia"}], indirect=True)
def test_erp_ids_stay_the_upsert_key_and_epoptia_ids_are_stable(tenant: EmulatorProcess) -> None:
    tenant.write(Op.UPSERT_LINES, [line("131319"), line("131320")])
    again = tenant.write(Op.UPSERT_LINES, [line("131319", qty="250")])[0]
    assert (again["id"], again["result"], again["epoptia_id"]) == ("131319", "updated", 4_000_001)
    tenant.restart()
    assert [w["workorderline_id"] for w in listed(tenant)] == [4_000_001, 4_000_002]
    archived = tenant.write(Op.ARCHIVE_LINES, [{"workorderline_id": "131319"}])[0]
    assert (archived["result"], archived["epoptia_id"]) == ("archived", 4_000_001)
    # Deleting and creating again makes a new line in Epoptia, with a new id.
    assert tenant.write(Op.DELETE_LINES, [{"workorderline_id": "131320"}])[0]["epoptia_id"] == 4_000_002
    assert tenant.write(Op.UPSERT_LINES, [line("131320")])[0]["epoptia_id"] == 4_000_003


def test_by_default_answers_carry_only_erp_ids(mes_default: EmulatorProcess) -> None:
    (created,) = mes_default.write(Op.UPSERT_LINES, [line("131319")])
    assert created == {"id": "131319", "result": "created"}
    (wol,) = listed(mes_default)
    assert (wol["workorderline_id"], wol["workorder"]["id"]) == (131319, "WO-1")


@pytest.fixture
def mes_default(emulator: EmulatorProcess) -> EmulatorProcess:
    return seeded(emulator)


# --- results ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tenant", [{"results": "none"}], indirect=True)
def test_write_answers_without_results(tenant: EmulatorProcess) -> None:
    for operation, rows in [
        (Op.UPSERT_CLIENTS, [{"id": "C-3", "name": "Τρίτος"}]),
        (Op.UPSERT_PRODUCTS, [{"id": "P-3", "name": "Τρίτο"}]),
        (Op.UPSERT_LINES, [line("131319"), line("131320")]),
        (Op.ARCHIVE_LINES, [{"workorderline_id": "131319"}]),
        (Op.DELETE_LINES, [{"workorderline_id": "131320"}]),
    ]:
        response = tenant.call(operation, rows)
        assert (response.status_code, response.json()) == (200, {"ok": True}), operation
    assert [(w["workorderline_id"], w["production_status"]) for w in listed(tenant)] == [(131319, "archive")]
    assert set(tenant.stored("clients")) == {"C-1", "C-2", "C-3"}


# --- disabled operations -----------------------------------------------------------------------------------


@pytest.mark.parametrize("tenant", [{"disabled_operations": {"upsert_lines", "archive_lines"}}], indirect=True)
def test_disabled_operations_answer_command_not_found(tenant: EmulatorProcess) -> None:
    for operation, command in [(Op.UPSERT_LINES, "workorderlines"), (Op.ARCHIVE_LINES, "workorderlines/archive")]:
        response = tenant.call(operation, [line()])
        assert response.status_code == 400 and response.headers["content-type"].startswith("text/plain")
        assert response.text == f"Command `{command}` for api version 3.03 not found"
    # The list shares its path with the upsert: only the disabled method is gone.
    assert tenant.call(Op.LIST_LINES).json() == {"workorderLines": [], "numberOfPages": 1}
    assert tenant.write(Op.DELETE_LINES, [{"workorderline_id": "1"}])[0]["result"] == "not_found"


# --- the options themselves -------------------------------------------------------------------------------


def test_options_are_validated_and_frozen() -> None:
    with pytest.raises(ValidationError):
        EmulatorOptions(read_shape="everything")
    with pytest.raises(ValidationError):
        EmulatorOptions(disabled_operations={"no_such_operation"})
    with pytest.raises(ValidationError):
        EmulatorOptions().updated(colour="blue")
    options = EmulatorOptions(disabled_operations={"upsert_clients"}, admin_key="k" * 8)
    with pytest.raises(ValidationError):
        options.read_shape = "rich"  # type: ignore[misc]
    assert options.updated(results="none").admin_key == options.admin_key
    assert options.argv()[-2:] == ["--disable", "upsert_clients"]


def test_in_process_server_takes_options_as_keywords() -> None:
    with EmulatorServer(api_keys=("k",), read_shape="rich", list_ids="epoptia") as server:
        assert (server.options.read_shape, server.options.list_ids) == ("rich", "epoptia")
        headers = {"X-Auth-Token": "k"}
        path = DEFAULT_PROFILE.endpoint(Op.UPSERT_CLIENTS).path
        assert (
            httpx.post(server.url + path, json={"data": [{"id": "C-1", "name": "Α"}]}, headers=headers).status_code
            == 200
        )
        stats = httpx.get(server.url + "/_emulator/stats", headers={"X-Emulator-Admin": server.admin_key}).json()
        assert stats["upsert_clients"] == 1


@pytest.mark.parametrize("tenant", [{"read_shape": "rich"}], indirect=True)
def test_rich_shape_is_an_option(tenant: EmulatorProcess) -> None:
    tenant.write(Op.UPSERT_LINES, [line()])
    (wol,) = listed(tenant)
    assert set(wol) > CONFIRMED_LINE_KEYS and wol["client"]["id"] == "C-1"
