"""The attack corpus for four-eyes deletions (issue 11, DESIGN.md "Trust model").

Every scenario is an insider with push access trying, through the CLI only,
against fakepve and real Git histories (a bare remote, commits by different
people, real SSH signatures, merges, cherry-picks, rebases), to destroy a guest
that must stay, or to approve alone. Each asserts the exact number of DELETE
requests Proxmox received and the exit code of the command that would have
destroyed, and where it matters that the guest is alive.

Identities: alice, bob, carol and mallory are people with SSH keys;
bob and carol hold approve_deletion; proxgit signs its own commits with its key.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import Result

from tests.deletions_trust.harness import PEOPLE, PROXGIT, REQUEST, ForgeScene, Scene, public
from tests.forges.fakeforge import FakeReview
from tests.support import vm_path

Make = Callable[..., Scene]

WARNING = "can be forged by anyone with push access"
EXECUTED, REFUSED, BLOCKED = 0, 3, 1


def approved_text(s: Scene, path: str = REQUEST) -> str:
    """The request file with approve: true, not committed."""
    return s.edit_request(path, approve=True)


def restore_file(s: Scene, text: str, path: str = REQUEST) -> None:
    (s.repo.path / path).parent.mkdir(parents=True, exist_ok=True)
    (s.repo.path / path).write_text(text, encoding="utf-8")


def stray_vm(s: Scene, vmid: int = 500, *, tagged: bool = True) -> None:
    """A guest nobody declared (made directly in Proxmox), tagged as if proxgit had."""
    config = {"memory": 512, "net0": "virtio=BC:24:11:00:05:00,bridge=vmbr0"}
    if tagged:
        config["tags"] = "proxgit-pending-deletion"
    s.pve.add_vm(vmid, "stray", node="pve1", status="running", config=config)


def untouched(s: Scene, result: Result, expected_exit: int, *vmids: int) -> None:
    assert result.exit_code == expected_exit, result.output
    assert s.destroys() == 0, result.output
    for vmid in vmids or (101,):
        assert s.alive(vmid), f"vmid {vmid} was destroyed"


# --- finding 1: a hand-written request ---------------------------------------------------


@pytest.mark.parametrize("mode", ["signatures", "git-author"])
@pytest.mark.parametrize("target", ["unmanaged", "declared"])
@pytest.mark.parametrize("real_removed_in", [True, False], ids=["real-removedIn", "made-up"])
def test_hand_written_request_in_proxgits_name_destroys_nothing(
    scene: Make, mode: str, target: str, real_removed_in: bool
) -> None:
    """Author forged as proxgit, a real (or made-up) removedIn, a genuine approval: 0."""
    s = scene(mode=mode)
    s.declare()
    earlier = s.head()
    vmid, name = (500, "stray") if target == "unmanaged" else (101, "web-01")
    if target == "unmanaged":
        stray_vm(s, vmid)
    path = f"deletions/lab-{vmid}.yaml"
    text = s.request_text(
        vmid=vmid,
        name=name,
        removed_in=earlier if real_removed_in else "0" * 40,
        declared_in=earlier,
    )
    s.commit({path: text}, "Open a request", who="mallory", sign=False, author=PROXGIT)
    s.push()
    s.approve("bob", path=path)

    listed = s.cli("deletions", "list")
    result = s.execute()

    assert s.destroys() == 0, result.output
    assert s.alive(vmid) and s.alive(101)
    if mode == "signatures":
        assert "not introduced by a commit proxgit signed" in listed.output, listed.output
        assert result.exit_code == REFUSED, result.output
    elif target == "declared":
        # git-author believes the author string, so the request counts as proxgit's;
        # the guest is declared, so it is withdrawn, never destroyed.
        assert result.exit_code == 0, result.output
        assert "withdrawn" in result.output, result.output
    else:
        assert result.exit_code == REFUSED, result.output
        assert "nothing destroyed" in result.output, result.output


def test_one_forged_request_does_not_block_a_genuine_one(scene: Make) -> None:
    """A made-up request (decided first: lab-100 sorts before lab-101) next to a genuinely
    approved one: the genuine one still runs, and execute reports, not crashes."""
    s = scene(mode="git-author")
    s.declare("web-00", 100)
    s.requested()
    s.approve("bob")
    text = s.request_text(vmid=100, name="web-00", removed_in="0" * 40, declared_in=s.head())
    s.commit({"deletions/lab-100.yaml": text}, "Open", who="mallory", author=PROXGIT, sign=False)
    s.push()
    s.approve("bob", path="deletions/lab-100.yaml")

    result = s.execute()

    assert s.destroys() == 1, result.output
    assert not s.alive(101) and s.alive(100)
    assert result.exit_code == 0, result.output


# --- finding 2: an old approval replayed into a new lifecycle of the same path -----------


def _second_lifecycle(s: Scene) -> str:
    """vmid 101 approved and destroyed, then reused by db-01 whose request is open at the
    same path; returns bob's old (validly signed) approval commit."""
    s.requested()
    old = s.approve("bob")
    first = s.execute()
    assert first.exit_code == 0 and s.destroys() == 1, first.output
    s.requested("db-01", 101)
    assert s.alive(101) and s.pve.guest(101).name == "db-01"
    return old


