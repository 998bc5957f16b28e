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

from proxgit.layout import DEFAULT_ALLOWED_SIGNERS
from proxgit.models.base import Bool, ClusterName, Model, SecretRef, StorageId, SyncPolicy

CONFIRM_PHRASE = "allow-edit-and-add-actions"
URL_PATTERN = r"^https://[^\s/]+(:\d+)?/?$"
TOKEN_ID_PATTERN = r"^[^@\s]+@[^!\s]+![A-Za-z0-9_\-.]+$"
FORGE_URL_PATTERN = r"^https?://\S+$"
FORGE_REPOSITORY_PATTERN = r"^[^\s/]+(/[^\s/]+)+$"
NETBOX_URL_PATTERN = r"^https?://[^\s/]+(:\d+)?(/\S*)?$"
# a branch name as git check-ref-format allows it, roughly: no blanks, no ~^:?*[\
BRANCH_PATTERN = r"^[^\s~^:?*\[\\]+$"

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
    lock: Annotated[float, Field(gt=0)] = Field(
        default=600.0,
        description="Seconds to wait for a guest locked by a running task (clone, backup).",
    )


class Cluster(Model):
    """One Proxmox VE cluster (or standalone node) and how to reach it."""

    url: Annotated[str, StringConstraints(pattern=URL_PATTERN)] = Field(
        description="https://host:8006"
    )
    token_id: Annotated[str, StringConstraints(pattern=TOKEN_ID_PATTERN)] = Field(
        description="API token id, user@realm!tokenname"
    )
    token_secret_from: SecretRef
    read_token_id: Annotated[str, StringConstraints(pattern=TOKEN_ID_PATTERN)] | None = Field(
        default=None,
        description=(
            "A read-only API token (user@realm!name, PVEAuditor is enough) for plan, drift, "
            "reflect, import and validate; apply and deletions execute use tokenId. Left out: "
            "every command uses tokenId."
        ),
    )
    read_token_secret_from: SecretRef | None = Field(
        default=None, description="The read token's secret (env or file); needs readTokenId."
    )
    verify_ssl: Bool = True
    ca_file: str | None = Field(default=None, description="PEM CA bundle to verify the server.")
    allow_writes: Bool = Field(default=False, description="Gate: proxgit may write here.")
    timeouts: Timeouts = Field(default_factory=Timeouts)
    concurrency: Annotated[int, Field(ge=1, le=64)] = Field(
        default=8, description="Concurrent API requests to this cluster."
    )
    sync_policy: SyncPolicy = Field(default_factory=SyncPolicy)

    @model_validator(mode="after")
    def _read_token_pair(self) -> Cluster:
        if (self.read_token_id is None) != (self.read_token_secret_from is None):
            raise ValueError(
                "readTokenId and readTokenSecretFrom go together: give both (a read-only "
                "token for plan, drift and reflect) or neither"
            )
        return self


class Apply(Model):
    enabled: Bool = False
    confirm: str | None = Field(
        default=None, description=f"Must be exactly '{CONFIRM_PHRASE}' for apply to write."
    )

    @property
    def gate_open(self) -> bool:
        return self.enabled and self.confirm == CONFIRM_PHRASE


class IdentityMode(StrEnum):
    """Where "who requested" and "who approved" a deletion come from."""

    forge = "forge"
    signatures = "signatures"
    git_author = "git-author"


