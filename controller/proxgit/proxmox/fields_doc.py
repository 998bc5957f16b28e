"""The field table as a Markdown page: every Proxmox config key and how proxgit treats it.

``proxgit fields --out docs/proxmox-keys.md`` is not a command; the page is written by
``python -m proxgit.proxmox.fields_doc docs/proxmox-keys.md`` and a test keeps it current.
"""

from __future__ import annotations

import sys
from pathlib import Path

from proxgit.proxmox.fields import LXC, QEMU, Key

_ROLE = {
    "typed": "typed",
    "carried": "carried (`extraConfig`)",
    "secret": "secret",
    "owned": "owned by Proxmox",
}
_EFFECT = {
    "live": "live",
    "restart": "restart",
    "create-only": "create only",
}


def _name(row: Key) -> str:
    return f"`{row.name}N` (0-{row.count - 1})" if row.count else f"`{row.name}`"


def _effect(rule: str) -> str:
    if rule.startswith("hotplug:"):
        return f"live with hotplug `{rule.split(':', 1)[1]}`, else restart"
    return _EFFECT.get(rule, rule)


def _format(row: Key) -> str:
    if not row.subs:
        bits = [row.type]
        if row.enum:
            bits.append(" \\| ".join(f"`{e}`" for e in row.enum))
        if row.minimum is not None or row.maximum is not None:
            low = "" if row.minimum is None else f"{row.minimum:g}"
            high = "" if row.maximum is None else f"{row.maximum:g}"
            bits.append(f"{low}..{high}")
        return ", ".join(bits)
    parts = []
    for sub in row.subs:
        if sub.virtual:
            continue
        where = ""
        if sub.path is not None:
            spec = sub.path[1:] if sub.path.startswith("/") else sub.path
            where = f" → `{spec}`" if spec else " → (the key's path)"
        elif sub.generated:
            where = " (Proxmox's)"
        else:
            where = " (kept)"
        default = " (default key)" if sub.default_key else ""
        parts.append(f"`{sub.name}`{default}{where}")
    return "; ".join(parts)


def _rows(rows: tuple[Key, ...]) -> list[str]:
    lines = [
        "| key | proxgit | spec path | format (sub-key → spec field) | effect on a running guest |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in sorted(rows, key=lambda r: (r.role != "typed", r.name)):
        path = f"`{row.path.replace('{slot}', '<key>')}`" if row.path else ""
        if row.role == "carried":
            path = f"`extraConfig.{row.name}{'N' if row.count else ''}`"
        why = f" {row.why}" if row.role in ("owned", "secret") else ""
        root = " root@pam only." if row.root_only else ""
        fmt = _format(row) if row.role == "typed" else (row.why if row.role == "carried" else "")
        effect = _effect(row.effect) if row.role in ("typed", "carried") else ""
        if row.new_effect and row.role == "typed":
            effect += f"; a new one: {_effect(row.new_effect)}"
        lines.append(f"| {_name(row)} | {_ROLE[row.role]}{why}{root} | {path} | {fmt} | {effect} |")
    return lines


def render() -> str:
    out = [
        "# Proxmox config keys and how proxgit treats them",
        "",
        "Generated from proxgit's field table (`controller/proxgit/proxmox/fields.py`),",
        "which a test holds against PVE's API schema: every config key PVE 9 knows is",
        "listed. **typed**: a spec field (its sub-keys → spec fields; `(kept)` sub-keys",
        "are written back as Proxmox has them; when a live value has one, import carries",
        "the whole key verbatim in `extraConfig`). **carried**: written verbatim under",
        "`extraConfig`, compared and applied like a typed field. **owned by Proxmox**:",
        "never written by proxgit; import reports it. **secret**: written from a secret",
        "reference, never read back.",
        "",
        "Do not edit: run `python -m proxgit.proxmox.fields_doc docs/proxmox-keys.md`.",
        "",
        "## QEMU virtual machines (`kind: VirtualMachine`)",
        "",
        *_rows(QEMU),
        "",
        "## LXC containers (`kind: Container`)",
        "",
        *_rows(LXC),
        "",
    ]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    text = render()
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
