"""The four-eyes rule, decided from real Git history with real SSH-signed commits.

Each test builds a repository in which Alice removes web-01's document and
proxgit (under its own commit identity) opens ``deletions/lab-101.yaml``; the
test then lands approvals and rejections the way people would (directly on
main, through a pull-request branch and a merge commit, signed or not) and
asks :func:`decide_request` what the request's state is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from proxgit.deletions import Decision, decide_request, find_removal, requester_from_history
from proxgit.errors import RepositoryError
from proxgit.models import Config
from tests.support import (
    ALICE,
    BOB,
    CAROL,
    MALLORY,
    PROXGIT,
    GitRepo,
    allowed_signers_text,
    commit_as,
    config_yaml,
    git_as,
    ssh_signing_key,
    vm_path,
    vm_yaml,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)  # when proxgit opened the request
TTL = timedelta(days=7)
REQUEST = "deletions/lab-101.yaml"
SIGNERS = ".proxgit/allowed_signers"
WEB01 = vm_path("web-01")

SIGNED = (
    "  deletions:\n    requireSignedApprovals: true\n    allowedSigners: .proxgit/allowed_signers\n"
)
SELF_APPROVAL = "  deletions:\n    selfApprovalAllowed: true\n"
# Alice may approve too, so the self-approval rule is what refuses her.
ALICE_APPROVES = textwrap.dedent("""\
    policy:
      roles:
        approvers:
          members: [alice@example.com, bob@example.com, carol@example.com]
          permissions: [approve_deletion]
