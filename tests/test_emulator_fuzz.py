"""No 500 on garbage: random JSON to every write route and admin route, over real HTTP.

Bodies are random JSON (every type, nesting, any unicode including lone surrogates, huge
numbers, nulls), rows with the real field names holding random values, and valid lines with
a few fields made random. Whatever arrives, the answer is below 500, and a normal request
right afterwards still works (nothing was left open or half-done). Bounded to about 30 s.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from reconciler.epoptia.profile import DEFAULT_PROFILE, Operation

from .emulator_process import EmulatorProcess
from .test_emulator_contract import client, line, product, seeded

BUDGET_SECONDS = 30
ADMIN = "/_emulator/"


def api(operation: Operation) -> str:
    return DEFAULT_PROFILE.endpoint(operation).path


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        yield from value
    for child in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
        yield from _keys(child)


# One valid body per route: mutating a few of its values reaches the deep parsers, which
# random JSON alone seldom gets past the first refusal to.
VALID_BODIES: dict[str, Any] = {
    api(Operation.UPSERT_LINES): {"data": [line(), line("131320", workflow_id=1, erp_routing=None)]},
    api(Operation.DELETE_LINES): {"data": [{"workorderline_id": "131320"}, {"workorder_id": "WO-9"}]},
    api(Operation.ARCHIVE_LINES): {"data": [{"workorderline_id": "131319"}]},
    api(Operation.UPSERT_CLIENTS): {"data": [client(city="Βόλος", vat_rate="24")]},
    api(Operation.UPSERT_PRODUCTS): {"data": [product(workflow_id=1, active="true")]},
    api(Operation.WORKSTATION_CONTROL): {
        "action": "complete",
        "workstation_id": 1,
        "quantity": 5,
        "workorderline_id": "131319",
    },
    api(Operation.OPERATOR_LOGIN): {"username": "demo", "password": "demo"},
    api(Operation.OPERATOR_LOGOUT): {},
    ADMIN + "clock": {"advance_seconds": 60, "advance_days": 1},
    ADMIN + "faults": {"latency_ms": 0, "lose_rows": ["1"], "mangle": {"field": "comments", "append": "!"}},
    ADMIN + "operators": {"username": "maria", "password": "x"},
    ADMIN + "keys": {"key": "emu-another-key"},
    ADMIN + "stats/reset": {},
}
assert {e.path for e in DEFAULT_PROFILE.operations.values() if e.method == "POST"} <= set(VALID_BODIES)
FIELD_NAMES = sorted({k for body in VALID_BODIES.values() for k in _keys(body)} | {"bom", "wol_tag", "files", "kind"})

# Text from all of unicode, half of it lone surrogates (Hypothesis leaves them out unless asked).
# (st.text would drop the surrogates of a one_of alphabet, so the characters are joined by hand.)
any_text = st.lists(st.one_of(st.characters(exclude_categories=[]), st.characters(categories=["Cs"])), max_size=12).map(
    "".join
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.integers(min_value=1, max_value=9).map(lambda n: n * 10**400),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, -1, 0.5, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**16, 1e308, -1e308, 5e-324]),
)
# Values that broke emulators before: ids and numbers past SQLite's 64 bits and JSON's doubles,
# digits that are not ASCII, half surrogate pairs, dates that are no dates, ids that exist.
nasty_numbers = st.sampled_from(
    [0, 1, -1, 0.5, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**16, 10**30, 1e308, -1e308, 5e-324]
)
nasty_texts = st.sampled_from(
    [
        "",
        " ",
        "1",
        "131319",
        "131320",
        "²",
        "٣",
        "\ud800",
        "a\udfff",
        "\udc00b",
        "x\ud83d",
        "\x00",
        "🙂",
        "9" * 40,
        "-0",
        "2026-12-04",
        "2026-02-30",
        "archive",
        "production",
        "complete",
        "start",
        "C-1",
        "P-1",
        "WO-1",
        "NaN",
        "1e400",
    ]
)
nasty = st.one_of(nasty_numbers, nasty_texts, any_text)
scalars = st.one_of(nasty, st.none(), st.booleans(), numbers, any_text)
keys = st.one_of(st.sampled_from(FIELD_NAMES), any_text)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=6),
    max_leaves=25,
)


@st.composite
def mutated(draw: st.DrawFn, valid: Any) -> Any:
    """``valid`` with a few values somewhere inside it replaced by random ones, or left out."""
    body = json.loads(json.dumps(valid))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        slots = list(_slots(body))
        if not slots:
            break
        parent, key = draw(st.sampled_from(slots))
        if isinstance(parent, dict) and draw(st.booleans()):
            parent.pop(key, None)
        else:
            parent[key] = draw(st.one_of(nasty, json_values))
    return body


def _slots(value: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key) inside ``value``, so any value at any depth can be replaced."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in list(items):
        yield value, key
        yield from _slots(child)


def request_for(path: str) -> st.SearchStrategy[tuple[str, Any]]:
    valid = VALID_BODIES[path]
    near_valid = mutated(valid) if list(_slots(valid)) else st.just(valid)
    bodies = st.one_of(
        near_valid, near_valid, json_values, st.lists(json_values, max_size=4).map(lambda rows: {"data": rows})
    )
    return st.tuples(st.just(path), bodies)


requests = st.lists(st.sampled_from(sorted(VALID_BODIES)).flatmap(request_for), min_size=1, max_size=10)
# A URL cannot carry a lone surrogate at all, so query values are drawn from encodable text.
page_params = st.dictionaries(
    st.sampled_from(["page", "limit"]), st.one_of(st.text(max_size=12), numbers.map(str)), max_size=2
)


class BudgetSpent(Exception):
    """Ends the search when the time is up (Hypothesis has a count of examples, not a clock)."""


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess(Path(tmp_path_factory.mktemp("fuzz")) / "emulator.sqlite").start()
    try:
        yield seeded(process)
    finally:
        process.stop()


def post(mes: EmulatorProcess, path: str, body: Any, headers: dict[str, str] | None = None) -> int:
    # ensure_ascii: lone surrogates travel as \ud800 escapes, as a careless client would send them.
    content = json.dumps(body, ensure_ascii=True).encode()
    response = mes.http.post(path, content=content, headers={"Content-Type": "application/json", **(headers or {})})
    assert response.status_code < 500, (path, body, response.status_code, response.text)
    return response.status_code


def read(mes: EmulatorProcess, page: int) -> dict[str, Any]:
    listed = mes.call(Operation.LIST_LINES, params={"page": page, "limit": 100})
    assert listed.status_code == 200 and "workorderLines" in listed.json(), listed.text
    return listed.json()


def still_works(mes: EmulatorProcess) -> None:
    # The last page holds the newest lines, the ones this example may have created with odd ids.
    read(mes, read(mes, 1)["numberOfPages"])
    assert mes.write(Operation.UPSERT_CLIENTS, [{"id": "C-1", "name": "Κατασκευαστική Αιγαίου ΑΕ"}])[0]["result"] in (
        "updated",
        "unchanged",
    )


def test_random_bodies_never_cause_a_server_error(fuzzed: EmulatorProcess) -> None:
    started, fresh_keys, sent_in_all = time.monotonic(), itertools.count(), []

    # No shrinking: a real failure is reported as found (its path and body are in the message), and the
    # clock cannot cut a shrink short and turn the failure into a BudgetSpent.
    @settings(
        max_examples=5000,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        sent=requests, token=st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=8), params=page_params
    )
    def check(sent: list[tuple[str, Any]], token: str, params: dict[str, str]) -> None:
        if time.monotonic() - started > BUDGET_SECONDS:
            raise BudgetSpent
        listed = fuzzed.call(Operation.LIST_LINES, params=params)
        assert listed.status_code < 500, (params, listed.status_code, listed.text)
        for path, body in sent:
            sent_in_all.append(post(fuzzed, path, body, {"Operator-Token": token} if token else None))
            if path == ADMIN + "faults":
                post(fuzzed, path, {})  # a valid random fault (503s, drops) must not outlive its request
            if path == ADMIN + "clock":
                # The clock may have jumped past the key's 60 days: carry on with a key made now.
                fuzzed.key = f"emu-fuzz-{next(fresh_keys)}"
                assert post(fuzzed, "/_emulator/keys", {"key": fuzzed.key}) == 200
                fuzzed.http.headers["X-Auth-Token"] = fuzzed.key
        still_works(fuzzed)

    try:
        check()
    except BudgetSpent:
        pass
    for page in range(1, read(fuzzed, 1)["numberOfPages"] + 1):  # every line the search left behind lists
        read(fuzzed, page)
    # The budget went on requests, and they reached past the first refusal (not only 400s and 422s).
    assert len(sent_in_all) > 500 and 200 in sent_in_all


# Garbage that once reached SQLite or the answer unchecked: each stays a named case, so that the
# random search above is a net for the unknown, not the only guard of the known.
KNOWN_GARBAGE = [
    (api(Operation.WORKSTATION_CONTROL), {"action": "complete", "workstation_id": 2**64, "quantity": 5}),
    (api(Operation.WORKSTATION_CONTROL), {"action": "start", "workstation_id": 1, "workorderline_id": {"a": 1}}),
    (api(Operation.WORKSTATION_CONTROL), {"action": "complete", "workstation_id": 1, "quantity": "1e400"}),
    (api(Operation.UPSERT_PRODUCTS), {"data": [product(workflow_id=2**64)]}),
    (api(Operation.UPSERT_PRODUCTS), {"data": [product(name="\ud800")]}),
    (api(Operation.UPSERT_CLIENTS), {"data": [client(vat_rate=10**400)]}),
    (api(Operation.UPSERT_LINES), {"data": [line(workflow_id=-(2**63) - 1, erp_routing=None)]}),
    (api(Operation.UPSERT_LINES), {"data": [line(qty=2**64), line(qty="9" * 5000), line(qty=1e308)]}),
    (api(Operation.UPSERT_LINES), {"data": [line("²"), line("٣"), line("9" * 40), line(" ")]}),
    (
        api(Operation.UPSERT_LINES),
        {"data": [line(bom=[{"item": "x", "quantity": "Infinity"}], target_day="2026-02-30")]},
    ),
    (api(Operation.DELETE_LINES), {"data": [{"workorder_id": [1]}, {"workorderline_id": None}, 5]}),
    (api(Operation.OPERATOR_LOGIN), {"username": "\ud800", "password": "x"}),
    (api(Operation.OPERATOR_LOGIN), {"username": ["demo"], "password": {"x": 1}}),
]


@pytest.mark.parametrize("path, body", KNOWN_GARBAGE)
def test_known_garbage_is_refused_or_stored_cleanly(emulator: EmulatorProcess, path: str, body: Any) -> None:
    seeded(emulator)
    post(emulator, path, body)
    for params in ({"page": 10**30}, {"page": "²"}, {"limit": -1}, {"limit": 10**30}, {"page": "1e400"}):
        assert emulator.call(Operation.LIST_LINES, params=params).status_code == 400
    still_works(emulator)
