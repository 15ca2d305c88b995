"""Rows shaped like a real tenant's list of lines (EPOPTIA_API.md, "What a real tenant's list looks like").

Only the confirmed fields, and the odd rows a live tenant is known to return:
null entries, a line on two pages, two rows of one id that disagree, due days
with a time or none, the status under `status`, statuses beyond the three, rows
without client, product, work order or quantity, steps that are not objects,
one workstation four times in a row with no job task, quantities as text or
floats. Pages of 5 rows keep the paging honest.
"""

from __future__ import annotations

import copy
from typing import Any

PAGE_SIZE = 5


def step(
    element: int,
    workstation: str,
    task: str | None = None,
    status: str = "not_started",
    done: float = 0,
    previous: list[int] | None = None,
    nxt: list[int] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "elementId": element,
        "previous": previous or [],
        "next": nxt or [],
        "workstationName": workstation,
        "status": status,
        "qty_done": done,
    }
    if task is not None:
        out["job_tag"] = {"name": task}
    return out


def line(
    line_id: int,
    *,
    quantity: Any = 200,
    day: Any = "2026-12-04",
    status: str = "standby",
    comments: str = "",
    client: str | None = "Κατασκευαστική Αιγαίου ΑΕ",
    product: str | None = "Προφίλ αλουμινίου 60x40",
    work_order: str | None = "WO-26-0412",
    steps: list[Any] | None = None,
    fields: list | None = None,
    description: str = "Προφίλ αλουμινίου 60x40",
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "workorderline_id": line_id,
        "description": description,
        "quantity": quantity,
        "target_day": day,
        "production_status": status,
        "comments": comments,
        "customFields": fields if fields is not None else [{"id": 7, "name": "ΔΙΑΣΤΑΣΕΙΣ", "value": "60x40x6000"}],
        "erp_routing": steps
        if steps is not None
        else [step(1001, "LASER", "Κοπή", nxt=[1002]), step(1002, "ΒΑΦΕΙΟ", "Βαφή", previous=[1001])],
    }
    if client is not None:
        row["client"] = {"name": client}
    if product is not None:
        row["product"] = {"name": product}
    if work_order is not None:
        row["workorder"] = {"id": work_order}
    return row


def rows() -> list[Any]:
    """The whole list, in the order the tenant pages it."""
    started = [
        step(1101, "LASER", "Κοπή", status="in_progress", done=120, nxt=[1102]),
        step(1102, "ΒΑΦΕΙΟ", "Βαφή", previous=[1101]),
    ]
    assembly = [
        step(1200 + i, "ΜΟΝΤΑΖ 1", status="completed" if i < 2 else "not_started", done=8 if i < 2 else 0)
        for i in range(4)
    ]
    out: list[Any] = [
        line(131319),
        None,  # a null entry
        line(
            131320,
            quantity="24",
            day="2026-12-11T10:00:00Z",  # quantity as text, day with a time
            product="Συρόμενο παράθυρο 1200x1400",
            description="Συρόμενο παράθυρο",
        ),
        line(131321, quantity=8.0, day=None, steps=started, status="production"),  # float quantity, no day, started
        line(131322, client=None, product="Πόρτα 900x2100"),  # no client on this row (its work order has one)
        # page 2
        line(131319),  # the same line again on page 2
        line(
            131330,
            status="completed",
            steps=assembly,
            work_order="WO-26-0414",  # ΜΟΝΤΑΖ 1 four times, no job tag
            client="Θερμοπρόσοψη ΟΕ",
            product="Προφίλ αλουμινίου 80x20",
            fields=[],
        ),
        {
            k: v
            for k, v in line(131331, work_order="WO-26-0414", client="Θερμοπρόσοψη ΟΕ").items()
            if k != "production_status"
        }
        | {"status": "paused"},  # status under `status`
        line(131332, product=None, work_order="WO-26-0414", client="Θερμοπρόσοψη ΟΕ"),  # no product: not importable
        line(
            131333,
            work_order=None,
            client="Nordic Glazing AB",  # no work order
            steps=["LASER", None, step(1301, "ΒΑΦΕΙΟ", "Βαφή", status="waiting")],
        ),  # steps that are not objects
        # page 3
        {
            k: v
            for k, v in line(131334, work_order="WO-26-0415", client="Nordic Glazing AB").items()
            if k != "quantity"
        },  # no quantity: not importable
        line(
            131335,
            status="cancelled",
            work_order="WO-26-0415",
            client="Nordic Glazing AB",
            day="σύντομα",
            steps=[step(1401, "LASER", "Κοπή", status="future")],
        ),  # a day that is not a date
        line(
            131321,
            quantity=8.0,
            day=None,
            steps=[  # 131321 again, disagreeing:
                step(1101, "LASER", "Κοπή", status="not_started", nxt=[1102]),  # this copy shows no progress
                step(1102, "ΒΑΦΕΙΟ", "Βαφή", previous=[1101]),
            ],
        ),
        "not a row",  # a row that is not an object
    ]
    return copy.deepcopy(out)


def pages(all_rows: list[Any] | None = None, size: int = PAGE_SIZE) -> list[list[Any]]:
    all_rows = rows() if all_rows is None else all_rows
    return [all_rows[i : i + size] for i in range(0, len(all_rows), size)] or [[]]


# What import can express (lines with quantity and product, in a work order with a client somewhere).
IMPORTABLE = {"131319", "131320", "131321", "131322", "131330", "131331", "131333", "131335"}
NOT_IMPORTABLE = {"131332": "no product", "131334": "no quantity"}
