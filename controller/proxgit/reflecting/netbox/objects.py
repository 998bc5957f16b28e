"""NetBox objects as plain data, and the difference between what should be and what is.

A :class:`Wanted` object is what one Proxmox thing (a guest, a NIC, an
address) should look like in NetBox: its kind, a natural key (a guest's vmid,
``(vmid, "net0")``, an IP's host address), and the API fields proxgit manages.
A field may point at another object by :class:`Ref`, resolved to an id only
when the write is sent, because that object may be created in the same run.

A :class:`Found` object is what NetBox holds, read in bulk and normalized to
the same shapes (nested objects as ids, choices as values, tags as slugs).

:func:`diff` compares the two and returns the writes, nothing more: a wanted
object that is missing is created; one that differs in a managed field is
updated with exactly those fields; a found object with proxgit's tag that is
no longer wanted is deleted, but only when its owner (the guest it belongs
to) was read completely. A found object without the tag is never written: a
wanted object whose key it holds is reported as a :class:`Conflict` instead.
Fields proxgit does not manage (comments, tenant, platform, a hand-set
description) are never compared and never sent.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Key = tuple[Any, ...]


class Kind(StrEnum):
    """The NetBox objects proxgit writes, in the order a run writes them."""

    device = "device"
    vm = "virtual machine"
    interface = "interface"
    disk = "virtual disk"
    mac = "MAC address"
    ip = "IP address"


@dataclass(frozen=True)
class Ref:
    """Another object by kind and key; ``optional`` refs resolve to None instead of failing."""

    kind: Kind
    key: Key
    optional: bool = False


class Tags(tuple[str, ...]):
    """Tag slugs, compared as a set and sent as ``[{"slug": ...}]``."""

    __slots__ = ()

    def __new__(cls, slugs: Iterable[str]) -> Tags:
        return super().__new__(cls, sorted(set(slugs)))


@dataclass
class Wanted:
    """One object as it should be in NetBox."""

    kind: Kind
    key: Key
    label: str
    fields: dict[str, Any]
    # fields sent when the object is created and never compared afterwards
    create_only: frozenset[str] = frozenset()
    # the guest (vm key) this object belongs to: a failed parent skips it
    owner: Key | None = None
    # False: only ever update (a link set on an object made in an earlier stage)
    creatable: bool = True
    # a missing wanted object and an unwanted found one of one group pair into an update
    group: Any = None


@dataclass
class Found:
    """One object as NetBox holds it, normalized (see ``mapping.normalize_found``)."""

    kind: Kind
    key: Key
    id: int
    fields: dict[str, Any]
    tagged: bool
    label: str = ""
    owner: Key | None = None
    group: Any = None


class Action(StrEnum):
    create = "create"
    update = "update"
    delete = "delete"


@dataclass
class Write:
    """One write to send: ``data`` holds resolved values, only the fields that change."""

    action: Action
    kind: Kind
    key: Key
    label: str
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    owner: Key | None = None

    def describe(self) -> str:
        if self.action is Action.update:
            return f"update {self.label}: {', '.join(sorted(self.data))}"
        return f"{self.action.value} {self.label}"


@dataclass(frozen=True)
class Conflict:
    """A wanted object that is not written, and why (one line)."""

    kind: Kind
    key: Key
    label: str
    reason: str

    def line(self) -> str:
        return f"{self.label}: {self.reason}"


@dataclass
class Diff:
    writes: list[Write] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    # wanted objects left out because an object they point at is missing
    unresolved: list[Wanted] = field(default_factory=list)


Resolver = Callable[[Ref], int | None]


def diff(
    wanted: Iterable[Wanted],
    found: Iterable[Found],
    resolve: Resolver,
    *,
    deletable_owners: set[Key] | None = None,
) -> Diff:
    """The writes that make ``found`` look like ``wanted`` (see the module docstring).

    ``deletable_owners``: unwanted tagged objects are deleted only when their
    ``owner`` is in this set (None: never delete). Objects of guests whose
    config could not be read, or whose addresses are unknown, stay as they are.

    A wanted object that is missing and an unwanted tagged one of the same
    ``group`` (an address of one interface and IP version) pair into one
    update: a guest whose address changed from 10.0.0.5 to 10.0.0.6 keeps its
    NetBox object (its id, its history, what a person attached to it), for one
    write instead of two.
    """
    result = Diff()
    by_key: dict[Key, Found] = {}
    for item in found:
        # two objects with one key (a hand-made duplicate): the tagged one is ours
        if item.key not in by_key or (item.tagged and not by_key[item.key].tagged):
            by_key[item.key] = item
    seen: set[Key] = set()
    creates: list[tuple[Wanted, dict[str, Any]]] = []
    for want in wanted:
        seen.add(want.key)
        data, missing = _resolved(want.fields, resolve)
        if missing is not None:
            result.unresolved.append(want)
            continue
        have = by_key.get(want.key)
        if have is None:
            if want.creatable:
                creates.append((want, data))
            continue
        if not have.tagged:
            result.conflicts.append(
                Conflict(
                    want.kind,
                    want.key,
                    want.label,
                    f"exists in NetBox (id {have.id}) without the proxgit tag; left alone "
                    "(add the tag in NetBox to let proxgit manage it)",
                )
            )
            continue
        _update(result, want, data, have)
    unwanted: dict[Any, list[Found]] = {}
    deletes: list[Found] = []
    if deletable_owners is not None:
        for key, have in by_key.items():
            if key in seen or not have.tagged or have.owner not in deletable_owners:
                continue
            deletes.append(have)
            if have.group is not None:
                unwanted.setdefault(have.group, []).append(have)
    reused: set[int] = set()
    for want, data in creates:
        spare = unwanted.get(want.group) if want.group is not None else None
        if spare:
            old = spare.pop(0)
            reused.add(old.id)
            _update(result, want, data, old)
            continue
        result.writes.append(
            Write(Action.create, want.kind, want.key, want.label, _body(data), None, want.owner)
        )
    for have in deletes:
        if have.id not in reused:
            label = have.label or f"{have.kind} {have.key}"
            result.writes.append(
                Write(Action.delete, have.kind, have.key, label, {}, have.id, have.owner)
            )
    return result


def _update(result: Diff, want: Wanted, data: Mapping[str, Any], have: Found) -> None:
    changed = {
        name: value
        for name, value in data.items()
        if name not in want.create_only and not same(value, have.fields.get(name))
    }
    if changed:
        result.writes.append(
            Write(
                Action.update, want.kind, want.key, want.label, _body(changed), have.id, want.owner
            )
        )


def same(wanted: Any, found: Any) -> bool:
    """Whether a found value already is the wanted one, as NetBox stores it."""
    if isinstance(wanted, Mapping):
        # custom fields: only the keys proxgit sets are compared
        found_map = found if isinstance(found, Mapping) else {}
        return all(same(v, found_map.get(k)) for k, v in wanted.items())
    if isinstance(wanted, Tags):
        return isinstance(found, tuple) and tuple(sorted(set(found))) == tuple(wanted)
    if isinstance(wanted, bool) or isinstance(found, bool):
        return wanted is found or (wanted == found and type(wanted) is type(found))
    if isinstance(wanted, int | float) and isinstance(found, int | float):
        return float(wanted) == float(found)
    if isinstance(wanted, str) and isinstance(found, str) and "/" in wanted and "/" in found:
        # addresses: 2001:DB8::1/64 and 2001:db8::1/64 are one address
        return bool(_interface(wanted) == _interface(found))
    return bool(wanted == found)


def _interface(text: str) -> Any:
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        return text


def _resolved(fields: Mapping[str, Any], resolve: Resolver) -> tuple[dict[str, Any], Ref | None]:
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if isinstance(value, Ref):
            target = resolve(value)
            if target is None and not value.optional:
                return {}, value
            out[name] = target
        else:
            out[name] = value
    return out, None


def _body(data: Mapping[str, Any]) -> dict[str, Any]:
    """Values as the API takes them: tags by slug, everything else as it is."""
    return {
        name: [{"slug": slug} for slug in value] if isinstance(value, Tags) else value
        for name, value in data.items()
    }
