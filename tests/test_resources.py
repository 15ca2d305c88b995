"""The value checks and canonical forms of resources: one spelling per value, or a digest moves where nothing did."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reconciler.resources import (
    Client,
    Desired,
    DesiredEntry,
    Kind,
    WorkOrder,
    address,
    canonical_json,
    combine_digests,
    compact,
    digest,
    fingerprint,
    row_hash,
    split_address,
    update_fingerprint,
)


def test_addresses() -> None:
    assert address(Kind.WORK_ORDER_LINE, "131319") == "WorkOrderLine/131319" == address("WorkOrderLine", "131319")
    assert split_address("WorkOrder/WO/1") == (Kind.WORK_ORDER, "WO/1")
    assert str(Kind.CLIENT) == "Client"
    with pytest.raises(ValueError):
        split_address("Nothing/1")


def line(**fields):
    base = {"id": 1, "product": "P-1", "quantity": 1, "workflow": "Βαφή"}
    return WorkOrder(id="WO-1", client="C-1", lines=[{**base, **fields}]).lines[0]


def test_ids_are_text_and_numbers_keep_one_spelling() -> None:
    assert line(id=131319).id == "131319" and line(id="00123").id == "00123"
    with pytest.raises(ValidationError):
        line(id=True)
    with pytest.raises(ValidationError):
        line(id="a/b")
    with pytest.raises(ValidationError):
        line(id=" lead")
    assert line(over_under_percentage=5.0).over_under_percentage == 5
    assert isinstance(line(over_under_percentage=5.0).over_under_percentage, int)
    assert line(over_under_percentage=2.5).over_under_percentage == 2.5
    assert line(bom=[{"item": "x", "quantity": 4.0}]).bom[0].quantity == 4
    assert isinstance(line(bom=[{"item": "x", "quantity": 4.0}]).bom[0].quantity, int)
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValidationError):
            line(bom=[{"item": "x", "quantity": bad}])
    with pytest.raises(ValidationError):
        line(over_under_percentage=101)
    assert line(over_under_percentage=0).over_under_percentage == 0


def test_custom_field_values_are_text() -> None:
    fields = line(custom_fields={"Α": 60, "Β": 1.5, "Γ": True, "Δ": False, "Ε": "κείμενο"}).custom_fields
    assert fields == {"Α": "60", "Β": "1.5", "Γ": "true", "Δ": "false", "Ε": "κείμενο"}
    with pytest.raises(ValidationError):
        line(custom_fields={"Α": None})
    with pytest.raises(ValidationError):
        line(custom_fields={"Α": "x" * 4001})


def test_compact_leaves_out_every_empty_value_and_keeps_falsy_values() -> None:
    assert compact({"a": None, "b": "", "c": [], "d": {}, "e": 0, "f": False, "g": "x", "h": [0], "i": 0.0}) == {
        "e": 0,
        "f": False,
        "g": "x",
        "h": [0],
        "i": 0.0,
    }


def test_payloads_are_canonical() -> None:
    wo = WorkOrder(
        id="WO-1",
        client="C-1",
        comments="",
        lines=[
            {
                "id": 1,
                "product": "P-1",
                "quantity": 1,
                "comments": "",
                "routing": [
                    {"workstation": "LASER", "bom": [{"item": "x", "quantity": 2, "unit": None}], "custom_fields": {}}
                ],
            },
            {"id": 2, "product": "P-1", "quantity": 1, "routing": "ΚΟΙΝΗ", "files": [{"name": "f", "url": "u"}]},
        ],
    )
    assert wo.payload() == {"client": "C-1"}
    assert wo.lines[0].payload("WO-1") == {
        "product": "P-1",
        "quantity": 1,
        "workorder": "WO-1",
        "routing": {"steps": [{"workstation": "LASER", "bom": [{"item": "x", "quantity": 2}]}]},
    }
    assert wo.lines[1].payload("WO-1") == {
        "product": "P-1",
        "quantity": 1,
        "files": [{"name": "f", "url": "u"}],
        "workorder": "WO-1",
        "routing": {"name": "ΚΟΙΝΗ"},
    }
    assert Client(id="C", name="Ν", vat_rate=24.0).payload() == {"name": "Ν", "vat_rate": 24}
    with pytest.raises(ValidationError, match="either a workflow or a routing"):
        line(routing="ΚΟΙΝΗ")


def test_digests_and_fingerprints() -> None:
    assert canonical_json({"b": 1, "a": "Ω"}) == '{"a":"Ω","b":1}'.encode()
    assert digest({"a": 1, "b": 2}) == digest({"b": 2, "a": 1}) != digest({"a": 1, "b": 3})
    assert len(digest({})) == 32
    rows = [("A/1", "d1", False), ("A/2", "d2", True), ("A/3", "d3", False)]
    whole = fingerprint(rows)
    assert len(whole) == 32 and whole == fingerprint(reversed(rows))
    assert fingerprint(rows[:2]) != whole and fingerprint([]) == "0" * 32
    assert row_hash("A/1", "d1", False) != row_hash("A/1", "d1", True) != row_hash("A/1", "d2", True)
    assert row_hash("A/1", "d1", 0) == row_hash("A/1", "d1", False)
    assert update_fingerprint(fingerprint(rows[:2]), removed=[], added=[rows[2]]) == whole
    assert update_fingerprint(whole, removed=[rows[1]], added=[("A/2", "d9", True)]) == fingerprint(
        [rows[0], ("A/2", "d9", True), rows[2]]
    )
    assert combine_digests("a", "b") != combine_digests("b", "a") and len(combine_digests("a")) == 32


def test_desired_counts_lazily() -> None:
    entries = {
        "Client/C": DesiredEntry("Client", "C", "d", False, None),
        "Product/P": DesiredEntry("Product", "P", "d", False, None),
        "WorkOrder/W": DesiredEntry("WorkOrder", "W", "d", False, None),
    }
    built = []

    def index():
        built.append(1)
        return entries

    d = Desired(index, {}, {}, ("f.yaml",), fingerprint="f", size=3, unreadable=None)
    assert len(d) == 3 and built == []  # the size given, nothing built
    assert d.unreadable == 2 and built == [1]
    assert len(d) == 3 and d.index is entries and d.rows is entries
    eager = Desired(entries, {}, {}, (), size=99)
    assert len(eager) == 3 and eager.unreadable == 2 and eager.files == () and eager.fingerprint is None
    rows = {"Client/C": ["Client", "C", "d", False, None]}
    assert Desired(entries, {}, {}, (), rows=lambda: rows).rows is rows
    assert Desired(entries, {}, {}, (), rows=rows, unreadable=7).rows is rows
    assert Desired(entries, {}, {}, (), unreadable=7).unreadable == 7
