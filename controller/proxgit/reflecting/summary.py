"""What changed between two snapshots of a cluster, and the commit message that says it.

Guests are keyed by vmid (from ``guests/<vmid>-<name>.yaml``), so a renamed
guest is one changed guest, not one removed and one added. Files that are not
guest files (index, cluster, nodes, storage, HA) are listed by path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from proxgit.reflecting.snapshot import vmid_of

LISTED = 20  # guests named per line of the commit body before "and N more"


@dataclass
class ClusterChanges:
    cluster: str
    added: list[str] = field(default_factory=list)  # "101 web-01"
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # non-guest files that changed
    removed_cluster: bool = False

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.other)

    def headline(self) -> str:
        if self.removed_cluster:
            return f"{self.cluster}: no longer configured, snapshot removed"
        parts = [
            f"{len(items)} {word}"
            for items, word in (
                (self.added, "added"),
                (self.removed, "removed"),
                (self.changed, "changed"),
            )
            if items
        ]
        return f"{self.cluster}: " + (", ".join(parts) if parts else "cluster state changed")


def compare(cluster: str, old: dict[str, bytes], new: dict[str, bytes]) -> ClusterChanges:
    """Differences from ``old`` to ``new`` files (paths relative to the cluster's folder)."""
    changes = ClusterChanges(cluster)
    old_guests = {v: p for p in old if (v := vmid_of(p)) is not None}
    new_guests = {v: p for p in new if (v := vmid_of(p)) is not None}
    for vmid in sorted(set(old_guests) | set(new_guests)):
        before, after = old_guests.get(vmid), new_guests.get(vmid)
        if before is None and after is not None:
            changes.added.append(_label(vmid, after))
        elif after is None and before is not None:
            changes.removed.append(_label(vmid, before))
        elif (
            before is not None
            and after is not None
            and (before != after or old[before] != new[after])
        ):
            changes.changed.append(_label(vmid, after))
    for path in sorted((set(old) | set(new)) - set(old_guests.values()) - set(new_guests.values())):
        if old.get(path) != new.get(path):
            changes.other.append(path)
    return changes


def commit_message(changes: list[ClusterChanges]) -> str:
    """Subject naming the counts per cluster, body naming the guests."""
    touched = [c for c in changes if c.any or c.removed_cluster]
    subject = "proxgit reflect: " + "; ".join(c.headline() for c in touched)
    body: list[str] = []
    for item in touched:
        if item.removed_cluster:
            continue
        lines = [f"{item.cluster}:"]
        for word, guests in (
            ("added", item.added),
            ("removed", item.removed),
            ("changed", item.changed),
        ):
            if guests:
                shown = ", ".join(guests[:LISTED])
                more = f" and {len(guests) - LISTED} more" if len(guests) > LISTED else ""
                lines.append(f"  {word}: {shown}{more}")
        if item.other:
            lines.append(f"  also: {', '.join(item.other)}")
        body.append("\n".join(lines))
    return subject + ("\n\n" + "\n\n".join(body) if body else "")


def _label(vmid: int, path: str) -> str:
    stem = path.rsplit("/", 1)[-1].removesuffix(".yaml")
    name = stem.split("-", 1)[1] if "-" in stem else ""
    return f"{vmid} {name}".strip()
