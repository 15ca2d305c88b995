"""End to end: `reconciler station relay` as a process, the emulator as a process, a real MQTT broker.

The relay reads its time from a file (hidden --clock-file), so an hour passes in seconds; the
emulator records every `complete` it receives (/_emulator/completions), which is what is compared
with what the machine counted.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from .relay_harness import (
    START,
    Broker,
    RelayProcess,
    SamePortEmulator,
    kill_leftovers,
    run_cli,
    running_line,
    write_config,
)


@pytest.fixture
def emulator(tmp_path: Path):
    process = SamePortEmulator(tmp_path / "emulator.sqlite").start()
    try:
        yield process
    finally:
        kill_leftovers()
        process.stop()


@pytest.fixture
def factory(tmp_path: Path, emulator: SamePortEmulator):
    root = tmp_path / "factory"
    ws = running_line(emulator)

    def configure(relay: str = "", timeout: float = 1) -> Path:
        given = {line.split(":", 1)[0] for line in relay.splitlines()}
        defaults = {"workstations": f"{{LASER: {ws}}}", "settle_grace": "0", "backoff": "5", "backoff_max": "20"}
        write_config(
            root, emulator, "".join(f"{k}: {v}\n" for k, v in defaults.items() if k not in given) + relay, timeout
        )
        return root

    return configure, ws


def produced(minute: int) -> int:
    return minute * 7000 // 60


def test_seven_thousand_pieces_an_hour_arrive_every_ten_minutes_and_a_stop_flushes(factory, emulator) -> None:
    configure, ws = factory
    root = configure("policy: {LASER: {rate: 7000}}")  # 10 minutes or 1,200 pcs, as in Epoptia's example
    relay = RelayProcess(root, "--ack")
    for minute in range(1, 61):
        relay.write(f"LASER,{produced(minute) - produced(minute - 1)}")
        relay.wait_ack(minute)
        relay.set_clock(START + 60 * minute)
        if minute % 10 == 0:
            relay.wait_log(lambda e: e["event"] == "sent", count=minute // 10)
    sent = relay.events("sent")
    assert [(e["t"] - START, e["quantity"], e["reason"]) for e in sent] == [
        (600 * k, q, "period") for k, q in enumerate([1166, 1167, 1167, 1166, 1167, 1167], start=1)
    ]
    assert [c["quantity"] for c in emulator.completions()["completions"] if c["accepted"]] == [
        1166,
        1167,
        1167,
        1166,
        1167,
        1167,
    ]

    # The machine stops four minutes into the next window: its running sum goes at once.
    for minute in range(61, 65):
        relay.write(f"LASER,{produced(minute) - produced(minute - 1)}")
        relay.set_clock(START + 60 * minute)
    relay.write("LASER,stop")
    relay.wait_log(lambda e: e["event"] == "sent", count=7)
    assert relay.events("sent")[-1]["reason"] == "stop" and relay.events("sent")[-1]["quantity"] == produced(
        64
    ) - produced(60)
    assert relay.events("sent")[-1]["t"] == START + 64 * 60
    assert relay.terminate() == 0
    assert emulator.total(ws) == produced(64)
    assert relay.events("stopped")[0]["pending_left"] == 0


def test_the_threshold_goes_first_and_sigterm_flushes(factory, emulator) -> None:
    configure, ws = factory
    relay = RelayProcess(configure("threshold: 500"), "--ack")
    for n in range(1, 13):
        relay.write(f'{{"workstation": "LASER", "quantity": 100, "id": "e{n}"}}')
        relay.wait_ack(n)
        if n % 5 == 0:  # 500 reached: it goes without waiting for the period
            relay.wait_log(lambda e: e["event"] == "sent", count=n // 5)
        relay.advance(30)
    assert relay.terminate() == 0  # 200 left: SIGTERM sends them
    assert [(e["quantity"], e["reason"]) for e in relay.events("sent")] == [
        (500, "threshold"),
        (500, "threshold"),
        (200, "shutdown"),
    ]
    assert emulator.total(ws) == 1200


def test_kill_9_at_random_points_loses_and_doubles_nothing(factory, emulator) -> None:
    """The machine keeps what the relay has not acknowledged and sends it again (same ids) after a restart."""
    configure, ws = factory
    root = configure("threshold: 40")
    emulator.emulator_post("faults", {"latency_ms": 120})  # a request is in flight long enough to be cut
    rng = random.Random(14)
    counted, next_id, unacked = 0, 0, []
    recoveries = kills = 0
    verdicts: list[str] = []
    relay = RelayProcess(root, "--ack")
    relay.write("LASER,40,m0")  # the first send (after the baseline read) before any kill
    relay.wait_log(lambda e: e["event"] == "sent")
    counted = 40
    while kills < 8:
        base = relay.acked
        for _ in range(rng.randint(3, 12)):
            quantity = rng.randint(1, 15)
            next_id += 1
            counted += quantity
            unacked.append(f"LASER,{quantity},m{next_id}")
        stats = emulator.inspect("stats")
        before = stats.get("requests", 0)
        relay.write(*unacked)
        sent_lines = list(unacked)
        relay.advance(10)
        mode = rng.choice(["received", "received", "applied", "anywhen"])
        deadline = time.monotonic() + 1.5
        if mode == "received":  # kill while a request is in flight, as soon as the emulator receives it
            arrivals = rng.choice([1, 1, 2])  # the first request after a restart is often the settling read
            while emulator.inspect("stats").get("requests", 0) < before + arrivals and time.monotonic() < deadline:
                time.sleep(0.005)
        elif mode == "applied":  # kill once Epoptia has added a sum, before or after the relay hears the answer
            done = stats.get("workstation_control", 0)
            while emulator.inspect("stats").get("workstation_control", 0) == done and time.monotonic() < deadline:
                time.sleep(0.002)
        else:
            time.sleep(rng.uniform(0, 0.3))
        relay.kill()
        verdicts += [e["verdict"] for e in relay.events("settled")]
        kills += 1
        acked = relay.acked - base
        unacked = sent_lines[acked:]  # what the relay never acknowledged is sent again, with the same ids
        relay = RelayProcess(root, "--ack")
        relay.write(*unacked)
        relay.wait_ack(len(unacked))
        unacked = []
        relay.advance(10)
        recoveries += len(relay.events("recovering"))
    relay.write("LASER,stop")
    deadline = time.monotonic() + 20
    while emulator.total(ws) < counted and time.monotonic() < deadline:
        relay.advance(10)
        time.sleep(0.1)
    assert relay.terminate() == 0
    verdicts += [e["verdict"] for e in relay.events("settled")]
    print(f"kills {kills}, recoveries {recoveries}, settled {verdicts}")
    assert emulator.total(ws) == counted, (emulator.total(ws), counted)
    assert recoveries >= 1, "no kill landed between a send and its answer; the test proved less than it claims"


def test_answers_lost_on_the_wire_and_5xx_are_settled_by_a_read(factory, emulator) -> None:
    """Dropped connections after the work is done (it arrived) and 503s before it (it did not): never doubled."""
    configure, ws = factory
    relay = RelayProcess(configure("threshold: 20\nbackoff: 1\nbackoff_max: 2", timeout=0.2), "--ack")
    relay.write("LASER,20")
    relay.wait_log(lambda e: e["event"] == "sent")
    emulator.emulator_post("faults", {"drop_rate": 0.4, "error_rate": 0.3, "seed": 7})
    counted = 20
    for n in range(2, 42):
        relay.write(f"LASER,{n}")
        counted += n
        relay.wait_ack(n)
        relay.advance(2)
        time.sleep(0.05)
    emulator.emulator_post("faults", {})
    relay.write("LASER,stop")
    deadline = time.monotonic() + 20
    while emulator.total(ws) < counted and time.monotonic() < deadline:
        relay.advance(2)
        time.sleep(0.05)
    assert relay.terminate() == 0
    assert emulator.total(ws) == counted
    verdicts = {e["verdict"] for e in relay.events("settled")}
    assert verdicts == {"arrived", "did_not_arrive"}, verdicts


def test_a_five_minute_outage_loses_and_doubles_nothing(factory, emulator) -> None:
    configure, ws = factory
    relay = RelayProcess(configure("period: 60"), "--ack")
    counted = n = 0
    for _ in range(3):
        n += 1
        relay.write("LASER,50")
        counted += 50
        relay.wait_ack(n)
        relay.advance(60)
        relay.wait_log(lambda e: e["event"] == "sent", count=n)
    emulator.stop()  # Epoptia is gone for five (simulated) minutes; the machine keeps counting
    for _ in range(30):
        n += 1
        relay.write("LASER,10")
        counted += 10
        relay.wait_ack(n)
        relay.advance(10)
        time.sleep(0.03)
    status = json.loads(run_cli(relay.root, "station", "relay", "--status", "--json").stdout)
    station = status["workstations"][0]
    assert station["last_error"] and "cannot reach" in station["last_error"]["error"]
    assert station["pending"] + sum(b["quantity"] for b in status["open_batches"]) > 0
    emulator.start()
    relay.write("LASER,stop")
    deadline = time.monotonic() + 20
    while emulator.total(ws) < counted and time.monotonic() < deadline:
        relay.advance(10)
        time.sleep(0.05)
    assert relay.terminate() == 0
    assert emulator.total(ws) == counted
    assert relay.events("send_unanswered") or relay.events("send_refused")


def test_a_429_halts_sending_while_counting_goes_on(factory, emulator) -> None:
    configure, ws = factory
    relay = RelayProcess(configure(), "--ack")
    relay.write("LASER,10", "LASER,stop")
    relay.wait_log(lambda e: e["event"] == "sent")
    emulator.emulator_post("faults", {"rate_limit": 1})
    emulator.lines()  # the second request within a second gets the 429: the relay's
    relay.write("LASER,5", "LASER,stop")
    relay.wait_log(lambda e: e["event"] == "halted")
    assert '"status": 429' in run_cli(relay.root, "halt", "show").stdout
    for _ in range(10):  # counting goes on, nothing is sent
        relay.write("LASER,1", "LASER,stop")
        relay.advance(600)
    relay.wait_ack(24)
    time.sleep(0.3)
    assert emulator.total(ws) == 10
    status = run_cli(relay.root, "station", "relay", "--status")
    assert "HALTED" in status.stdout and " 15 " in status.stdout, status.stdout
    emulator.emulator_post("faults", {})
    assert run_cli(relay.root, "halt", "clear").returncode == 0
    relay.wait_log(lambda e: e["event"] == "resumed")
    relay.wait_log(lambda e: e["event"] == "sent", count=2)
    assert relay.terminate() == 0
    assert emulator.total(ws) == 25


def test_mqtt_counts_arrive_and_survive_a_kill(tmp_path: Path, factory, emulator) -> None:
    configure, ws = factory
    broker = Broker(tmp_path)
    try:
        root = configure(
            f"threshold: 100\nmqtt: {{port: {broker.port}, topics: ['factory/+/count'], username_env: RELAY_MQTT_USER}}"
        )
        env = {"RELAY_MQTT_USER": "relay"}
        relay = RelayProcess(root, env=env)
        relay.wait_log(lambda e: e["event"] == "mqtt_connected")
        for n in range(1, 5):
            broker.publish("factory/LASER/count", json.dumps({"quantity": 30, "id": f"p{n}"}))
        relay.wait_log(lambda e: e["event"] == "sent")  # 120 >= 100
        for n in range(5, 8):
            broker.publish("factory/LASER/count", json.dumps({"quantity": 30, "id": f"p{n}"}))
        _wait_status(root, lambda s: s["workstations"][0]["counted"] == 210)  # 90 pending: spooled, acknowledged
        relay.kill()
        for _ in range(8, 12):  # published while the relay is down: the broker keeps them for its session
            broker.publish("factory/LASER/count", "25")
        broker.publish("factory/LASER/count", "stop")
        relay = RelayProcess(root, env=env)
        deadline = time.monotonic() + 20
        while emulator.total(ws) < 310 and time.monotonic() < deadline:
            relay.advance(5)
            time.sleep(0.05)
        assert relay.terminate() == 0
        assert emulator.total(ws) == 310
        assert relay.events("sent")[-1]["reason"] in ("stop", "threshold")
    finally:
        broker.stop()


def test_status_shows_pending_last_sent_spool_and_errors(factory, emulator) -> None:
    configure, ws = factory
    root = configure()
    relay = RelayProcess(root, "--ack")
    relay.write("LASER,7", "LASER,stop")
    relay.wait_log(lambda e: e["event"] == "sent")
    relay.write("LASER,3", "PRESS,4", "LASER,lots")
    relay.wait_ack(5)
    status = json.loads(run_cli(root, "station", "relay", "--status", "--json").stdout)
    station = status["workstations"][0]
    assert (station["workstation_id"], station["pending"], station["last_sent"]["quantity"]) == (ws, 3, 7)
    assert status["spool_bytes"] > 0 and len(status["rejected"]) == 2
    text = run_cli(root, "station", "relay", "--status").stdout
    assert "unknown workstation 'PRESS'" in text and "LASER" in text
    assert relay.terminate() == 0
    assert emulator.total(ws) == 10


def _wait_status(root: Path, ready, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        result = run_cli(root, "station", "relay", "--status", "--json")
        status = json.loads(result.stdout) if result.returncode == 0 and result.stdout else None
        if status and status["workstations"] and ready(status):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