@pytest.mark.parametrize("mode", ["signatures", "git-author"])
@pytest.mark.parametrize("content", ["new-request-approved", "old-approval-verbatim"])
def test_old_approval_replayed_through_a_merge(scene: Make, mode: str, content: str) -> None:
    s = scene(mode=mode)
    old = _second_lifecycle(s)
    text = approved_text(s) if content == "new-request-approved" else s.read(REQUEST, old)
    s.merge_commit([s.head(), old], {REQUEST: text}, "Merge bob's approval", who="alice")
    s.push()

    listed = s.cli("deletions", "list")
    result = s.execute()

    assert "approved by" not in listed.output, listed.output
    assert result.exit_code == REFUSED, result.output
    assert s.destroys() == 1, result.output
    assert s.pve.guest(101).name == "db-01"


@pytest.mark.parametrize("sign", [False, True], ids=["unsigned", "signed-by-requester"])
def test_old_approval_cherry_picked_into_the_new_lifecycle(scene: Make, sign: bool) -> None:
    s = scene()
    old = _second_lifecycle(s)
    approved = approved_text(s)
    s.repo.git("checkout", "--quiet", "--", REQUEST)
    with contextlib.suppress(subprocess.CalledProcessError):  # conflicts: she resolves them
        s.git("cherry-pick", "--no-commit", old, who="alice")
    restore_file(s, approved)
    s.repo.git("add", "-A")
    # as cherry-pick records it: bob's author, message and date; committed by alice
    signing = ["-S"] if sign else ["--no-gpg-sign"]
    s.git("commit", "--quiet", *signing, "-C", old, who="alice", sign=sign)
    s.push()
    assert s.repo.git("log", "-1", "--format=%ae") == PEOPLE["bob"][1]

    result = s.execute()

    assert result.exit_code == REFUSED, result.output
    assert s.destroys() == 1
    assert s.pve.guest(101).name == "db-01"


# --- finding 3: in signatures mode the requester is the signer ---------------------------


def test_unsigned_removal_with_forged_author_opens_no_request(scene: Make) -> None:
    s = scene()
    s.declare()
    s.remove(who="bob", sign=False, author=PEOPLE["alice"])

    applied = s.apply()

    assert applied.exit_code == 0, applied.output
    assert "no authenticated requester" in applied.output, applied.output
    assert "deletion request not opened" in applied.output
    assert not (s.repo.path / REQUEST).exists()
    assert not s.tagged()
    listed = s.cli("deletions", "list")
    assert "no open deletion requests" in listed.output
    result = s.execute()
    untouched(s, result, 0)


def test_removal_signed_by_bob_with_alices_name_makes_bob_the_requester(scene: Make) -> None:
    s = scene()
    s.declare()
    s.remove(who="bob", author=PEOPLE["alice"])  # signed with bob's key
    assert s.apply().exit_code == 0
    assert s.request_data()["spec"]["requester"]["person"] == "bob"
    s.approve("bob")

    result = s.execute()

    untouched(s, result, REFUSED)
    assert "is the requester" in result.output, result.output


# --- finding 4: a guest declared again withdraws its request -------------------------------


@pytest.mark.parametrize("when", ["before-approval", "after-approval"])
@pytest.mark.parametrize("via", ["execute", "apply"])
def test_redeclared_guest_is_withdrawn_never_destroyed(scene: Make, when: str, via: str) -> None:
    s = scene()
    s.requested()
    assert s.tagged()
    declared = s.read(vm_path("web-01"), s.request_data()["spec"]["declaredIn"])
    if when == "after-approval":
        s.approve("bob")
    restore = s.commit({vm_path("web-01"): declared}, "Keep web-01 after all", who="carol")
    s.push()
    if when == "before-approval":
        s.approve("bob")

    result = s.execute() if via == "execute" else s.apply()

    untouched(s, result, 0)
    assert not (s.repo.path / REQUEST).exists(), result.output
    [archived] = s.archived()
    assert archived["status"]["state"] == "withdrawn"
    assert archived["status"]["withdrawnIn"] == restore
    assert not s.tagged(), s.tags()
    again = s.execute()
    assert again.exit_code == 0 and "no open deletion requests" in again.output
    assert s.destroys() == 0


# --- finding 5: git-author mode is an honour system, and says so ---------------------------


def test_git_author_forged_approval_counts_but_every_output_warns(scene: Make) -> None:
    s = scene(mode="git-author")
    s.requested()
    s.approve("mallory", sign=False, author=PEOPLE["bob"])

    listed = s.cli("deletions", "list")
    result = s.execute()

    assert WARNING in listed.output, listed.output
    assert WARNING in result.output, result.output
    assert result.exit_code == 0, result.output
    assert s.destroys() == 1  # documented: author strings are forgeable in this mode
    assert not s.alive()


@pytest.mark.parametrize("mode", ["git-author", "signatures"])
@pytest.mark.parametrize("who", ["alice", "mallory"], ids=["requester", "no-role"])
def test_deletions_approve_refuses_before_committing(scene: Make, mode: str, who: str) -> None:
    s = scene(mode=mode)
    s.requested()
    s.use_identity(who)
    head, remote = s.head(), s.remote_head()

    result = s.cli("deletions", "approve", "lab-101", "--push")

    assert result.exit_code == 3, result.output
    assert "not committed" in result.output, result.output
    assert s.head() == head
    assert s.remote_head() == remote
    assert s.repo.git("status", "--porcelain") == ""
    executed = s.execute()
    untouched(s, executed, 0)


