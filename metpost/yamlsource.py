"""Read YAML while remembering the line each value came from, for errors people can find."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML document and the 1-based line of every value in it, keyed by path."""

    data: Any
    lines: dict[FieldPath, int]

    def line_of(self, path: FieldPath) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


class YamlSyntaxError(Exception):
    """The text is not valid YAML; ``line`` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def parse_yaml(text: str, line_offset: int = 0) -> YamlDocument:
    """Parse ``text``; ``line_offset`` is added to every line (for YAML embedded in a file)."""
    loader = yaml.SafeLoader(text)
    try:
        # One parse: keep the node tree for line numbers and build the data from it.
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line = (mark.line + 1 if mark else 1) + line_offset
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise YamlSyntaxError(f"invalid YAML: {problem}", line) from None
    finally:
        loader.dispose()
    lines: dict[FieldPath, int] = {}
    if node is not None:
        _record_lines(node, (), lines, line_offset)
    return YamlDocument(data=data, lines=lines)


def read_yaml(path: Path) -> YamlDocument:
    """Read and parse a YAML file (raises OSError or YamlSyntaxError)."""
    return parse_yaml(path.read_text(encoding="utf-8"))


def _record_lines(node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int],
                  offset: int) -> None:
    lines[path] = node.start_mark.line + 1 + offset
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            _record_lines(value_node, (*path, key), lines, offset)
            # The key's own line is more useful than the value's for "unknown key" errors.
            lines[(*path, key)] = key_node.start_mark.line + 1 + offset
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), lines, offset)
