"""Reading the list of work order lines: every page, or only the pages a run needs, streamed.

A read goes page by page and hands each usable line to ``each`` as it comes,
so nothing has to hold the whole list: at 100,000 lines a refresh keeps what
changed, a read-back what differs, and the rows themselves are dropped page
by page. ``keep`` says which lines the result still holds in ``by_id`` (all of
them unless told: import and small reads want them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .reading import Repeats, RowProblem, WireLine, read_rows

if TYPE_CHECKING:  # the HTTP client is imported only by commands that talk to Epoptia
    from .client import EpoptiaClient


@dataclass(frozen=True)
class TenantLines:
    """What one read of the list showed: usable lines by id, the odd rows, and how many pages there are.

    ``by_id`` holds the lines the read was asked to keep (all, by default);
    ``ids`` every usable line id the read saw, kept or not.
    """

    by_id: dict[str, WireLine]
    problems: tuple[RowProblem, ...] = ()
    pages: int = 0
    complete: bool = True  # every page was read (False: only some pages)
    ids: frozenset[str] | None = None  # None: the ids of by_id

    def seen(self) -> frozenset[str]:
        return self.ids if self.ids is not None else frozenset(self.by_id)


# each(order, line): ``order`` is where the line's id first appeared in the list (0, 1, 2...). A line
# comes again, with the same order, when a later row of it shows more progress: it replaces the
# earlier one, so whoever keeps something per line keys it by line and overwrites.
LineSink = Callable[[int, WireLine], None]


def read_list(
    client: EpoptiaClient,
    *,
    pages: Iterable[int] | None = None,
    on_page: Callable[[int, int], None] = lambda done, total: None,
    each: LineSink | None = None,
    keep: Callable[[WireLine], bool] | None = None,
) -> TenantLines:
    """Every page of the list (or only ``pages``), tolerating whatever a tenant returns.

    ``on_page(done, total)`` after each page, for progress. ``each`` sees every
    line as it is read (see LineSink); ``keep(line)`` decides, by the line's
    id, whether ``by_id`` holds it (default: every line).
    """
    kept: dict[str, WireLine] = {}
    problems: list[RowProblem] = []
    repeats = Repeats()

    def read(page: int) -> int:
        rows, total = client.lines_page(page)
        found, odd = read_rows(rows, page)
        del rows  # the page's raw rows go as soon as they are read
        problems.extend(odd)
        for line in found:
            order = repeats.offer(line)
            if order is None:
                continue
            if keep is None or keep(line):
                kept[line.line_id] = line
            if each is not None:
                each(order, line)
        return total

    if pages is None:
        page, total = 1, 1
        while page <= total:
            total = read(page)
            on_page(page, total)
            page += 1
    else:
        todo = sorted(set(pages))
        total = 0
        for done, page in enumerate(todo, start=1):
            if total and page > total:
                break  # the list got shorter since those pages were seen
            total = read(page)
            on_page(done, len(todo))
    return TenantLines(
        by_id=kept,
        problems=tuple(problems + repeats.problems),
        pages=total,
        complete=pages is None,
        ids=repeats.ids() if keep is not None else None,
    )