def test_deletions_approve_by_an_approver_counts(scene: Make) -> None:
    s = scene()
    s.requested()
    s.use_identity("bob")
    approved = s.cli("deletions", "approve", "lab-101", "--push")
    assert approved.exit_code == 0, approved.output
    s.pull()

    result = s.execute()

    assert result.exit_code == 0, result.output
    assert s.destroys() == 1
    assert not s.alive()


def test_deletions_approve_without_a_listed_key_refuses(scene: Make) -> None:
    s = scene()
    s.requested()
    s.use_identity("bob", key=False)
    head = s.head()

    result = s.cli("deletions", "approve", "lab-101", "--push")

    assert result.exit_code == 3, result.output
    assert s.head() == head
    assert s.destroys() == 0


def test_git_author_plan_warns(scene: Make) -> None:
    s = scene(mode="git-author")
    s.declare()
    base = s.head()
    s.remove()

    plan = s.cli("plan", "--base", base, "--head", s.head())

    assert WARNING in plan.output, plan.output


# --- request files edited, renamed, deleted and restored by hand ---------------------------

EDITS = {
    "requestId": {"requestId": "0123456789abcdef0123456789abcdef"},
    "guest-vmid": {"guest": {"cluster": "lab", "node": "pve1", "vmid": 102,
                             "kind": "VirtualMachine", "name": "web-02"}},
    "guest-name": {"guest": {"cluster": "lab", "node": "pve1", "vmid": 101,
                             "kind": "VirtualMachine", "name": "web-02"}},
    "requester": {"requester": {"handle": "carol@example.com", "person": "carol"}},
    "expiresAt": {"expiresAt": "2099-01-01T00:00:00+00:00"},
    "removedIn": {"removedIn": "0" * 40},
}  # fmt: skip


@pytest.mark.parametrize("field", sorted(EDITS))
def test_edited_request_is_refused(scene: Make, field: str) -> None:
    """The requester edits what proxgit wrote; a genuine approver then approves: 0."""
    s = scene()
    s.declare("web-02", 102)
    s.requested()
    text = s.edit_request(**EDITS[field])
    s.commit({REQUEST: text}, f"Fix the request's {field}", who="alice")
    s.push()
    s.approve("bob")

    result = s.execute()

    untouched(s, result, REFUSED, 101, 102)
    assert "changed since proxgit opened the request" in result.output or (
        field == "requestId" and "not introduced by a commit proxgit signed" in result.output
    ), result.output


def test_edit_inside_the_approval_commit_is_refused(scene: Make) -> None:
    s = scene()
    s.requested()
    s.edit_request(expiresAt="2099-01-01T00:00:00+00:00")
    s.approve("bob")

    result = s.execute()

    untouched(s, result, REFUSED)


def test_edit_undone_before_the_approval_is_harmless(scene: Make) -> None:
    """Control: the file proxgit signed, edited and restored, then approved: 1."""
    s = scene()
    s.requested()
    original = (s.repo.path / REQUEST).read_text()
    s.commit({REQUEST: s.edit_request(expiresAt="2099-01-01T00:00:00+00:00")}, "Edit")
    s.commit({REQUEST: original}, "Undo the edit")
    s.push()
    s.approve("bob")

    result = s.execute()

    assert result.exit_code == 0, result.output
    assert s.destroys() == 1
    assert not s.alive()


@pytest.mark.parametrize("rewrite", [False, True], ids=["git-mv", "moved-and-rewritten-to-102"])
def test_renamed_request_is_refused(scene: Make, rewrite: bool) -> None:
    """Moved to deletions/lab-102.yaml (web-02 declared and live) and approved there: 0."""
    s = scene()
    s.declare("web-02", 102)
    s.requested()
    moved = "deletions/lab-102.yaml"
    s.repo.git("mv", REQUEST, moved)
    if rewrite:
        text = s.edit_request(moved, **EDITS["guest-vmid"])
        text = text.replace("name: lab-101", "name: lab-102")
        restore_file(s, text, moved)
    s.commit({}, "Move the request", who="alice")
    s.push()
    s.approve("bob", path=moved)

    result = s.execute()

    untouched(s, result, REFUSED, 101, 102)


@pytest.mark.parametrize("how", ["restored-then-approved", "restored-approved-in-one-commit"])
def test_request_restored_after_rejection_archive_is_refused(scene: Make, how: str) -> None:
    """bob rejects; proxgit archives and untags. The file proxgit opened is restored: 0."""
    s = scene()
    s.requested()
    opened = s.read(REQUEST, s.opening())
    rejected = s.edit_request(reject={"reason": "still needed"})
    s.commit({REQUEST: rejected}, "Reject", who="bob")
    s.push()
    first = s.execute()
    assert first.exit_code == 0 and "rejected" in first.output, first.output
    assert not (s.repo.path / REQUEST).exists() and not s.tagged()

    if how == "restored-then-approved":
        s.commit({REQUEST: opened}, "Restore the request", who="alice")
        s.push()
        s.approve("bob")
    else:
        restore_file(s, opened)
        s.approve("bob")

    result = s.execute()

    untouched(s, result, REFUSED)


