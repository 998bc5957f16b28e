from __future__ import annotations

from collections.abc import Callable

from tests.deletions_trust.harness import REQUEST, Scene


def test_signed_happy_path(scene: Callable[..., Scene]) -> None:
    s = scene()
    s.requested()
    assert s.destroys() == 0
    s.approve("bob")
    listed = s.cli("deletions", "list")
    assert "approved" in listed.output, listed.output
    result = s.execute()
    assert result.exit_code == 0, result.output
    assert s.destroys() == 1
    assert not (s.repo.path / REQUEST).exists()


def test_signing_key_never_leaves_the_process(scene: Callable[..., Scene]) -> None:
    """proxgit's private key is used to sign, and appears in no output, file or commit."""
    s = scene()
    s.requested()
    s.approve("bob")
    outputs = [s.cli("deletions", "list").output, s.execute().output]
    key_lines = [
        line
        for line in s.proxgit_key.read_text().splitlines()
        if line and not line.startswith("-----")
    ]
    history = s.repo.git("log", "--all", "-p", "--format=%H %an %ae%n%B")
    tracked = "".join(
        p.read_text(errors="replace")
        for p in s.repo.path.rglob("*")
        if p.is_file() and ".git" not in p.parts
    )
    for line in key_lines:
        for text in (*outputs, history, tracked):
            assert line not in text
    # and every commit proxgit made is signed with it
    for sha in s.repo.git("log", "--format=%H", "--author=proxgit@noreply.invalid").split():
        header = s.repo.git("cat-file", "commit", sha)
        assert "BEGIN SSH SIGNATURE" in header, sha


def test_a_commit_posing_as_proxgits_is_not_skipped_by_apply(scene: Callable[..., Scene]) -> None:
    """apply skips proxgit's own commits (journal, requests) to find the revision to apply;
    a change authored as proxgit with [skip ci] but not signed by its key is not hidden."""
    from tests.deletions_trust.harness import PROXGIT, WEB
    from tests.support import vm_path, vm_yaml

    s = scene()
    s.declare()
    posing = s.commit(
        {vm_path("web-02"): vm_yaml("web-02", 102, extra=WEB)},
        "proxgit apply: nothing\n\n[skip ci]",
        who="mallory",
        author=PROXGIT,
    )
    s.push()
    result = s.apply()
    assert result.exit_code == 0, result.output
    assert f"apply {posing[:12]}" in result.output, result.output
    assert s.alive(102)


def test_a_lost_push_race_keeps_proxgits_commits_signed(scene: Callable[..., Scene]) -> None:
    """push_branch rebases proxgit's commit onto a remote that moved; the rebased commit is
    re-signed with proxgit's key and keeps proxgit's identity, whatever the environment."""
    import os

    from proxgit.git import GitRepository, Identity, public_key_of
    from tests.support import GitRepo

    s = scene()
    other = s.root / "other"
    GitRepo.git_in(s.root, "clone", "--quiet", str(s.repo.remote), str(other))
    (other / "README.md").write_text("someone else\n")
    GitRepo.git_in(other, "add", "README.md")
    GitRepo.git_in(other, "commit", "--quiet", "-m", "Readme")
    GitRepo.git_in(other, "push", "--quiet", "origin", "HEAD:main")

    key = os.environ["PROXGIT_TEST_SIGNING_KEY"]
    identity = Identity("proxgit", "proxgit@noreply.invalid", signing_key=key)
    repo = GitRepository(s.repo.path)
    (s.repo.path / "snapshot").mkdir()
    (s.repo.path / "snapshot" / "x.yaml").write_text("a: 1\n")
    repo.commit_paths(["snapshot"], "proxgit reflect: x", identity)
    repo.push_branch("main")

    head = s.repo.git("rev-parse", "HEAD")
    assert s.repo.git("rev-parse", "HEAD^") == GitRepo.git_in(other, "rev-parse", "HEAD")
    assert s.repo.git("log", "-1", "--format=%ae %ce", head) == (
        "proxgit@noreply.invalid proxgit@noreply.invalid"
    )
    signers = s.root / "proxgit_signers"
    signers.write_text(f'proxgit namespaces="git" {public_key_of(key)}\n')
    status = s.repo.git(
        "-c", f"gpg.ssh.allowedSignersFile={signers}", "log", "-1", "--format=%G?", head
    )
    assert status == "G"


def test_a_shallow_clone_says_to_fetch_the_history(scene: Callable[..., Scene]) -> None:
    from click.testing import CliRunner

    from proxgit.cli import main
    from tests.support import GitRepo

    s = scene()
    s.requested()
    s.approve("bob")
    shallow = s.root / "shallow"
    GitRepo.git_in(
        s.root, "clone", "--quiet", "--depth", "1", f"file://{s.repo.remote}", str(shallow)
    )
    result = CliRunner().invoke(main, ["deletions", "list", "--repo", str(shallow)])
    assert result.exit_code == 0, result.output
    assert "fetch-depth: 0" in result.output, result.output
    assert "approved" not in result.output
