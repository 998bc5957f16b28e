"""Every YAML proxgit reads or writes, with one semantics: YAML 1.2.

A plain scalar means the same thing wherever proxgit meets it: ``yes``, ``on``
and ``no`` are text, ``010`` is ten, ``0o10`` is eight, ``1e3`` is a float,
``~``/``null`` are null, ``2024-01-01`` is text (the core schema has no
timestamps), and ``<<: *anchor`` merges a mapping. That is the YAML 1.2 core
schema plus merge keys, as ruamel.yaml (the reference for writing) reads it,
except that ruamel.yaml adds timestamps. yaml-rs reads it with
``parse_datetime=False``, which also keeps it from reading a *quoted*
``'2024-01-01'`` as a date (a yaml-rs 0.1.6 bug). Both also read ``1_000`` as
an int, as YAML 1.1 did. ``tests/core/test_yaml_semantics.py`` pins all this
case by case.

Reading (:func:`parse_document`) uses yaml-rs, a Rust parser that builds Python
objects directly: 35 us per VM document against 384 us for PyYAML's libyaml
loader (YAML 1.1) and 8.2 ms for ruamel.yaml (pure Python, no C loader for
0.19), measured on the ``bench/load.py`` document; 10,000 files must load in
seconds. There is no fallback parser: yaml-rs is a hard dependency, so a
missing wheel is an install error, never a quiet change of meaning.

Locating a problem (:func:`parse_document`'s faults, :class:`PositionIndex`)
uses PyYAML's libyaml *parser* only: it composes the node tree, whose marks
give the line and column of every key and value. Node tags are never turned
into values, so PyYAML's YAML 1.1 resolution cannot leak into the data.

Writing (:func:`dump`) has two styles. ``snapshot`` (reflect's files, compared
byte for byte) uses libyaml's C emitter, 7x faster than ruamel.yaml's (0.48 ms
against 3.2 ms per document): its resolver knows both YAML 1.1 and YAML 1.2
plain scalars, so any string either version would read as something else
(``1e3``, ``0o17``, ``yes``, ``12:30``) is quoted. ``document`` (imported
guests, deletion requests) uses ruamel.yaml in its YAML 1.2 mode, which keeps
flow styles and comments; strings YAML 1.1 tools would misread are quoted
too, for editors and linters still on 1.1. :func:`edit` changes a document in
place and keeps its comments and quoting.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import yaml
import yaml_rs
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    ScalarString,
    SingleQuotedScalarString,
)

__all__ = ["PositionIndex", "YamlFault", "dump", "edit", "parse_document"]

_ParserLoader: type[Any]
try:  # pragma: no cover - which parser exists depends on how PyYAML was built
    _ParserLoader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _ParserLoader = yaml.SafeLoader


@dataclass(frozen=True)
class YamlFault:
    """A YAML-level problem: syntax error or duplicate key, 1-based position."""

    line: int
    col: int
    message: str
    field: str = ""


# --- reading ------------------------------------------------------------------


def parse_document(text: str) -> tuple[Any, YamlFault | None]:
    """Parse one YAML document; returns ``(data, None)`` or ``(None, fault)``."""
    try:
        data = yaml_rs.loads(text, parse_datetime=False)
    except Exception as err:  # yaml_rs.YAMLDecodeError and its relatives
        fault = _locate_fault(text)
        if fault is not None:
            return None, fault
        first = str(err).splitlines()[0] if str(err) else "invalid YAML"
        if "alias replay limit" in first or "recursion limit" in first:
            return None, YamlFault(
                1,
                1,
                "YAML error: the aliases (*name) expand to more than a million values; "
                "write the values out instead of nesting aliases",
            )
        match = re.search(r"line (\d+), column (\d+)", first)
        line, col = (int(match.group(1)), int(match.group(2))) if match else (1, 1)
        tab = _tab_fault(text, line, col)
        return None, tab or YamlFault(line, col, f"YAML error: {first}")
    if isinstance(data, list):
        # yaml-rs returns several documents as a list; the parser says where
        # the second one starts (a genuine top-level list is refused later).
        fault = _locate_fault(text)
        if fault is not None:
            return None, fault
    if "<<" in text:
        try:
            _merge_keys(yaml.compose(text, Loader=_ParserLoader), data, set())
        except _MergeError as err:
            return None, YamlFault(err.line, err.col, str(err), "<<")
    return data, None


def _tab_fault(text: str, line: int, col: int) -> YamlFault | None:
    """A syntax error at a tab (YAML indents with spaces only), said in those words."""
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return None
    here = lines[line - 1]
    at = here.find("\t", max(col - 2, 0))
    if at < 0 or at > col or "\t" not in here[: col + 1]:
        return None
    return YamlFault(
        line, at + 1, "YAML syntax error: a tab character; YAML indents and separates with spaces"
    )


class _MergeError(ValueError):
    def __init__(self, node: yaml.Node) -> None:
        super().__init__("'<<' merges mappings only: write '<<: *anchor' or '<<: [*a, *b]'")
        self.line, self.col = node.start_mark.line + 1, node.start_mark.column + 1


def _merge_keys(node: yaml.Node | None, value: Any, done: set[int]) -> None:
    """Apply plain ``<<`` merge keys in place: explicit keys win, then earlier sources.

    The node tree (same order as the data) tells a merge key from a quoted
    ``'<<'``, which is an ordinary key.
    """
    if node is None or id(value) in done:
        return
    if isinstance(node, yaml.MappingNode) and isinstance(value, dict):
        done.add(id(value))
        merge: yaml.Node | None = None
        for (key_node, value_node), (key, child) in zip(
            node.value, list(value.items()), strict=False
        ):
            if key == "<<" and isinstance(key_node, yaml.ScalarNode) and not key_node.style:
                merge = value_node
            _merge_keys(value_node, child, done)
        if merge is None:
            return
        sources = value.pop("<<")
        sources = sources if isinstance(sources, list) else [sources]
        if not all(isinstance(source, dict) for source in sources):
            raise _MergeError(merge)
        merged: dict[Any, Any] = {}
        for source in reversed(sources):
            merged.update(source)
        merged.update(value)
        value.clear()
        value.update(merged)
    elif isinstance(node, yaml.SequenceNode) and isinstance(value, list):
        done.add(id(value))
        for child_node, child in zip(node.value, value, strict=False):
            _merge_keys(child_node, child, done)


def _locate_fault(text: str) -> YamlFault | None:
    """Where the text breaks YAML: syntax, several documents, a duplicate key."""
    loader = _ParserLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as err:
        fault = _marked_fault(err)
        return _tab_fault(text, fault.line, fault.col) or fault
    except yaml.YAMLError as err:
        return YamlFault(1, 1, f"YAML error: {err}")
    finally:
        loader.dispose()
    return _duplicate_key(root) if root is not None else None


def _marked_fault(err: yaml.MarkedYAMLError) -> YamlFault:
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
    return YamlFault(line, col, f"YAML syntax error:{context} {problem}".strip())


def _duplicate_key(root: yaml.Node) -> YamlFault | None:
    stack = [root]
    visited: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                stack.append(value_node)
                if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                    continue
                if key_node.value in seen:
                    mark = key_node.start_mark
                    return YamlFault(
                        mark.line + 1,
                        mark.column + 1,
                        f"duplicate key '{key_node.value}'; remove one of them",
                    )
                seen.add(key_node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return None


class PositionIndex:
    """Line and column of any key or value in a document, addressed by its path."""

    def __init__(self, text: str) -> None:
        try:
            self._root: yaml.Node | None = yaml.compose(text, Loader=_ParserLoader)
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
            merged: list[yaml.Node] = []
            for key_node, value_node in node.value:
                if str(key_node.value) == str(part):
                    return key_node, value_node
                if key_node.value == "<<":
                    merged.extend(
                        value_node.value
                        if isinstance(value_node, yaml.SequenceNode)
                        else [value_node]
                    )
            for source in merged:  # a key brought in by '<<' is where its anchor wrote it
                found = PositionIndex._child(source, part)
                if found is not None:
                    return found
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            return None, node.value[part]
        return None


# --- writing ------------------------------------------------------------------

# Plain scalars YAML 1.2 reads as something other than text that YAML 1.1's
# resolver (which PyYAML's emitter consults to decide quoting) does not know:
# floats without a dot (1e3), octal 0o17, digits and underscores (yaml-rs reads
# _0 as 0), and anything else yaml-rs or ruamel.yaml would not read back as the
# same text (checked by parsing; only strings starting like a number get here).
_YAML12_NUMBER = re.compile(
    r"^[-+]?(?:[0-9_][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9_]+)?$"
    r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
    r"|^0o[0-7_]+$|^[-+]?0x[0-9a-fA-F_]+$|^[-+]?0b[01_]+$"
)
_NUMBER_START = "-+._0123456789"


@functools.lru_cache(maxsize=4096)
def _misread(text: str) -> bool:
    """Whether ``text`` written plain would read back as something else."""
    if not text or text[0] not in _NUMBER_START:
        return False
    if _YAML12_NUMBER.match(text):
        return True
    try:
        return bool(yaml_rs.loads(f"a: {text}\n", parse_datetime=False) != {"a": text})
    except Exception:
        return True


class _Misread:
    """A resolver "pattern" (PyYAML calls ``.match``) for :func:`_misread`."""

    @staticmethod
    def match(text: str) -> bool:
        return _misread(text)


class _SnapshotDumper(yaml.CSafeDumper):
    """libyaml's emitter with a resolver that knows YAML 1.1 and 1.2 plain scalars."""