def test_archived_approved_request_restored_with_approve_true_is_refused(scene: Make) -> None:
    """A lifecycle runs to its destroy; a new VM 101 called web-01 (tagged) appears in
    Proxmox; a genuine approver puts the old approved file back: 0 more destroys."""
    s = scene()
    s.requested()
    s.approve("bob")
    assert s.execute().exit_code == 0 and s.destroys() == 1
    approved = s.read(REQUEST, "HEAD~1")
    s.pve.add_vm(101, "web-01", node="pve1", status="running",
                 config={"memory": 512, "tags": "proxgit-pending-deletion"})  # fmt: skip
    restore_file(s, approved)
    s.commit({}, "Restore the approved request", who="bob")
    s.push()

    result = s.execute()

    assert result.exit_code == REFUSED, result.output
    assert s.destroys() == 1
    assert s.alive()


@pytest.mark.parametrize(
    ("restore", "destroyed"),
    [("restored-then-approved", 1), ("restored-with-approve-true", 0)],
)
def test_request_deleted_by_hand_and_restored(scene: Make, restore: str, destroyed: int) -> None:
    """Deleting and restoring the same file keeps its lifecycle (the genuine approval in a
    commit of its own counts); restoring it already approved is no approval."""
    s = scene()
    s.requested()
    opened = (s.repo.path / REQUEST).read_text()
    s.commit({REQUEST: None}, "Drop the request", who="alice")
    s.push()
    if restore == "restored-then-approved":
        s.commit({REQUEST: opened}, "Restore the request", who="alice")
        s.push()
        s.approve("bob")
    else:
        restore_file(s, opened)
        s.approve("bob")

    result = s.execute()

    assert result.exit_code == (0 if destroyed else REFUSED), result.output
    assert s.destroys() == destroyed
    assert s.alive() is (not destroyed)


# --- policy and signer changes, before and after the request opened ------------------------


def signers_line(email: str, key_path: object) -> str:
    return f'{email} namespaces="git" {public(key_path)}\n'  # type: ignore[arg-type]


def test_approver_added_before_opening_counts_and_the_plan_says_so(scene: Make) -> None:
    """By design: rules that landed before the request opened judge it. The change that
    put mallory among the approvers carries a security-relevant plan warning."""
    s = scene()
    s.declare()
    base = s.head()
    s.reconfigure(who="mallory", approvers="[bob, carol, mallory]")
    plan = s.cli("plan", "--base", base, "--head", s.head(), "--output", "json")
    assert "security-relevant change" in plan.output, plan.output
    assert "policy.roles" in plan.output, plan.output
    s.remove(who="alice")
    assert s.apply().exit_code == 0
    s.approve("mallory")

    result = s.execute()

    assert result.exit_code == 0, result.output
    assert s.destroys() == 1


def test_plan_flags_a_signer_added_to_allowed_signers(scene: Make) -> None:
    s = scene()
    s.declare()
    base = s.head()
    line = signers_line(PEOPLE["bob"][1], s.keys["mallory"])
    s.commit({".proxgit/allowed_signers": line}, "Add a signer", who="mallory")

    plan = s.cli("plan", "--base", base, "--head", s.head(), "--output", "json")

    assert "security-relevant change" in plan.output, plan.output
    assert "allowed" in plan.output and "signers" in plan.output, plan.output
    assert s.destroys() == 0


def _mallory_joins_approvers(s: Scene) -> None:
    s.reconfigure(who="mallory", approvers="[bob, carol, mallory]")


def _mallorys_key_becomes_bobs(s: Scene) -> None:
    s.reconfigure(who="mallory", keys={"bob": [public(s.keys["mallory"])]})


def _mallorys_key_in_allowed_signers_as_bob(s: Scene) -> None:
    line = signers_line(PEOPLE["bob"][1], s.keys["mallory"])
    s.commit({".proxgit/allowed_signers": line}, "Add a signer", who="mallory")
    s.push()


AFTER_OPENING = {
    "mallory-joins-approvers": (_mallory_joins_approvers, {"who": "mallory"}),
    "mallorys-key-listed-for-bob-in-people": (
        _mallorys_key_becomes_bobs,
        {"who": "mallory", "author": PEOPLE["bob"]},
    ),
    "mallorys-key-in-allowed-signers-as-bob": (
        _mallorys_key_in_allowed_signers_as_bob,
        {"who": "mallory", "author": PEOPLE["bob"]},
    ),
}


@pytest.mark.parametrize("change", sorted(AFTER_OPENING))
def test_rules_changed_after_opening_do_not_apply(scene: Make, change: str) -> None:
    s = scene()
    s.requested(who="mallory")
    change_rules, approval = AFTER_OPENING[change]
    change_rules(s)
    s.approve(**approval)

    result = s.execute()

    untouched(s, result, REFUSED)


def test_requester_allows_self_approval_after_opening(scene: Make) -> None:
    s = scene()
    s.requested(who="bob")
    s.reconfigure(who="bob", self_approval=True)
    s.approve("bob")

    result = s.execute()

    untouched(s, result, REFUSED)
    assert "is the requester" in result.output, result.output


# --- proxgit's identity, forged without its key and used with a stolen one ----------------


def test_mallorys_key_listed_as_proxgit_does_not_open_requests(scene: Make) -> None:
    s = scene()
    s.declare()
    stray_vm(s)
    line = signers_line(PROXGIT[1], s.keys["mallory"])
    s.commit({".proxgit/allowed_signers": line}, "Signers", who="mallory")
    text = s.request_text(vmid=500, name="stray", removed_in=s.head(), declared_in=s.head())
    s.commit({"deletions/lab-500.yaml": text}, "Open", who="mallory", author=PROXGIT)
    s.push()
    s.approve("bob", path="deletions/lab-500.yaml")

    result = s.execute()

    untouched(s, result, REFUSED, 500, 101)


