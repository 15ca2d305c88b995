"""Apply windows in the factory's time zone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError

from reconciler.windows import ApplyWindows

from .e2e import Repo
from .emulator_process import EmulatorProcess

ATHENS = {
    "timezone": "Europe/Athens",
    "allow": [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "07:00", "to": "21:00"}],
    "deny": [{"from": "13:45", "to": "14:15"}],  # shift change
}


def at(utc: str) -> dt.datetime:
    return dt.datetime.fromisoformat(utc)


@pytest.mark.parametrize(
    "utc,allowed,opens",
    [
        ("2026-11-24T03:55:00+00:00", False, "Tue 2026-11-24 07:00"),  # 05:55 in Athens: waits for the morning
        ("2026-11-24T08:00:00+00:00", True, None),
        ("2026-11-24T11:50:00+00:00", False, "Tue 2026-11-24 14:15"),  # shift change
        ("2026-11-28T08:00:00+00:00", False, "Mon 2026-11-30 07:00"),  # Saturday
        ("2026-07-14T04:30:00+00:00", True, None),  # 07:30 in summer time (UTC+3)
    ],
)
def test_windows_in_local_time(utc: str, allowed: bool, opens: str | None) -> None:
    check = ApplyWindows.model_validate(ATHENS).check(at(utc))
    assert check.allowed is allowed
    if opens:
        assert check.message.endswith(f"the next window opens {opens}")


def test_a_window_past_midnight_belongs_to_the_day_it_starts() -> None:
    night = ApplyWindows.model_validate(
        {"timezone": "UTC", "allow": [{"days": ["fri"], "from": "22:00", "to": "04:00"}]}
    )
    assert night.check(at("2026-11-27T23:00:00+00:00")).allowed  # Friday 23:00
    assert night.check(at("2026-11-28T03:00:00+00:00")).allowed  # Saturday 03:00, still Friday's night
    assert not night.check(at("2026-11-28T23:00:00+00:00")).allowed  # Saturday 23:00


def test_unknown_time_zone_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Europe/Atlantis'"):
        ApplyWindows.model_validate({"timezone": "Europe/Atlantis"})


def test_plan_says_and_apply_refuses_outside_the_window(tmp_path: Path, emulator: EmulatorProcess) -> None:
    root = tmp_path / "factory"
    root.mkdir()
    repo = Repo(root, emulator)
    config = (root / "reconciler.yaml").read_text(encoding="utf-8")
    closed = config + "    apply_windows:\n      timezone: Europe/Athens\n      deny: [{from: '00:00', to: '00:00'}]\n"
    (root / "reconciler.yaml").write_text(closed, encoding="utf-8")
    plan = repo.run("plan")
    assert "Apply window: an apply now (" in plan.stdout and "is outside the apply windows" in plan.stdout
    refused = repo.run("apply", "--auto-approve")
    assert (
        refused.returncode == 1
        and "refusing to apply to 'test'" in refused.stderr
        and "--ignore-window" in refused.stderr
    )
    assert emulator.lines() == {}
    assert repo.run("apply", "--auto-approve", "--ignore-window").returncode == 0
    (root / "reconciler.yaml").write_text(
        config + "    apply_windows:\n      timezone: Europe/Athens\n      allow: [{from: '00:00', to: '00:00'}]\n",
        encoding="utf-8",
    )
    assert "is inside the apply windows" in repo.run("plan").stdout