_SnapshotDumper.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    _Misread,  # type: ignore[arg-type]
    list(_NUMBER_START),
)

# Plain scalars a YAML 1.1 reader (PyYAML, many editors) would not read as text:
# sexagesimal numbers (a PCI address 0000:01:00.0, a time 12:30) and yes/no/on/off.
_YAML11_AMBIGUOUS = re.compile(
    r"^([-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?|y|n|yes|no|on|off)$", re.IGNORECASE
)

# Characters YAML cannot write raw (control characters, surrogates, BOM) and
# line breaks YAML 1.1 knows but 1.2 does not (NEL, LS, PS): double-quoted.
_UNPRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\ufeff\x85\u2028\u2029]"
)

Style = Literal["snapshot", "document", "request"]


def dump(data: Any, *, header: str = "", style: Style = "snapshot") -> str:
    """``data`` as YAML text that every YAML 1.2 reader reads back as ``data``.

    ``snapshot``: keys sorted, block style, no folding; equal data gives equal
    text. ``document``: key order and ruamel styles (flow maps, literal blocks)
    kept, two-space mappings and sequences indented under their key, width 100.
    ``request``: key order kept, block style, no folding.
    """
    if style == "snapshot":
        text = yaml.dump(
            data,
            Dumper=_SnapshotDumper,
            sort_keys=True,
            default_flow_style=False,
            allow_unicode=True,
            width=1 << 16,
            indent=2,
        )
        return header + text
    writer = _round_trip()
    if style == "document":
        writer.indent(mapping=2, sequence=4, offset=2)
        writer.width = 100
    else:
        writer.default_flow_style = False
        writer.width = 4096
    out = io.StringIO()
    out.write(header)
    writer.dump(_quote_ambiguous(data), out)
    return out.getvalue()


