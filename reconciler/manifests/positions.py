"""Where in a YAML file a problem is: (document, path) -> line and column.

The fast parse keeps no positions. They are needed only when something is
wrong, so the offending file alone is then composed again in round-trip mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:  # ruamel's round-trip machinery is loaded only when a file has a problem to place
    from ruamel.yaml.nodes import Node


def _compose_all(text: str) -> list[Any]:
    from ruamel.yaml import YAML

    return list(YAML(typ="rt").compose_all(text))


def _node_at(node: "Node", path: Iterable[str | int]) -> tuple["Node", bool]:
    """Walk a composed node along a path; returns the deepest node reached and whether it was reached fully."""
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    for step in path:
        if isinstance(node, MappingNode) and isinstance(step, str):
            for key, value in node.value:
                if key.value == step:
                    node = value
                    break
            else:
                return node, False
        elif isinstance(node, SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            node = node.value[step]
        else:
            return node, False
    return node, True


def _key_node(node: "Node", path: tuple[str | int, ...]) -> "Node | None":
    from ruamel.yaml.nodes import MappingNode

    parent, complete = _node_at(node, path[:-1])
    if complete and isinstance(parent, MappingNode):
        for key, _ in parent.value:
            if key.value == path[-1]:
                return key
    return None


class Locator:
    """Turns (document, path) into line and column by composing one file in round-trip mode."""

    def __init__(self, text: str) -> None:
        from ruamel.yaml.error import YAMLError

        try:
            self._documents = _compose_all(text)
        except (YAMLError, RecursionError):
            self._documents = []

    def position(self, document: int, path: tuple[str | int, ...], at_key: bool = False) -> tuple[int, int]:
        if document >= len(self._documents) or self._documents[document] is None:
            return 1, 1
        root = self._documents[document]
        node: Node | None = _key_node(root, path) if at_key and path else None
        if node is None:
            node, _ = _node_at(root, path)
        return node.start_mark.line + 1, node.start_mark.column + 1
