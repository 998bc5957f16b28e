"""``DeletionRequest``: the file proxgit opens instead of destroying a guest.

proxgit writes everything but ``approve`` and ``reject``; a person approves by
committing ``approve: true`` (or rejects with ``reject: {reason: ...}``).
Who approved is proven by the repository's identity mode (forge pull requests,
signatures), never read from this file; the request itself counts only in the
commit proxgit signed when it opened it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from proxgit.models.base import Bool, ClusterName, Model, Vmid


class DeletionState(StrEnum):
    open = "open"
    approved = "approved"
    executed = "executed"
    rejected = "rejected"
    expired = "expired"
    withdrawn = "withdrawn"


class GuestIdentity(Model):
    cluster: ClusterName
    node: str
    vmid: Vmid
    kind: Literal["VirtualMachine", "Container"]
    name: str


class Person(Model):
    """An identity as an authenticated source proved it, and the person it resolved to."""

    handle: str = Field(
        description="What was authenticated: a signer's email, github:login, or an author email."
    )
    person: str | None = Field(default=None, description="Key in policy.people, when listed.")
    name: str | None = None


class Requester(Person):
    via: str | None = Field(
        default=None, description="How the requester was authenticated (signature, PR #n)."
    )


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
    request_id: str = Field(
        pattern=r"^[0-9a-f]{16,64}$",
        description="Random id minted when proxgit opened the request; binds approvals to it.",
    )
    guest: GuestIdentity
    requester: Requester
    removed_in: str = Field(description="Commit that removed the guest's document.")
    declared_in: str = Field(
        description="The cluster's last applied revision, where the guest was still declared."
    )
    requested_at: datetime
    expires_at: datetime
    snapshot: GuestMetadataSnapshot = Field(default_factory=GuestMetadataSnapshot)
    approve: Bool = Field(default=False, description="Set to true in your own commit to approve.")
    reject: Rejection | None = Field(default=None, description="Set with a reason to reject.")


class DeletionRequestStatus(Model):
    state: DeletionState = DeletionState.open
    message: str | None = None
    approved_by: Person | None = None
    approval_commit: str | None = None
    withdrawn_in: str | None = Field(
        default=None, description="The commit that declared the guest again."
    )
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
