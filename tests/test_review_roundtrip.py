"""`import` and `fmt` only ever write YAML that `validate` accepts, and that means what was written.

A property test: random resources (text as real data has it: Greek, quotes, ': ', '#', URLs,
leading zeros, words YAML would read as booleans or dates) are written in the house style,
loaded back by the manifests loader, and must give the same payloads; `fmt` leaves the file
loadable and equal too.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.editor import format_text
from reconciler.importer import render_file
from reconciler.load import load_manifests
from reconciler.resources import Client, Product, WorkOrder

# Text a factory really has, and the spellings YAML likes to reinterpret.
TRICKY = [
    'ΥΑΛΟΘΕΤΗΣΗ "Β" [#2]; <νέα>',
    "https://files.example/a?b=c#d",
    "a: b",
    "- x",
    "#hash",
    "yes",
    "no",
    "true",
    "null",
    "~",
    "0123",
    "1e3",
    "2026-12-04",
    "12:30",
    "{x}",
    "[y]",
    "x, y",
    "'q'",
    "&anchor",
    "*alias",
    "!tag",
    "%p",
    "@at",
    "`tick`",
    "|",
    ">",
    " lead",
    "trail ",
    "Κατασκευαστική Αιγαίου ΑΕ",
    "60x40x6000",
    "RAL 9016",
    "tab\there",
    "ends with colon:",
]
text = st.one_of(
    st.sampled_from(TRICKY),
    st.text(alphabet=string.ascii_letters + string.digits + " -_.:#,'\"[]{}&*!|>%@`ΑΒΓΔαβγδ", min_size=1, max_size=20),
).filter(lambda s: s.strip() != "")
name = text.filter(lambda s: len(s) <= 150 and s.isprintable())  # names hold no control characters
erp_id = st.one_of(st.integers(1, 10**9).map(str), st.from_regex(r"[A-Z]{1,3}-0?[0-9]{1,6}", fullmatch=True))


@st.composite
def clients(draw: Any) -> list[dict[str, Any]]:
    ids = draw(st.lists(erp_id, min_size=1, max_size=4, unique=True))
    return [
        {
            "id": i,
            "name": draw(name),
            **draw(
                st.fixed_dictionaries(
                    {}, optional={"city": name, "comments": text, "email": name, "vat_rate": st.integers(0, 100)}
                )
            ),
        }
        for i in ids
    ]


@st.composite
def work_order(draw: Any) -> dict[str, Any]:
    lines = []
    for line_id in draw(st.lists(erp_id, min_size=1, max_size=3, unique=True)):
        line: dict[str, Any] = {"id": line_id, "product": draw(erp_id), "quantity": draw(st.integers(1, 5000))}
        line.update(
            draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "description": text,
                        "comments": text,
                        "code": name,
                        "target_day": st.dates().map(lambda d: d.isoformat()),
                        "tags": st.lists(name, max_size=3),
                        "custom_fields": st.dictionaries(name, text, max_size=3),
                        "files": st.lists(
                            st.fixed_dictionaries({"name": name, "url": st.sampled_from(TRICKY[1:2]) | text}),
                            max_size=2,
                        ),
                        "bom": st.lists(
                            st.fixed_dictionaries(
                                {"item": name, "quantity": st.integers(1, 99)}, optional={"unit": name}
                            ),
                            max_size=2,
                        ),
                    },
                )
            )
        )
        if draw(st.booleans()):
            line["routing"] = draw(
                st.lists(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "workstation": name,
                            "job_task": name,
                            "custom_fields": st.dictionaries(name, text, max_size=2),
                        },
                    ),
                    min_size=1,
                    max_size=3,
                )
            )
        lines.append(line)
    return {"kind": "WorkOrder", "id": draw(erp_id), "client": draw(erp_id), "comments": draw(text), "lines": lines}


def _expected(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for doc in docs:
        if doc["kind"] == "Client":
            for item in doc["items"]:
                out[f"Client/{item['id']}"] = Client.model_validate(item).payload()
        elif doc["kind"] == "Product":
            for item in doc["items"]:
                out[f"Product/{item['id']}"] = Product.model_validate(item).payload()
        else:
            wo = WorkOrder.model_validate(doc)
            out[f"WorkOrder/{wo.id}"] = wo.payload()
            for line in wo.lines:
                out[f"WorkOrderLine/{line.id}"] = line.payload(wo.id)
    return out


def _loaded(tmp: Path, text: str) -> dict[str, dict[str, Any]]:
    folder = tmp / "manifests"
    folder.mkdir(exist_ok=True)
    (folder / "f.yaml").write_text(text, encoding="utf-8")
    desired = load_manifests(folder)
    return {addr: res.payload for addr, res in desired.resources.items()}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(client_items=clients(), product_names=st.lists(name, min_size=1, max_size=3), order=work_order())
def test_written_manifests_load_back_equal(
    tmp_path: Path, client_items: list[dict[str, Any]], product_names: list[str], order: dict[str, Any]
) -> None:
    client_ids = {c["id"] for c in client_items}
    products = [{"id": f"P-{i}", "name": n} for i, n in enumerate(product_names)]
    order = {**order, "client": next(iter(client_ids))}
    for i, line in enumerate(order["lines"]):
        line["product"] = products[i % len(products)]["id"]
    docs = [{"kind": "Client", "items": client_items}, {"kind": "Product", "items": products}, order]
    expected = _expected(docs)
    written = render_file("Imported: a header\n# with two lines", docs)
    assert _loaded(tmp_path, written) == expected, written
    formatted = format_text(written)
    assert _loaded(tmp_path, formatted) == expected, formatted
    assert format_text(formatted) == formatted