def _deletion_ttl(value: object) -> object:
    """A deletion request's lifetime: never zero, and never a bare number, which reads as
    seconds (``ttl: 7`` would let a request expire after seven seconds)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f"{value} is a bare number; write the unit: {value}d for days, {value}h for hours"
        )
    if parse_duration(value).total_seconds() <= 0:
        raise ValueError(f"'{value}' would expire every request at once; write it like 7d")
    return value


class Deletions(Model):
    ttl: Annotated[Duration, BeforeValidator(_deletion_ttl)] = Field(
        default_factory=lambda: timedelta(days=7), json_schema_extra={"default": "7d"}
    )
    self_approval_allowed: Bool = False
    identity: IdentityMode | None = Field(
        default=None,
        description=(
            "forge: pull request authors and approving reviews from the forge API; "
            "signatures: SSH/GPG commit signatures, the signer is the person; git-author: "
            "author strings (forgeable, warned about everywhere). Left out: forge when "
            "spec.forge is set, otherwise signatures."
        ),
    )
    allowed_signers: str = Field(
        default=DEFAULT_ALLOWED_SIGNERS,
        description="SSH allowed-signers file, relative to the repository root.",
    )
    gpg_keyring: str | None = Field(
        default=None, description="GPG keyring (GNUPGHOME) used to verify GPG-signed approvals."
    )

    @model_validator(mode="before")
    @classmethod
    def _replaced_keys(cls, data: object) -> object:
        if isinstance(data, dict) and "requireSignedApprovals" in data:
            raise ValueError(
                "requireSignedApprovals was replaced by deletions.identity; write "
                "identity: signatures (signed approvals) or identity: forge, and remove "
                "requireSignedApprovals"
            )
        return data


class Permission(StrEnum):
    create_vm = "create_vm"
    update_vm = "update_vm"
    delete_vm = "delete_vm"
    create_container = "create_container"
    update_container = "update_container"
    delete_container = "delete_container"
    approve_deletion = "approve_deletion"
    all = "*"


FORGE_LOGIN_PATTERN = r"^(github|gitlab|gitea):[A-Za-z0-9_.\-\[\]]+$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"
PERSON_KEY_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*$"
ForgeLogin = Annotated[str, StringConstraints(pattern=FORGE_LOGIN_PATTERN)]
Email = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN)]
Member = Annotated[
    str,
    StringConstraints(
        pattern=r"^((github|gitlab|gitea):[A-Za-z0-9_.\-\[\]]+|[^@\s]+@[^@\s]+|"
        r"[a-z0-9][a-z0-9_.\-]*)$"
    ),
]
SshPublicKey = Annotated[
    str,
    StringConstraints(pattern=r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+|sk-\S+) \S+( .*)?$"),
]


class PersonEntry(Model):
    """One person, listed once: every way proxgit may meet them."""

    name: str | None = Field(default=None, description="Display name.")
    emails: list[Email] = Field(default_factory=list)
    logins: list[ForgeLogin] = Field(
        default_factory=list, description="Forge logins like github:alice or gitlab:alice."
    )
    keys: list[SshPublicKey] = Field(
        default_factory=list,
        description="SSH signing public keys (ssh-ed25519 AAAA...), trusted for signatures mode.",
    )


class Role(Model):
    """Who may do what: members are people (keys of policy.people), emails or forge logins."""

    members: list[Member] = Field(default_factory=list)
    permissions: list[Permission]
    clusters: list[ClusterName] | None = Field(
        default=None, description="Clusters the role applies to; all when left out."
    )


class Policy(Model):
    people: dict[Annotated[str, StringConstraints(pattern=PERSON_KEY_PATTERN)], PersonEntry] = (
        Field(default_factory=dict, description="Each person once; roles name them.")
    )
    roles: dict[str, Role] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _members_known(self) -> Policy:
        for name, role in self.roles.items():
            for member in role.members:
                if "@" in member or ":" in member:
                    continue
                if member not in self.people:
                    raise ValueError(
                        f"policy role '{name}' names '{member}', who is not in policy.people; "
                        "add them there or write an email or forge login"
                    )
        return self


class CommitIdentity(Model):
    """The identity of proxgit's own commits (journal, snapshot, deletion requests)."""

    name: str = "proxgit"
    email: str = "proxgit@noreply.invalid"
    signing_key_from: SecretRef | None = Field(
        default=None,
        description=(
            "proxgit's own SSH private key (OpenSSH format) by reference; proxgit signs "
            "its commits with it, and only requests in commits it signed count."
        ),
    )


class Forge(Model):
    """The forge that hosts the repository, for pull request identities in forge mode."""

    type: Literal["github", "gitlab", "gitea"]
    url: Annotated[str, StringConstraints(pattern=FORGE_URL_PATTERN)] = Field(
        description="API base URL: https://api.github.com, https://gitlab.example/api/v4, "
        "https://gitea.example/api/v1"
    )
    repository: Annotated[str, StringConstraints(pattern=FORGE_REPOSITORY_PATTERN)] = Field(
        description="owner/name (GitLab: the project path, group/project)."
    )
    token_from: SecretRef
    ca_file: str | None = None


class Capacity(Model):
    """How the plan judges whether a change fits (docs/plan.md, "Capacity")."""

    memory_percent: Annotated[int, Field(ge=1, le=10000)] = Field(
        default=100,
        description="Warn when the memory of the guests that will run on a node exceeds this "
        "share of its RAM.",
    )
    vcpu_percent: Annotated[int, Field(ge=1, le=10000)] = Field(
        default=400,
        description="Warn when the vCPUs of the guests that will run on a node exceed this "
        "share of its CPUs.",
    )
    block: Bool = Field(
        default=False,
        description="Memory and vCPU overcommit above the thresholds blocks the plan instead "
        "of warning.",
    )
    thin_storages: list[StorageId] = Field(
        default_factory=list,
        description="Storages that are thin-provisioned although their type does not say so "
        "(a zfspool with sparse 1); lvmthin and rbd always are.",
    )


