"""Opening a deletion request instead of destroying a guest (safety invariant 2).

When an apply meets a guest whose document was removed in the applied change,
it writes ``deletions/<cluster>-<vmid>.yaml`` with the guest's identity, who
asked (from Git history), when it expires, and a metadata snapshot to
recognise and rebuild the guest; tags the guest ``proxgit-pending-deletion``;
and destroys nothing. The request is committed with the apply journal.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from proxgit.errors import ProxgitError, ProxmoxError
from proxgit.git import GitRepository, History
from proxgit.identity.authority import Authority, PullRequestSource, check_pinned, rules_at
from proxgit.layout import deletion_request_name, deletion_request_path
from proxgit.loading import DesiredGuest
from proxgit.models import Config
from proxgit.models.config import IdentityMode
from proxgit.models.deletion import DeletionState
from proxgit.models.people import Who
from proxgit.proxmox.client import ProxmoxClient
from proxgit.proxmox.live import LiveGuest
from proxgit.proxmox.normalize import (
    PENDING_DELETION_TAG,
    nic_mac,
    parse_property_string,
    split_tags,
)
from proxgit.secrets import is_secret_key
from proxgit.yamlio import dump


def guest_snapshot(client: ProxmoxClient, live: LiveGuest) -> dict[str, Any]:
    """Config (secrets removed), disks, NICs, agent IPs when the agent answers, tags, status."""
    config = {
        k: v for k, v in (live.config or {}).items() if not is_secret_key(k) and k != "digest"
    }
    disks, nics = [], []
    for key, raw in sorted(config.items()):
        if key.startswith(("scsi", "virtio", "sata", "ide", "rootfs", "mp")) and (
            key == "rootfs" or key[-1].isdigit()
        ):
            props = parse_property_string(str(raw), "volume")
            if props.get("media") == "cdrom":
                continue
            disks.append(
                {"slot": key, "volume": props.get("volume", ""), "size": props.get("size")}
            )
        elif key.startswith("net") and key[3:].isdigit():
            props = parse_property_string(str(raw))
            mac = nic_mac(props)
            nics.append(
                {"slot": key, "mac": mac, "bridge": props.get("bridge"), "tag": props.get("tag")}
            )
    ips: list[str] = []
    if live.type == "qemu" and live.status == "running":
        try:
            answer = client.get(f"nodes/{live.node}/qemu/{live.vmid}/agent/network-get-interfaces")
            for iface in (answer or {}).get("result", []):
                for addr in iface.get("ip-addresses", []):
                    ip = addr.get("ip-address")
                    if ip and not ip.startswith(("127.", "::1", "fe80")):
                        ips.append(str(ip))
        except ProxmoxError:
            pass  # no agent, or it does not answer: IPs are optional
    return {
        "status": live.status,
        "tags": live.tags,
        "config": {k: config[k] for k in sorted(config)},
        "disks": disks,
        "nics": nics,
        "ips": sorted(set(ips)),
        "digest": (live.config or {}).get("digest"),
    }


class NoRequest(ProxgitError):
    """The removal cannot be tied to an authenticated requester: no request is opened."""


@dataclass(frozen=True)
class Requested:
    """Who asked for a deletion, as the identity mode proves it, and in which commit."""

    removal: str
    requester: Who
    via: str


def authenticate_removal(
    repo: GitRepository,
    removed_path: str,
    *,
    base: str,
    head: str,
    forge: Callable[[], PullRequestSource | None] | None,
) -> Requested:
    """The commit in ``base..head`` that removed the guest's document, and its requester.

    Raises :class:`NoRequest` when the removal is not on the way from the last
    applied revision, or when the identity mode vouches for nobody behind it
    (an unsigned removal in signatures mode; a direct push in forge mode).
    """
    history = History(repo.path)
    removal = history.removal_of(removed_path, head, since=base)
    if removal is None or not history.is_ancestor(base, removal.sha):
        raise NoRequest(
            f"no commit after the last applied revision {base[:12]} removes {removed_path}; "
            "fetch the full history (fetch-depth: 0)"
        )
    rules = rules_at(history, head)
    pinned = check_pinned(rules.mode)
    if pinned is not None:
        raise NoRequest(f"{pinned}; no deletion request opened, the guest stays")
    authority = Authority(history, rules, forge=forge, repo_root=repo.path, head=head)
    vouched = authority.vouch(removal)
    if vouched.problem is not None or not vouched.people:
        raise NoRequest(
            f"removal {removal.sha[:12]} of {removed_path} has no authenticated requester "
            f"({vouched.problem or 'nobody'}); no deletion request opened, the guest stays"
        )
    return Requested(removal=removal.sha, requester=vouched.people[0], via=vouched.via)


def open_request(
    *,
    repo: GitRepository,
    config: Config,
    client: ProxmoxClient,
    removed: DesiredGuest,
    live: LiveGuest,
    revision: str,
    base: str,
    now: datetime,
    forge: Callable[[], PullRequestSource | None] | None = None,
) -> str:
    """Write the request file and tag the guest; returns the file's repository path.

    The request carries a fresh random ``requestId``; proxgit's signed commit
    of this file is what makes the request count (see deletions/approval.py).
    """
    cluster = removed.document.metadata.cluster
    path = deletion_request_path(cluster, live.vmid)
    target = repo.path / path
    if target.exists():
        return path  # opened by an earlier run of this revision
    ident = config.spec.commit_identity
    if config.spec.identity_mode != IdentityMode.git_author and (
        ident is None or ident.signing_key_from is None
    ):
        raise NoRequest(
            "proxgit has no signing key (commitIdentity.signingKeyFrom) and only requests in "
            "commits it signed count; set one, the guest stays as it is"
        )
    asked = authenticate_removal(repo, removed.path, base=base, head=revision, forge=forge)
    ttl = config.spec.deletions.ttl
    requester: dict[str, Any] = {"handle": asked.requester.handle, "via": asked.via}
    if asked.requester.person:
        requester["person"] = asked.requester.person
    if asked.requester.name:
        requester["name"] = asked.requester.name
    document = {
        "apiVersion": "proxgit/v1",
        "kind": "DeletionRequest",
        "metadata": {"name": deletion_request_name(cluster, live.vmid), "cluster": cluster},
        "spec": {
            "requestId": secrets.token_hex(16),
            "guest": {
                "cluster": cluster,
                "node": live.node,
                "vmid": live.vmid,
                "kind": live.kind,
                "name": live.name,
            },
            "requester": requester,
            "removedIn": asked.removal,
            "declaredIn": base,
            "requestedAt": now.isoformat(timespec="seconds"),
            "expiresAt": (now + ttl).isoformat(timespec="seconds"),
            "snapshot": guest_snapshot(client, live),
            "approve": False,
        },
        "status": {"state": DeletionState.open.value},
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_request(document), encoding="utf-8")
    _tag_pending(client, live)
    return path


_REQUEST_HEADER = (
    "# Deletion request opened (and signed) by proxgit. To approve, set approve: true\n"
    "# in a change of your own (proxgit deletions approve ID); to reject, set\n"
    "# reject: {reason: ...}. Who decided is proven by the repository's identity mode\n"
    "# (forge pull requests or signatures), never read from this file.\n"
)


def render_request(document: dict[str, Any]) -> str:
    return dump(document, header=_REQUEST_HEADER, style="request")


def _tag_pending(client: ProxmoxClient, live: LiveGuest) -> None:
    path = f"nodes/{live.node}/{live.type}/{live.vmid}/config"
    config = client.get(path)
    tags = split_tags(config.get("tags") or "")
    if PENDING_DELETION_TAG not in tags:
        client.put(
            path, tags=";".join(sorted({*tags, PENDING_DELETION_TAG})), digest=config.get("digest")
        )
