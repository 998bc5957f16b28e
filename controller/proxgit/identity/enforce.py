"""Policy enforced at apply, not only advised at plan (forge identity mode).

For every create, update and deletion request apply is about to perform, the
commit that last changed the guest's document since the last applied revision
is mapped to the merged pull request that brought it in; that pull request's
author must hold the permission (``create_vm``, ``update_container``,
``delete_vm``...) on the cluster. What is not permitted is skipped with one
refusal line. A change pushed directly carries no forge identity and is
refused. In the other identity modes the plan's permission check is advice
(authors can be anyone), so nothing is enforced here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from proxgit.git.history import History
from proxgit.identity.authority import Authority, PullRequestSource, Rules
from proxgit.loading import DesiredState
from proxgit.models.config import IdentityMode, Permission
from proxgit.models.people import may
from proxgit.planning.plan import Action, GuestChange


def refusals(
    repo_root: Path,
    head: DesiredState,
    base: DesiredState | None,
    changes: list[GuestChange],
    *,
    forge: Callable[[], PullRequestSource | None] | None,
) -> dict[int, str]:
    """``{vmid: refusal line}`` for the changes whose pull request author may not make them."""
    config = head.config
    if config.spec.identity_mode != IdentityMode.forge or config.spec.policy is None:
        return {}
    revision = head.revision or "HEAD"
    since = base.revision if base else None
    history = History(repo_root)
    rules = Rules(config=config, revision=revision)
    authority = Authority(history, rules, forge=forge, repo_root=repo_root, head=revision)
    refused: dict[int, str] = {}
    for change in changes:
        if change.action not in (Action.create, Action.update, Action.migrate, Action.delete):
            continue
        key = (change.cluster, change.vmid)
        guest = head.guests.get(key) or (base.guests.get(key) if base else None)
        if guest is None:
            continue
        span = f"{since}..{revision}" if since else revision
        out = history.run("log", "-1", "--format=%H", span, "--", guest.path).strip()
        if not out:
            continue  # the document did not change since the last apply (drift healing)
        vouched = authority.vouch(history.commit(out))
        suffix = "vm" if change.kind == "VirtualMachine" else "container"
        needed = Permission(f"{change.action.permission_verb}_{suffix}")
        what = f"{change.action.value} {change.cluster}/{change.name}"
        if vouched.problem is not None or not vouched.people:
            refused[change.vmid] = (
                f"refused by policy: {what}: {vouched.problem or 'no forge identity'}"
            )
            continue
        author = vouched.people[0]
        if not may(config, author, needed, change.cluster):
            refused[change.vmid] = (
                f"refused by policy: {what}: {author.label}, who authored {vouched.via}, "
                f"does not hold {needed.value} on {change.cluster}"
            )
    return refused
