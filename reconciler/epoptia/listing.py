"""Reading the list of work order lines: every page, or only the pages a run needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

from .reading import RowProblem, WireLine, merge_duplicates, read_rows

if TYPE_CHECKING:  # the HTTP client is imported only by commands that talk to Epoptia
    from .client import EpoptiaClient


@dataclass(frozen=True)
class TenantLines:
    """What one read of the list showed: usable lines by id, the odd rows, and how many pages there are."""

    by_id: dict[str, WireLine]
    problems: tuple[RowProblem, ...] = ()
    pages: int = 0
    complete: bool = True  # every page was read (False: only some pages)


def read_list(client: EpoptiaClient, *, pages: Iterable[int] | None = None,
              on_page: Callable[[int, int], None] = lambda done, total: None) -> TenantLines:
    """Every page of the list (or only ``pages``), tolerating whatever a tenant returns.

    ``on_page(done, total)`` after each page, for progress.
    """
    lines: list[WireLine] = []
    problems: list[RowProblem] = []

    def read(page: int) -> int:
        rows, total = client.lines_page(page)
        found, odd = read_rows(rows, page)
        lines.extend(found)
        problems.extend(odd)
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
    by_id, duplicates = merge_duplicates(lines)
    return TenantLines(by_id=by_id, problems=tuple(problems + duplicates), pages=total,
                       complete=pages is None)
