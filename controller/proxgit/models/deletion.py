"""``DeletionRequest``: the file proxgit opens instead of destroying a guest.

proxgit writes everything but ``approve`` and ``reject``; a person approves by
committing ``approve: true`` (or rejects with ``reject: {reason: ...}``).
Who approved is taken from that commit in Git history, never from this file.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from proxgit.models.base import ClusterName, Model, Vmid


class DeletionState(StrEnum):
    open = "open"
    approved = "approved"
    executed = "executed"
    rejected = "rejected"
    expired = "expired"


class GuestIdentity(Model):
    cluster: ClusterName
    node: str
    vmid: Vmid
    kind: Literal["VirtualMachine", "Container"]
    name: str


class Person(Model):
    name: str
    email: str
    forge_login: str | None = None


class Requester(Person):
    pr_author: str | None = Field(default=None, description="Forge login of the PR author.")


class GuestMetadataSnapshot(Model):
    """What the guest was when the request was opened, to recognise it and restore it."""

    status: str | None = None
    tags: list[str] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)
    disks: list[dict[str, Any]] = Field(default_factory=list)
    nics: list[dict[str, Any]] = Field(default_factory=list)
    ips: list[str] = Field(default_factory=list)
    digest: str | None = None


class Rejection(Model):
    reason: str = Field(min_length=1)


class DeletionRequestSpec(Model):
    guest: GuestIdentity
    requester: Requester
    removed_in: str = Field(description="Commit that removed the guest's document.")
    requested_at: datetime
    expires_at: datetime
    snapshot: GuestMetadataSnapshot = Field(default_factory=GuestMetadataSnapshot)
    approve: bool = Field(default=False, description="Set to true in your own commit to approve.")
    reject: Rejection | None = Field(default=None, description="Set with a reason to reject.")


class DeletionRequestStatus(Model):
    state: DeletionState = DeletionState.open
    message: str | None = None
    approved_by: Person | None = None
    approval_commit: str | None = None
    decided_at: datetime | None = None


class DeletionRequestMetadata(Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9\-_]*-\d+$", description="<cluster>-<vmid>")
    cluster: ClusterName


class DeletionRequest(Model):
    """``deletions/<cluster>-<vmid>.yaml``."""

    api_version: Literal["proxgit/v1"]
    kind: Literal["DeletionRequest"]
    metadata: DeletionRequestMetadata
    spec: DeletionRequestSpec
    status: DeletionRequestStatus = Field(default_factory=DeletionRequestStatus)