def edit(text: str, change: Callable[[Any], None]) -> str:
    """``text`` with ``change`` applied to its data; comments and quoting kept."""
    writer = _round_trip()
    writer.width = 4096
    writer.preserve_quotes = True
    data = writer.load(text)
    change(data)
    data = _quote_ambiguous(data)
    out = io.StringIO()
    writer.dump(data, out)
    return out.getvalue()


def _round_trip() -> YAML:
    writer = YAML(typ="rt")
    writer.version = None  # YAML 1.2 semantics, without a '%YAML 1.2' line
    return writer


def _quote_ambiguous(value: Any) -> Any:
    """Strings a YAML 1.1 reader would misread, single-quoted; the rest unchanged."""
    if isinstance(value, CommentedMap):
        for key in list(value):
            value[key] = _quote_ambiguous(value[key])
        return value
    if isinstance(value, dict):
        return {key: _quote_ambiguous(child) for key, child in value.items()}
    if isinstance(value, CommentedSeq):
        for index, child in enumerate(value):
            value[index] = _quote_ambiguous(child)
        return value
    if isinstance(value, list):
        return [_quote_ambiguous(child) for child in value]
    if isinstance(value, str) and _UNPRINTABLE.search(value):
        return DoubleQuotedScalarString(value)  # a block scalar cannot hold it; "\x1f" can
    if (
        isinstance(value, str)
        and not isinstance(value, ScalarString)
        and (_YAML11_AMBIGUOUS.match(value) or _misread(value))
    ):
        return SingleQuotedScalarString(value)
    return value
