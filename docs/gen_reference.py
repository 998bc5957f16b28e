#!/usr/bin/env python3
"""Generate the field tables of docs/repository-format.md from schemas/*.schema.json.

The JSON Schemas are generated from the pydantic models (``proxgit schema``),
so tables built from them list exactly the fields, types, defaults and
constraints the loader enforces. Standard library only.

    python docs/gen_reference.py            # print the generated Markdown
    python docs/gen_reference.py --write    # replace the block between the markers in the doc
    python docs/gen_reference.py --check    # exit 1 when the doc's block is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCHEMAS = HERE.parent / "schemas"
DOC = HERE / "repository-format.md"
BEGIN = "<!-- BEGIN GENERATED -->"
END = "<!-- END GENERATED -->"

# Document kinds in reading order: (kind, schema file, where the file lives).
KINDS = [
    ("Config", "config.schema.json", "`proxgit.yaml`"),
    ("VirtualMachine", "virtualmachine.schema.json", "`clusters/<cluster>/vms/<name>.yaml`"),
    ("Container", "container.schema.json", "`clusters/<cluster>/containers/<name>.yaml`"),
    ("DeletionRequest", "deletionrequest.schema.json", "`deletions/<cluster>-<vmid>.yaml`"),
]

_ISO_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def anchor(name: str) -> str:
    return "type-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def clean(text: str) -> str:
    """A schema description as one Markdown table cell."""
    text = " ".join(text.replace("``", "`").split())
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # outside code spans: no raw HTML
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts).replace("|", "\\|")


def code(value: str) -> str:
    value = value.replace("|", "\\|")
    tick = "``" if "`" in value else "`"
    pad = " " if tick == "``" else ""
    return f"{tick}{pad}{value}{pad}{tick}"


class Renderer:
    def __init__(self, schema: dict[str, Any], done: set[str]) -> None:
        self.defs: dict[str, Any] = schema.get("$defs", {})
        self.done = done  # object types already rendered (shared across kinds)
        self.queue: list[str] = []

    # --- types -------------------------------------------------------------

    def ref_name(self, node: dict[str, Any]) -> str | None:
        ref = node.get("$ref")
        return ref.rsplit("/", 1)[-1] if ref else None

    def is_enum_def(self, name: str) -> bool:
        return "enum" in self.defs.get(name, {})

    def type_of(self, node: dict[str, Any]) -> str:
        """A short, exact description of a schema node's type."""
        name = self.ref_name(node)
        if name:
            if self.is_enum_def(name):
                return self.type_of(self.defs[name])
            if name not in self.queue:
                self.queue.append(name)
            return f"[{name}](#{anchor(name)})"
        if "anyOf" in node:
            members = [m for m in node["anyOf"] if m.get("type") != "null"]
            return " or ".join(self.type_of(m) for m in members)
        if "const" in node:
            return code(json.dumps(node["const"]))
        if "enum" in node:
            return " \\| ".join(code(json.dumps(v)) for v in node["enum"])
        kind = node.get("type")
        if isinstance(kind, list):
            return " or ".join(kind)
        if kind == "array":
            return f"list of {self.type_of(node.get('items', {}))}"
        if kind == "object":
            if "properties" in node:
                return "object"
            patterns = node.get("patternProperties") or {}
            if patterns:
                key, value = next(iter(patterns.items()))
                return f"map: key {code(key)} → {self.type_of(value)}"
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):
                return f"map: string → {self.type_of(extra)}"
            return "map"
        if kind == "string" and node.get("format"):
            return f"string ({node['format']})"
        return kind or "any"

    def constraints(self, node: dict[str, Any]) -> str:
        """Patterns and bounds of a node and of the non-null members of its anyOf."""
        found: list[str] = []
        nodes = [node] + [m for m in node.get("anyOf", []) if m.get("type") != "null"]
        for item in nodes:
            if item.get("type") == "array" and isinstance(item.get("items"), dict):
                nodes.append(item["items"])
        for item in nodes:
            if "pattern" in item:
                found.append(f"pattern {code(item['pattern'])}")
            for key, label in (
                ("minimum", "≥"),
                ("exclusiveMinimum", ">"),
                ("maximum", "≤"),
                ("exclusiveMaximum", "<"),
                ("minLength", "min length"),
                ("maxLength", "max length"),
            ):
                if key in item:
                    found.append(f"{label} {item[key]}")
        return "; ".join(dict.fromkeys(found))

    def default(self, node: dict[str, Any], required: bool) -> str:
        if required:
            return "required"
        if "default" not in node:
            return "—"
        value = node["default"]
        if value is None:
            return "unset"
        if isinstance(value, str):
            match = _ISO_DURATION.match(value)
            if match and "Duration" in node.get("description", ""):
                d, h, m, s = match.groups()
                text = "".join(f"{v}{u}" for v, u in ((d, "d"), (h, "h"), (m, "m"), (s, "s")) if v)
                return code(text or "0s")
        return code(json.dumps(value))

    def description(self, node: dict[str, Any]) -> str:
        text = node.get("description", "")
        name = self.ref_name(node)
        if not text and name and self.is_enum_def(name):
            text = self.defs[name].get("description", "")
        return clean(text)

    # --- tables ------------------------------------------------------------

    def table(self, node: dict[str, Any]) -> list[str]:
        required = set(node.get("required", []))
        rows = [
            "| Field | Type | Default | Constraints | Description |",
            "| --- | --- | --- | --- | --- |",
        ]
        for key, prop in node.get("properties", {}).items():
            rows.append(
                f"| {code(key)} | {self.type_of(prop)} | {self.default(prop, key in required)} "
                f"| {self.constraints(prop)} | {self.description(prop)} |"
            )
        for pattern, prop in (node.get("patternProperties") or {}).items():
            rows.append(
                f"| key matching {code(pattern)} | {self.type_of(prop)} | — "
                f"| {self.constraints(prop)} | {self.description(prop)} |"
            )
        extra = node.get("additionalProperties", True)
        rows.append("")
        rows.append("Other keys: " + ("rejected." if extra is False else "allowed."))
        return rows

    def section(self, title: str, node: dict[str, Any], level: str) -> list[str]:
        lines = [f'<a id="{anchor(title)}"></a>', "", f"{level} {title}", ""]
        text = node.get("description")
        if text:
            lines += [clean(text).replace("\\|", "|"), ""]
        return [*lines, *self.table(node), ""]

    def render_kind(self, kind: str, schema: dict[str, Any], where: str) -> list[str]:
        lines = [f'<a id="{anchor(kind)}"></a>', "", f"### {kind}", ""]
        lines += [f"File: {where}. Schema: `schemas/{SCHEMA_FILE[kind]}`.", ""]
        if schema.get("description"):
            lines += [clean(schema["description"]).replace("\\|", "|"), ""]
        lines += [*self.table(schema), ""]
        while self.queue:
            name = self.queue.pop(0)
            if name in self.done:
                continue
            self.done.add(name)
            lines += self.section(name, self.defs[name], "####")
        return lines


