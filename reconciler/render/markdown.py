"""The plan as a pull-request comment, for production planners, within GitHub's size limit.

Order of importance, which is also the order on the page: the summary; what the
plan changes for production (new, removed and moved lines, per due week and per
workstation); blocked actions (they stop the merge); deletions and archives;
routing changes shared by several lines (each once); then the changes grouped by
work order; then what changed in Epoptia outside the reconciler.

The comment works to a budget. Every section has tiers, from full detail down to
a count (a work order's group: its diff, one line, or a count at the end). All
sections start at their floor; blocked actions, deletions and archives are then
raised to at least a list of every id, and what budget is left raises sections
in order of importance. When anything is cut, the comment says so at the top and
points to the full plan.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import partial

from ..planning.plan import Action, Plan, Verb
from ..resources import Kind
from .describe import (
    Namer,
    change_lines,
    drift_sections,
    no_changes_line,
    source_line,
    summary_line,
    summary_notes,
    symbol,
)
from .glance import glance, sentences, station_rows, station_sentence, week_rows
from .mermaid import flowchart
from .routing import RouteChange, RouteChanges, align, counts, step_text

GITHUB_COMMENT_LIMIT = 65_536
# Room kept for the footer and notes the workflow adds around the body.
_BUDGET = GITHUB_COMMENT_LIMIT - 2_000
MARKER = "<!-- epoptia-reconciler-plan -->"
SHORTENED = (
    "> [!NOTE]\n"
    "> **This comment shows part of the plan**, to stay within GitHub's limit of 65,536 characters: "
    "{what}. Nothing is left out of the plan itself: the whole plan is in the workflow run "
    "(its job summary, and the saved plan file among its artifacts; `reconciler show PLANFILE` prints it)."
)
# The note, the headings and the closing count, which are not sections of their own.
_SHORTENED_ROOM = len(SHORTENED) + 800


def _html(text: str) -> str:
    return html.escape(text, quote=False)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")


_MD_SPECIAL_BUT_CODE = re.compile(r"([\\*_\[\]<>#|~])")


def _md(text: str, *, code: bool = False) -> str:
    """Text inline in markdown, shown as written (no accidental emphasis, links or HTML).

    ``code``: our own sentences, whose `backticks` are code spans.
    """
    return (_MD_SPECIAL_BUT_CODE if code else _MD_SPECIAL).sub(r"\\\1", text)


def _code(body: str, lang: str = "") -> str:
    """A fenced block that no backticks in the data can close early."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{body}\n{fence}"


def _drift_in_full(heading: str, lines: list[str]) -> str:
    return f"<details><summary>{_html(heading)}</summary>\n\n" + _code("\n".join(lines)) + "\n\n</details>"


def _drift_counted(heading: str, count: int) -> str:
    return f"_{_md(heading)} {_plural(count, 'line')}; listed in the full plan._"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


class Section:
    """A part of the comment, in tiers from the richest (0) to the floor (last); '' shows nothing."""

    def __init__(self, tiers: Sequence[Callable[[], str]], *, must: int | None = None, name: str = "") -> None:
        self.tiers = list(tiers)
        self.must = len(self.tiers) - 1 if must is None else must  # the tier to reach before anything is raised
        self.name = name
        self.tier = len(self.tiers) - 1
        self._cache: dict[int, str] = {}

    def text(self, tier: int | None = None) -> str:
        tier = self.tier if tier is None else tier
        if tier not in self._cache:
            self._cache[tier] = self.tiers[tier]()
        return self._cache[tier]

    def size(self, tier: int | None = None) -> int:
        text = self.text(tier)
        return len(text) + 2 if text else 0

    @property
    def full(self) -> bool:
        return self.tier == 0


def fit(sections: Sequence[Section], budget: int) -> None:
    """Choose each section's tier: the must tiers first, then the richest that fit, in order."""
    used = sum(s.size() for s in sections)
    for upto_must in (True, False):
        for section in sections:
            goal = section.must if upto_must else 0
            for tier in range(goal, section.tier):
                extra = section.size(tier) - section.size()
                if used + extra <= budget:
                    used += extra
                    section.tier = tier
                    break