SLUG_PATTERN = r"^[-a-z0-9_]+$"


class NetBoxNodes(Model):
    """How Proxmox nodes appear in NetBox: devices of this site, role and type."""

    site: str = Field(default="Proxmox VE", description="Site name; created when missing.")
    role: str = Field(default="Proxmox VE node", description="Device role; created when missing.")
    device_type: str = Field(
        default="Proxmox VE node", description="Device type (model); created when missing."
    )
    manufacturer: str = Field(
        default="Generic", description="Manufacturer of the device type, when it is created."
    )


class NetBox(Model):
    """Where ``proxgit reflect --netbox`` writes live state, and how (docs/netbox.md)."""

    url: Annotated[str, StringConstraints(pattern=NETBOX_URL_PATTERN)] = Field(
        description="NetBox's base URL, https://netbox.example (without /api)."
    )
    token_from: SecretRef = Field(
        description="The API token by reference: a v1 token (40 characters) or a v2 token "
        "(nbt_<key>.<secret>)."
    )
    verify_ssl: Bool = True
    ca_file: str | None = Field(default=None, description="PEM CA bundle to verify NetBox.")
    tag: Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=100)] = Field(
        default="proxgit",
        description="Slug of the tag on every object proxgit creates; objects without it are "
        "never changed or deleted.",
    )
    overwrite_dns_name: Bool = Field(
        default=True,
        description="Keep IP addresses' dns_name equal to the guest's hostname; false sets it "
        "only when proxgit creates the address.",
    )
    overwrite_vm_tags: Bool = Field(
        default=True,
        description="Keep VM tags equal to the guest's Proxmox tags (plus proxgit's tag); "
        "false sets them only when proxgit creates the VM.",
    )
    delete_orphans: Bool = Field(
        default=False,
        description="Delete proxgit-tagged VMs whose guest is gone; false marks them "
        "decommissioning.",
    )
    cluster_type: str = Field(default="Proxmox VE", description="Cluster type of every cluster.")
    nodes: NetBoxNodes = Field(default_factory=NetBoxNodes)
    concurrency: Annotated[int, Field(ge=1, le=16)] = Field(
        default=2, description="Concurrent requests to NetBox."
    )
    timeout: Annotated[float, Field(gt=0)] = Field(
        default=60.0, description="Seconds to wait for one NetBox answer."
    )


class ConfigSpec(Model):
    clusters: dict[ClusterName, Cluster]
    main_branch: Annotated[str, StringConstraints(pattern=BRANCH_PATTERN)] = "main"
    apply: Apply = Field(default_factory=Apply)
    deletions: Deletions = Field(default_factory=Deletions)
    policy: Policy | None = Field(
        default=None,
        description="Left out: anyone may create/update/delete, nobody may approve deletions.",
    )
    commit_identity: CommitIdentity | None = None
    forge: Forge | None = Field(
        default=None, description="The forge hosting this repository (forge identity mode)."
    )
    capacity: Capacity = Field(default_factory=Capacity)
    netbox: NetBox | None = Field(
        default=None,
        description="Reflect live state into this NetBox (reflect --netbox, the watch pod).",
    )

    @property
    def identity_mode(self) -> IdentityMode:
        if self.deletions.identity is not None:
            return IdentityMode(self.deletions.identity)
        return IdentityMode.forge if self.forge is not None else IdentityMode.signatures

    @model_validator(mode="after")
    def _role_clusters_exist(self) -> ConfigSpec:
        for name, role in (self.policy.roles if self.policy else {}).items():
            for cluster in role.clusters or []:
                if cluster not in self.clusters:
                    raise ValueError(f"policy role '{name}' names unknown cluster '{cluster}'")
        if self.deletions.identity == IdentityMode.forge and self.forge is None:
            raise ValueError(
                "deletions.identity is forge but spec.forge is not set; add a forge block "
                "(type, url, repository, tokenFrom) or choose identity: signatures"
            )
        return self


class ConfigMetadata(Model):
    name: str | None = None


class Config(Model):
    """The repository's ``proxgit.yaml``."""

    api_version: Literal["proxgit/v1"]
    kind: Literal["Config"]
    metadata: ConfigMetadata = Field(default_factory=ConfigMetadata)
    spec: ConfigSpec
