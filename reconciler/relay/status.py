"""`reconciler station relay --status`: what the spool holds, read while the relay runs (WAL allows it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .log import iso
from .spool import Spool


def read_status(spool_path: Path, halt: dict[str, Any] | None) -> dict[str, Any]:
    if not spool_path.exists():
        return {"spool": str(spool_path), "exists": False, "halted": halt, "workstations": [], "batches": {}}
    spool = Spool(spool_path, readonly=True)
    try:
        stations = spool.stations()
        open_batches = spool.batches(["inflight", "uncertain", "unknown"])
        return {
            "spool": str(spool_path),
            "exists": True,
            "spool_bytes": spool.size(),
            "halted": halt,
            "batches": spool.counts(),
            "workstations": [
                {
                    "workstation_id": st.ws,
                    "name": st.name,
                    "pending": st.pending,
                    "pending_events": st.pending_events,
                    "flush": st.flush,
                    "counted": st.counted,
                    "sent_total": st.sent_total,
                    "last_sent": None
                    if st.last_sent_at is None
                    else {"quantity": st.last_sent_qty, "at": iso(st.last_sent_at)},
                    "last_error": None
                    if st.last_error is None
                    else {"error": st.last_error, "at": iso(st.last_error_at or 0)},
                    "failures": st.failures,
                }
                for st in stations
            ],
            "open_batches": [
                {"id": b.id, "workstation_id": b.ws, "quantity": b.quantity, "state": b.state, "note": b.note}
                for b in open_batches
            ],
            "rejected": spool.rejected(),
        }
    finally:
        spool.close()


def render_status(status: dict[str, Any]) -> str:
    out = [f"Spool: {status['spool']}" + ("" if status.get("exists") else " (empty: the relay has not run)")]
    if status.get("exists"):
        out[0] += f" ({status['spool_bytes'] / 1024:.0f} KiB)"
    halt = status.get("halted")
    if halt:
        out.append(
            f"HALTED since {halt.get('at')}: Epoptia answered HTTP {halt.get('status')}; counting goes on, "
            "sending waits for `reconciler halt clear`"
        )
    if status["workstations"]:
        out.append(f"{'workstation':<22} {'pending':>10} {'counted':>10} {'sent':>10}  last sent{'':<22}  last error")
        for w in status["workstations"]:
            label = f"{w['workstation_id']}" + (f" {w['name']}" if w["name"] else "")
            last = w["last_sent"]
            last_text = f"{_n(last['quantity'])} at {last['at']}" if last else "-"
            error = w["last_error"]["error"] if w["last_error"] else "-"
            flush = f" ({w['flush']})" if w["flush"] else ""
            out.append(
                f"{label[:22]:<22} {_n(w['pending']) + flush:>10} {_n(w['counted']):>10} "
                f"{_n(w['sent_total']):>10}  {last_text:<31}  {error}"
            )
    batches = status.get("batches", {})
    if batches:
        out.append("Batches: " + ", ".join(f"{n} {state}" for state, n in sorted(batches.items()) if n))
    for b in status.get("open_batches", []):
        advice = (
            f" -> resolve with --resolve {b['id']}:applied or --resolve {b['id']}:resend"
            if b["state"] == "unknown"
            else ""
        )
        out.append(
            f"  batch {b['id']}: {_n(b['quantity'])} at workstation {b['workstation_id']} is {b['state']}: "
            f"{b['note'] or ''}{advice}"
        )
    for r in status.get("rejected", [])[:5]:
        out.append(f"  rejected ({r['source']}): {r['raw']!r}: {r['reason']}")
    return "\n".join(out) + "\n"


def _n(x: float | None) -> str:
    if x is None:
        return "-"
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
