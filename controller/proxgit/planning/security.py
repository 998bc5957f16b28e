"""Security-relevant changes: what a reviewer must see when a change touches the rules.

A pull request that changes who may do what (policy, people), how deletions
are decided (identity mode, TTL, self-approval, signers), proxgit's own
identity, the forge it trusts, or the write gates gets one plan warning per
area, ``security-relevant change: ...``, so the change cannot slip through as
"no guest changes". Pure: the caller hands in both configurations and both
allowed-signers texts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from proxgit.loading import DesiredState
from proxgit.models.base import SecretRef
from proxgit.models.config import Config, IdentityMode
from proxgit.models.guests import ContainerSpec, VirtualMachineSpec
from proxgit.planning.plan import Action, Finding, Plan

CODE = "security-relevant-change"
FORGEABLE = "forgeable-approvals"
SECRET_MISSING = "secret-not-set"


def _dump(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True)
    return value


def security_findings(
    base: Config | None,
    head: Config,
    *,
    base_signers: str | None = None,
    head_signers: str | None = None,
) -> list[Finding]:
    """One finding per security-relevant area that differs between base and head."""
    findings: list[Finding] = []
    if head.spec.identity_mode == IdentityMode.git_author:
        findings.append(
            Finding(
                code=FORGEABLE,
                message="deletions.identity is git-author: approvals in this repository can be "
                "forged by anyone with push access (set identity: forge or signatures)",
            )
        )
    if base is None:
        return findings
    b, h = base.spec, head.spec
    areas: list[tuple[str, Any, Any]] = [
        ("policy.people", b.policy.people if b.policy else {}, h.policy.people if h.policy else {}),
        ("policy.roles", b.policy.roles if b.policy else {}, h.policy.roles if h.policy else {}),
        ("deletions", b.deletions, h.deletions),
        ("deletions.identity (effective)", b.identity_mode, h.identity_mode),
        ("commitIdentity", b.commit_identity, h.commit_identity),
        ("forge", b.forge, h.forge),
        ("apply", b.apply, h.apply),
        ("mainBranch", b.main_branch, h.main_branch),
    ]
    for cluster in sorted({*b.clusters, *h.clusters}):
        before = b.clusters.get(cluster)
        after = h.clusters.get(cluster)
        areas.append(
            (
                f"clusters.{cluster}.allowWrites",
                before.allow_writes if before else None,
                after.allow_writes if after else None,
            )
        )
    for cluster in sorted({*b.clusters, *h.clusters}):
        before = b.clusters.get(cluster)
        after = h.clusters.get(cluster)
        areas.append(
            (
                f"clusters.{cluster}.syncPolicy",
                before.sync_policy if before else None,
                after.sync_policy if after else None,
            )
        )
    for name, before, after in areas:
        old = (
            {k: _dump(v) for k, v in before.items()} if isinstance(before, dict) else _dump(before)
        )
        new = {k: _dump(v) for k, v in after.items()} if isinstance(after, dict) else _dump(after)
        if old != new:
            what = _what_changed(old, new)
            findings.append(
                Finding(
                    code=CODE,
                    message=f"security-relevant change: {name} changes in this pull request"
                    f"{f' ({what})' if what else ''}; review who gains or loses which right",
                )
            )
    if (base_signers or "") != (head_signers or ""):
        findings.append(
            Finding(
                code=CODE,
                message=f"security-relevant change: {h.deletions.allowed_signers} (the allowed "
                "signers) changes in this pull request; check every key added",
            )
        )
    return findings


def _what_changed(old: Any, new: Any, prefix: str = "", limit: int = 6) -> str:
    """``enabled: false -> true, confirm: added``: the leaves that differ, a few of them."""
    items: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted({*a, *b}, key=str):
                if a.get(key) != b.get(key):
                    walk(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
            return
        label = path or "value"
        if a is None:
            items.append(f"{label}: added")
        elif b is None:
            items.append(f"{label}: removed")
        elif isinstance(a, bool | int | float | str) and isinstance(b, bool | int | float | str):
            items.append(f"{label}: {_short(a)} -> {_short(b)}")
        else:
            items.append(f"{label}: changed")

    walk(old, new, prefix)
    more = f", and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _short(value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def missing_secrets(
    plan: Plan,
    head: DesiredState,
    environ: Mapping[str, str],
    exists: Callable[[str], bool],
) -> list[Finding]:
    """Secrets the merge's apply will resolve that are absent where this plan ran.

    Checked for presence only, never read: a guest's ``passwordFrom`` for each create
    (apply resolves it then), and a cluster's ``tokenSecretFrom`` where the merge writes
    unless the cluster names a read token (then the plan job holds only the read token,
    on purpose). Without this, a plan passes and the merge fails ``partial``.
    """
    needed: dict[str, list[str]] = {}

    def need(ref: SecretRef | None, why: str) -> None:
        if ref is None:
            return
        if ref.env is not None and not environ.get(ref.env):
            needed.setdefault(f"environment variable {ref.env}", []).append(why)
        elif ref.file is not None and not exists(ref.file):
            needed.setdefault(f"secret file {ref.file}", []).append(why)

    writes = sorted({c.cluster for c in plan.changes if c.action != Action.noop})
    for name in writes:
        cluster = head.config.spec.clusters.get(name)
        if cluster is not None and cluster.read_token_id is None:
            need(cluster.token_secret_from, f"clusters.{name}.tokenSecretFrom")
    for change in plan.changes:
        if change.action != Action.create:
            continue
        guest = head.guests.get((change.cluster, change.vmid))
        if guest is None:
            continue
        spec = guest.document.spec
        if isinstance(spec, VirtualMachineSpec) and spec.cloud_init is not None:
            need(spec.cloud_init.password_from, f"{guest.path} cloudInit.passwordFrom")
        elif isinstance(spec, ContainerSpec):
            need(spec.password_from, f"{guest.path} passwordFrom")
    return [
        Finding(
            code=SECRET_MISSING,
            message=f"{what} is not set where this plan ran, and applying the merge needs it "
            f"({', '.join(whys)}); set it in the apply job's environment, or the merge "
            "fails for these guests",
        )
        for what, whys in sorted(needed.items())
    ]
