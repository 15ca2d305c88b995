"""Fault switches for crash and read-back tests, over real HTTP: hold, mangle, lose, reverse, count creates."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time

import httpx
import pytest

from reconciler.epoptia.profile import DEFAULT_PROFILE
from reconciler.epoptia.profile import Operation as Op

from .emulator_process import EmulatorProcess
from .test_emulator_contract import line, seeded


@pytest.fixture
def mes(emulator: EmulatorProcess) -> EmulatorProcess:
    return seeded(emulator)


# --- hold_ms and writes_committed ------------------------------------------------------------------------------


def test_a_held_answer_comes_after_the_commit(mes: EmulatorProcess) -> None:
    mes.faults(hold_ms=1500)
    answered = threading.Event()
    committed_before = mes.stats()["writes_committed"]

    def write() -> None:
        mes.write(Op.UPSERT_LINES, [line()])
        answered.set()

    writer = threading.Thread(target=write)
    started = time.monotonic()
    writer.start()
    while mes.stats()["writes_committed"] == committed_before:
        assert time.monotonic() - started < 10
        time.sleep(0.01)
    # Committed: the line is listed, but the client has no answer yet.
    assert "131319" in mes.lines() and not answered.is_set()
    writer.join(timeout=10)
    assert answered.is_set() and time.monotonic() - started >= 1.5
    assert mes.stats()["writes_committed"] == committed_before + 1


def test_reads_and_refused_writes_are_not_commits(mes: EmulatorProcess) -> None:
    mes.emulator_post("stats/reset", {})
    mes.faults(hold_ms=2000)
    before = time.monotonic()
    mes.call(Op.LIST_LINES)
    assert mes.call(Op.UPSERT_LINES, {"data": "not a list"}).status_code == 400
    assert time.monotonic() - before < 1.5  # neither was held
    assert mes.stats()["writes_committed"] == 0


def test_a_client_killed_between_commit_and_answer(mes: EmulatorProcess) -> None:
    """The crash a journal must survive: Epoptia has the write, the client never heard of it."""
    mes.faults(hold_ms=30_000)
    endpoint = DEFAULT_PROFILE.endpoint(Op.UPSERT_LINES)
    script = textwrap.dedent(f"""
        import httpx, json, sys
        r = httpx.post({mes.url + endpoint.path!r}, json={{"data": [json.loads(sys.argv[1])]}},
                       headers={{"X-Auth-Token": {mes.key!r}}}, timeout=60)
        print("answered", r.status_code, flush=True)
    """)
    client = subprocess.Popen([sys.executable, "-c", script, json.dumps(line())], stdout=subprocess.PIPE, text=True)
    try:
        assert mes.await_commits(client, 1, timeout=30)
        client.kill()
        assert client.wait(timeout=10) != 0 and client.stdout.read() == ""
    finally:
        client.kill()
    mes.faults()
    assert mes.lines()["131319"]["quantity"] == 200


# --- mangle ------------------------------------------------------------------------------------------------------


def test_mangle_stores_a_field_differently_from_what_was_sent(mes: EmulatorProcess) -> None:
    mes.faults(mangle={"field": "comments", "append": " (x)"})
    assert mes.write(Op.UPSERT_LINES, [line(comments="βαφή RAL 9016")])[0]["result"] == "created"
    assert mes.write(Op.UPSERT_LINES, [line("131320", comments=None)])[0]["result"] == "created"
    got = mes.lines()
    assert got["131319"]["comments"] == "βαφή RAL 9016 (x)" and got["131320"]["comments"] == ""
    assert got["131319"]["description"] == "Προφίλ"
    mes.faults()
    mes.write(Op.UPSERT_LINES, [line(comments="βαφή RAL 9016")])
    assert mes.lines()["131319"]["comments"] == "βαφή RAL 9016"


# --- lose_rows ------------------------------------------------------------------------------------------------------


def test_lost_rows_are_answered_but_not_stored(mes: EmulatorProcess) -> None:
    mes.faults(lose_rows=[131320, "131321"])
    answers = mes.write(Op.UPSERT_LINES, [line("131319"), line("131320"), line("131321", wo="WO-2")])
    assert [(a["id"], a["result"]) for a in answers] == [
        ("131319", "created"),
        ("131320", "created"),
        ("131321", "created"),
    ]
    assert set(mes.lines()) == {"131319"} and set(mes.stored("workorders")) == {"WO-1"}
    assert mes.stored("workorders")["WO-1"]["lines"] == ["131319"]
    assert mes.stats()["creates_by_id"] == {"131319": 1}
    mes.faults(lose_rows=["131319"])
    assert mes.write(Op.UPSERT_LINES, [line("131319", qty="300")])[0]["result"] == "updated"
    assert mes.write(Op.ARCHIVE_LINES, [{"workorderline_id": "131319"}])[0]["result"] == "archived"
    got = mes.lines()["131319"]
    assert (got["quantity"], got["production_status"]) == (200, "standby")


# --- reverse_pages ---------------------------------------------------------------------------------------------------


def test_reverse_pages_moves_lines_to_other_pages(mes: EmulatorProcess) -> None:
    mes.write(Op.UPSERT_LINES, [line(str(131000 + i)) for i in range(5)])

    def pages() -> list[list[int]]:
        return [
            [
                w["workorderline_id"]
                for w in mes.call(Op.LIST_LINES, params={"page": p, "limit": 2}).json()["workorderLines"]
            ]
            for p in (1, 2, 3)
        ]

    assert pages() == [[131000, 131001], [131002, 131003], [131004]]
    mes.faults(reverse_pages=True)
    assert pages() == [[131004, 131003], [131002, 131001], [131000]]


# --- creates_by_id ---------------------------------------------------------------------------------------------------


def test_creates_by_id_counts_every_create_of_a_line(mes: EmulatorProcess) -> None:
    mes.write(Op.UPSERT_LINES, [line("131319"), line("131320")])
    mes.write(Op.UPSERT_LINES, [line("131319", qty="300")])  # an update is no create
    mes.write(Op.DELETE_LINES, [{"workorderline_id": "131319"}])
    mes.write(Op.UPSERT_LINES, [line("131319")])
    assert mes.stats()["creates_by_id"] == {"131319": 2, "131320": 1}
    mes.emulator_post("stats/reset", {})
    assert mes.stats()["creates_by_id"] == {} and mes.stats()["writes_committed"] == 0


def test_faults_are_replaced_whole(mes: EmulatorProcess) -> None:
    mes.faults(reverse_pages=True, lose_rows=["1"], hold_ms=5)
    assert mes.faults(latency_ms=1)["reverse_pages"] is False
    got = mes.inspect("faults")
    assert (got["lose_rows"], got["hold_ms"], got["latency_ms"], got["mangle"]) == ([], 0, 1, None)
    assert httpx.get(mes.url + "/_emulator/faults").status_code == 401
