"""A routing change as a mermaid flowchart: the route before, above the route after.

Every label is escaped with mermaid's entity codes (``#quot;``, ``#35;`` ...), so
quotes, ``#…;``, angle brackets and backticks in workstation or job task names
show as written and never break the diagram; long labels are wrapped at word
boundaries instead of being clipped.
"""

from __future__ import annotations

from collections.abc import Sequence

from .routing import Step, StepLine

# Characters mermaid reads as syntax inside a quoted label, as its entity codes.
_ENTITIES = {
    "#": "#35;",  # first: the codes below start with '#'
    '"': "#quot;",
    "&": "#amp;",
    "<": "#lt;",
    ">": "#gt;",
    "`": "#96;",
    "\\": "#92;",
}
_WRAP = 18  # characters per label line: about the width of a default node


def escape(text: str) -> str:
    out = []
    for char in text:
        if char in ("\n", "\r", "\t"):
            out.append(" ")
        else:
            out.append(_ENTITIES.get(char, char))
    return "".join(out)


def _wrap(text: str, width: int = _WRAP) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        while len(word) > width:  # one long word: cut it, it cannot wrap by itself
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:width])
            word = word[width:]
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines or [""]


def label(step: Step) -> str:
    """A node's label: workstation, then its job task in italics, each wrapped and escaped."""
    station = _wrap(step.get("workstation") or "(any workstation)")
    parts = [escape(line) for line in station]
    if step.get("job_task"):
        parts += [f"<i>{escape(line)}</i>" for line in _wrap(step["job_task"])]
    return "<br/>".join(parts)


_CLASSES = (
    "  classDef same fill:#f6f8fa,stroke:#8c959f,color:#1f2328;",
    "  classDef added fill:#dafbe1,stroke:#1a7f37,stroke-width:2px,color:#1f2328;",
    "  classDef removed fill:#ffebe9,stroke:#cf222e,stroke-width:2px,stroke-dasharray: 5 3,color:#1f2328;",
    "  classDef changed fill:#fff8c5,stroke:#9a6700,stroke-width:2px,color:#1f2328;",
    "  classDef moved fill:#ddf4ff,stroke:#0969da,stroke-width:2px,color:#1f2328;",
)
_MARK = {" ": "same", "+": "added", "-": "removed", "~": "changed", "↕": "moved"}
_TAG = {"+": "new", "-": "removed", "~": "changed", "↕": "moved"}


def flowchart(before: Sequence[Step], after: Sequence[Step], aligned: Sequence[StepLine]) -> str:
    """Two rows, 'before' above 'after', steps left to right; what changed is coloured and named."""
    before_mark = {line.before: line.sign for line in aligned if line.before is not None}
    after_mark = {line.after: line.sign for line in aligned if line.after is not None}
    lines = ["```mermaid", "flowchart TB"]
    rows = (("b", "Before", before, before_mark), ("a", "After", after, after_mark))
    for prefix, heading, steps, marks in rows:
        lines.append(f'  subgraph {prefix}["{heading}"]')
        lines.append("    direction LR")
        if not steps:
            lines.append(f'    {prefix}0["(no steps)"]:::same')
        for i, step in enumerate(steps, start=1):
            sign = marks.get(i, " ")
            text = f"{i}. " + label(step)
            if sign in _TAG:
                text = f"<b>{_TAG[sign]}</b><br/>" + text
            lines.append(f'    {prefix}{i}["{text}"]:::{_MARK[sign]}')
        for i in range(1, len(steps)):
            lines.append(f"    {prefix}{i} --> {prefix}{i + 1}")
        lines.append("  end")
    # An invisible link keeps 'Before' above 'After' whatever the layout prefers.
    lines.append("  b ~~~ a")
    lines.extend(_CLASSES)
    lines.append("```")
    return "\n".join(lines)