def test_own_key_as_proxgit_in_allowed_signers_when_proxgit_holds_no_key(scene: Make) -> None:
    """proxgit runs without signingKeyFrom. It opens no request (it could not sign it), and
    bob listing his own key under proxgit's email and writing a request (carol as requester)
    that he approves himself destroys nothing: only the key proxgit holds proves a request."""
    s = scene(proxgit_key=False)
    s.declare()
    removed = s.remove(who="bob")
    opened = s.apply()
    assert opened.exit_code == 0, opened.output
    assert "no signing key" in opened.output, opened.output
    assert not (s.repo.path / REQUEST).exists()
    line = signers_line(PROXGIT[1], s.keys["bob"])
    s.commit({".proxgit/allowed_signers": line}, "Signers", who="bob")
    s.pve.guest(101).config["tags"] = "proxgit-pending-deletion"
    text = s.request_text(vmid=101, name="web-01", removed_in=removed, declared_in=removed)
    s.commit({REQUEST: text}, "Re-open", who="bob", author=PROXGIT)
    s.push()
    s.approve("bob")

    result = s.execute()

    untouched(s, result, REFUSED)
    assert "signing key" in result.output, result.output


STOLEN_TARGETS = ["declared", "unmanaged", "removal-never-applied"]


@pytest.mark.parametrize("target", STOLEN_TARGETS)
def test_stolen_proxgit_key_cannot_name_a_guest(scene: Make, target: str) -> None:
    """A request signed with proxgit's real key (stolen) is believed as a request; the
    deletion intent is still re-derived from history, so nothing is destroyed."""
    s = scene()
    s.declare()
    vmid, name = 101, "web-01"
    removed_in = declared_in = s.head()
    expected = REFUSED
    if target == "declared":
        s.pve.guest(101).config["tags"] = "proxgit-pending-deletion"
        expected = 0  # a declared guest's request is withdrawn
    elif target == "unmanaged":
        vmid, name = 500, "stray"
        stray_vm(s)
    else:
        removed_in = s.remove(who="mallory")  # pushed, never applied
        s.pve.guest(101).config["tags"] = "proxgit-pending-deletion"
    path = f"deletions/lab-{vmid}.yaml"
    text = s.request_text(
        vmid=vmid, name=name, removed_in=removed_in, declared_in=declared_in, requester="mallory"
    )
    s.commit({path: text}, "Open", who="mallory", author=PROXGIT, key="proxgit")
    s.push()
    s.approve("bob", path=path)
    listed = s.cli("deletions", "list")
    assert "approved" in listed.output, listed.output  # the request itself is believed

    result = s.execute()

    untouched(s, result, expected, vmid, 101)
    assert "nothing destroyed" in result.output, result.output


# --- self-approval --------------------------------------------------------------------------


@pytest.mark.parametrize(("allowed", "destroyed"), [(False, 0), (True, 1)])
def test_self_approval(scene: Make, allowed: bool, destroyed: int) -> None:
    s = scene(self_approval=allowed)
    s.requested(who="bob")
    s.approve("bob")

    result = s.execute()

    assert result.exit_code == (0 if destroyed else REFUSED), result.output
    assert s.destroys() == destroyed
    assert s.alive() is (not destroyed)


# --- expiry ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dated", ["now", "back-dated-before-expiry"])
def test_approval_after_expiry(scene: Make, dated: str) -> None:
    s = scene(ttl="3s")
    s.requested()
    requested_at = datetime.fromisoformat(s.request_data()["spec"]["requestedAt"])
    time.sleep(4)
    date = requested_at + timedelta(seconds=1) if dated != "now" else None
    s.approve("bob", date=date)

    result = s.execute()

    untouched(s, result, 0)
    assert "expired" in result.output, result.output
    [archived] = s.archived()
    assert archived["status"]["state"] == "expired"
    assert not s.tagged()


def test_approval_dated_after_expiry_is_refused(scene: Make) -> None:
    """A committer date past expiresAt is an approval after expiry, whatever the clock says."""
    s = scene()
    s.requested()
    s.approve("bob", date=datetime.now(UTC) + timedelta(days=8))

    result = s.execute()

    untouched(s, result, 0)
    assert "after the request expired" in result.output, result.output


# --- the shape of the approval commit ------------------------------------------------------


def test_approval_commit_that_changes_another_file_is_refused(scene: Make) -> None:
    s = scene()
    s.requested()
    s.commit({REQUEST: approved_text(s), "README.md": "hello\n"}, "Approve", who="bob")
    s.push()

    result = s.execute()

    untouched(s, result, REFUSED)
    assert "also changes README.md" in result.output, result.output


def test_approval_made_by_a_merge_conflict_resolution_is_refused(scene: Make) -> None:
    """Both parents leave approve: false; the merge (signed by bob) sets it: 0."""
    s = scene()
    s.requested()
    fork = s.head()
    s.commit({"README.md": "main\n"}, "Docs", who="carol")
    main_side = s.head()
    s.repo.git("checkout", "--quiet", "-b", "side", fork)
    s.commit({"NOTES.md": "side\n"}, "Notes", who="alice")
    side = s.head()
    s.repo.git("checkout", "--quiet", "main")
    s.repo.git("merge", "--quiet", "--no-commit", "--no-ff", side)
    s.merge_commit([main_side, side], {REQUEST: approved_text(s)}, "Merge", who="bob", sign=True)
    s.push()

    result = s.execute()

    untouched(s, result, REFUSED)
    assert "merge commit" in result.output, result.output


