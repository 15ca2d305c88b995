"""Where in a YAML file a problem is: (document, path) -> line and column.

The fast parse keeps no positions. They are needed only when something is
wrong, so the offending file alone is then composed again in round-trip mode.
"""

from __future__ import annotations

from typing import Iterable

from ruamel.yaml import YAML
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode


class _RoundTripConstructor(RoundTripConstructor):
    pass


_RoundTripConstructor.add_constructor("tag:yaml.org,2002:timestamp", RoundTripConstructor.construct_yaml_str)


def round_trip_yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _RoundTripConstructor
    return yaml


def _node_at(node: Node, path: Iterable[str | int]) -> tuple[Node, bool]:
    """Walk a composed node along a path; returns the deepest node reached and whether it was reached fully."""
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


def _key_node(node: Node, path: tuple[str | int, ...]) -> Node | None:
    parent, complete = _node_at(node, path[:-1])
    if complete and isinstance(parent, MappingNode):
        for key, _ in parent.value:
            if key.value == path[-1]:
                return key
    return None


class Locator:
    """Turns (document, path) into line and column by composing one file in round-trip mode."""

    def __init__(self, text: str) -> None:
        try:
            self._documents = list(round_trip_yaml().compose_all(text))
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
