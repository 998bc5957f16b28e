"""Parsing desired YAML fast, and finding line and column only when needed.

The first pass uses yaml-rs (a Rust YAML 1.2 parser that builds Python objects
directly), about ten times faster than PyYAML's libyaml loader, whose object
construction runs in Python: 10,000 documents must load in seconds. It refuses
duplicate keys, which most YAML parsers silently accept. Only for a file that
has a problem is it parsed again with PyYAML, whose node tree carries the line
and column of every key and value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

yaml_rs: Any
try:
    import yaml_rs
except ImportError:  # pragma: no cover - a platform without its wheel takes the slow path
    yaml_rs = None

try:  # pragma: no cover - which loader exists depends on how PyYAML was built
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]


@dataclass(frozen=True)
class YamlFault:
    """A YAML-level problem: syntax error or duplicate key, 1-based position."""

    line: int
    col: int
    message: str
    field: str = ""


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class _StrictLoader(_BaseLoader):
    """libyaml parser with a constructor that refuses duplicate mapping keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                duplicate = key in seen
            except TypeError:
                continue  # unhashable keys are reported by the constructor itself
            if duplicate:
                raise _DuplicateKey(
                    None, None, f"duplicate key '{key}'; remove one of them", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


_StrictLoader.add_constructor(  # type: ignore[type-var]
    "tag:yaml.org,2002:map",
    _StrictLoader.construct_yaml_map,  # type: ignore[arg-type]
)


def parse_document(text: str) -> tuple[Any, YamlFault | None]:
    """Parse one YAML document; returns ``(data, None)`` or ``(None, fault)``."""
    if yaml_rs is None:
        return _parse_located(text)
    try:
        data = yaml_rs.loads(text)
        # yaml-rs returns several documents as a list; the slow path says where
        # the second one starts (and a genuine top-level list is invalid anyway).
        return (data, None) if not isinstance(data, list) else _parse_located(text)
    except Exception as err:  # yaml_rs.YAMLDecodeError and its relatives
        data, fault = _parse_located(text)
        if fault is not None:
            return None, fault
        first = str(err).splitlines()[0] if str(err) else "invalid YAML"
        match = re.search(r"line (\d+), column (\d+)", first)
        line, col = (int(match.group(1)), int(match.group(2))) if match else (1, 1)
        return None, YamlFault(line, col, f"YAML error: {first}")


def _parse_located(text: str) -> tuple[Any, YamlFault | None]:
    """The slow path: PyYAML with duplicate-key detection, every error with its mark."""
    try:
        loader = _StrictLoader(text)
        try:
            return loader.get_single_data(), None  # type: ignore[no-untyped-call]
        finally:
            loader.dispose()  # type: ignore[no-untyped-call]
    except _DuplicateKey as err:
        mark = err.problem_mark
        assert mark is not None
        return None, YamlFault(mark.line + 1, mark.column + 1, err.problem or "duplicate key")
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = err.problem or "invalid YAML"
        if "expected a single document" in str(err.context or "") + problem:
            problem = "one document per file: remove the '---' and split it into files"
        context = ""
        if err.context and "single document" not in err.context:
            context = f" {err.context}"
            if err.context_mark is not None and err.context_mark.line != line - 1:
                context += f" (started at line {err.context_mark.line + 1})"
        return None, YamlFault(line, col, f"YAML syntax error:{context} {problem}".strip())
    except yaml.YAMLError as err:
        return None, YamlFault(1, 1, f"YAML error: {err}")


class PositionIndex:
    """Line and column of any key or value in a document, addressed by its path."""

    def __init__(self, text: str) -> None:
        try:
            self._root: yaml.Node | None = yaml.compose(text, Loader=_BaseLoader)
        except yaml.YAMLError:
            self._root = None

    def locate(self, loc: tuple[Any, ...], *, key: bool = False) -> tuple[int, int]:
        """Position of the value at ``loc``, or of its key when ``key`` is true.

        When ``loc`` does not exist (a missing field), the position of the
        deepest existing ancestor's key is returned, which is where the field
        belongs.
        """
        node = self._root
        if node is None:
            return 1, 1
        key_node: yaml.Node | None = None
        for part in loc:
            found = self._child(node, part)
            if found is None:
                target = key_node or node
                return target.start_mark.line + 1, target.start_mark.column + 1
            key_node, node = found
        target = key_node if key and key_node is not None else node
        return target.start_mark.line + 1, target.start_mark.column + 1

    @staticmethod
    def _child(node: yaml.Node, part: Any) -> tuple[yaml.Node | None, yaml.Node] | None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if str(key_node.value) == str(part):
                    return key_node, value_node
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            return None, node.value[part]
        return None
