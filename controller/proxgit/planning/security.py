"""Security-relevant changes: what a reviewer must see when a change touches the rules.

A pull request that changes who may do what (policy, people), how deletions
are decided (identity mode, TTL, self-approval, signers), proxgit's own
identity, the forge it trusts, or the write gates gets one plan warning per
area, ``security-relevant change: ...``, so the change cannot slip through as
"no guest changes". Pure: the caller hands in both configurations and both
allowed-signers texts.
"""

from __future__ import annotations

from typing import Any

from proxgit.models.config import Config, IdentityMode
from proxgit.planning.plan import Finding

CODE = "security-relevant-change"
FORGEABLE = "forgeable-approvals"


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
    for name, before, after in areas:
        old = (
            {k: _dump(v) for k, v in before.items()} if isinstance(before, dict) else _dump(before)
        )
        new = {k: _dump(v) for k, v in after.items()} if isinstance(after, dict) else _dump(after)
        if old != new:
            findings.append(
                Finding(
                    code=CODE,
                    message=f"security-relevant change: {name} changes in this pull request; "
                    "review who gains or loses which right",
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
