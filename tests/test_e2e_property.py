"""Property: for generated manifests, apply converges; after the shop floor starts lines and the manifests change
arbitrarily, apply (skipping what is blocked) converges again, and Epoptia never raised an alarm.

Each example runs the CLI against one emulator process (the confirmed read shape), with a tiny page and batch
size (several pages, several batches), 503s answered at random (retried), started and archived lines, step BOMs
and custom fields. The emulator implements Epoptia's rules on its own: an alarm means the plan sent a change
Epoptia refuses on a started line, which the planner must have blocked instead.

Failing examples found so far are kept as @example, so CI replays them first.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from reconciler.epoptia.profile import Operation as Op
from reconciler.epoptia.rows import control_body

from .e2e import KEY_ENV, Repo
from .emulator_process import EmulatorProcess

names = st.sampled_from(["LASER", "ΜΟΝΤΑΖ 1", "ΜΟΝΤΑΖ 2", "ΒΑΦΕΙΟ", "ΠΟΙΟΤΙΚΟΣ ΕΛΕΓΧΟΣ"])
text = st.text(alphabet=st.sampled_from("abcΑΒΓδεζ 0123-x"), min_size=1, max_size=12).map(str.strip).filter(bool)
LINE_IDS = (1, 2, 3, 4, 5, 6)  # per example, offset to ids of its own: examples share one emulator


@st.composite
def step(draw, station: str) -> dict:
    out: dict = {"workstation": station}
    if draw(st.booleans()):
        out["job_task"] = draw(text)
    if draw(st.integers(0, 3)) == 0:
        out["bom"] = [{"item": draw(text), "quantity": draw(st.sampled_from([1, 2.5]))}]
    if draw(st.integers(0, 3)) == 0:
        out["custom_fields"] = {"ΧΡΩΜΑ": draw(st.sampled_from(["RAL 9016", "RAL 7016"]))}
    return out


@st.composite
def line(draw, n: int) -> dict:
    out = {"id": n, "product": draw(st.sampled_from(["P-1", "P-2"])), "quantity": draw(st.integers(1, 50))}
    if draw(st.booleans()):
        out["comments"] = draw(text)
    if draw(st.booleans()):
        out["custom_fields"] = {"ΔΙΑΣΤΑΣΕΙΣ": draw(text)}
    if draw(st.integers(0, 3)) == 0:
        out["bom"] = [{"item": draw(text), "quantity": draw(st.sampled_from([1, 2.5, 12])), "unit": "kg"}]
    if draw(st.booleans()):
        out["target_day"] = draw(st.dates().map(lambda d: d.replace(year=2026).isoformat()))
    how = draw(st.sampled_from(["routing", "routing", "named", "workflow"]))
    if how == "workflow":
        out["workflow"] = "Διέλαση και Βαφή"
    elif how == "named":
        out["routing"] = "ΚΟΙΝΗ"
    else:
        out["routing"] = [draw(step(s)) for s in draw(st.lists(names, min_size=1, max_size=3, unique=True))]
    if draw(st.integers(0, 5)) == 0:
        out["archived"] = True
    return out


@st.composite
def factory(draw) -> list[dict]:
    """Up to three work orders holding lines of LINE_IDS (a line id stays in one work order across edits)."""
    chosen = draw(st.lists(st.sampled_from(LINE_IDS), min_size=1, max_size=6, unique=True))
    orders = []
    for w in range(3):
        lines = [draw(line(n)) for n in sorted(chosen) if (n - 1) % 3 == w]
        if lines:
            orders.append(
                {
                    "kind": "WorkOrder",
                    "id": f"WO-{w}",
                    "client": draw(st.sampled_from(["C-1", "C-2"])),
                    "comments": draw(st.sampled_from(["", "Παράδοση πρωί"])),
                    "lines": lines,
                }
            )
    return orders


MASTER = [
    {"kind": "Client", "items": [{"id": "C-1", "name": "Αιγαίου ΑΕ"}, {"id": "C-2", "name": "Nordic AB"}]},
    {"kind": "Product", "items": [{"id": "P-1", "name": "Προφίλ"}, {"id": "P-2", "name": "Παράθυρο"}]},
    {
        "kind": "Routing",
        "id": "ΚΟΙΝΗ",
        "steps": [
            {"workstation": "LASER", "job_task": "Κοπή"},
            {"workstation": "ΒΑΦΕΙΟ", "bom": [{"item": "ΒΑΦΗ", "quantity": 1}]},
        ],
    },
]

_examples = itertools.count(1)


def write(root: Path, docs: list[dict], offset: int) -> None:
    from ruamel.yaml import YAML

    folder = root / "manifests"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    renamed = [
        {**d, "id": f"{d['id']}-{offset}", "lines": [{**x, "id": offset * 100 + x["id"]} for x in d["lines"]]}
        for d in docs
    ]
    with open(folder / "factory.yaml", "w", encoding="utf-8") as fh:
        YAML().dump_all(MASTER + renamed, fh)


def configure(root: Path, emulator: EmulatorProcess) -> None:
    (root / "reconciler.yaml").write_text(
        "manifests: manifests\ndefault_target: test\ntargets:\n  test:\n"
        f"    endpoint: {emulator.url}\n    api_key_env: {KEY_ENV}\n    state: state/test.json\n"
        "    throttle: {read_interval: 0, write_interval: 0}\n    retries: {attempts: 8, backoff: 0.01}\n"
        "    profile: {batch_size: 2, page_size: 3}\n",
        encoding="utf-8",
    )


def start_some(emulator: EmulatorProcess, docs: list[dict], offset: int, which: set[int], done: int) -> None:
    """An operator starts the chosen (routing, not archived) lines at their first workstation; some pieces are made."""
    token = emulator.call(Op.OPERATOR_LOGIN, {"username": "demo", "password": "demo"}).json()["token"]
    for doc in docs:
        for x in doc["lines"]:
            if x["id"] not in which or x.get("archived") or "workflow" in x:
                continue
            first = x["routing"][0]["workstation"] if isinstance(x["routing"], list) else "LASER"
            station = emulator.workstation(first)
            body = control_body("start", station, None, str(offset * 100 + x["id"]))
            answer = emulator.call(Op.WORKSTATION_CONTROL, body, headers={"Operator-Token": token})
            assert answer.status_code == 200, answer.text
            if done:
                answer = emulator.call(Op.WORKSTATION_CONTROL, control_body("complete", station, done, None))
                assert answer.status_code == 200, answer.text


SIMPLE = [
    {
        "kind": "WorkOrder",
        "id": "WO-0",
        "client": "C-1",
        "comments": "",
        "lines": [{"id": 1, "product": "P-1", "quantity": 5, "routing": "ΚΟΙΝΗ"}],
    }
]


# What both runs draw: two factories (before and after an edit), which lines start, how many pieces
# are reported done, and the seed of the faults.
examples = given(
    first=factory(),
    second=factory(),
    started=st.sets(st.sampled_from(LINE_IDS)),
    done=st.sampled_from([0, 3]),
    seed=st.integers(0, 1000),
)


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@examples
# A started line whose step BOM changes: rule 2 lets it through, and the routing it rides on must not alarm.
@example(
    first=SIMPLE,
    second=[
        {
            **SIMPLE[0],
            "lines": [
                {
                    **SIMPLE[0]["lines"][0],
                    "routing": [
                        {"workstation": "LASER", "job_task": "Κοπή", "bom": [{"item": "ΛΑΜΑΡΙΝΑ", "quantity": 2}]},
                        {"workstation": "ΒΑΦΕΙΟ", "bom": [{"item": "ΒΑΦΗ", "quantity": 1}]},
                    ],
                }
            ],
        }
    ],
    started={1},
    done=3,
    seed=1,
)
# A started line archived while its work order's client changes: the client stays (a bug this test found).
@example(
    first=SIMPLE,
    second=[{**SIMPLE[0], "comments": "x", "lines": [{**SIMPLE[0]["lines"][0], "archived": True}]}],
    started={1},
    done=0,
    seed=2,
)
def test_apply_converges_and_epoptia_never_alarms(
    emulator: EmulatorProcess, first, second, started, done, seed
) -> None:
    run_example(emulator, first, second, started, done, seed)


def test_a_started_line_archived_keeps_its_work_orders_client(emulator: EmulatorProcess) -> None:
    second = [{**SIMPLE[0], "client": "C-2", "lines": [{**SIMPLE[0]["lines"][0], "archived": True}]}]
    run_example(emulator, SIMPLE, second, {1}, 0, 2)


def _event(name: str) -> None:
    if currently_in_test_context():  # run_example also runs as a plain test
        event(name)


def run_example(emulator: EmulatorProcess, first, second, started, done, seed) -> None:
    offset = next(_examples)
    emulator.faults(error_rate=0.15, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = Repo(root, emulator, manifests=False)
        configure(root, emulator)
        write(root, first, offset)
        applied = repo.run("apply", "--auto-approve")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        after = repo.run("plan", "--detailed-exitcode")
        assert after.returncode == 0, after.stdout
        emulator.faults()
        start_some(emulator, first, offset, started, done)
        emulator.faults(error_rate=0.15, seed=seed + 1)
        write(root, second, offset)
        edited = repo.run("apply", "--auto-approve", "--skip-blocked", "--allow-mass-delete")
        assert edited.returncode == 0, edited.stdout + edited.stderr
        summary = next((x for x in edited.stdout.splitlines() if x.startswith("Plan: ")), " 0 blocked. 0 to archive")
        _event("blocked" if not summary.endswith(" 0 blocked.") else "nothing blocked")
        _event("archives" if " 0 to archive" not in summary else "no archive")
        _event("batches > 1" if edited.stderr.count("Applying: ") > 1 else "one batch")
        final = repo.run("plan", "--detailed-exitcode", "--skip-blocked", "--allow-mass-delete")
        assert final.returncode == 0, final.stdout  # only blocked actions are left, if any
    alarms = emulator.inspect("alarms")["alarms"]
    assert alarms == [], alarms
    creates = emulator.stats()["creates_by_id"]
    assert all(n == 1 for n in creates.values()), creates  # never a line created twice


@pytest.mark.slow
@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@examples
def test_apply_converges_and_epoptia_never_alarms_long(
    emulator: EmulatorProcess, first, second, started, done, seed
) -> None:
    """The same property with fresh random examples: `pytest -m slow tests/test_e2e_property.py` (about 5 min)."""
    run_example(emulator, first, second, started, done, seed)