@pytest.mark.parametrize(
    ("landing", "destroyed"),
    [("merge-no-ff", 1), ("squash-by-requester", 0), ("rebase-by-requester", 0)],
)
def test_approval_through_a_branch(scene: Make, landing: str, destroyed: int) -> None:
    """bob approves on a branch with a signed commit; alice (the requester) lands it. A
    merge keeps bob's signed commit; a squash or rebase makes it alice's commit."""
    s = scene()
    s.requested()
    s.repo.git("checkout", "--quiet", "-b", "approve")
    bobs = s.approve_commit("bob")
    s.repo.git("checkout", "--quiet", "main")
    if landing == "merge-no-ff":
        s.git("merge", "--quiet", "--no-ff", "--no-edit", "approve", who="alice")
    elif landing == "squash-by-requester":
        s.git("merge", "--quiet", "--squash", "approve", who="alice")
        s.git("commit", "--quiet", "-S", "-m", "Approve (squashed)", who="alice", sign=True)
    else:
        s.git("cherry-pick", "-S", bobs, who="alice", sign=True)
    s.push()

    result = s.execute()

    assert result.exit_code == (0 if destroyed else REFUSED), result.output
    assert s.destroys() == destroyed
    assert s.alive() is (not destroyed)


def test_approval_from_a_side_history_before_the_opening_is_refused(scene: Make) -> None:
    """carol writes the request (right id, approve: true, signed) on a branch that forked
    before proxgit opened it; alice merges it, taking carol's version: 0."""
    s = scene()
    s.declare()
    s.remove()
    fork = s.head()
    assert s.apply().exit_code == 0
    approved = approved_text(s)
    s.repo.git("checkout", "--quiet", "--", REQUEST)
    s.repo.git("checkout", "--quiet", "-b", "side", fork)
    carols = s.commit({REQUEST: approved}, "Approve early", who="carol")
    s.repo.git("checkout", "--quiet", "main")
    s.merge_commit([s.head(), carols], {REQUEST: approved}, "Merge side", who="alice")
    s.push()

    result = s.execute()

    untouched(s, result, REFUSED)


def test_approval_toggled_off_and_on_by_someone_else_is_theirs(scene: Make) -> None:
    """bob approved; mallory sets approve: false and back to true. The approval now in the
    file is mallory's: 0."""
    s = scene()
    s.requested()
    s.approve("bob")
    s.commit({REQUEST: s.edit_request(approve=False)}, "Off", who="mallory")
    s.commit({REQUEST: s.edit_request(approve=True)}, "On", who="mallory")
    s.push()

    result = s.execute()

    untouched(s, result, REFUSED)


def test_removed_again_after_withdrawal_starts_a_new_lifecycle(scene: Make) -> None:
    """Approved, re-declared (withdrawn by apply), removed again: the new request waits
    for a new approval; bob's old one does not carry over."""
    s = scene()
    s.requested()
    declared = s.read(vm_path("web-01"), s.request_data()["spec"]["declaredIn"])
    s.approve("bob")
    s.commit({vm_path("web-01"): declared}, "Keep web-01", who="carol")
    s.push()
    assert s.apply().exit_code == 0
    assert s.archived()[0]["status"]["state"] == "withdrawn"
    s.remove(who="alice")
    assert s.apply().exit_code == 0
    assert s.tagged()
    listed = s.cli("deletions", "list")
    assert "pending" in listed.output, listed.output

    result = s.execute()

    untouched(s, result, 0)
    assert (s.repo.path / REQUEST).exists()


# --- gates and the live guest ---------------------------------------------------------------


def _approved(s: Scene) -> None:
    s.requested()
    s.approve("bob")


@pytest.mark.parametrize("gate", ["allowWrites", "apply.enabled"])
def test_gates_hold_an_approved_deletion(scene: Make, gate: str) -> None:
    s = scene()
    _approved(s)
    if gate == "allowWrites":
        s.reconfigure(allow_writes=False)
    else:
        s.reconfigure(apply_enabled=False)

    result = s.execute()

    untouched(s, result, REFUSED)
    assert "gate" in result.output, result.output
    assert (s.repo.path / REQUEST).exists()


def _protect(s: Scene) -> None:
    s.pve.guest(101).config["protection"] = 1


def _untag(s: Scene) -> None:
    s.pve.guest(101).config.pop("tags", None)


def _reuse_vmid(s: Scene) -> None:
    """Someone destroyed web-01 in Proxmox and made another guest with its vmid."""
    s.pve.vms.remove(s.pve.guest(101))
    s.pve.add_vm(101, "db-01", node="pve1", status="running",
                 config={"memory": 512, "tags": "proxgit-pending-deletion"})  # fmt: skip


def _recreate_same_name(s: Scene) -> None:
    """Same name and tag, but a new guest (other NIC)."""
    s.pve.vms.remove(s.pve.guest(101))
    s.pve.add_vm(101, "web-01", node="pve1", status="running",
                 config={"memory": 512, "tags": "proxgit-pending-deletion",
                         "net0": "virtio=BC:24:11:DE:AD:01,bridge=vmbr0"})  # fmt: skip


LIVE = {
    "protected": _protect,
    "pending-tag-removed": _untag,
    "vmid-reused-by-another-guest": _reuse_vmid,
    "recreated-with-the-same-name": _recreate_same_name,
}


