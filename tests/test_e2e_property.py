"""Property: for generated manifests, apply then plan is empty; so is any edit of them, applied."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .e2e import Repo
from .emulator_process import EmulatorProcess

names = st.sampled_from(["LASER", "ΜΟΝΤΑΖ 1", "ΜΟΝΤΑΖ 2", "ΒΑΦΕΙΟ", "ΠΟΙΟΤΙΚΟΣ ΕΛΕΓΧΟΣ"])
text = st.text(alphabet=st.sampled_from("abcΑΒΓδεζ 0123-x"), min_size=1, max_size=12).map(str.strip).filter(bool)


@st.composite
def line(draw, line_id: int) -> dict:
    out = {"id": line_id, "product": draw(st.sampled_from(["P-1", "P-2"])), "quantity": draw(st.integers(1, 5000))}
    if draw(st.booleans()):
        out["comments"] = draw(text)
    if draw(st.booleans()):
        out["custom_fields"] = {"ΔΙΑΣΤΑΣΕΙΣ": draw(text)}
    if draw(st.booleans()):
        out["bom"] = [{"item": draw(text), "quantity": draw(st.sampled_from([1, 2.5, 12])), "unit": "kg"}]
    if draw(st.booleans()):
        out["target_day"] = draw(st.dates().map(lambda d: d.replace(year=2026).isoformat()))
    how = draw(st.sampled_from(["workflow", "routing", "named"]))
    if how == "workflow":
        out["workflow"] = "Διέλαση και Βαφή"
    elif how == "named":
        out["routing"] = "ΚΟΙΝΗ"
    else:
        stations = draw(st.lists(names, min_size=1, max_size=3, unique=True))
        out["routing"] = [{"workstation": s} if draw(st.booleans()) else {"workstation": s, "job_task": draw(text)}
                          for s in stations]
    return out


@st.composite
def factory(draw) -> list[dict]:
    orders = []
    next_id = 700000
    for w in range(draw(st.integers(1, 3))):
        lines = []
        for _ in range(draw(st.integers(1, 3))):
            lines.append(draw(line(next_id)))
            next_id += 1
        orders.append({"kind": "WorkOrder", "id": f"WO-{w}", "client": draw(st.sampled_from(["C-1", "C-2"])),
                       "comments": draw(st.sampled_from(["", "Παράδοση πρωί"])), "lines": lines})
    return orders


MASTER = [
    {"kind": "Client", "items": [{"id": "C-1", "name": "Αιγαίου ΑΕ"}, {"id": "C-2", "name": "Nordic AB"}]},
    {"kind": "Product", "items": [{"id": "P-1", "name": "Προφίλ"}, {"id": "P-2", "name": "Παράθυρο"}]},
    {"kind": "Routing", "id": "ΚΟΙΝΗ", "steps": [{"workstation": "LASER", "job_task": "Κοπή"}, {"workstation": "ΒΑΦΕΙΟ"}]},
]


def write(root: Path, docs: list[dict]) -> None:
    from ruamel.yaml import YAML

    folder = root / "manifests"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    yaml = YAML()
    with open(folder / "factory.yaml", "w", encoding="utf-8") as fh:
        yaml.dump_all(MASTER + docs, fh)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(first=factory(), second=factory())
def test_apply_then_plan_is_empty_and_edits_converge(emulator: EmulatorProcess, first, second) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = Repo(root, emulator, manifests=False)
        write(root, first)
        applied = repo.run("apply", "--auto-approve")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        after = repo.run("plan", "--detailed-exitcode")
        assert after.returncode == 0, after.stdout
        # An arbitrary edit: the second factory reuses the same ids, so lines change, appear and disappear.
        write(root, second)
        edited = repo.run("apply", "--auto-approve", "--allow-mass-delete")
        assert edited.returncode == 0, edited.stdout + edited.stderr
        final = repo.run("plan", "--detailed-exitcode")
        assert final.returncode == 0, final.stdout
        # Start clean for the next example: the emulator is shared across examples.
        write(root, [])
        shutil.rmtree(root / "manifests")
        (root / "manifests").mkdir()
        (root / "manifests" / "m.yaml").write_text("kind: Client\nid: C-1\nname: Αιγαίου ΑΕ\n", encoding="utf-8")
        cleanup = repo.run("apply", "--auto-approve", "--allow-mass-delete")
        assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr


_RUNS = iter(range(1, 10**6))


def _renumbered(docs: list[dict], run: int) -> list[dict]:
    """The same factory under ids no earlier example used: started lines stay in the shared emulator."""
    out = []
    for wo in docs:
        lines = [{**ln, "id": ln["id"] + run * 1000} for ln in wo["lines"]]
        out.append({**wo, "id": f"{wo['id']}-{run}", "lines": lines})
    return out


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(first=factory(), second=factory(), starts=st.sets(st.integers(0, 8), min_size=1, max_size=2),
       skip_blocked=st.booleans())
def test_after_any_apply_the_next_plan_holds_only_blocked_actions(
    emulator: EmulatorProcess, first, second, starts: set[int], skip_blocked: bool
) -> None:
    """Issue 15, point 7: a change that cannot be sent is blocked or not planned, never planned and dropped."""
    import json

    from .test_e2e_apply import operator_start

    run = next(_RUNS)
    first, second = _renumbered(first, run), _renumbered(second, run)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = Repo(root, emulator, manifests=False)
        write(root, first)
        assert repo.run("apply", "--auto-approve").returncode == 0
        ids = [str(ln["id"]) for wo in first for ln in wo["lines"]]
        for i in sorted(starts):
            if i < len(ids):
                steps = emulator.stored("lines")[ids[i]]["steps"]
                operator_start(repo, ids[i], steps[0]["workstation"])
        write(root, second)
        options = ["--auto-approve", "--allow-mass-delete"] + (["--skip-blocked"] if skip_blocked else [])
        applied = repo.run("apply", *options)
        if applied.returncode != 0:
            # Without --skip-blocked a plan with a blocked action is refused whole, and says so.
            assert not skip_blocked and "blocked" in applied.stdout + applied.stderr, applied.stdout + applied.stderr
            applied = repo.run("apply", *options, "--skip-blocked")
            assert applied.returncode == 0, applied.stdout + applied.stderr
        plan = json.loads(repo.run("plan", "--format", "json").stdout)
        runnable = [f"{a['kind']}/{a['id']}" for a in plan["actions"] if not a.get("blocked")]
        assert runnable == [], runnable
