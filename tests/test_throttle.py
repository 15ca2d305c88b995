"""The halt file and the throttle's stamp, exactly: what a person reads, and what another process reads."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from reconciler.epoptia.errors import HaltedError
from reconciler.epoptia.settings import Spacing
from reconciler.epoptia.throttle import Halt, Throttle


def test_a_halt_is_written_read_explained_and_cleared(tmp_path: Path) -> None:
    halt = Halt(tmp_path / "halt" / "prod.json", "prod")
    assert halt.read() is None
    halt.check()  # not halted: nothing happens
    assert halt.clear() is False
    halt.set(403, "POST /api/3.03/workorderlines", "Forbidden: this address is blocked")
    info = json.loads((tmp_path / "halt" / "prod.json").read_text())
    assert set(info) == {"at", "status", "request", "reason", "pid"}
    assert (info["status"], info["request"], info["reason"], info["pid"]) == (
        403,
        "POST /api/3.03/workorderlines",
        "Forbidden: this address is blocked",
        os.getpid(),
    )
    assert halt.read() == info
    with pytest.raises(HaltedError) as caught:
        halt.check()
    assert caught.value.message == (
        f"requests to target 'prod' are halted since {info['at']}: Epoptia answered HTTP 403 to "
        "POST /api/3.03/workorderlines (Forbidden: this address is blocked)"
    )
    assert caught.value.hint == (
        "Epoptia blocks clients that send too fast; check with Epoptia that the address is "
        "not blocked, then run `reconciler halt clear --target prod`"
    )
    assert halt.clear() is True and halt.read() is None


def test_a_halt_without_a_target_name_and_an_unreadable_one(tmp_path: Path) -> None:
    halt = Halt(tmp_path / "h.json", "")
    halt.path.write_text("[not json")
    assert halt.read() == {"at": "unknown", "status": "?", "request": "?", "reason": "unreadable halt file"}
    with pytest.raises(HaltedError) as caught:
        halt.check()
    assert caught.value.hint.endswith("then run `reconciler halt clear`")
    halt.path.unlink()
    halt.path.mkdir()  # unreadable as a file
    assert halt.read()["reason"] == "unreadable halt file"


def test_the_stamp_says_when_the_last_request_ended_and_what_it_was(tmp_path: Path) -> None:
    throttle = Throttle(tmp_path / "t", "prod", Spacing(read_interval=0.05, write_interval=0.1))
    assert (tmp_path / "t").is_dir() and throttle.lock_path == tmp_path / "t" / "prod.lock"
    assert throttle._last() == (0.0, False)
    with throttle.slot(write=True):
        pass
    end, kind = (tmp_path / "t" / "prod.last").read_text().split()
    assert kind == "write" and abs(float(end) - time.time()) < 2
    assert throttle._last() == (float(end), True)
    started = time.monotonic()
    with throttle.slot(write=False):  # after a write: the write gap
        pass
    assert time.monotonic() - started >= 0.09
    assert throttle._last()[1] is False
    started = time.monotonic()
    with throttle.slot(write=False):  # after a read: the read gap
        pass
    assert 0.04 <= time.monotonic() - started < 0.09
    (tmp_path / "t" / "prod.last").write_text("garbage")
    assert throttle._last() == (0.0, False)


def test_a_request_that_fails_still_stamps(tmp_path: Path) -> None:
    throttle = Throttle(tmp_path, "t", Spacing(read_interval=0.0, write_interval=0.2))
    with pytest.raises(RuntimeError), throttle.slot(write=True):
        raise RuntimeError("the request failed")
    assert throttle._last()[1] is True
    unspaced = Throttle(tmp_path / "u", "t", Spacing(read_interval=0, write_interval=0))
    with unspaced.slot(write=True):
        pass
    assert not (tmp_path / "u" / "t.last").exists()
