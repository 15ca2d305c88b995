"""Generate a factory of N work order lines, laid out as a person (or `import`) would.

One file per work order, ten lines each, grouped by month; shared routings and
master data in their own files. Deterministic for a given N.
"""

from __future__ import annotations

import random
from pathlib import Path

ROUTINGS = """\
kind: Routing
id: ΚΟΠΗ-ΒΑΦΗ
steps:
  - {workstation: LASER, job_task: Κοπή}
  - {workstation: ΔΙΑΤΡΗΣΗ, job_task: Διάτρηση}
  - {workstation: ΒΑΦΕΙΟ, job_task: Βαφή}
---
kind: Routing
id: ΣΥΝΑΡΜΟΛΟΓΗΣΗ
steps:
  - {workstation: LASER, job_task: Κοπή}
  - {workstation: ΜΟΝΤΑΖ 1, job_task: Πλαίσιο}
  - {workstation: ΥΑΛΟΘΕΤΗΣΗ}
  - {workstation: ΜΟΝΤΑΖ 1, job_task: Μηχανισμοί}
"""

LINES_PER_WORK_ORDER = 10


def master_data(clients: int = 50, products: int = 200) -> str:
    out = ["kind: Client", "items:"]
    for c in range(clients):
        out += [f"  - id: C-{c:04d}", f"    name: Πελάτης {c} ΑΕ", "    city: Αθήνα"]
    out += ["---", "kind: Product", "items:"]
    for p in range(products):
        out += [f"  - id: P-{p:04d}", f"    code: ALU-{p:04d}", f"    name: Προφίλ αλουμινίου τύπος {p}"]
    return "\n".join(out) + "\n"


def work_order(w: int, rng: random.Random, clients: int = 50, products: int = 200) -> str:
    out = [
        "kind: WorkOrder",
        f"id: WO-{w:06d}",
        f"code: ΠΑΡ-{w:06d}",
        f"client: C-{rng.randrange(clients):04d}",
        "lines:",
    ]
    for i in range(LINES_PER_WORK_ORDER):
        line_id = 100000 + w * LINES_PER_WORK_ORDER + i
        out += [
            f"  - id: {line_id}",
            f"    product: P-{rng.randrange(products):04d}",
            f"    quantity: {rng.randrange(1, 2000)}",
            f"    target_day: 2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        ]
        if i % 3 == 0:
            out.append("    routing: ΚΟΠΗ-ΒΑΦΗ")
        elif i % 3 == 1:
            out.append("    routing: ΣΥΝΑΡΜΟΛΟΓΗΣΗ")
        else:
            out.append("    workflow: Διέλαση και Βαφή")
        out += [
            "    custom_fields:",
            f"      ΔΙΑΣΤΑΣΕΙΣ: {rng.randrange(20, 200)}x{rng.randrange(20, 200)}",
            f"    comments: Παρτίδα {rng.randrange(1000)}",
        ]
    return "\n".join(out) + "\n"


def work_order_path(root: Path, w: int) -> Path:
    return root / "manifests" / "work-orders" / f"2026-{w % 12 + 1:02d}" / f"WO-{w:06d}.yaml"


def generate(root: Path, lines: int, seed: int = 7) -> list[Path]:
    """Write reconciler.yaml and manifests/ for ``lines`` lines under root; returns the work order files."""
    rng = random.Random(seed)
    (root / "manifests" / "work-orders").mkdir(parents=True, exist_ok=True)
    (root / "reconciler.yaml").write_text(
        "manifests: manifests\ndefault_target: local\ntargets:\n  local:\n    endpoint: emulator\n"
        "    state: state/local.json\n",
        encoding="utf-8",
    )
    (root / "manifests" / "master-data.yaml").write_text(master_data(), encoding="utf-8")
    (root / "manifests" / "routings.yaml").write_text(ROUTINGS, encoding="utf-8")
    files = []
    for w in range(max(1, lines // LINES_PER_WORK_ORDER)):
        path = work_order_path(root, w)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(work_order(w, rng), encoding="utf-8")
        files.append(path)
    return files
