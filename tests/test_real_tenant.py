"""A tenant that answers only the confirmed read, with the odd rows of a live list: every command still works.

The server (tests/confirmed_tenant.py) serves tests/real_rows.py over real HTTP
and answers Epoptia's 400 "command not found" to everything else.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.state import StateStore

from .confirmed_tenant import ConfirmedTenant
from .conftest import run_cli
from .real_rows import IMPORTABLE, NOT_IMPORTABLE, PAGE_SIZE

KEY = "real-tenant-key-0123456789"


class Factory:
    def __init__(self, root: Path, tenant: ConfirmedTenant, profile: str = "") -> None:
        self.root, self.tenant = root, tenant
        self.configure(profile)

    def configure(self, profile: str = "") -> None:
        (self.root / "reconciler.yaml").write_text(
            "manifests: manifests\ndefault_target: tenant\ntargets:\n  tenant:\n"
            f"    endpoint: {self.tenant.url}\n    api_key_env: TENANT_KEY\n    state: state/tenant.json\n"
            "    throttle: {read_interval: 0, write_interval: 0}\n"
            f"    profile:\n      page_size: {PAGE_SIZE}\n{profile}",
            encoding="utf-8",
        )

    def run(self, *args: str):
        result = run_cli(*args, cwd=self.root, env={"TENANT_KEY": KEY})
        assert "Traceback" not in result.stderr and "Internal error" not in result.stderr, result.stderr
        return result

    def manifests_text(self) -> str:
        return "\n".join(p.read_text(encoding="utf-8") for p in sorted((self.root / "manifests").rglob("*.yaml")))


@pytest.fixture
def factory(tmp_path: Path):
    with ConfirmedTenant(KEY) as tenant:
        yield Factory(tmp_path, tenant)


def test_import_then_validate_plan_drift_and_doctor_work_on_real_rows(factory: Factory) -> None:
    imported = factory.run("import", "--out", "manifests")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "odd row(s) in Epoptia's list" in imported.stderr  # reported, never a crash
    for line_id, why in NOT_IMPORTABLE.items():
        assert f"  {line_id}: " in imported.stdout and why in imported.stdout
    text = factory.manifests_text()
    assert "None" not in text and "null" not in text
    assert "client: None" not in text and "T10:00" not in text
    state = StateStore(factory.root / "state" / "tenant.json").read()
    lines = {addr.split("/")[1] for addr in state.resources if addr.startswith("WorkOrderLine/")}
    assert lines == IMPORTABLE
    # The line that ran ΜΟΝΤΑΖ 1 four times without job tasks is kept as it runs.
    assert text.count("workstation: ΜΟΝΤΑΖ 1") == 4

    assert factory.run("validate").returncode == 0
    assert factory.run("fmt", "--check").returncode == 0
    plan = factory.run("plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "No changes." in plan.stdout and "Changed in Epoptia" not in plan.stdout
    drift = factory.run("drift", "--detailed-exitcode")
    assert drift.returncode == 0, drift.stdout
    assert "No drift" in drift.stdout

    doctor = factory.run("doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "MISSING" in doctor.stdout and "upsert_lines" in doctor.stdout
    assert "upsert_lines: {enabled: false}" in doctor.stdout
    assert factory.tenant.writes() == 8  # doctor's empty probes of the 8 POST operations; nothing else wrote


def test_a_change_is_reported_as_not_applied_and_then_blocked_by_the_profile(factory: Factory) -> None:
    assert factory.run("import", "--out", "manifests").returncode == 0
    store = StateStore(factory.root / "state" / "tenant.json")
    before = store.read().resources["WorkOrderLine/131319"]
    path = factory.root / "manifests" / "work-orders" / "WO-26-0412.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("id: 131319\n", "id: 131319\n    comments: Βιαστικό\n"),
        encoding="utf-8",
    )
    plan = factory.run("plan", "--detailed-exitcode")
    assert plan.returncode == 2 and '+ comments: "Βιαστικό"' in plan.stdout, plan.stdout

    applied = factory.run("apply", "--auto-approve")
    assert applied.returncode == 1
    assert "Not applied (the operation is not available on this tenant): 1." in applied.stdout, applied.stdout
    assert "upsert_lines is not available on this tenant" in applied.stdout
    assert "our assumed default" in applied.stdout and "reconciler doctor" in applied.stdout
    assert store.read().resources["WorkOrderLine/131319"] == before  # nothing marked applied

    factory.configure("      operations:\n        upsert_lines: {enabled: false}\n")
    blocked = factory.run("plan", "--detailed-exitcode")
    assert blocked.returncode == 1, blocked.stdout
    assert "[operation-unavailable]" in blocked.stdout and "upsert_lines is switched off" in blocked.stdout


def test_a_line_started_elsewhere_is_seen_through_the_duplicate_rows(factory: Factory) -> None:
    """131321 appears twice, once idle, once at LASER with 120 done: the plan must take it as started."""
    assert factory.run("import", "--out", "manifests").returncode == 0
    path = next((factory.root / "manifests" / "work-orders").glob("WO-26-0412.yaml"))
    text = path.read_text(encoding="utf-8")
    assert "id: 131321" in text
    path.write_text(text.replace("quantity: 8\n", "quantity: 10\n", 1), encoding="utf-8")
    plan = factory.run("plan", "--detailed-exitcode", "--format", "json")
    assert plan.returncode == 1
    blocked = [a for a in json.loads(plan.stdout)["actions"] if a["blocked"]]
    assert [(a["id"], a["blocked"]["reason"]) for a in blocked] == [("131321", "started-quantity")]