@pytest.mark.parametrize("live", sorted(LIVE))
def test_live_guest_must_still_be_the_requested_one(scene: Make, live: str) -> None:
    s = scene()
    _approved(s)
    LIVE[live](s)

    result = s.execute()

    untouched(s, result, BLOCKED)
    assert (s.repo.path / REQUEST).exists()


# --- forge mode: identities from a stateful fake GitHub, GitLab and Gitea -----------------

FORGES = ["github", "gitlab", "gitea"]
MakeForge = Callable[[str], ForgeScene]


def _executed(s: Scene, destroyed: int) -> Result:
    result = s.execute()
    assert result.exit_code == (0 if destroyed else REFUSED), result.output
    assert s.destroys() == destroyed, result.output
    assert s.alive() is (not destroyed)
    return result


@pytest.mark.parametrize("kind", FORGES)
def test_forge_approval_pr_by_a_member(forge_scene: MakeForge, kind: str) -> None:
    s = forge_scene(kind)
    s.requested_by_pr("alice")
    assert s.request_data()["spec"]["requester"]["handle"] == f"{kind}:alice"
    s.approval_pr("bob")

    _executed(s, 1)


@pytest.mark.parametrize("kind", FORGES)
def test_forge_approval_pr_by_the_requester(forge_scene: MakeForge, kind: str) -> None:
    """bob, an approver, removed web-01 through his pull request and approves it in another."""
    s = forge_scene(kind)
    s.requested_by_pr("bob")
    s.approval_pr("bob")

    result = _executed(s, 0)
    assert "is the requester" in result.output, result.output


@pytest.mark.parametrize("kind", FORGES)
def test_forge_requesters_pr_approved_in_review_by_a_member(
    forge_scene: MakeForge, kind: str
) -> None:
    s = forge_scene(kind)
    s.requested_by_pr("alice")
    s.approval_pr("alice", reviews=[("carol", "APPROVED")])

    _executed(s, 1)


def test_forge_squash_merged_approval_pr_by_a_member(forge_scene: MakeForge) -> None:
    s = forge_scene("gitlab")
    s.requested_by_pr("alice")
    s.approval_pr("bob", how="squash")

    _executed(s, 1)


def test_forge_approval_pr_by_a_non_member(forge_scene: MakeForge) -> None:
    s = forge_scene("github")
    s.requested_by_pr("alice")
    s.approval_pr("eve")

    _executed(s, 0)


def test_forge_review_by_someone_without_the_role(forge_scene: MakeForge) -> None:
    s = forge_scene("gitea")
    s.requested_by_pr("alice")
    s.approval_pr("alice", reviews=[("mallory", "APPROVED")])

    _executed(s, 0)


def test_forge_review_dismissed(forge_scene: MakeForge) -> None:
    s = forge_scene("gitlab")
    s.requested_by_pr("alice")
    s.approval_pr("alice", reviews=[FakeReview("bob", "APPROVED", dismissed=True)])

    _executed(s, 0)


def test_forge_review_of_an_earlier_push_does_not_count(forge_scene: MakeForge) -> None:
    s = forge_scene("github")
    s.requested_by_pr("alice")
    s.approval_pr("alice", reviews=[FakeReview("bob", "APPROVED", commit="0" * 40)])

    _executed(s, 0)


def test_forge_closed_pr_pushed_directly(forge_scene: MakeForge) -> None:
    """bob's approval pull request is closed unmerged; the requester pushes its commit to
    main herself: the forge vouches for nobody."""
    s = forge_scene("github")
    s.requested_by_pr("alice")
    commit, merge = s.approval_pr("bob", state="closed")
    assert merge is None
    s.git("merge", "--quiet", "--ff-only", commit)
    s.push()

    _executed(s, 0)


def test_forge_approval_pushed_directly(forge_scene: MakeForge) -> None:
    s = forge_scene("gitea")
    s.requested_by_pr("alice")
    s.approve("bob")  # signed, by an approver, but a direct push

    result = _executed(s, 0)
    assert "direct push" in result.output, result.output


def test_forge_removal_pushed_directly_opens_no_request(forge_scene: MakeForge) -> None:
    """A direct push carries no forge identity: apply refuses the removal (issue 11 build
    7), opens no request and leaves the guest as it is."""
    s = forge_scene("gitlab")
    s.declare()
    s.remove(who="alice")

    applied = s.apply()

    assert applied.exit_code == REFUSED, applied.output
    assert "refused by policy" in applied.output, applied.output
    assert not (s.repo.path / REQUEST).exists()
    assert not s.tagged()
    result = s.execute()
    untouched(s, result, 0)


def test_forge_requester_approving_the_approval_pr_in_review(forge_scene: MakeForge) -> None:
    """bob removed web-01; mallory (no role) opens the approval PR and bob approves it in
    review: neither may approve."""
    s = forge_scene("gitlab")
    s.requested_by_pr("bob")
    s.approval_pr("mallory", reviews=[("bob", "APPROVED")])

    _executed(s, 0)


def test_forge_pr_merged_into_another_branch(forge_scene: MakeForge) -> None:
    """bob's approval PR was merged into `release`; alice merges that into main herself."""
    s = forge_scene("github")
    s.requested_by_pr("alice")
    commit, _ = s.approval_pr("bob", state="closed")
    s.fake.pulls[s.next_pr - 1].state = "merged"
    s.fake.pulls[s.next_pr - 1].base = "release"
    s.fake.pulls[s.next_pr - 1].merged_at = "2024-05-01T12:00:00Z"
    s.git("merge", "--quiet", "--no-ff", "--no-edit", commit, who="alice")
    s.push()

    _executed(s, 0)


