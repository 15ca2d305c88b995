"""Workflow template names -> ids, from Epoptia's template list. Manifests never hold ids."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..errors import MappingError
from ..words import did_you_mean


class WorkflowIndex:
    def __init__(self, templates: list[dict[str, Any]]) -> None:
        counts = Counter(str(t.get("name")) for t in templates)
        self.by_name = {str(t.get("name")): int(t["id"]) for t in templates if counts[str(t.get("name"))] == 1}
        self.ambiguous = {name for name, n in counts.items() if n > 1}

    def resolve(self, name: str, used_by: str) -> int:
        if name in self.ambiguous:
            raise MappingError(
                f"workflow {name!r} (used by {used_by}) is ambiguous: Epoptia has several templates with that name",
                hint="rename one of them in Epoptia so each name is unique",
            )
        if name not in self.by_name:
            known = ", ".join(sorted(self.by_name)) or "none"
            raise MappingError(
                f"workflow {name!r} (used by {used_by}) is not a workflow template in Epoptia"
                f"{did_you_mean(name, self.by_name)}",
                hint=f"templates there: {known}; check the spelling, or create it in Epoptia first",
            )
        return self.by_name[name]
