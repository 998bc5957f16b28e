"""``proxgit deletions approve|reject``: a person's decision, checked before it is committed.

The decision is a change of ``approve`` (or ``reject``) in the request file,
committed as the person running the command. Before anything is written the
same rules that will judge it are applied to the local identity: a decision
that is bound to be refused (the requester approving, no role, unsigned in
signatures mode, an expired or untrusted request) commits and pushes nothing
and exits 3. In forge mode the local identity is not what counts: the command
says how the approval becomes authenticated (merged through the approver's
own pull request, or approved by review).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proxgit.deletions.approval import REQUEST_NAME, DecisionState
from proxgit.deletions.executing import decide
from proxgit.errors import GateRefused, ProxgitError, RepositoryError
from proxgit.git import GitRepository
from proxgit.loading import load_directory
from proxgit.models.config import IdentityMode, Permission
from proxgit.models.people import Who, resolve, roles_granting
from proxgit.outcomes import Gate
from proxgit.yamlio import edit


@dataclass(frozen=True)
class Decided:
    message: str
    commit: str | None


def request_file(repo: Path, request_id: str) -> tuple[str, Any]:
    """The request named ``request_id`` among the repository's open requests, never a path."""
    if not REQUEST_NAME.fullmatch(request_id):
        raise ProxgitError(
            f"'{request_id}' is not a request id; ids look like lab-101 (see proxgit deletions "
            "list)"
        )
    state = load_directory(repo)
    if request_id not in state.deletion_requests:
        raise ProxgitError(f"no open deletion request {request_id} (see proxgit deletions list)")
    return state.deletion_requests[request_id][0], state


def _config(repo: Path, key: str) -> str:
    try:
        return GitRepository(repo).run("config", "--get", key).strip()
    except RepositoryError:
        return ""  # not set


def _local_signer(repo: Path, signers: str) -> str | None:
    """The principal the local signing key has in ``signers``, if any."""
    configured = _config(repo, "user.signingkey")
    if not configured:
        return None
    key_text = configured
    path = Path(configured.removeprefix("key::")).expanduser()
    if not configured.startswith(("ssh-", "key::")) and path.is_file():
        pub = path if path.suffix == ".pub" else path.with_name(path.name + ".pub")
        if pub.is_file():
            key_text = pub.read_text(encoding="utf-8")
        else:
            done = subprocess.run(["ssh-keygen", "-y", "-f", str(path)], capture_output=True)
            key_text = done.stdout.decode()
    parts = key_text.removeprefix("key::").split()
    if len(parts) < 2:
        return None
    for line in signers.splitlines():
        fields = line.split()
        if len(fields) >= 3 and parts[1] in fields:
            return fields[0]
    return None


def decide_locally(
    repo: Path,
    request_id: str,
    *,
    approve: bool,
    reason: str | None = None,
    sign: bool | None = None,
    push: bool = False,
    now: datetime | None = None,
) -> Decided:
    """Check, then commit (and push) the decision; GateRefused when it would not count."""
    path, state = request_file(repo, request_id)
    moment = now or datetime.now(UTC)
    decision = decide(repo, path, state.config, now=moment)
    verb = "approval" if approve else "rejection"
    if decision.request is None or decision.rules is None or decision.requester is None:
        raise GateRefused(
            f"{verb} not committed: {'; '.join(decision.reasons)}", gate=Gate.four_eyes
        )
    if decision.state is not DecisionState.pending and approve:
        raise GateRefused(
            f"{verb} not committed: {request_id} is {decision.state.value}"
            f"{': ' + '; '.join(decision.reasons) if decision.reasons else ''}",
            gate=Gate.four_eyes,
        )
    rules = decision.rules
    mode = rules.mode
    cluster = decision.request.spec.guest.cluster
    hint = ""
    if mode == IdentityMode.forge:
        hint = (
            "; it counts once merged through your own pull request, or when someone with "
            f"approve_deletion on {cluster} other than {decision.requester.label} approves that "
            "pull request in review"
        )
    else:
        who: Who | None
        if mode == IdentityMode.signatures:
            principal = _local_signer(repo, rules.allowed_signers())
            if principal is None:
                raise GateRefused(
                    f"{verb} not committed: in signatures mode the decision must be signed with "
                    "a key in the allowed signers; set git config user.signingkey (and "
                    "gpg.format ssh) to your listed key",
                    gate=Gate.four_eyes,
                )
            who = resolve(rules.config.spec.policy, principal)
            sign = True
        else:
            email = _config(repo, "user.email")
            who = resolve(rules.config.spec.policy, email) if email else None
        if who is None:
            raise GateRefused(
                f"{verb} not committed: git has no user.email here", gate=Gate.four_eyes
            )
        holds = bool(roles_granting(rules.config, who, Permission.approve_deletion, cluster))
        if approve:
            if who.same_as(decision.requester) and not (
                rules.config.spec.deletions.self_approval_allowed
            ):
                raise GateRefused(
                    f"approval not committed: you ({who.label}) requested this deletion; "
                    "another approver must approve",
                    gate=Gate.four_eyes,
                )
            if not holds:
                raise GateRefused(
                    f"approval not committed: {who.label} has no role with approve_deletion on "
                    f"{cluster} in the rules the request opened under",
                    gate=Gate.four_eyes,
                )
        elif not holds and not who.same_as(decision.requester):
            raise GateRefused(
                f"rejection not committed: only the requester or an approver may reject "
                f"({who.label} is neither)",
                gate=Gate.four_eyes,
            )
    branch = state.config.spec.main_branch
    if mode == IdentityMode.forge:
        # a direct push to main carries no forge identity: push a branch for a pull request
        branch = f"{'approve' if approve else 'reject'}-{request_id}"
        if push:
            hint += f"; pushed to branch {branch}: open a pull request from it"
    commit = _write_and_commit(repo, path, request_id, approve, reason, bool(sign), push, branch)
    done = "approved" if approve else "rejected"
    return Decided(message=f"{done} {request_id} in {commit[:12]}{hint}", commit=commit)


def _write_and_commit(
    repo: Path,
    path: str,
    request_id: str,
    approve: bool,
    reason: str | None,
    sign: bool,
    push: bool,
    branch: str,
) -> str:
    target = repo / path

    def mark(data: Any) -> None:
        if approve:
            data["spec"]["approve"] = True
        else:
            data["spec"]["reject"] = {"reason": reason or ""}

    target.write_text(edit(target.read_text(encoding="utf-8"), mark), encoding="utf-8")
    verb = "Approve" if approve else "Reject"
    git = GitRepository(repo)
    try:
        git.run(
            "commit",
            "--quiet",
            "-S" if sign else "--no-gpg-sign",
            "-m",
            f"{verb} deletion request {request_id}",
            "--",
            path,
        )
    except RepositoryError as err:
        git.run("checkout", "--", path)
        raise RepositoryError(f"nothing committed: {err.message}") from None
    sha = git.resolve("HEAD")
    if push:
        git.run("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}")
    return sha