def test_forge_approval_merged_after_expiry(forge_scene: MakeForge) -> None:
    """The forge says bob's approval PR was merged after the request expired."""
    s = forge_scene("gitea")
    s.requested_by_pr("alice")
    s.approval_pr("bob", merged_at="2099-01-01T00:00:00Z")

    result = s.execute()

    untouched(s, result, 0)
    assert "after the request expired" in result.output, result.output


def test_forge_removal_by_an_account_without_delete_permission(forge_scene: MakeForge) -> None:
    """bob's second account (not in policy.people, so no delete_vm) removes web-01 in a
    merged pull request; bob would approve it with his listed account. Apply enforces the
    policy on the pull request's author: no request, nothing to approve."""
    s = forge_scene("github")
    s.declare()
    s.pull_request("bob-alt", {vm_path("web-01"): None}, "Remove web-01")

    applied = s.apply()

    assert applied.exit_code == REFUSED, applied.output
    assert "refused by policy: delete lab/web-01" in applied.output
    assert "github:bob-alt" in applied.output and "delete_vm" in applied.output
    assert not (s.repo.path / REQUEST).exists()
    assert not s.tagged()
    result = s.execute()
    untouched(s, result, 0)


def test_forge_hand_written_request_approved_through_a_members_pr(forge_scene: MakeForge) -> None:
    """Forge mode checks proxgit's signature on the opening too: a request mallory wrote in
    proxgit's name, approved through bob's merged pull request, destroys nothing."""
    s = forge_scene("github")
    s.declare()
    stray_vm(s)
    text = s.request_text(vmid=500, name="stray", removed_in=s.head(), declared_in=s.head())
    s.commit({"deletions/lab-500.yaml": text}, "Open", who="mallory", author=PROXGIT, sign=False)
    s.push()
    approved = s.edit_request("deletions/lab-500.yaml", approve=True)
    s.repo.git("checkout", "--quiet", "--", "deletions/lab-500.yaml")
    s.pull_request("bob", {"deletions/lab-500.yaml": approved}, "Approve")

    result = s.execute()

    untouched(s, result, REFUSED, 500, 101)


@pytest.mark.parametrize("request_id", ["../proxgit", "lab-101/../../proxgit", "lab-999"])
def test_deletions_approve_takes_ids_not_paths(scene: Make, request_id: str) -> None:
    s = scene()
    s.requested()
    s.use_identity("bob")
    head = s.head()

    result = s.cli("deletions", "approve", request_id, "--push")

    assert result.exit_code != 0, result.output
    assert s.head() == head and s.repo.git("status", "--porcelain") == ""
    assert s.execute().exit_code == 0
    assert s.destroys() == 0


def test_forge_deletions_approve_pushes_a_branch_not_main(forge_scene: MakeForge) -> None:
    """In forge mode a push to main would carry no identity: approve --push pushes a branch
    for a pull request and says so; main is unchanged and nothing is destroyed yet."""
    s = forge_scene("github")
    s.requested_by_pr("alice")
    main_before = s.repo.git("ls-remote", "origin", "refs/heads/main").split()[0]
    s.repo.git("config", "user.email", PEOPLE["bob"][1])
    s.repo.git("config", "user.name", PEOPLE["bob"][0])

    result = s.cli("deletions", "approve", "lab-101", "--push")

    assert result.exit_code == 0, result.output
    assert "open a pull request" in result.output and "approve-lab-101" in result.output
    assert s.repo.git("ls-remote", "origin", "refs/heads/approve-lab-101").strip()
    assert s.repo.git("ls-remote", "origin", "refs/heads/main").split()[0] == main_before
    assert s.destroys() == 0


def test_forge_unreachable_token_refuses_each_request_in_one_line(
    forge_scene: MakeForge, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the forge token nobody can be authenticated: list still lists (one line per
    request), execute destroys nothing."""
    s = forge_scene("gitea")
    s.requested_by_pr("alice")
    s.approval_pr("bob")
    monkeypatch.delenv("PROXGIT_FORGE_TOKEN")

    listed = s.cli("deletions", "list")
    assert listed.exit_code == 0, listed.output
    assert "the forge cannot be asked" in listed.output, listed.output
    result = s.execute()
    untouched(s, result, REFUSED)


def test_identity_mode_downgrade_is_refused_where_the_mode_is_pinned(
    scene: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mallory pushes proxgit.yaml with identity: git-author, then removes web-01 under
    alice's name and approves as bob, unsigned. Where proxgit runs with the mode pinned
    (PROXGIT_DELETIONS_IDENTITY=signatures), no request opens and nothing is destroyed."""
    monkeypatch.setenv("PROXGIT_DELETIONS_IDENTITY", "signatures")
    s = scene()
    s.declare()
    s.mode = "git-author"
    s.commit({"proxgit.yaml": s.config()}, "Simplify", who="mallory", sign=False)
    s.remove(who="mallory", sign=False, author=PEOPLE["alice"])
    applied = s.apply()
    assert "PROXGIT_DELETIONS_IDENTITY pins signatures" in applied.output, applied.output
    assert not (s.repo.path / REQUEST).exists()
    assert not s.tagged()
    result = s.execute()
    untouched(s, result, 0)
