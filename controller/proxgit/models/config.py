"""``proxgit.yaml``: the clusters, the write gates, the deletion rules and the policy.

It holds no secrets: a cluster's API token secret is named by ``tokenSecretFrom``
(an environment variable or a file) and read only when a client connects.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from proxgit.models.base import ClusterName, Model, SecretRef

CONFIRM_PHRASE = "allow-edit-and-add-actions"
URL_PATTERN = r"^https?://[^\s/]+(:\d+)?/?$"

_DURATION_RE = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: object) -> timedelta:
    """``7d``, ``36h``, ``1w2d``, ``90m`` or a number of seconds to a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION_RE.match(value.strip())
        if match and any(match.groups()):
            w, d, h, m, s = (int(g) if g else 0 for g in match.groups())
            return timedelta(weeks=w, days=d, hours=h, minutes=m, seconds=s)
    raise ValueError(f"'{value}' is not a duration; write it like 7d, 36h or 90m")


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": ["string", "integer"],
            "pattern": r"^(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?$",
            "description": "Duration like 7d, 36h, 90m; a bare number is seconds.",
        }
    ),
]


class Timeouts(Model):
    connect: Annotated[float, Field(gt=0)] = 5.0
    read: Annotated[float, Field(gt=0)] = 30.0
    task: Annotated[float, Field(gt=0)] = Field(
        default=600.0, description="Seconds to wait for a Proxmox task (UPID) to finish."
    )
    shutdown: Annotated[float, Field(gt=0)] = Field(
        default=180.0, description="Seconds to wait for a graceful guest shutdown."
    )


class Cluster(Model):
    """One Proxmox VE cluster (or standalone node) and how to reach it."""

    url: Annotated[str, StringConstraints(pattern=URL_PATTERN)] = Field(
        description="https://host:8006"
    )
    token_id: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^!\s]+![A-Za-z0-9_\-.]+$")] = (
        Field(description="API token id, user@realm!tokenname")
    )
    token_secret_from: SecretRef
    verify_ssl: bool = True
    ca_file: str | None = Field(default=None, description="PEM CA bundle to verify the server.")
    allow_writes: bool = Field(default=False, description="Gate: proxgit may write here.")
    timeouts: Timeouts = Field(default_factory=Timeouts)
    concurrency: Annotated[int, Field(ge=1, le=64)] = Field(
        default=8, description="Concurrent API requests to this cluster."
    )


class Apply(Model):
    enabled: bool = False
    confirm: str | None = Field(
        default=None, description=f"Must be exactly '{CONFIRM_PHRASE}' for apply to write."
    )

    @property
    def gate_open(self) -> bool:
        return self.enabled and self.confirm == CONFIRM_PHRASE


class Deletions(Model):
    ttl: Duration = Field(
        default_factory=lambda: timedelta(days=7), json_schema_extra={"default": "7d"}
    )
    self_approval_allowed: bool = False
    require_signed_approvals: bool = False
    allowed_signers: str | None = Field(
        default=None, description="SSH allowed-signers file, relative to the repository root."
    )
    gpg_keyring: str | None = Field(
        default=None, description="GPG keyring (GNUPGHOME) used to verify GPG-signed approvals."
    )


class Permission(StrEnum):
    create_vm = "create_vm"
    update_vm = "update_vm"
    delete_vm = "delete_vm"
    create_container = "create_container"
    update_container = "update_container"
    delete_container = "delete_container"
    approve_deletion = "approve_deletion"
    all = "*"


Identity = Annotated[
    str,
    StringConstraints(pattern=r"^((github|gitlab|gitea):[A-Za-z0-9_.\-\[\]]+|[^@\s]+@[^@\s]+)$"),
]


class Role(Model):
    """Who may do what: members are emails or forge logins like ``github:alice``."""

    members: list[Identity] = Field(default_factory=list)
    permissions: list[Permission]
    clusters: list[ClusterName] | None = Field(
        default=None, description="Clusters the role applies to; all when left out."
    )


class Policy(Model):
    roles: dict[str, Role] = Field(default_factory=dict)


class CommitIdentity(Model):
    """The identity of proxgit's own commits (journal, snapshot, deletion requests)."""

    name: str = "proxgit"
    email: str = "proxgit@noreply.invalid"


class ConfigSpec(Model):
    clusters: dict[ClusterName, Cluster]
    main_branch: str = "main"
    apply: Apply = Field(default_factory=Apply)
    deletions: Deletions = Field(default_factory=Deletions)
    policy: Policy | None = Field(
        default=None,
        description="Left out: anyone may create/update/delete, nobody may approve deletions.",
    )
    commit_identity: CommitIdentity | None = None

    @model_validator(mode="after")
    def _role_clusters_exist(self) -> ConfigSpec:
        for name, role in (self.policy.roles if self.policy else {}).items():
            for cluster in role.clusters or []:
                if cluster not in self.clusters:
                    raise ValueError(f"policy role '{name}' names unknown cluster '{cluster}'")
        return self


class ConfigMetadata(Model):
    name: str | None = None


class Config(Model):
    """The repository's ``proxgit.yaml``."""

    api_version: Literal["proxgit/v1"]
    kind: Literal["Config"]
    metadata: ConfigMetadata = Field(default_factory=ConfigMetadata)
    spec: ConfigSpec