class _Comment:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.namer = Namer(plan)
        self.routes = RouteChanges(plan)

    # ---------------------------------------------------------------- pieces

    def line(self, action: Action, *, in_group: bool = False) -> str:
        """One action as one markdown list item's text."""
        label = self.namer.label(action, in_group=in_group)
        what = f"**{_md(action.address)}**" + (f": {_md(label)}" if label else "")
        return what

    def diff(self, actions: Sequence[Action], *, in_group: bool) -> str:
        lines = []
        for action in actions:
            lines.append(f"{symbol(action)} {self.namer.title(action, in_group=in_group)}")
            for line in change_lines(action, self.routes, self.namer.year, shared_at="Routing changes"):
                pad = "          " if line.depth else "      "
                lines.append(f"{line.sign if line.sign != ' ' else ' '}{pad}{line.text}")
        return _code("\n".join(lines), "diff")

    # ---------------------------------------------------------------- sections

    def glance(self) -> Section:
        g = glance(self.plan.actions)
        if g.empty:
            return Section([lambda: ""])
        heading = "#### What changes for production"
        said = sentences(g, self.namer.year)

        def full() -> str:
            out = [heading, "", *(f"- {_md(s)}" for s in said)]
            weeks = week_rows(g, self.namer.year)
            if weeks:
                out += ["", "| due week | lines in | lines out | net pieces |", "|---|---:|---:|---:|"]
                out += [f"| {w} | {i} | {o} | {p} |" for w, i, o, p in weeks]
            stations, more = station_rows(g, self.namer.year)
            if stations:
                out += ["", "| workstation | due day | net pieces |", "|---|---|---:|"]
                out += [f"| {_md(ws)} | {when} | {pcs} |" for ws, when, pcs in stations]
                if more:
                    out += ["", f"_…and {_plural(more, 'more workstation-day')} with smaller changes._"]
            return "\n".join(out)

        def short() -> str:
            said = [*sentences(g, self.namer.year, top=3), station_sentence(g, self.namer.year)]
            return "\n".join([heading, "", *(f"- {_md(s)}" for s in said if s)])

        return Section([full, short, lambda: ""], name="production summary")

    def listed(
        self,
        name: str,
        heading: str,
        intro: str,
        actions: Sequence[Action],
        detail: Callable[[Action], str],
        reason: Callable[[Action], str],
    ) -> Section:
        """Blocked actions, or deletions and archives: every one named, whatever the budget allows."""
        if not actions:
            return Section([lambda: ""])
        head = f"{heading} ({len(actions):,})\n\n{intro}\n\n" if intro else f"{heading} ({len(actions):,})\n\n"

        def full() -> str:
            return head + "\n".join(f"- {detail(a)}" for a in actions)

        def one_line() -> str:
            return head + "\n".join(f"- {self.line(a)} ({_md(reason(a))})" for a in actions)

        def ids() -> str:
            groups: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
            for a in actions:
                owner = a.parent or (a.id if a.kind is Kind.WORK_ORDER else "")
                groups[reason(a)][owner].append(a.id if a.kind is Kind.WORK_ORDER_LINE else a.address)
            out = [head.rstrip("\n"), ""]
            for why, owners in groups.items():
                out.append(f"- **{_md(why)}** ({sum(len(i) for i in owners.values()):,}):")
                out += [
                    f"  - {_md(owner) + ': ' if owner else ''}{', '.join(_md(i) for i in ids_)}"
                    for owner, ids_ in owners.items()
                ]
            return "\n".join(out)

        def tally() -> str:
            by_reason: dict[str, list[Action]] = defaultdict(list)
            for a in actions:
                by_reason[reason(a)].append(a)
            out = [head.rstrip("\n"), "", "Too many to list here; every one is in the full plan."]
            for why, items in by_reason.items():
                orders = {a.parent or a.id for a in items}
                out.append(f"- {_md(why)}: {_plural(len(items), 'resource')} in {_plural(len(orders), 'work order')}")
            return "\n".join(out)

        return Section([full, one_line, ids, tally], must=2, name=name)

    def blocked(self) -> Section:
        def detail(a: Action) -> str:
            assert a.blocked is not None
            return (
                f"{self.line(a)} (`{a.blocked.reason.value}`)<br>{_md(a.blocked.message, code=True)}. "
                f"*Advice:* {_md(a.blocked.advice, code=True)}."
            )

        return self.listed(
            "blocked actions",
            "#### :no_entry: Blocked",
            "Refused because production has started (or the target cannot do it); the plan fails until the "
            "manifests change as advised, or the rest is applied with `--skip-blocked`.",
            self.plan.blocked,
            detail,
            lambda a: a.blocked.reason.value if a.blocked else "",
        )

    def removals(self) -> Section:
        actions = [a for a in self.plan.runnable if a.verb in (Verb.DELETE, Verb.ARCHIVE)]
        words = {Verb.DELETE: "deleted", Verb.ARCHIVE: "archived"}
        return self.listed(
            "deletions and archives",
            "#### :wastebasket: Deleted and archived",
            "Deleted lines leave Epoptia; archived lines stay in its history.",
            actions,
            lambda a: f"{words[a.verb]}: {self.line(a)}",
            lambda a: words[a.verb],
        )

    def route(self, change: RouteChange) -> Section:
        aligned = align(change.before, change.after)
        head = f"**{_md(change.title)}**: {counts(aligned)}, {_md(change.usage())}."
        steps = _code("\n".join(f"{line.sign} {step_text(line)}" for line in aligned), "diff")

        def users(detail: bool) -> str:
            items = [
                f"- {self.line(a)}" + (" (blocked: keeps its steps)" if a.blocked else "")
                if detail
                else f"{_md(a.id)}" + (" (blocked)" if a.blocked else "")
                for a in change.actions
            ]
            body = "\n".join(items) if detail else ", ".join(items)
            return (
                f"<details><summary>The {_plural(len(change.actions), 'line')} it changes</summary>\n\n"
                f"{body}\n\n</details>"
            )

        return Section(
            [
                lambda: "\n\n".join([head, steps, flowchart(change.before, change.after, aligned), users(True)]),
                lambda: "\n\n".join([head, steps, users(False)]),
                lambda: f"- {head}",
            ],
            name=change.title,
        )

    def group(self, title: str, actions: Sequence[Action]) -> Section:
        tally: dict[str, int] = defaultdict(int)
        for a in actions:
            tally["blocked" if a.blocked else a.verb.value] += 1
        counted = ", ".join(f"{n:,} to {what}" if what != "blocked" else f"{n:,} blocked" for what, n in tally.items())
        counted = counted.replace("to forget", "to forget (state only)").replace("to adopt", "to adopt (state only)")

        def detail(upto: int) -> str:
            shown = actions[:upto]
            charts = []
            for a in shown:
                change = self.routes.of(a)
                if change is not None and not change.shared:
                    charts.append(
                        f"Routing of {_md(a.address)}"
                        + (" (blocked)" if a.blocked else "")
                        + ":\n\n"
                        + flowchart(change.before, change.after, align(change.before, change.after))
                    )
            rest = len(actions) - upto
            more = [f"_…and {_plural(rest, 'more change')} in this work order, in the full plan._"] if rest else []
            body = "\n\n".join([self.diff(shown, in_group=True), *charts, *more])
            return f"<details><summary><b>{_html(title)}</b>: {counted}</summary>\n\n{body}\n\n</details>"

        # Full detail; the first part of a large group; one line; only counted at the end.
        n = len(actions)
        partial = [k for k in (n // 2, n // 4, 20, 5) if 0 < k < n]
        tiers = [lambda: detail(n), *(lambda k=k: detail(k) for k in sorted(set(partial), reverse=True))]
        return Section([*tiers, lambda: f"- **{_md(title)}**: {counted}", lambda: ""], name=title)

    def drift(self) -> list[Section]:
        out = []
        for heading, lines in drift_sections(self.plan.drift):
            name = "production progress" if heading.startswith("Production progress") else "changes made in Epoptia"
            count = sum(1 for line in lines if not line.startswith(" "))
            out.append(
                Section([partial(_drift_in_full, heading, lines), partial(_drift_counted, heading, count)], name=name)
            )
        return out

    # ---------------------------------------------------------------- the whole

    def groups(self) -> list[tuple[str, list[Action]]]:
        groups: dict[str, list[Action]] = defaultdict(list)
        titles: dict[str, str] = {}
        for action in self.plan.actions:
            if action.kind in (Kind.WORK_ORDER, Kind.WORK_ORDER_LINE):
                key = action.parent or action.id
                client = action.label.client if action.label is not None else None
                titles.setdefault(key, f"WorkOrder/{key}" + (f" for {client}" if client else ""))
            else:
                key = ""
                titles[key] = "Clients and products"
            groups[key].append(action)
        return [(titles[k], v) for k, v in groups.items()]

    def render(self, limit: int) -> str:
        plan = self.plan
        head = [MARKER, f"### Epoptia plan for `{_md(plan.target)}`", ""]
        if not plan.actions:
            head += [f"**{_md(no_changes_line(plan))}**", "", f"_{_md(source_line(plan))}_"]
            sections = self.drift()
            fit(sections, limit - len("\n".join(head)) - _SHORTENED_ROOM)
            return "\n".join(head) + "\n\n" + "\n\n".join(s.text() for s in sections if s.text()) + "\n"
        head.append(f"**{summary_line(plan.summary)}**")
        head.extend(f"\n{_md(note)}" for note in summary_notes(plan))
        top = "\n".join(head)
        # Where the plan comes from matters to whoever runs it, less to a planner: it closes the comment.
        source = "<sub>" + _html(source_line(plan)).replace("\n", "<br>") + "</sub>"

        routes = [self.route(c) for c in self.routes.shared]
        pairs = self.groups()
        groups = [self.group(title, actions) for title, actions in pairs]
        first = [self.blocked(), self.removals(), self.glance()]
        drift = self.drift()
        ordered = [*first, *routes, *groups, *drift]
        budget = limit - len(top) - len(source) - _SHORTENED_ROOM
        for _ in range(8):
            for section in ordered:
                section.tier = len(section.tiers) - 1
            fit(ordered, budget)
            text = self._assemble(top, first, routes, groups, pairs, drift, ordered, source)
            if len(text) <= limit:
                return text
            budget -= len(text) - limit + 500  # what the estimate missed (it never should)
        return text

    def _assemble(
        self,
        top: str,
        first: list[Section],
        routes: list[Section],
        groups: list[Section],
        pairs: list[tuple[str, list[Action]]],
        drift: list[Section],
        ordered: list[Section],
        source: str,
    ) -> str:
        parts = [top]
        hidden = [actions for section, (_, actions) in zip(groups, pairs, strict=True) if not section.text()]
        if any(not s.full and s.text(0) for s in ordered):
            parts.append(SHORTENED.format(what=self._what_was_cut(ordered, groups, len(hidden))))
        # Shown in reading order: the production summary first; budgeted after blocked and removed lines.
        blocked, removals, production = first
        parts += [s.text() for s in (production, blocked, removals) if s.text()]
        if any(s.text() for s in routes):
            parts.append("#### Routing changes shared by several lines")
            parts += [s.text() for s in routes if s.text()]
        parts.append("#### Changes by work order")
        parts += [s.text() for s in groups if s.text()]
        if hidden:
            parts.append(
                f"_…and {_plural(len(hidden), 'more work order')} with "
                f"{_plural(sum(len(a) for a in hidden), 'change')}, not shown here to stay within GitHub's "
                "limit (see the note at the top)._"
            )
        parts += [s.text() for s in drift if s.text()]
        parts.append(source)
        return "\n\n".join(parts) + "\n"

    @staticmethod
    def _what_was_cut(ordered: Sequence[Section], groups: Sequence[Section], hidden: int) -> str:
        what = []
        short = sum(1 for s in groups if s.text() and not s.full)
        if short:
            what.append(f"{_plural(short, 'work order')} shown as one line")
        if hidden:
            what.append(f"{_plural(hidden, 'work order')} only counted")
        others = [s.name for s in ordered if s not in groups and not s.full and s.text(0)]
        if others:
            what.append("shortened: " + ", ".join(_md(n) for n in others))
        return "; ".join(what)


def render_markdown(plan: Plan, *, limit: int = _BUDGET) -> str:
    return _Comment(plan).render(limit)
