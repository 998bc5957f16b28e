"""A plan is plain data: what would change, guest by guest, and what stands in the way.

The planner builds it, views render it (terminal, Markdown, JSON), the PR
comment carries it, and apply re-computes it. Nothing here does I/O.
The JSON form (``Plan.model_dump(mode="json")``) is a stable, documented
contract: see docs/plan-json.md.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from proxgit.outcomes import Outcome
from proxgit.planning.drift import GuestDrift, UndeclaredGuest
from proxgit.planning.fieldchange import Effect, FieldChange

PLAN_FORMAT_VERSION = 1


class Action(StrEnum):
    create = "create"
    update = "update"
    migrate = "migrate"
    delete = "delete"
    noop = "noop"

    @property
    def permission_verb(self) -> str:
        """The policy verb a change needs (``update_vm``...): moving a guest to another
        node is an update of its document."""
        return Action.update.value if self is Action.migrate else self.value


class MigrationMode(StrEnum):
    """How Proxmox moves the guest: ``online`` (a running VM keeps running),
    ``restart`` (a running container is shut down, moved, started again) or
    ``offline`` (a stopped guest)."""

    online = "online"
    restart = "restart"
    offline = "offline"


class Migration(BaseModel):
    """A planned move of an existing guest to the node its file now names."""

    source: str = Field(description="The node the guest runs on now.")
    target: str = Field(description="The node its file names.")
    mode: MigrationMode
    with_local_disks: bool = Field(
        default=False,
        description="Online migration that copies disks on storage the nodes do not share.",
    )


class Finding(BaseModel):
    """A blocker (the plan fails) or a warning, with a stable code."""

    code: str
    message: str
    key: str | None = Field(
        default=None, description="The Proxmox config key the finding is about, if one."
    )
    value: str | None = Field(
        default=None, description="That key's raw value as Proxmox holds it (never a secret)."
    )


class GuestChange(BaseModel):
    cluster: str
    vmid: int
    name: str
    kind: str
    node: str | None = None
    action: Action
    file: str | None = None
    fields: list[FieldChange] = Field(default_factory=list)
    migration: Migration | None = Field(
        default=None, description="Set when action is migrate: how the guest moves."
    )
    blockers: list[Finding] = Field(default_factory=list)
    warnings: list[Finding] = Field(default_factory=list)

    @property
    def needs_restart(self) -> bool:
        return any(f.effect == Effect.restart for f in self.fields)


class CapacityUse(BaseModel):
    """One node's memory or vCPUs, or one storage, before and after the change.

    Only what the change moves is listed. Memory and storage are in bytes,
    vCPUs a count; ``limit`` is the node's RAM or CPUs, or the storage's size.
    """

    cluster: str
    node: str | None = Field(
        default=None, description="Null for a shared storage, counted once for the cluster."
    )
    resource: Literal["memory", "vcpus", "storage"]
    storage: str | None = None
    before: int
    after: int
    limit: int
    percent: float = Field(description="after as a percentage of limit, one decimal.")
    threshold: int | None = Field(
        default=None, description="Percentage above which the plan warns (or blocks)."
    )
    thin: bool = Field(default=False, description="A thin-provisioned storage.")
    over: bool = Field(default=False, description="after is above the threshold or the size.")
    detail: str | None = Field(
        default=None, description="What moved it: '3 new disks', 'balloon minimum used for ...'."
    )


class Summary(BaseModel):
    create: int = 0
    update: int = 0
    migrate: int = 0
    delete: int = 0
    noop: int = 0
    blockers: int = 0
    warnings: int = 0
    drift: int = 0
    unmanaged: int = 0


class Plan(BaseModel):
    """Everything ``proxgit plan`` found, for one revision against live state."""

    format_version: int = PLAN_FORMAT_VERSION
    revision: str | None = None
    base_revision: str | None = None
    actor: str | None = None
    summary: Summary = Field(default_factory=Summary)
    changes: list[GuestChange] = Field(default_factory=list)
    drift: list[GuestDrift] = Field(default_factory=list)
    unmanaged: list[UndeclaredGuest] = Field(default_factory=list)
    blockers: list[Finding] = Field(default_factory=list, description="Not tied to one guest.")
    warnings: list[Finding] = Field(default_factory=list, description="Not tied to one guest.")
    merge_effect: list[str] = Field(
        default_factory=list, description="What merging will do, one line per cluster."
    )
    unrefreshed: int = Field(
        default=0,
        description="Declared guests whose documents this change leaves alone and whose live "
        "state was not read (a plan with a base reads only what changed; plan --drift reads "
        "all).",
    )
    capacity: list[CapacityUse] = Field(
        default_factory=list,
        description="Node memory, vCPUs and storage the change moves, before and after.",
    )

    @property
    def has_changes(self) -> bool:
        return any(c.action != Action.noop for c in self.changes)

    @property
    def blocker_count(self) -> int:
        return len(self.blockers) + sum(len(c.blockers) for c in self.changes)

    @property
    def warning_count(self) -> int:
        return len(self.warnings) + sum(len(c.warnings) for c in self.changes)

    @property
    def outcome(self) -> Outcome:
        """blocked (exit 1) before changes (exit 2) before ok (exit 0)."""
        if self.blocker_count:
            return Outcome.blocked
        return Outcome.changes if self.has_changes else Outcome.ok

    def summarize(self) -> Plan:
        """Recompute ``summary`` from the lists; returns self."""
        counts = {action: 0 for action in Action}
        for change in self.changes:
            counts[change.action] += 1
        self.summary = Summary(
            create=counts[Action.create],
            update=counts[Action.update],
            migrate=counts[Action.migrate],
            delete=counts[Action.delete],
            noop=counts[Action.noop],
            blockers=self.blocker_count,
            warnings=self.warning_count,
            drift=len(self.drift),
            unmanaged=sum(1 for g in self.unmanaged if g.counted),
        )
        return self