SCHEMA_FILE = {kind: file for kind, file, _ in KINDS}


def generate(schemas: Path = SCHEMAS) -> str:
    done: set[str] = set()
    lines: list[str] = [
        "<!-- Generated by docs/gen_reference.py from schemas/*.schema.json; do not edit. -->",
        "",
        "Columns: *Default* `required` means the key must be present; `unset` means the",
        "key is optional and, left out, proxgit does not manage that setting; `—` means",
        "the value is computed when left out (an empty map, or an object of defaults).",
        "",
    ]
    for kind, file, where in KINDS:
        schema = json.loads((schemas / file).read_text(encoding="utf-8"))
        lines += Renderer(schema, done).render_kind(kind, schema, where)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def splice(doc: str, generated: str) -> str:
    start, end = doc.index(BEGIN), doc.index(END)
    return doc[: start + len(BEGIN)] + "\n" + generated + doc[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"update {DOC.name} in place")
    mode.add_argument("--check", action="store_true", help=f"exit 1 if {DOC.name} is stale")
    parser.add_argument("--schemas", type=Path, default=SCHEMAS)
    parser.add_argument("--doc", type=Path, default=DOC)
    args = parser.parse_args(argv)

    generated = generate(args.schemas)
    if not (args.write or args.check):
        sys.stdout.write(generated)
        return 0
    doc = args.doc.read_text(encoding="utf-8")
    updated = splice(doc, generated)
    if args.check:
        if updated != doc:
            print(
                f"{args.doc}: generated tables are out of date; run "
                "python docs/gen_reference.py --write",
                file=sys.stderr,
            )
            return 1
        print(f"{args.doc}: generated tables are up to date")
        return 0
    if updated != doc:
        args.doc.write_text(updated, encoding="utf-8")
        print(f"{args.doc}: updated")
    else:
        print(f"{args.doc}: already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
