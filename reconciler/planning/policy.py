"""The started-order policy: which field may change when, in one table.

Epoptia documents (EPOPTIA_API.md, "Writing work orders and lines"):
  1. the WO client, the WOL quantity and the workflow change only before the line
     has started in production; after that Epoptia ignores the change and raises
     a system alarm;
  2. BOMs, custom fields and comments change at any time;
and ("Deleting and archiving") a line or work order is deleted only if it has
not been launched into production; a started line can only be archived.

The table holds these rules at every depth of a line's payload: a routing's
structure (its steps, their order, workstations and job tasks) is the line's
workflow (rule 1), while each step's BOM and custom fields are rule 2. Rows
marked ``documented=False`` are our own, stricter reading where the docs are
silent: changing what a started line produces, or moving it to another work
order, would rewrite history the shop floor has already made.

The messages are written for the production planner reviewing the plan, not for
a programmer.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from ..resources import Kind
from ..state.values import ResourceState
from .plan import BlockReason


class Mutability(enum.Enum):
    ANY_TIME = "any time"
    BEFORE_START = "only before the line has started"


@dataclass(frozen=True)
class Rule:
    mutability: Mutability
    documented: bool
    reason: BlockReason | None = None
    noun: str = ""
    # False for a field that is not sent at all when a manifest leaves it out
    # (the status): taking it out of a manifest changes nothing in Epoptia.
    sent_when_unset: bool = True


_ANY = Rule(Mutability.ANY_TIME, documented=True)
_ANY_ASSUMED = Rule(Mutability.ANY_TIME, documented=False)


def _before(reason: BlockReason, noun: str, documented: bool, sent_when_unset: bool = True) -> Rule:
    return Rule(Mutability.BEFORE_START, documented, reason, noun, sent_when_unset)


_ROUTING = _before(BlockReason.STARTED_ROUTING, "routing", True)

# Paths as field_changes spells them, with list positions written as [] (routing.steps[].bom).
POLICY: dict[tuple[Kind, str], Rule] = {
    # Work order lines
    (Kind.WORK_ORDER_LINE, "quantity"): _before(BlockReason.STARTED_QUANTITY, "quantity", True),
    (Kind.WORK_ORDER_LINE, "workflow"): _before(BlockReason.STARTED_WORKFLOW, "workflow", True),
    # A routing is the line's own workflow: its structure is rule 1 ...
    (Kind.WORK_ORDER_LINE, "routing"): _ROUTING,
    (Kind.WORK_ORDER_LINE, "routing.steps"): _ROUTING,
    (Kind.WORK_ORDER_LINE, "routing.steps[].workstation"): _ROUTING,
    (Kind.WORK_ORDER_LINE, "routing.steps[].job_task"): _ROUTING,
    # ... and each step's BOM and custom fields are rule 2.
    (Kind.WORK_ORDER_LINE, "routing.steps[].bom"): _ANY,
    (Kind.WORK_ORDER_LINE, "routing.steps[].custom_fields"): _ANY,
    # The name of a shared Routing document is our label; Epoptia only ever sees the steps.
    (Kind.WORK_ORDER_LINE, "routing.name"): _ANY_ASSUMED,
    (Kind.WORK_ORDER_LINE, "product"): _before(BlockReason.STARTED_PRODUCT, "product", False),
    (Kind.WORK_ORDER_LINE, "workorder"): _before(BlockReason.STARTED_WORK_ORDER, "work order", False),
    (Kind.WORK_ORDER_LINE, "status"): _before(BlockReason.STARTED_STATUS, "status", False, sent_when_unset=False),
    (Kind.WORK_ORDER_LINE, "bom"): _ANY,
    (Kind.WORK_ORDER_LINE, "custom_fields"): _ANY,
    (Kind.WORK_ORDER_LINE, "comments"): _ANY,
    (Kind.WORK_ORDER_LINE, "code"): _ANY_ASSUMED,
    (Kind.WORK_ORDER_LINE, "description"): _ANY_ASSUMED,
    (Kind.WORK_ORDER_LINE, "target_day"): _ANY_ASSUMED,
    (Kind.WORK_ORDER_LINE, "over_under_percentage"): _ANY_ASSUMED,
    (Kind.WORK_ORDER_LINE, "tags"): _ANY_ASSUMED,
    (Kind.WORK_ORDER_LINE, "files"): _ANY_ASSUMED,
    # Work orders: the client is fixed once any of its lines has started.
    (Kind.WORK_ORDER, "client"): _before(BlockReason.STARTED_CLIENT, "client", True),
    (Kind.WORK_ORDER, "comments"): _ANY,
    (Kind.WORK_ORDER, "code"): _ANY_ASSUMED,
    (Kind.WORK_ORDER, "files"): _ANY_ASSUMED,
}

# Deleting: documented ("only if not launched into production"). What "launched" means
# is our reading: released (a status other than standby) or started (any step moved).
DELETE_RULE = Rule(Mutability.BEFORE_START, documented=True, reason=BlockReason.STARTED_DELETE, noun="deletion")

_POSITION = re.compile(r"\[\d+\]")


def rule_for(kind: Kind, path: str) -> Rule:
    """The rule for a changed path: the longest table entry that is the path or a prefix of it."""
    shape = _POSITION.sub("[]", path)
    best: tuple[int, Rule] | None = None
    for (rule_kind, key), rule in POLICY.items():
        matches = rule_kind is kind and (shape == key or shape.startswith((key + ".", key + "[")))
        if matches and (best is None or len(key) > best[0]):
            best = (len(key), rule)
    # Clients and products have no production life of their own.
    return best[1] if best is not None else _ANY_ASSUMED


# --------------------------------------------------------------------------- words


def progress_phrase(line_id: str, line: ResourceState) -> str:
    """'line 131319 has started at LASER (120 of 200 done)', or 'line 131319 is released to production'."""
    observed = line.observed
    if observed is None:
        return f"line {line_id} has started in production"
    if not observed.started:
        return f"line {line_id} is released to production (status {observed.status})"
    step, done = observed.progress()
    total = line.payload.get("quantity")
    amount = f" ({_number(done)} of {total} done)" if total is not None else ""
    if step is not None and step.workstation:
        return f"line {line_id} has started at {step.workstation}{amount}"
    return f"line {line_id} has started in production{amount}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _quoted(value: object) -> str:
    return "nothing" if value is None else repr(value)


def change_blocked(
    rule: Rule, kind: Kind, erp_id: str, before: object, after: object, started_lines: list[tuple[str, ResourceState]]
) -> tuple[str, str]:
    """Message and advice for a field change refused because production has started."""
    first_id, first = started_lines[0]
    progress = progress_phrase(first_id, first)
    if kind is Kind.WORK_ORDER:
        others = f" and {len(started_lines) - 1} more" if len(started_lines) > 1 else ""
        message = f"work order {erp_id} is in production ({progress}{others}): its {rule.noun} cannot change"
        if before is None:
            return message, f"leave {rule.noun} out again, or create a new work order for {_quoted(after)}"
        return message, f"keep {rule.noun} {_quoted(before)}, or create a new work order for {_quoted(after)}"
    message = f"{progress}: {rule.noun} cannot change"
    reason = rule.reason
    if reason is BlockReason.STARTED_QUANTITY and isinstance(before, int) and isinstance(after, int):
        if after > before:
            return message, f"create a new line for the extra {after - before}"
        return message, (
            f"keep quantity {before}; to make only {after}, let the shop floor stop there and archive the line"
        )
    if reason in (BlockReason.STARTED_WORKFLOW, BlockReason.STARTED_ROUTING, BlockReason.STARTED_PRODUCT):
        return message, (
            f"keep the current {rule.noun}; create a new line with the new {rule.noun} for what is left, "
            "and archive this one when it is done"
        )
    if reason is BlockReason.STARTED_WORK_ORDER:
        return message, "keep the line in its work order; create a new line in the other one for what is left"
    if reason is BlockReason.STARTED_STATUS:
        return message, "the shop floor runs the status of a started line; archive the line when it is done"
    return message, f"keep {rule.noun} {_quoted(before)}"


def delete_blocked(kind: Kind, erp_id: str, launched_lines: list[tuple[str, ResourceState]]) -> tuple[str, str]:
    first_id, first = launched_lines[0]
    progress = progress_phrase(first_id, first)
    if kind is Kind.WORK_ORDER:
        return (
            f"work order {erp_id} cannot be deleted: {progress}",
            "put it back in the manifests and set `archived: true` on its launched lines; "
            "Epoptia deletes only what was never launched",
        )
    return (
        f"{progress}: it cannot be deleted",
        "archive it instead: put it back in the manifests with `archived: true`",
    )


def restore_blocked(erp_id: str) -> tuple[str, str]:
    return (
        f"line {erp_id} is archived in Epoptia: an archived line cannot be brought back",
        "set `archived: true` again, and create a new line if more must be made",
    )
