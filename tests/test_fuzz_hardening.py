"""Hostile input, generated: the reconciler refuses it with a place and a reason, or takes it and stays true.

- Mutated manifests (hostile values anywhere, byte damage): a ManifestError whose
  every problem has a file, line and column inside the file, or accepted input
  that holds no invalid value (ids with spaces, booleans as quantities, numbers
  as dates...). Never another exception.
- Accepted mutations are applied to an emulator and planned again: the second
  plan has nothing to do.
- Damaged state files: read, or a StateError. Never another exception.

bench/fuzz.py runs the same generators for as long as you like and counts.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.commands.apply import ApplyRequest, ApplyStatus, apply_target
from reconciler.commands.hooks import QuietHooks
from reconciler.commands.plan import PlanRequest, plan_target
from reconciler.context import Context
from reconciler.emulator.server import EmulatorServer
from reconciler.errors import ReconcilerError, StateError
from reconciler.planning import RefreshScope
from reconciler.state import ResourceState, State, StateStore

from .conftest import ROOT
from .fuzzing import damage_text, invalid_values, load_in, mutated_factory, well_placed

SAMPLE = {
    str(p.relative_to(ROOT / "manifests")): p.read_text(encoding="utf-8")
    for p in sorted((ROOT / "manifests").rglob("*.yaml"))
}


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32))
def test_mutated_manifests_are_refused_with_a_place_or_taken_valid(seed: int) -> None:
    rng = random.Random(seed)
    files = mutated_factory(SAMPLE, rng)
    with tempfile.TemporaryDirectory() as tmp:
        desired, error = load_in(Path(tmp), files)
        if error is not None:
            assert well_placed(error, files, Path(tmp)) == [], str(error)
            assert len(str(error)) < 60 * 500, "a message quotes too much"
        else:
            assert invalid_values(desired) == []


KEY = "emu-fuzz-key-0123456789"


def _repo(root: Path, url: str, files: dict[str, bytes]) -> Context:
    (root / "manifests").mkdir(parents=True)
    for name, content in files.items():
        target = root / "manifests" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    (root / "reconciler.yaml").write_text(
        "manifests: manifests\ndefault_target: t\ntargets:\n  t:\n"
        f"    endpoint: {url}\n    api_key_env: FUZZ_KEY\n    state: state/t.json\n"
        "    throttle: {read_interval: 0, write_interval: 0}\n    retries: {attempts: 1, backoff: 0}\n",
        encoding="utf-8",
    )
    return Context.open(root / "reconciler.yaml")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32))
def test_accepted_mutations_apply_and_the_next_plan_is_empty(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    files = mutated_factory(SAMPLE, rng)
    with tempfile.TemporaryDirectory() as tmp:
        _, error = load_in(Path(tmp) / "probe", files)
        if error is not None:
            return
        monkeypatch.setenv("FUZZ_KEY", KEY)
        with EmulatorServer(api_keys=(KEY,)) as server:
            context = _repo(Path(tmp) / "repo", server.url, files)
            try:
                outcome = apply_target(context, ApplyRequest(auto_approve=True, allow_mass_delete=True), QuietHooks())
            except ReconcilerError:
                return  # refused with a reason (an unknown workflow name, a blocked action): never a traceback
            if outcome.status is ApplyStatus.APPLIED and outcome.report is not None and not outcome.report.complete:
                return  # Epoptia refused a row (e.g. a product without a workflow): reported, not converged
            again = plan_target(context, PlanRequest(refresh=RefreshScope.FULL), QuietHooks()).plan
            assert again.runnable == (), [a.address for a in again.runnable]


def _valid_state_text(tmp: Path) -> tuple[Path, str]:
    store = StateStore(tmp / "state.json")
    store.write(
        State(
            resources={
                f"WorkOrderLine/{i}": ResourceState(digest=f"{i:032x}", parent="WO-1", payload={"quantity": i + 1})
                for i in range(20)
            }
            | {"WorkOrder/WO-1": ResourceState(digest="a" * 32, payload={"client": "C-1"})}
        )
    )
    return store.path, store.path.read_text(encoding="utf-8")


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_a_damaged_state_file_is_read_or_refused_with_a_state_error(seed: int) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        path, text = _valid_state_text(Path(tmp))
        for _ in range(rng.randint(1, 3)):
            text = damage_text(text, rng)
            if rng.random() < 0.3:
                text = text.replace('"WorkOrderLine/3"', rng.choice(['"Nonsense/3"', '"WorkOrderLine/4"', '"/"']))
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        for read in (lambda: StateStore(path).snapshot().index, lambda: StateStore(path).read()):
            try:
                read()
            except StateError as error:
                assert str(path) in str(error)
