"""The relay in-process: parsing, policy, the spool's guarantees and the settlement rule, with a fake Epoptia."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from reconciler.epoptia.errors import (
    HaltedError,
    RequestRefusedError,
    ServerError,
    UnreachableError,
)
from reconciler.relay.clock import ManualClock
from reconciler.relay.config import Fields, Policy, RelayConfig, threshold_for
from reconciler.relay.events import BadEvent, CountEvent, parse_line, parse_payload
from reconciler.relay.relay import Intake, Parsed, Relay
from reconciler.relay.sender import MappingDirectory, SendAnswer, StepReading
from reconciler.relay.settle import settle
from reconciler.relay.spool import Spool
from reconciler.relay.status import read_status, render_status

LASER = 3


class FakeEpoptia:
    """One line running at LASER (element 1001); `complete` adds to its step; faults on demand."""

    def __init__(self, with_ids: bool = False) -> None:
        self.steps = {1001: 0.0, 2001: 40.0}  # 2001: an older line's step at LASER
        self.received: list[float] = []
        self.fault: str | None = None  # refuse | lose_answer | no_request | halt | read_down
        self.with_ids = with_ids
        self.halt: dict | None = None
        self.reads = 0

    def complete(self, workstation_id: int, quantity: float) -> SendAnswer:
        assert quantity > 0, "a zero was sent"
        if self.halt is not None:
            raise HaltedError("halted")
        if self.fault == "refuse":
            raise RequestRefusedError("Epoptia refused POST /control with HTTP 409: no line is running")
        if self.fault == "halt":
            self.halt = {"status": 429, "request": "POST"}
            raise HaltedError("halted: 429")
        if self.fault == "no_request":
            raise UnreachableError("cannot reach: ConnectError")
        self.steps[1001] += quantity
        self.received.append(quantity)
        if self.fault == "lose_answer":
            raise UnreachableError("timed out")
        if self.fault == "server_error_after":
            raise ServerError("HTTP 500")
        return SendAnswer("131319", 1001, self.steps[1001])

    def read_steps(self):
        self.reads += 1
        if self.fault == "read_down":
            raise UnreachableError("cannot reach")
        for element, done in self.steps.items():
            yield StepReading(
                element, "131319" if element == 1001 else "131000", "LASER", LASER if self.with_ids else None, done
            )

    def read(self):  # the halt, as the relay sees it
        return self.halt


def make(tmp_path: Path, config: RelayConfig | None = None, fake: FakeEpoptia | None = None, *, grace: float = 0):
    config = config or RelayConfig(workstations={"LASER": LASER}, settle_grace=grace, backoff=5, backoff_max=60)
    clock = ManualClock(1_000_000.0)
    fake = fake or FakeEpoptia()
    log_lines: list[dict] = []

    def log(event, **fields):
        log_lines.append({"event": event, "t": clock.now(), **fields})

    wall = [0.0]
    spool = Spool(tmp_path / "spool.sqlite")
    relay = Relay(
        spool,
        fake,
        config,
        clock=clock,
        halt=fake,
        log=log,
        timeout=0.0,
        directory=MappingDirectory(config.workstations),
        wall=lambda: wall[0],
    )
    intake = Intake(Spool(tmp_path / "spool.sqlite"), MappingDirectory(config.workstations), clock, log)

    def feed(*lines: str) -> None:
        items = []
        for line in lines:
            try:
                event = parse_line(line)
            except BadEvent as error:
                items.append(Parsed("stdin", line, error=str(error)))
                continue
            if event is not None:
                items.append(Parsed("stdin", line, event=event))
        intake.absorb(items)

    return relay, intake, clock, fake, feed, log_lines


def sends(log_lines):
    return [(e["t"], e["quantity"], e["reason"]) for e in log_lines if e["event"] == "sent"]


# --- parsing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, event",
    [
        ('{"workstation": "LASER", "quantity": 12}', CountEvent("LASER", 12)),
        ('{"workstation": 3, "quantity": 1.5, "id": 42}', CountEvent("3", 1.5, key="42")),
        ('{"workstation": "LASER", "event": "alarm"}', CountEvent("LASER", 0, "alarm")),
        ('{"workstation": "LASER", "quantity": 7, "event": "stop"}', CountEvent("LASER", 7, "stop")),
        ("LASER,12", CountEvent("LASER", 12)),
        ("LASER, 12, plc-1", CountEvent("LASER", 12, key="plc-1")),
        ('"ΜΟΝΤΑΖ 1",stop', CountEvent("ΜΟΝΤΑΖ 1", 0, "stop")),
        ("3,0", CountEvent("3", 0)),
    ],
)
def test_lines_parse(line: str, event: CountEvent) -> None:
    assert parse_line(line) == event


@pytest.mark.parametrize(
    "line",
    [
        "LASER",
        "LASER,-3",
        "LASER,many",
        '{"quantity": 3}',
        "{not json",
        "LASER,3,x,y",
        '{"workstation": "LASER", "event": "explode"}',
        "LASER,nan",
    ],
)
def test_bad_lines_are_refused_with_a_reason(line: str) -> None:
    with pytest.raises(BadEvent):
        parse_line(line)


def test_mqtt_payloads_take_the_workstation_from_the_topic() -> None:
    fields = Fields()
    assert parse_payload("factory/LASER/count", b"12", fields, 1) == CountEvent("LASER", 12)
    assert parse_payload("factory/LASER/count", b"stop", fields, 1) == CountEvent("LASER", 0, "stop")
    assert parse_payload("factory/LASER/count", b'{"quantity": 5, "id": "a"}', fields, 1) == CountEvent(
        "LASER", 5, key="a"
    )
    assert parse_payload("factory/x/count", b'{"workstation": "3", "quantity": 5}', fields, 1) == CountEvent("3", 5)
    nested = Fields(workstation="machine.station", quantity="counters.good")
    assert parse_payload(
        "t", b'{"machine": {"station": "LASER"}, "counters": {"good": 9}}', nested, None
    ) == CountEvent("LASER", 9)


# --- policy ----------------------------------------------------------------------------------------


def test_thresholds_from_the_ideal_rate_follow_epoptias_example() -> None:
    assert threshold_for(7000, 600) == 1200  # 1,166.7 pieces in 10 minutes -> 'every 1,200 pcs'
    assert threshold_for(7000, 300) == 590
    assert threshold_for(100, 600) == 17
    config = RelayConfig(
        policy={"LASER": Policy(rate=7000), "7": Policy(cycle_time=3600 / 7000, period=300), "8": Policy(threshold=50)}
    )
    assert config.policy_for(3, "LASER") == (600, 1200)
    assert config.policy_for(7) == (300, 590)
    assert config.policy_for(8) == (600, 50)
    assert config.policy_for(9) == (600, math.inf)
    with pytest.raises(ValueError, match="only one of"):
        Policy(threshold=5, rate=7000)


def test_seven_thousand_an_hour_go_every_ten_minutes(tmp_path: Path) -> None:
    config = RelayConfig(workstations={"LASER": LASER}, policy={"LASER": Policy(rate=7000)})
    relay, _intake, clock, fake, feed, log = make(tmp_path, config)
    start = clock.now()
    for minute in range(1, 61):
        feed(f"LASER,{minute * 7000 // 60 - (minute - 1) * 7000 // 60}")
        clock.advance(60)
        relay.tick()
    assert fake.received == [1166, 1167, 1167, 1166, 1167, 1167]
    assert [t - start for t, _, _ in sends(log)] == [600, 1200, 1800, 2400, 3000, 3600]
    assert {r for _, _, r in sends(log)} == {"period"}


def test_the_period_counts_from_the_last_send_while_the_machine_runs_and_from_the_first_piece_after_a_pause(
    tmp_path: Path,
) -> None:
    relay, _intake, clock, _fake, feed, log = make(tmp_path)
    t0 = clock.now()
    feed("LASER,5")
    clock.advance(600)
    relay.tick()
    clock.advance(60)
    feed("LASER,5")  # the first piece after the send comes a minute later: still due 10 minutes after the send
    clock.advance(539)
    relay.tick()
    clock.advance(1)
    relay.tick()
    clock.advance(3600)  # an idle hour, then one piece: a full period from that piece
    feed("LASER,5")
    clock.advance(599)
    relay.tick()
    clock.advance(1)
    relay.tick()
    assert [t - t0 for t, _, _ in sends(log)] == [600, 1200, 1200 + 3600 + 600]


def test_the_threshold_goes_first_when_the_machine_runs_fast(tmp_path: Path) -> None:
    config = RelayConfig(workstations={"LASER": LASER}, threshold=1000)
    relay, _intake, clock, fake, feed, log = make(tmp_path, config)
    for _ in range(9):
        feed("LASER,117")
        relay.tick()
        clock.advance(60)
    assert fake.received == [1053] and sends(log)[0][2] == "threshold"


def test_a_stop_flushes_at_once_and_a_zero_never_goes(tmp_path: Path) -> None:
    relay, _intake, clock, fake, feed, log = make(tmp_path)
    feed("LASER,5", "LASER,3")
    relay.tick()
    assert fake.received == []
    feed("LASER,stop")
    relay.tick()
    assert fake.received == [8] and sends(log)[0][2] == "stop"
    feed("LASER,alarm", "LASER,0")
    clock.advance(3600)
    relay.tick()
    relay.tick(final=True)
    assert fake.received == [8]
    assert relay.spool.take(LASER, clock.now(), "stop") is None  # the spool itself never makes a zero batch


def test_shutdown_sends_every_pending_sum(tmp_path: Path) -> None:
    relay, _intake, _clock, fake, feed, log = make(tmp_path)
    feed("LASER,5")
    relay.tick(final=True)
    assert fake.received == [5] and sends(log)[0][2] == "shutdown"


# --- the spool -------------------------------------------------------------------------------------


def test_repeated_event_ids_are_dropped_per_workstation(tmp_path: Path) -> None:
    _relay, intake, _clock, _fake, feed, log = make(tmp_path)
    feed("LASER,5,a", "LASER,5,a", "3,5,a", '{"workstation": "LASER", "quantity": 5, "id": "b"}')
    assert intake.spool.stations()[0].pending == 10
    assert any(e["event"] == "repeats_dropped" and e["count"] == 2 for e in log)


def test_unknown_workstations_and_bad_lines_are_kept_not_dropped(tmp_path: Path) -> None:
    _relay, intake, _clock, _fake, feed, _log = make(tmp_path)
    feed("PRESS,5", "LASER,lots")
    status = read_status(intake.spool.path, None)
    assert [r["raw"] for r in status["rejected"]] == ["LASER,lots", "PRESS,5"]
    assert "unknown workstation 'PRESS'" in render_status(status)


def test_a_refused_send_goes_back_to_pending_and_is_retried_with_backoff(tmp_path: Path) -> None:
    relay, intake, clock, fake, feed, _log = make(tmp_path)
    feed("LASER,5", "LASER,stop")
    fake.fault = "refuse"
    relay.tick()
    st = intake.spool.stations()[0]
    assert (st.pending, st.failures) == (5, 1) and "no line is running" in st.last_error
    feed("LASER,2")
    clock.advance(4)
    relay.tick()
    assert fake.received == []
    fake.fault = None
    clock.advance(600)
    relay.tick()
    assert fake.received == [7]
    assert intake.spool.stations()[0].last_error is None


# --- settling a send without an answer -------------------------------------------------------------


@pytest.mark.parametrize("fault, arrived", [("lose_answer", True), ("server_error_after", True), ("no_request", False)])
@pytest.mark.parametrize("with_ids", [False, True])
def test_an_unanswered_send_is_settled_by_a_read(tmp_path: Path, fault: str, arrived: bool, with_ids: bool) -> None:
    fake = FakeEpoptia(with_ids=with_ids)
    relay, intake, clock, fake, feed, log = make(tmp_path, fake=fake)
    feed("LASER,10", "LASER,stop")
    relay.tick()  # baseline read, then a send that works
    assert fake.received == [10]
    feed("LASER,7", "LASER,stop")
    fake.fault = fault
    relay.tick()
    assert intake.spool.batches(["uncertain"])
    feed("LASER,4")  # counting goes on
    fake.fault = None
    clock.advance(5)
    relay.tick()  # the read settles it
    relay.tick(final=True)
    assert sum(fake.received) == 21, fake.received
    verdicts = [e["verdict"] for e in log if e["event"] == "settled"]
    assert verdicts == ["arrived" if arrived else "did_not_arrive"]


def test_a_crash_between_send_and_mark_is_settled_at_restart(tmp_path: Path) -> None:
    relay, _intake, clock, fake, feed, _log = make(tmp_path)
    feed("LASER,10", "LASER,stop")
    relay.tick()
    feed("LASER,7", "LASER,stop")
    # The crash: the batch is taken and sent, and the relay dies before it records the answer.
    batch = relay.spool.take(LASER, clock.now(), "stop")
    fake.complete(LASER, batch.quantity)
    relay2, *_ = make(tmp_path, fake=fake)
    relay2.recover()
    relay2.tick()
    relay2.tick(final=True)
    assert fake.received == [10, 7]


def test_an_outage_keeps_the_workstation_waiting_until_a_read_works(tmp_path: Path) -> None:
    relay, _intake, clock, fake, feed, _log = make(tmp_path)
    feed("LASER,10", "LASER,stop")
    relay.tick()
    feed("LASER,7", "LASER,stop")
    fake.fault = "no_request"
    relay.tick()
    fake.fault = "read_down"
    for _ in range(30):  # five minutes of outage
        feed("LASER,1")
        clock.advance(10)
        relay.tick()
    assert fake.received == [10]
    fake.fault = None
    clock.advance(120)
    relay.tick()
    relay.tick(final=True)
    assert sum(fake.received) == 47


def test_a_foreign_report_makes_it_unknown_and_a_person_resolves_it(tmp_path: Path) -> None:
    relay, intake, clock, fake, feed, _log = make(tmp_path)
    feed("LASER,10", "LASER,stop")
    relay.tick()
    feed("LASER,7", "LASER,stop")
    fake.fault = "lose_answer"
    relay.tick()
    fake.steps[2001] += 3  # an operator typed 3 pieces on the old line meanwhile
    fake.fault = None
    clock.advance(5)
    relay.tick()
    assert [b.id for b in intake.spool.batches(["unknown"])] == [2]
    text = render_status(read_status(intake.spool.path, None))
    assert "--resolve 2:applied" in text
    intake.spool.resolve(2, True, clock.now())
    assert intake.spool.stations()[0].sent_total == 17
    relay.tick(final=True)
    assert fake.received == [10, 7]


def test_settle_rule() -> None:
    steps = {1: ("L1", 110.0), 2: ("L2", 5.0)}
    assert settle(10, steps, {1: 100.0}, 0).applied is None  # a new step moved by 5 too
    assert settle(15, steps, {1: 100.0}, 0).applied is True
    assert settle(15, steps, {1: 100.0, 2: 5.0}, 0).applied is None
    assert settle(10, steps, {1: 100.0, 2: 5.0}, 0).applied is True
    assert settle(10, steps, {1: 110.0, 2: 5.0}, 0).applied is False
    assert settle(10, steps, {1: 90.0, 2: 5.0}, 10).applied is True  # 10 sent earlier without a step in the answer
    assert settle(10, None, {}, 0).applied is None
    assert settle(10, steps, None, 0).applied is None


# --- halt ------------------------------------------------------------------------------------------


def test_a_halt_stops_sending_while_counting_goes_on(tmp_path: Path) -> None:
    relay, intake, clock, fake, feed, log = make(tmp_path)
    feed("LASER,10", "LASER,stop")
    fake.fault = "halt"
    relay.tick()
    assert fake.received == [] and intake.spool.stations()[0].pending == 10
    fake.fault = None
    for _ in range(10):
        feed("LASER,1", "LASER,stop")
        clock.advance(600)
        relay.tick()
    assert fake.received == [] and intake.spool.stations()[0].pending == 20
    assert [e["event"] for e in log].count("halted") == 1
    fake.halt = None  # `reconciler halt clear`
    relay.tick()
    assert fake.received == [20] and any(e["event"] == "resumed" for e in log)


# --- acknowledgement ---------------------------------------------------------------------------------


def test_a_count_is_acknowledged_only_after_the_spool_commit(tmp_path: Path, monkeypatch) -> None:
    from reconciler.relay.runner import run
    from reconciler.relay.sources import EOF, Delivery

    order: list[str] = []
    real_absorb = Spool.absorb

    def absorb(self, *args, **kwargs):
        result = real_absorb(self, *args, **kwargs)
        order.append("committed")
        return result

    monkeypatch.setattr(Spool, "absorb", absorb)

    class OneLine:
        name = "stdin"

        def __init__(self, out) -> None:
            self.out = out

        def start(self) -> None:
            self.out.put(
                Delivery(
                    [Parsed("stdin", "LASER,5", event=CountEvent("LASER", 5))], lambda: order.append("acknowledged")
                )
            )
            self.out.put(EOF)

        def stop(self) -> None:
            pass

        def close(self) -> None:
            pass

    fake = FakeEpoptia()
    config = RelayConfig(workstations={"LASER": LASER})
    result = run(
        spool_path=tmp_path / "s.sqlite",
        config=config,
        sender=fake,
        directory=MappingDirectory(config.workstations),
        clock=ManualClock(0),
        halt=fake,
        timeout=0,
        log=lambda *a, **k: None,
        make_sources=lambda q: [OneLine(q)],
    )
    assert order == ["committed", "acknowledged"]
    assert fake.received == [5] and result["pending_left"] == 0  # the end of input flushes


def test_the_readme_configuration_is_valid_and_gives_the_pages_threshold() -> None:
    import re

    from ruamel.yaml import YAML

    from reconciler.config import Target

    from .conftest import ROOT

    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Machines on the shop floor: the relay", 1)[1]
    block = re.findall(r"```yaml\n(.*?)```", section.split("\n## ", 1)[0], flags=re.DOTALL)[0]
    target = Target.model_validate(YAML(typ="safe").load(block)["targets"]["production"])
    assert target.relay is not None and target.relay.policy_for(3, "LASER") == (600, 1200)
    assert target.relay.policy_for(7, "ΜΟΝΤΑΖ 1") == (300, 67)