""")


def make_config(extra: str = "", policy: str | None = None) -> Config:
    text = config_yaml("https://pve.example:8006", "/dev/null", policy=policy, extra=extra)
    return Config.model_validate(yaml.safe_load(text))


def request_yaml(
    removed_in: str, *, requester: tuple[str, str] = ALICE, approve: bool = False
) -> str:
    """The request as proxgit writes it (camelCase, decision fields away from status)."""
    return textwrap.dedent(f"""\
        # Deletion request opened by proxgit. To approve, set approve: true in a commit
        # of your own (not the requester's); to reject, set reject: {{reason: ...}}.
        apiVersion: proxgit/v1
        kind: DeletionRequest
        metadata:
          name: lab-101
          cluster: lab
        spec:
          guest:
            cluster: lab
            node: pve1
            vmid: 101
            kind: VirtualMachine
            name: web-01
          requester:
            name: {requester[0]}
            email: {requester[1]}
          removedIn: {removed_in}
          requestedAt: '{T0.isoformat()}'
          expiresAt: '{(T0 + TTL).isoformat()}'
          approve: {"true" if approve else "false"}
          snapshot:
            status: running
            tags: [web]
            config:
              cores: 2
              memory: 2048
            disks:
            - slot: scsi0
              volume: local-lvm:vm-101-disk-0
              size: 32G
        status:
          state: open
    """)


@dataclass
class World:
    repo: GitRepo
    removal: str
    opening: str
    signers: Path

    def text(self) -> str:
        return (self.repo.path / REQUEST).read_text(encoding="utf-8")

    def edited(self, old: str, new: str) -> str:
        text = self.text()
        assert old in text, old
        return text.replace(old, new, 1)

    def approved_text(self) -> str:
        return self.edited("approve: false", "approve: true")

    def rejected_text(self, reason: str = "web-01 still serves the intranet") -> str:
        return self.edited("approve: false", f"reject: {{reason: '{reason}'}}")


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("keys")
    return {name: ssh_signing_key(directory, name) for name in ("alice", "bob", "carol", "eve")}


@pytest.fixture
def world(tmp_path: Path, keys: dict[str, Path]) -> World:
    repo = GitRepo(tmp_path)
    signers = allowed_signers_text(
        [
            ("alice@example.com", keys["alice"]),
            ("bob@example.com", keys["bob"]),
            ("carol@example.com", keys["carol"]),
        ]
    )
    commit_as(
        repo,
        {
            "proxgit.yaml": "# the config used by each test is passed in\n",
            WEB01: vm_yaml("web-01", 101),
            "README.md": "lab\n",
            SIGNERS: signers,
        },
        "Declare web-01",
        author=ALICE,
        date=T0 - timedelta(days=2),
    )
    removal = commit_as(
        repo, {WEB01: None}, "Retire web-01", author=ALICE, date=T0 - timedelta(hours=1)
    )
    opening = commit_as(
        repo,
        {REQUEST: request_yaml(removal)},
        "proxgit apply: deletion request lab-101\n\n[skip ci]",
        author=PROXGIT,
        date=T0,
    )
    return World(repo, removal, opening, repo.path / SIGNERS)


def decide(
    w: World,
    config: Config | None = None,
    *,
    now: datetime = T0 + timedelta(days=2),
    revision: str = "HEAD",
) -> Decision:
    return decide_request(
        w.repo.path,
        REQUEST,
        config=config or make_config(),
        revision=revision,
        now=now,
        allowed_signers_path=w.signers,
    )


def approve(
    w: World,
    author: tuple[str, str],
    *,
    day: float = 1,
    key: Path | None = None,
    text: str | None = None,
    extra: dict[str, str | None] | None = None,
) -> str:
    files: dict[str, str | None] = {REQUEST: text or w.approved_text(), **(extra or {})}
    when = T0 + timedelta(days=day)
    return commit_as(w.repo, files, "Approve lab-101", author=author, date=when, sign_key=key)


def assert_one_line(decision: Decision) -> None:
    assert decision.reasons, decision
    for reason in decision.reasons:
        assert "\n" not in reason and reason.strip() == reason


def only(decision: Decision, fragment: str) -> str:
    """The one reason containing ``fragment``."""
    matching = [r for r in decision.reasons if fragment in r]
    assert len(matching) == 1, decision.reasons
    return matching[0]


# --- the happy path and identity from history ---------------------------------------


def test_approval_by_a_listed_approver_is_approved(world: World) -> None:
    sha = approve(world, BOB)

    decision = decide(world)

    assert decision.state == "approved" and decision.approved
    assert decision.approver is not None and decision.approver.email == BOB[1]
    assert decision.approver.name == BOB[0]
    assert decision.approval_commit == sha
    assert decision.requester is not None and decision.requester.email == ALICE[1]
    assert decision.request is not None and decision.request.spec.guest.vmid == 101
    assert decision.rejection_reason is None
    assert_one_line(decision)
    assert decision.reasons == [f"{REQUEST} approved by bob@example.com in {sha[:12]}"]


def test_open_request_is_pending_until_it_expires(world: World) -> None:
    pending = decide(world)
    assert pending.state == "pending" and pending.approver is None
    assert "waits for approval" in only(pending, "alice@example.com")

    expired = decide(world, now=T0 + TTL)
    assert expired.state == "expired"
    assert "expired at 2026-01-08T00:00:00Z without a valid approval" in expired.reasons[0]
    assert_one_line(expired)


def test_requester_comes_from_the_commit_that_removed_the_document(world: World) -> None:
    person = requester_from_history(world.repo.path, WEB01, "HEAD")
    assert (person.name, person.email) == ALICE
    removal = find_removal(world.repo.path, WEB01, "HEAD")
    assert removal.commit == world.removal


def test_requester_of_a_removal_merged_from_a_pull_request_is_its_author(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path)
    repo.commit({WEB01: vm_yaml("web-01", 101)}, "Declare web-01", author=ALICE)
    repo.git("checkout", "-q", "-b", "retire-web-01")
    removal = repo.commit({WEB01: None}, "Retire web-01", author=BOB)
    repo.git("checkout", "-q", "main")
    repo.commit({"README.md": "x\n"}, "Unrelated", author=ALICE)
    repo.git("merge", "-q", "--no-ff", "-m", "Merge PR 7", "retire-web-01", author=CAROL)

    found = find_removal(repo.path, WEB01, "HEAD")

    assert found.commit == removal and found.requester.email == BOB[1]


def test_no_removal_in_history_is_an_error(world: World) -> None:
    with pytest.raises(RepositoryError, match="no commit in the history of HEAD removes"):
        requester_from_history(world.repo.path, "clusters/lab/vms/never.yaml", "HEAD")


def test_missing_request_file_is_an_error(world: World) -> None:
    with pytest.raises(RepositoryError, match="does not exist"):
        decide_request(
            world.repo.path,
            "deletions/lab-999.yaml",
            config=make_config(),
            now=T0,
            allowed_signers_path=None,
        )


# --- refusals -----------------------------------------------------------------------


def test_self_approval_is_refused(world: World) -> None:
    approve(world, ALICE)

    decision = decide(world, make_config(policy=ALICE_APPROVES))

    assert decision.state == "refused" and not decision.approved
    assert decision.approver is not None and decision.approver.email == ALICE[1]
    assert decision.reasons == [
        "approval by alice@example.com refused: the requester cannot approve their own "
        "deletion (deletions.selfApprovalAllowed is false); ask another approver"
    ]


def test_self_approval_counts_when_the_config_allows_it(world: World) -> None:
    approve(world, ALICE)
    config = make_config(policy=ALICE_APPROVES, extra=SELF_APPROVAL)
    assert decide(world, config).state == "approved"


def test_approver_not_in_the_policy_is_refused(world: World) -> None:
    approve(world, MALLORY)

    decision = decide(world)

    assert decision.state == "refused"
    reason = only(decision, "no policy role with approve_deletion")
    assert reason.startswith("approval by mallory@example.com refused: ")
    assert "for cluster lab" in reason and "ask a listed approver" in reason


def test_a_member_of_a_role_for_another_cluster_cannot_approve(world: World) -> None:
    policy = textwrap.dedent("""\
        policy:
          roles:
            other-cluster:
              members: [bob@example.com]
              permissions: ["*"]
              clusters: [edge]
    """)
    extra = (
        "    edge:\n      url: https://edge.example:8006\n      tokenId: 'p@pve!x'\n"
        "      tokenSecretFrom: {env: EDGE}\n"
    )
    text = config_yaml("https://pve.example:8006", "/dev/null", policy=policy)
    text = text.replace("  apply:", extra + "  apply:")
    approve(world, BOB)

    decision = decide(world, Config.model_validate(yaml.safe_load(text)))

    assert decision.state == "refused"
    only(decision, "no policy role with approve_deletion for cluster lab")


def test_no_policy_means_nobody_may_approve(world: World) -> None:
    approve(world, BOB)
    decision = decide(world, make_config(policy=""))
    assert decision.state == "refused"
    only(decision, "no policy role with approve_deletion")


def test_requester_writing_another_name_into_the_yaml_is_refused(world: World) -> None:
    # Alice approves her own request and claims in the file that Bob did.
    text = world.approved_text().replace(
        "  state: open",
        "  state: approved\n  approvedBy: {name: Bob Builder, email: bob@example.com}",
    )
    approve(world, ALICE, text=text)

    decision = decide(world, make_config(policy=ALICE_APPROVES))

    assert decision.state == "refused"
    assert decision.approver is not None and decision.approver.email == ALICE[1]
    only(decision, "the requester cannot approve their own deletion")
    assert "also changes status.approvedBy, status.state" in only(decision, "also changes")
    assert_one_line(decision)


def test_requester_rewriting_the_requester_first_is_still_refused(world: World) -> None:
    # Commit 1: Alice names Carol as the requester. Commit 2: Alice "approves".
    commit_as(
        world.repo,
        {
            REQUEST: world.edited(
                "name: Alice Admin\n    email: alice@example.com",
                "name: Carol Checker\n    email: carol@example.com",
            )
        },
        "Fix requester",
        author=ALICE,
        date=T0 + timedelta(hours=1),
    )
    approve(world, ALICE)

    decision = decide(world, make_config(policy=ALICE_APPROVES))

    assert decision.state == "refused"
    assert decision.requester is not None and decision.requester.email == ALICE[1]
    only(decision, "the requester cannot approve their own deletion")
    tampered = only(decision, "changed since proxgit opened the request")
    assert "spec.requester.email, spec.requester.name" in tampered
    assert "only approve and reject may be edited" in tampered


def test_approval_commit_that_changes_other_files_is_refused(world: World) -> None:
    sha = approve(world, BOB, extra={"README.md": "lab, now with fewer VMs\n"})

    decision = decide(world)

    assert decision.state == "refused"
    assert only(decision, "also changes README.md") == (
        f"approval by bob@example.com refused: approval commit {sha[:12]} also changes "
        f"README.md; approve in a commit that changes only {REQUEST}"
    )


def test_approval_commit_that_changes_other_fields_of_the_request_is_refused(
    world: World,
) -> None:
    later = (T0 + timedelta(days=30)).isoformat()
    text = world.approved_text().replace((T0 + TTL).isoformat(), later)
    approve(world, BOB, text=text)

    decision = decide(world, now=T0 + timedelta(days=10))

    # The expiry is read from the request as proxgit opened it, so the extension
    # does not help, and the commit is refused for the extra change as well.
    assert decision.state == "expired"
    assert "also changes spec.expiresAt in" in only(decision, "also changes")
    only(decision, "spec.expiresAt changed since proxgit opened the request")
    assert decide(world, now=T0 + timedelta(days=2)).state == "refused"


def test_comments_and_formatting_in_the_approval_commit_are_fine(world: World) -> None:
    text = world.approved_text().replace("approve: true", "approve: true   # checked backups")
    text = text.replace("tags: [web]", "tags:\n    - web")
    approve(world, BOB, text=text)
    assert decide(world).state == "approved"


def test_approval_after_expiry_is_expired(world: World) -> None:
    approve(world, BOB, day=8)

    decision = decide(world, now=T0 + timedelta(days=9))

    assert decision.state == "expired"
    assert decision.approver is not None and decision.approver.email == BOB[1]
    assert "committed at 2026-01-09T00:00:00Z, after the request expired at" in only(
        decision, "committed at"
    )
    assert_one_line(decision)


def test_timely_approval_is_expired_once_now_passes_the_ttl(world: World) -> None:
    approve(world, BOB, day=1)
    assert decide(world, now=T0 + TTL - timedelta(seconds=1)).state == "approved"
    decision = decide(world, now=T0 + TTL)
    assert decision.state == "expired"
    only(decision, "expired at 2026-01-08T00:00:00Z")


def test_request_not_opened_by_proxgit_is_refused(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path)
    repo.commit({WEB01: vm_yaml("web-01", 101)}, "Declare", author=ALICE)
    removal = repo.commit({WEB01: None}, "Retire", author=ALICE)
    commit_as(repo, {REQUEST: request_yaml(removal)}, "My own request", author=MALLORY, date=T0)
    commit_as(
        repo,
        {REQUEST: (repo.path / REQUEST).read_text().replace("approve: false", "approve: true")},
        "Approve",
        author=BOB,
        date=T0 + timedelta(days=1),
    )

    decision = decide_request(
        repo.path,
        REQUEST,
        config=make_config(),
        now=T0 + timedelta(days=2),
        allowed_signers_path=None,
    )

    assert decision.state == "refused" and decision.request is None
    assert "added in" in decision.reasons[0]
    assert (
        "by mallory@example.com, not by proxgit (proxgit@noreply.invalid)" in (decision.reasons[0])
    )


def test_request_created_already_approved_is_refused(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path)
    repo.commit({WEB01: vm_yaml("web-01", 101)}, "Declare", author=ALICE)
    removal = repo.commit({WEB01: None}, "Retire", author=ALICE)
    commit_as(repo, {REQUEST: request_yaml(removal, approve=True)}, "x", author=PROXGIT, date=T0)

    decision = decide_request(
        repo.path,
        REQUEST,
        config=make_config(),
        now=T0 + timedelta(days=1),
        allowed_signers_path=None,
    )

    assert decision.state == "refused"
    assert "was created already decided" in decision.reasons[0]


def test_requester_that_is_not_the_author_of_the_removal_is_refused(world: World) -> None:
    # proxgit's identity is only a name: a request naming someone else as the
    # requester than the author of removedIn is not trusted.
    world.repo.git("rm", "-q", REQUEST)
    world.repo.git("commit", "-q", "-m", "drop", author=PROXGIT)
    commit_as(
        world.repo,
        {REQUEST: request_yaml(world.removal, requester=CAROL)},
        "forged",
        author=PROXGIT,
        date=T0,
    )
    approve(world, BOB)

    decision = decide(world)

    assert decision.state == "refused"
    assert (
        "requester carol@example.com is not the author (alice@example.com)" in (decision.reasons[0])
    )


def test_both_approve_and_reject_is_refused(world: World) -> None:
    approve(
        world,
        BOB,
        text=world.approved_text().replace(
            "\n  approve: true", "\n  approve: true\n  reject: {reason: no}"
        ),
    )
    decision = decide(world)
    assert decision.state == "refused"
    assert "sets both approve: true and reject" in decision.reasons[0]


def test_invalid_request_file_is_refused(world: World) -> None:
    approve(world, BOB, text=world.edited("approve: false", "approve: maybe"))
    decision = decide(world)
    assert decision.state == "refused"
    assert "is not a valid DeletionRequest" in decision.reasons[0]
    assert "spec.approve" in decision.reasons[0]


def test_a_refused_approval_can_be_replaced_by_reverting_and_approving_again(
    world: World,
) -> None:
    approve(world, MALLORY, day=1)
    assert decide(world).state == "refused"
    commit_as(
        world.repo,
        {REQUEST: world.edited("\n  approve: true", "\n  approve: false")},
        "Revert",
        author=BOB,
        date=T0 + timedelta(days=1, hours=1),
    )
    sha = approve(world, BOB, day=1.5)

    decision = decide(world)

    assert decision.state == "approved" and decision.approval_commit == sha


def test_a_later_commit_keeping_the_approval_does_not_steal_it(world: World) -> None:
    # proxgit records state in status after Bob approved; Bob stays the approver.
    sha = approve(world, BOB, day=1)
    commit_as(
        world.repo,
        {REQUEST: world.edited("  state: open", "  state: open\n  message: seen")},
        "proxgit: status",
        author=PROXGIT,
        date=T0 + timedelta(days=1, hours=1),
    )
    decision = decide(world)
    assert decision.state == "approved" and decision.approval_commit == sha


def test_an_earlier_revision_sees_no_approval(world: World) -> None:
    approve(world, BOB)
    assert decide(world, revision=world.opening).state == "pending"


# --- merges -------------------------------------------------------------------------


def _pull_request(w: World, author: tuple[str, str], *, key: Path | None = None) -> str:
    git_as(w.repo, "checkout", "-q", "-b", "approve-lab-101")
    sha = approve(w, author, day=1, key=key)
    git_as(w.repo, "checkout", "-q", "main")
    return sha


def test_approval_arriving_through_a_merge_commit_is_the_branch_commit(world: World) -> None:
    sha = _pull_request(world, BOB)
    commit_as(
        world.repo,
        {"README.md": "lab!\n"},
        "Unrelated",
        author=ALICE,
        date=T0 + timedelta(days=1, hours=1),
    )
    git_as(
        world.repo,
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge PR 12",
        "approve-lab-101",
        author=CAROL,
        date=T0 + timedelta(days=1, hours=2),
    )
    merge = world.repo.git("rev-parse", "HEAD")

    decision = decide(world)

    # The merge commit (by Carol, who also changed README.md through main) is not
    # the approval: Bob's commit on the branch is, and it changes only the request.
    assert decision.state == "approved"
    assert decision.approval_commit == sha != merge
    assert decision.approver is not None and decision.approver.email == BOB[1]


def test_requester_approving_on_a_branch_merged_by_an_approver_is_refused(
    world: World,
) -> None:
    _pull_request(world, ALICE)
    git_as(
        world.repo,
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge PR 13",
        "approve-lab-101",
        author=BOB,
        date=T0 + timedelta(days=1, hours=2),
    )

    decision = decide(world, make_config(policy=ALICE_APPROVES))

    assert decision.state == "refused"
    assert decision.approver is not None and decision.approver.email == ALICE[1]
    only(decision, "the requester cannot approve their own deletion")


def test_merge_combining_the_approval_with_proxgit_status_changes(world: World) -> None:
    sha = _pull_request(world, BOB)
    commit_as(
        world.repo,
        {REQUEST: world.edited("  state: open", "  state: open\n  message: still tagged")},
        "proxgit: status",
        author=PROXGIT,
        date=T0 + timedelta(days=1, hours=1),
    )
    git_as(
        world.repo,
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge PR 14",
        "approve-lab-101",
        author=CAROL,
        date=T0 + timedelta(days=1, hours=2),
    )
    assert "message: still tagged" in world.text() and "approve: true" in world.text()

    decision = decide(world)

    assert decision.state == "approved" and decision.approval_commit == sha


def test_approval_discarded_by_the_merge_does_not_count(world: World) -> None:
    _pull_request(world, BOB)
    git_as(
        world.repo,
        "merge",
        "-q",
        "-s",
        "ours",
        "-m",
        "Merge, keep ours",
        "approve-lab-101",
        author=CAROL,
        date=T0 + timedelta(days=1, hours=2),
    )
    assert decide(world).state == "pending"


def test_approval_introduced_by_the_merge_commit_itself_is_refused(world: World) -> None:
    git_as(world.repo, "checkout", "-q", "-b", "topic")
    commit_as(
        world.repo, {"README.md": "topic\n"}, "Topic", author=CAROL, date=T0 + timedelta(hours=5)
    )
    git_as(world.repo, "checkout", "-q", "main")
    git_as(world.repo, "merge", "-q", "--no-ff", "--no-commit", "topic", author=BOB)
    world.repo.write({REQUEST: world.approved_text()})
    world.repo.git("add", "-A")
    git_as(world.repo, "commit", "-q", "-m", "Merge topic", author=BOB, date=T0 + timedelta(days=1))

    decision = decide(world)

    assert decision.state == "refused"
    assert "introduced by merge commit" in decision.reasons[0]


# --- signatures ---------------------------------------------------------------------


def test_signed_approval_by_a_listed_signer_is_approved(
    world: World, keys: dict[str, Path]
) -> None:
    sha = approve(world, BOB, key=keys["bob"])
    decision = decide(world, make_config(extra=SIGNED))
    assert decision.state == "approved" and decision.approval_commit == sha


def test_unsigned_approval_is_refused_when_signatures_are_required(world: World) -> None:
    sha = approve(world, BOB)

    decision = decide(world, make_config(extra=SIGNED))

    assert decision.state == "refused"
    assert decision.reasons == [
        f"approval by bob@example.com refused: commit {sha[:12]} is not signed and "
        "deletions.requireSignedApprovals is true; sign it (git commit -S with "
        "gpg.format=ssh) with a key listed in the allowed signers file"
    ]
    assert decide(world).state == "approved"  # the same commit counts when not required


def test_bad_signature_is_refused(world: World, keys: dict[str, Path]) -> None:
    signed = approve(world, BOB, key=keys["bob"])
    # Change the signed commit's message after signing: the signature no longer matches.
    raw = world.repo.git("cat-file", "commit", signed) + "\n"
    forged = subprocess.run(
        ["git", "hash-object", "-t", "commit", "-w", "--stdin"],
        cwd=world.repo.path,
        input=raw.replace("Approve lab-101", "Approve lab-101 (checked)"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    world.repo.git("reset", "-q", "--hard", forged)

    decision = decide(world, make_config(extra=SIGNED))

    assert decision.state == "refused" and decision.approval_commit == forged
    only(decision, "does not verify (bad signature)")


def test_signature_by_a_key_not_in_allowed_signers_is_refused(
    world: World, keys: dict[str, Path]
) -> None:
    approve(world, BOB, key=keys["eve"])

    decision = decide(world, make_config(extra=SIGNED))

    assert decision.state == "refused"
    reason = only(decision, "not in the allowed signers file")
    assert "add 'bob@example.com namespaces=\"git\" <public key>'" in reason


def test_signature_by_another_listed_signer_than_the_author_is_refused(
    world: World, keys: dict[str, Path]
) -> None:
    # Carol's key is allowed, but she signs a commit that claims Bob authored it.
    sha = approve(world, BOB, key=keys["carol"])

    decision = decide(world, make_config(extra=SIGNED))

    assert decision.state == "refused"
    assert only(decision, "signed by") == (
        f"approval by bob@example.com refused: {sha[:12]} is authored as bob@example.com "
        "but signed by carol@example.com; the signer must be the author, commit and sign as "
        "yourself"
    )


def test_self_signed_self_approval_is_still_refused(world: World, keys: dict[str, Path]) -> None:
    approve(world, ALICE, key=keys["alice"])
    decision = decide(world, make_config(policy=ALICE_APPROVES, extra=SIGNED))
    assert decision.state == "refused"
    assert len(decision.reasons) == 1
    only(decision, "the requester cannot approve their own deletion")


def test_signed_approval_without_an_allowed_signers_file_is_refused(
    world: World, keys: dict[str, Path]
) -> None:
    approve(world, BOB, key=keys["bob"])
    decision = decide_request(
        world.repo.path,
        REQUEST,
        config=make_config(extra=SIGNED),
        now=T0 + timedelta(days=2),
        allowed_signers_path=None,
    )
    assert decision.state == "refused"
    only(decision, "there is no allowed signers file")


def test_signed_approval_through_a_merge_commit_is_verified_on_the_branch_commit(
    world: World, keys: dict[str, Path]
) -> None:
    sha = _pull_request(world, BOB, key=keys["bob"])
    # The merge commit itself is unsigned (as a forge's merge button may make it).
    git_as(
        world.repo,
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge PR 15",
        "approve-lab-101",
        author=CAROL,
        date=T0 + timedelta(days=1, hours=2),
    )

    decision = decide(world, make_config(extra=SIGNED))

    assert decision.state == "approved" and decision.approval_commit == sha


# --- rejections ---------------------------------------------------------------------


def test_rejection_by_the_requester(world: World) -> None:
    text = world.rejected_text("I removed the wrong file")
    sha = commit_as(
        world.repo, {REQUEST: text}, "Reject", author=ALICE, date=T0 + timedelta(days=1)
    )

    decision = decide(world)

    assert decision.state == "rejected" and not decision.approved
    assert decision.rejection_reason == "I removed the wrong file"
    assert decision.approval_commit == sha
    assert decision.reasons == [
        f"{REQUEST} rejected by alice@example.com in {sha[:12]}: I removed the wrong file"
    ]


def test_rejection_by_an_approver(world: World) -> None:
    commit_as(
        world.repo,
        {REQUEST: world.rejected_text()},
        "Reject",
        author=CAROL,
        date=T0 + timedelta(days=1),
    )
    decision = decide(world)
    assert decision.state == "rejected"
    assert decision.approver is not None and decision.approver.email == CAROL[1]
    assert decision.rejection_reason == "web-01 still serves the intranet"


def test_rejection_by_someone_else_is_refused(world: World) -> None:
    commit_as(
        world.repo,
        {REQUEST: world.rejected_text()},
        "Reject",
        author=MALLORY,
        date=T0 + timedelta(days=1),
    )

    refused = decide(world)
    assert refused.state == "refused"
    assert (
        "only the requester (alice@example.com) or an identity with approve_deletion"
        in (refused.reasons[0])
    )
    # Once the TTL runs out the request expires anyway (and is untagged and archived).
    assert decide(world, now=T0 + TTL + timedelta(hours=1)).state == "expired"


def test_rejection_with_a_blank_reason_is_refused(world: World) -> None:
    commit_as(
        world.repo,
        {REQUEST: world.rejected_text("   ")},
        "Reject",
        author=BOB,
        date=T0 + timedelta(days=1),
    )
    decision = decide(world)
    assert decision.state == "refused"
    only(decision, "a rejection needs a reason")


def test_rejection_needs_no_signature_and_survives_expiry(world: World) -> None:
    commit_as(
        world.repo,
        {REQUEST: world.rejected_text()},
        "Reject",
        author=BOB,
        date=T0 + timedelta(days=1),
    )
    decision = decide(world, make_config(extra=SIGNED), now=T0 + TTL + timedelta(days=1))
    assert decision.state == "rejected"


def test_forge_login_members_are_named_in_the_refusal(world: World) -> None:
    policy = textwrap.dedent("""\
        policy:
          roles:
            approvers:
              members: [github:bob]
              permissions: [approve_deletion]
    """)
    approve(world, BOB)
    decision = decide(world, make_config(policy=policy))
    assert decision.state == "refused"
    assert "forge logins like github:name are not matched against commit authors" in only(
        decision, "no policy role"
    )


@pytest.fixture
def gpg_home() -> Iterator[Callable[[], Path]]:
    """Makes short GnuPG homes (the agent's socket path must stay under 108 bytes, also
    under pytest-xdist's long temp paths); their agents are stopped and they are removed."""
    homes: list[Path] = []

    def make() -> Path:
        homes.append(Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp")))
        return homes[-1]

    yield make
    for home in homes:
        env = {**os.environ, "GNUPGHOME": str(home)}
        subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def _gpg(home: Path, *args: str, stdin: bytes | None = None) -> bytes:
    env = {**os.environ, "GNUPGHOME": str(home)}
    done = subprocess.run(
        ["gpg", "--batch", "--quiet", *args], input=stdin, env=env, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def test_gpg_signed_approval_is_verified_against_the_configured_keyring(
    world: World, gpg_home: Callable[[], Path]
) -> None:
    signer, keyring, empty = gpg_home(), gpg_home(), gpg_home()
    # gpgKeyring is relative to the repository root.
    (world.repo.path / ".proxgit" / "gnupg").symlink_to(keyring)
    (world.repo.path / ".proxgit" / "empty").symlink_to(empty)
    uid = "Bob Builder <bob@example.com>"
    _gpg(signer, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
    _gpg(keyring, "--import", stdin=_gpg(signer, "--armor", "--export", "bob@example.com"))
    world.repo.write({REQUEST: world.approved_text()})
    world.repo.git("add", REQUEST)
    GitRepo.git_in(
        world.repo.path,
        *("-c", "user.signingkey=bob@example.com", "commit", "-q", "-S", "-m", "Approve"),
        author=BOB,
        env={"GNUPGHOME": str(signer), **_dates(T0 + timedelta(days=1))},
    )

    assert decide(world, make_config(extra=SIGNED + "    gpgKeyring: .proxgit/gnupg\n")).approved
    refused = decide(world, make_config(extra=SIGNED))
    assert refused.state == "refused"
    only(refused, "GPG-signed but deletions.gpgKeyring is not set")
    # A keyring without Bob's key cannot verify the signature.
    other = decide(world, make_config(extra=SIGNED + "    gpgKeyring: .proxgit/empty\n"))
    assert other.state == "refused"
    only(other, "could not be verified")


def _dates(moment: datetime) -> dict[str, str]:
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S%z")
    return {"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}


def test_removed_in_that_is_not_a_commit_id_is_refused(world: World) -> None:
    world.repo.git("rm", "-q", REQUEST)
    world.repo.git("commit", "-q", "-m", "drop", author=PROXGIT)
    commit_as(world.repo, {REQUEST: request_yaml("--output=/tmp/x")}, "odd", author=PROXGIT)
    approve(world, BOB)
    decision = decide(world)
    assert decision.state == "refused"
    assert "removedIn --output=/tm is not in the history" in decision.reasons[0]
