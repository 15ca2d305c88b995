"""The layering of the package, pinned: who may import whom.

    manifests/ + load ──> resources ──> planning (Plan values, policy, planner) ──> render
                                  \\                          \\──> executor ──> epoptia (wire format, client)
    state (values | layout | store) ─┘                               commands (plan, apply, drift, import, doctor)
    emulator ──> epoptia.profile only                                cli ──> commands, render (nothing imports cli)

Each rule is checked on every import statement of every module, including
imports inside functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "reconciler"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (``from x import y`` counts as x and x.y)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            found.add(origin)
            found.update(f"{origin}.{alias.name}" for alias in node.names)
    return found


MODULES = {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _ours(name: str) -> bool:
    return _under(name, "reconciler")


def _offenders(importers: tuple[str, ...], forbidden, allowed_inside: tuple[str, ...] = ()) -> list[str]:
    out = []
    for module, imports in MODULES.items():
        if not _under(module, *importers) or _under(module, *allowed_inside):
            continue
        out += [f"{module} imports {name}" for name in sorted(imports) if forbidden(name)]
    return out


def test_the_layering_test_sees_imports() -> None:
    assert "reconciler.epoptia.profile" in MODULES["reconciler.emulator.app"]
    assert "reconciler.planning.plan" in MODULES["reconciler.render.text"]
    assert len(MODULES) > 40


RULES = {
    "the emulator imports only the wire profile": (
        ("reconciler.emulator",),
        lambda name: (
            _ours(name)
            and not _under(name, "reconciler.emulator", "reconciler.epoptia.profile")
            and name not in ("reconciler", "reconciler.epoptia")
        ),
    ),
    "renderers import plan and report values only": (
        ("reconciler.render",),
        lambda name: (
            _ours(name)
            and not _under(
                name,
                "reconciler.render",
                "reconciler.planning.plan",
                "reconciler.report",
                "reconciler.resources",
                "reconciler.windows",
            )
            and name not in ("reconciler", "reconciler.planning")
        ),
    ),
    "epoptia/ imports neither the state nor planning nor what runs it": (
        ("reconciler.epoptia",),
        lambda name: _under(
            name,
            "reconciler.state",
            "reconciler.planning",
            "reconciler.executor",
            "reconciler.commands",
            "reconciler.refresh",
            "reconciler.load",
            "reconciler.manifests",
        ),
    ),
    "planning imports neither the loader nor epoptia nor the state store": (
        ("reconciler.planning",),
        lambda name: _under(
            name,
            "reconciler.load",
            "reconciler.manifests",
            "reconciler.epoptia",
            "reconciler.state.store",
            "reconciler.executor",
            "reconciler.commands",
        ),
    ),
    "state values and layout never touch the store, the network or planning": (
        ("reconciler.state.values", "reconciler.state.layout"),
        lambda name: _under(name, "reconciler.state.store", "reconciler.epoptia", "reconciler.planning"),
    ),
    "the executor renders nothing and asks nothing": (
        ("reconciler.executor",),
        lambda name: _under(name, "reconciler.render", "reconciler.commands"),
    ),
    "commands talk to people only through hooks": (
        ("reconciler.commands",),
        lambda name: _under(name, "reconciler.render", "reconciler.cli", "click", "rich"),
    ),
    "nothing imports the CLI": (
        ("reconciler",),
        lambda name: _under(name, "reconciler.cli"),
    ),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_layering(rule: str) -> None:
    importers, forbidden = RULES[rule]
    allowed_inside = ("reconciler.cli", "reconciler.__main__") if rule == "nothing imports the CLI" else ()
    assert _offenders(importers, forbidden, allowed_inside) == []
